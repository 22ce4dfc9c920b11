"""Run a function in a forked copy of the test process: changes it makes to modules stay there."""
from __future__ import annotations

import os
from typing import Callable


def in_child(run: Callable[[int], None]) -> str:
    """What `run(fd)` writes to `fd` in a forked child (which then exits at once)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover -- the child reports through the pipe
        try:
            run(write)
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        text = f.read()
    os.waitpid(pid, 0)
    return text
