"""pytest plugin for self-learners: `pytest --lesson 01_matmul` or `pytest path/01_matmul.ipynb`.

One test per exercise, failures that show the check's teaching message (no traceback wall),
and the points per lesson at the end. Inert unless a lesson or a lesson notebook is named.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from autograder.devices import CHOICES, DeviceUnavailable, resolve_device
from autograder.exercise import Exercise
from autograder.grade import ensure_assignment, grade_exercise
from autograder.lessons import LESSONS, lesson_for
from autograder.loader import LoadedNotebook, load_notebook
from autograder.results import ExerciseResult, LessonResult, Status

_RESULTS = pytest.StashKey[dict[str, LessonResult]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograder", "grade your notebooks of the course")
    group.addoption("--lesson", action="append", default=[], metavar="KEY",
                    help=f"grade assignments/KEY.ipynb ({', '.join(LESSONS)}); repeatable")
    group.addoption("--device", choices=CHOICES, default="cpu",
                    help="where the checks run: cpu, cuda or auto (default: cpu)")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RESULTS] = {}
    lessons = config.getoption("lesson")
    if lessons:
        try:
            config.args[:] = [str(ensure_assignment(lesson_for(key))[0]) for key in lessons]
        except KeyError as err:
            raise pytest.UsageError(err.args[0]) from None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    # Only notebooks named on the command line (or by --lesson) are graded, never found by recursion.
    if file_path.suffix == ".ipynb" and file_path.stem in LESSONS and parent.session.isinitpath(file_path):
        return LessonNotebook.from_parent(parent, path=file_path)
    return None


class ExerciseNotPassed(Exception):
    """Carries a non-passing ExerciseResult to the report."""

    def __init__(self, result: ExerciseResult) -> None:
        super().__init__(result.message)
        self.result = result


class LessonNotebook(pytest.File):
    """A learner's notebook: loaded once, one item per exercise of its lesson."""

    def collect(self) -> Iterator[pytest.Item]:
        lesson = lesson_for(self.path.name)
        loaded = load_notebook(self.path)
        graded = self.config.stash[_RESULTS].setdefault(str(self.path), LessonResult(lesson.key, str(self.path)))
        for exercise in lesson.exercises():
            yield ExerciseItem.from_parent(self, name=exercise.name, exercise=exercise, loaded=loaded, graded=graded)


class ExerciseItem(pytest.Item):
    """One exercise graded by its check."""

    def __init__(self, *, exercise: Exercise, loaded: LoadedNotebook, graded: LessonResult, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.exercise, self.loaded, self.graded = exercise, loaded, graded

    def runtest(self) -> None:
        device = self.config.getoption("device")
        try:
            resolve_device(device)
        except DeviceUnavailable as err:
            pytest.skip(str(err))
        if self.loaded.error:
            result = ExerciseResult(self.exercise.name, 0, self.exercise.points, Status.ERROR, self.loaded.error)
        else:
            result = grade_exercise(self.exercise, self.loaded.namespace, device, self.loaded)
        self.graded.exercises.append(result)
        if result.status != Status.PASSED:
            raise ExerciseNotPassed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ExerciseNotPassed):
            r = excinfo.value.result
            return f"[{r.status.value}] {r.name} (0/{r.max_points:g} points)\n{r.message}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.graded.lesson}::{self.name}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    results = [r for r in config.stash[_RESULTS].values() if r.exercises]
    if not results:
        return
    terminalreporter.section("points")
    for r in results:
        terminalreporter.write_line(f"{r.lesson} ({r.notebook}): {r.score:g}/{r.max_score:g} points")
