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


# How `pytest -n auto` shares the work between its workers. A unit of work is a test file (its module
# fixtures are built once, as with --dist loadfile), except the two nbgrader classes of test_nbgrader
# (tests parametrized with these ids: a unit each, so the two classes are graded side by side) and
# test_hostile (a unit per test: each runs the corpus through one route). Units start longest first,
# so that the last to finish is a short one. (xdist's own --dist loadgroup would do the grouping, but
# its marks do not reach the scheduler under pytest 9.2.)
CLASS_GROUPS = ("class-01-05", "lessons-00-06-09")
LONGEST_FIRST = (*CLASS_GROUPS, "test_hostile.py", "test_nbgrader.py")
SPLIT_BY_TEST = ("test_hostile.py",)


def work_unit(nodeid: str) -> str:
    """The unit of work a test belongs to: its class group, itself, or its file."""
    path = nodeid.split("::")[0]
    group = next((g for g in CLASS_GROUPS if nodeid.endswith(f"[{g}]")), None)
    if group:
        return group
    return nodeid if Path(path).name in SPLIT_BY_TEST else path


def _rank(nodeid: str) -> int:
    unit = work_unit(nodeid)
    names = (unit, Path(nodeid.split("::")[0]).name)
    return min(LONGEST_FIRST.index(n) if n in LONGEST_FIRST else len(LONGEST_FIRST) for n in names)


def pytest_configure(config: pytest.Config) -> None:
    # keep the order below (xdist would otherwise start the units with the most tests first)
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: _rank(item.nodeid))


@pytest.hookimpl(optionalhook=True)  # also loads with -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under `pytest -n auto` (xdist's default distribution, "load"), share the work by `work_unit`."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return ByWorkUnit(config, log)
