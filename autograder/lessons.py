"""The one registry of lessons: a key like 01_matmul maps to its notebooks, checks and solutions."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from autograder.exercise import Exercise
from autograder.references import COURSE_ROOT, load_solutions, solutions_file

__all__ = ["COURSE_ROOT", "LESSONS", "Lesson", "lesson_for"]


@dataclass(frozen=True)
class Lesson:
    """A lesson: `key` names its folders and notebooks, `module` its checks and solutions modules."""

    key: str
    module: str

    @property
    def source_notebook(self) -> Path:
        return COURSE_ROOT / "source" / self.key / f"{self.key}.ipynb"

    @property
    def release_notebook(self) -> Path:
        return COURSE_ROOT / "release" / self.key / f"{self.key}.ipynb"

    @property
    def assignment_notebook(self) -> Path:
        return COURSE_ROOT / "assignments" / f"{self.key}.ipynb"

    @property
    def solutions_file(self) -> Path:
        return solutions_file(self.module)

    def checks(self) -> ModuleType:
        """The module of hidden checks, autograder.checks.<module>."""
        return importlib.import_module(f"autograder.checks.{self.module}")

    def solutions(self) -> ModuleType:
        """The reference solutions module generated from the source notebook."""
        return load_solutions(self.module)

    def exercises(self) -> tuple[Exercise, ...]:
        """The graded exercises, in notebook order."""
        return self.checks().EXERCISES


LESSONS: dict[str, Lesson] = {lesson.key: lesson for lesson in (
    Lesson("00_primer", "primer"),
    Lesson("01_matmul", "matmul"),
    Lesson("02_init", "init"),
    Lesson("03_forward", "forward"),
    Lesson("04_backward", "backward"),
    Lesson("05_internals", "internals"),
    Lesson("06_autograd", "autograd"),
    Lesson("07_conv", "conv"),
    Lesson("08_batchnorm", "batchnorm"),
    Lesson("09_rnn", "rnn"),
)}


def lesson_for(target: str) -> Lesson:
    """The lesson named by a key (01_matmul) or by a notebook file name (path/to/01_matmul.ipynb)."""
    key = Path(target).stem if target.endswith(".ipynb") else target
    if key not in LESSONS:
        known = ", ".join(LESSONS)
        raise KeyError(f"{target!r} is not a lesson of this course (lessons: {known}); "
                       "a notebook's file name must be its lesson key, e.g. 01_matmul.ipynb")
    return LESSONS[key]
