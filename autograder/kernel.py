"""Kernel start-up for nbgrader runs: warnings go to stdout, since any stderr output zeroes a test cell."""
from __future__ import annotations

import sys
import warnings
from typing import Any


def warnings_to_stdout() -> None:
    """Show every warning on stdout instead of stderr (the learner still sees it in the cell output)."""
    def show(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None) -> None:
        sys.stdout.write(warnings.formatwarning(message, category, filename, lineno, line))

    warnings.showwarning = show
