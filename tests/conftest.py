"""Shared fixtures: the lesson, its reference namespace, and notebooks built for a test."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import nbformat
import pytest

from autograder.grade import grade_loaded
from autograder.lessons import Lesson, lesson_for
from autograder.loader import LoadedNotebook
from autograder.results import Status

NotebookFactory = Callable[..., Path]


@pytest.fixture
def matmul_lesson() -> Lesson:
    return lesson_for("01_matmul")


@pytest.fixture
def reference_namespace(matmul_lesson: Lesson) -> dict[str, Any]:
    """A fresh copy of the reference solutions' definitions."""
    return dict(vars(matmul_lesson.solutions()))


def grader_test_cell(source: str) -> Any:
    """An nbgrader autograder-test cell."""
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": True, "points": 1, "grade_id": "t", "schema_version": 3}})


@pytest.fixture
def make_notebook(tmp_path: Path) -> NotebookFactory:
    """Write a notebook of the given code cells (strings or ready cells) and return its path."""
    def make(*cells: Any, name: str = "01_matmul.ipynb") -> Path:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(c) if isinstance(c, str) else c for c in cells]
        path = tmp_path / name
        nbformat.write(nb, path)
        return path
    return make


def assert_fails_only_its_exercise(lesson: Lesson, mutant: Any, tmp_path: Path) -> None:
    """Grade the reference solutions with one function swapped for a mutant: exactly that exercise
    must lose its points, with the mutant's status and message; every other exercise passes."""
    namespace = dict(vars(lesson.solutions()))
    namespace[mutant.exercise] = mutant.fn
    graded = grade_loaded(lesson, LoadedNotebook(tmp_path, namespace), "cpu")
    not_passed = {e.name: e for e in graded.exercises if e.status != Status.PASSED}
    assert list(not_passed) == [mutant.exercise], {k: v.message for k, v in not_passed.items()}
    result = not_passed[mutant.exercise]
    assert result.status.value == mutant.status
    assert mutant.message in result.message, result.message
    assert result.points == 0 and graded.score == graded.max_score - result.max_points
