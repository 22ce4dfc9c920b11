"""Time budgets for learner code: a cell or an exercise that runs too long is stopped, not waited on."""
from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Iterator

from autograder.results import ExerciseTimeout

TIME_SCALE_ENV = "AUTOGRADER_TIME_SCALE"


def time_scale() -> float:
    """Factor on every time limit (cells and checks): AUTOGRADER_TIME_SCALE, default 1; a slower grading
    machine may raise it, the grader's own tests lower it to meet infinite loops sooner."""
    try:
        return max(0.01, float(os.environ.get(TIME_SCALE_ENV, "1")))
    except ValueError:
        return 1.0


@contextmanager
def time_limit(seconds: float | None, what: str) -> Iterator[None]:
    """Raise ExerciseTimeout in this thread when the block runs longer than `seconds`.

    Uses SIGALRM, so it interrupts pure-Python loops (the usual infinite loop) between
    bytecodes; it is a no-op off the main thread or where SIGALRM does not exist.
    """
    usable = (seconds and hasattr(signal, "SIGALRM")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise ExerciseTimeout(f"{what} did not finish within its {seconds:g} s budget: "
                              "is there an infinite loop, or a loop far bigger than its inputs?")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
