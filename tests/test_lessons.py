"""Every lesson is present in every place, and its exercises agree everywhere."""
from __future__ import annotations

import shutil

import nbformat
import pytest

from autograder.lessons import LESSONS, lesson_for


@pytest.mark.parametrize("key", list(LESSONS))
def test_lesson_exists_in_every_place(key):
    lesson = LESSONS[key]
    for path in (lesson.source_notebook, lesson.release_notebook, lesson.solutions_file):
        assert path.exists(), f"{key} is missing {path}"
    assert lesson.exercises(), f"autograder/checks/{lesson.module}.py lists no EXERCISES"


@pytest.mark.parametrize("key", list(LESSONS))
def test_exercises_match_the_source_notebooks_cells_and_points(key):
    lesson = LESSONS[key]
    nb = nbformat.read(lesson.source_notebook, as_version=4)
    meta = [c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata]
    solutions = [m["grade_id"] for m in meta if m.get("solution")]
    tests = {m["grade_id"]: m["points"] for m in meta if m.get("grade") and not m.get("solution")}
    names = [e.name for e in lesson.exercises()]
    assert solutions == names, "solution cells and EXERCISES must list the same exercises, in the same order"
    assert tests == {f"test_{e.name}": e.points for e in lesson.exercises()}, "nbgrader points differ from EXERCISES"


@pytest.mark.parametrize("key", list(LESSONS))
def test_hidden_tests_call_each_exercises_check(key):
    lesson = LESSONS[key]
    text = lesson.source_notebook.read_text(encoding="utf-8")
    for exercise in lesson.exercises():
        assert f"check_{exercise.name}({exercise.name})" in text


def test_lesson_for_reads_a_key_or_a_notebook_file_name():
    assert lesson_for("01_matmul").module == "matmul"
    assert lesson_for("some/where/01_matmul.ipynb").key == "01_matmul"
    with pytest.raises(KeyError, match="file name must be its lesson key"):
        lesson_for("my_matmul.ipynb")


@pytest.mark.parametrize("key", list(LESSONS))
def test_released_stubs_are_graded_not_attempted(key, tmp_path):
    from autograder.grade import grade_notebook
    from autograder.results import Status

    notebook = tmp_path / f"{key}.ipynb"
    shutil.copyfile(LESSONS[key].release_notebook, notebook)
    graded = grade_notebook(notebook, "cpu")
    assert [e.status for e in graded.exercises] == [Status.NOT_ATTEMPTED] * len(graded.exercises)
    assert graded.score == 0
