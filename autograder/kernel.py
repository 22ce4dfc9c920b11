"""Kernel start-up for nbgrader runs (autograde, validate): what a test cell prints is graded and shown."""
from __future__ import annotations

import os
import sys
from pathlib import Path
import warnings
from typing import Any

from autograder.exercise import KERNEL_VERDICT_ENV
from autograder.kernel_launcher import KERNEL_SCRATCH_ENV


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
    from autograder.hidden import kernel_secret_paths

    # Its own temporary folder rather than all of /tmp, where the course itself may be checked out.
    # Autograde makes it (and removes it, however the kernel ends); a kernel started otherwise makes its own.
    scratch = os.environ.get(KERNEL_SCRATCH_ENV) or tempfile.mkdtemp(prefix="grading-kernel-")
    if not os.environ.get(KERNEL_SCRATCH_ENV):
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    tempfile.tempdir = os.environ["TMPDIR"] = scratch
    set_limits(Limits())
    Guard(kernel_secret_paths(Path.cwd()), [Path.cwd(), Path(scratch)]).install()


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
