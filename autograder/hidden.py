"""What graded code may never see: the private folders and files of this course and of an nbgrader course.

Kept free of heavy imports: nbgrader's grading kernel reads it in its launcher, before Python has torch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from autograder.references import COURSE_ROOT

HIDDEN_NAMES = ("solutions", "source", "release", "submitted", "autograded", "feedback", "tests", ".git",
                "assignments", "gradebook.db", "grades.csv", "nbgrader_config.py", "benchmarks")


def hidden_paths(extra_roots: Iterable[Path] = ()) -> list[Path]:
    """Everything a worker must not see: the course's private folders and files, here and in `extra_roots`."""
    roots = [COURSE_ROOT, *extra_roots]
    return [root / name for root in dict.fromkeys(Path(r).resolve() for r in roots) for name in HIDDEN_NAMES]


def kernel_secret_paths(cwd: Path) -> list[Path]:
    """What nbgrader's grading kernel must not see: this course's private files, and those of the course
    being graded.

    nbgrader runs the kernel in `<course>/autograded/<student>/<assignment>`; that course's gradebook,
    sources, submissions and the other students' results are hidden, the folder it runs in is not.
    """
    cwd = cwd.resolve()
    # exists(), not is_file(): inside the kernel's sandbox these files are covered by /dev/null
    course = next((d for d in cwd.parents if (d / "nbgrader_config.py").exists() or (d / "gradebook.db").exists()),
                  None)
    secret = [p for p in hidden_paths([course] if course else []) if not _holds(p, cwd)]
    if course is not None and cwd.parent.parent == course / "autograded":
        secret += [d for d in (course / "autograded").iterdir() if d != cwd.parent]
    return secret


def _holds(folder: Path, path: Path) -> bool:
    return path == folder or folder in path.parents
