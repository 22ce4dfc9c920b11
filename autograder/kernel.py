"""Kernel start-up for nbgrader runs (autograde, validate): what a test cell prints is graded and shown."""
from __future__ import annotations

import os
import sys
from pathlib import Path
import warnings
from typing import Any, Callable, Iterable

from autograder.exercise import KERNEL_VERDICT_ENV

KERNEL_SCRATCH_ENV = "AUTOGRADER_KERNEL_SCRATCH"  # the grading kernel's temporary folder, made by autograde


def _warning_to_stdout(message: Any, category: type[Warning], filename: str, lineno: int,
                       file: Any = None, line: str | None = None) -> None:
    sys.stdout.write(warnings.formatwarning(message, category, filename, lineno, line))


def _harden() -> None:
    """nbgrader runs the submission in this kernel too: keep it from forking, opening the network,
    writing outside its folder or exhausting the machine (its verdict is not used, its damage would be)."""
    import atexit
    import shutil
    import tempfile

    from autograder.guard import Guard
    from autograder.sandbox import Limits, set_limits
    from autograder.supervisor import hidden_paths

    # Its own temporary folder rather than all of /tmp, where the course itself may be checked out.
    # Autograde makes it (and removes it, however the kernel ends); a kernel started otherwise makes its own.
    scratch = os.environ.get(KERNEL_SCRATCH_ENV) or tempfile.mkdtemp(prefix="grading-kernel-")
    if not os.environ.get(KERNEL_SCRATCH_ENV):
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    tempfile.tempdir = os.environ["TMPDIR"] = scratch
    set_limits(Limits())
    Guard(kernel_secret_paths(Path.cwd(), hidden_paths), [Path.cwd(), Path(scratch)]).install()


def kernel_secret_paths(cwd: Path, hidden_paths: Callable[[Iterable[Path]], list[Path]]) -> list[Path]:
    """What the kernel must not open: this course's private files, and those of the course being graded.

    nbgrader runs the kernel in `<course>/autograded/<student>/<assignment>`; that course's gradebook,
    sources, submissions and the other students' results are hidden, the folder it runs in is not.
    """
    cwd = cwd.resolve()
    course = next((d for d in cwd.parents if (d / "nbgrader_config.py").is_file() or (d / "gradebook.db").is_file()),
                  None)
    secret = [p for p in hidden_paths([course] if course else []) if not _holds(p, cwd)]
    if course is not None and cwd.parent.parent == course / "autograded":
        secret += [d for d in (course / "autograded").iterdir() if d != cwd.parent]
    return secret


def _holds(folder: Path, path: Path) -> bool:
    return path == folder or folder in path.parents


def configure_grading_kernel() -> None:
    """Warnings on stdout (stderr output zeroes a test cell); errors as one line, no traceback wall.

    The one-line errors also keep the hidden test code out of the learner's feedback: a failed
    check shows as `CheckFailed: <what is wrong and why>`.
    """
    warnings.showwarning = _warning_to_stdout
    if os.environ.get("NBGRADER_EXECUTION") == "autograde":
        # The verdict comes from the isolated grader (nbgrader_pipelines.IsolatedVerdicts); checking
        # again here, beside the learner's code, would only cost time.
        os.environ[KERNEL_VERDICT_ENV] = "isolated"
        _harden()
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        shell.run_line_magic("xmode", "Minimal")
