"""pytest plugin for self-learners: `pytest --lesson 01_matmul` or `pytest path/01_matmul.ipynb`.

One test per exercise, failures that show the check's teaching message (no traceback wall),
and the points per lesson at the end. The notebook is graded by the same isolated worker as
`python -m autograder check`, so both give the same points. Inert unless a lesson or a lesson notebook is named.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from autograder.devices import CHOICES, DeviceUnavailable, resolve_device
from autograder.grade import ensure_assignment, grade_notebook, grade_notebooks
from autograder.lessons import LESSONS, lesson_for
from autograder.results import ExerciseResult, LessonResult, Status

_RESULTS = pytest.StashKey[dict[str, LessonResult]]()
_GRADED = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autograder", "grade your notebooks of the course")
    group.addoption("--lesson", action="append", default=[], metavar="KEY",
                    help=f"grade assignments/KEY.ipynb ({', '.join(LESSONS)}); repeatable")
    group.addoption("--device", choices=CHOICES, default="cpu",
                    help="where the checks run: cpu, cuda or auto (default: cpu)")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RESULTS] = {}
    config.stash[_GRADED] = {}
    lessons = config.getoption("lesson")
    if lessons:
        try:
            config.args[:] = [str(ensure_assignment(lesson_for(key))[0]) for key in lessons]
        except KeyError as err:
            raise pytest.UsageError(err.args[0]) from None


def _pregrade(config: pytest.Config) -> None:
    """Grade every notebook named on the command line at once, as many at a time as there are CPUs."""
    if config.stash[_GRADED]:
        return
    paths = [Path(a).resolve() for a in config.args if a.endswith(".ipynb") and Path(a).stem in LESSONS
             and Path(a).exists()]
    config.stash[_GRADED][None] = None
    if paths:
        device = config.getoption("device")
        for path, graded in zip(paths, grade_notebooks(paths, device, workers=os.cpu_count() or 1)):
            config.stash[_GRADED][str(path)] = graded


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
    """A learner's notebook: graded once in an isolated worker, one item per exercise of its lesson."""

    def collect(self) -> Iterator[pytest.Item]:
        lesson = lesson_for(self.path.name)
        device = self.config.getoption("device")
        try:
            resolve_device(device)
        except DeviceUnavailable as err:
            unavailable: str | None = str(err)
            graded = LessonResult(lesson.key, str(self.path))
        else:
            unavailable = None
            _pregrade(self.config)
            graded = self.config.stash[_GRADED].get(str(self.path.resolve())) or grade_notebook(self.path, device)
        self.config.stash[_RESULTS][str(self.path)] = graded
        by_name = {r.name: r for r in graded.exercises}
        for exercise in lesson.exercises():
            yield ExerciseItem.from_parent(self, name=exercise.name, result=by_name.get(exercise.name),
                                           unavailable=unavailable, lesson=lesson.key)


class ExerciseItem(pytest.Item):
    """One exercise, as the isolated grader graded it."""

    def __init__(self, *, result: ExerciseResult | None, unavailable: str | None, lesson: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.result, self.unavailable, self.lesson = result, unavailable, lesson

    def runtest(self) -> None:
        if self.unavailable or self.result is None:
            pytest.skip(self.unavailable or "not graded")
        if self.result.status != Status.PASSED:
            raise ExerciseNotPassed(self.result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ExerciseNotPassed):
            r = excinfo.value.result
            return f"[{r.status.value}] {r.name} (0/{r.max_points:g} points)\n{r.message}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.lesson}::{self.name}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    results = [r for r in config.stash[_RESULTS].values() if r.exercises]
    if not results:
        return
    terminalreporter.section("points")
    for r in results:
        terminalreporter.write_line(f"{r.lesson} ({r.notebook}): {r.score:g}/{r.max_score:g} points")
