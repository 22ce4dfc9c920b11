"""The tamper check: what it reports after a change to the grader or a library a verdict rests on,
and that a notebook cannot blind it (each case runs in a forked copy of this process)."""
from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from autograder.snapshot import Snapshot
from autograder.supervisor import warm_up
from forked import in_child


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    warm_up()  # the worker builds its snapshot after the same imports


def report_after(change) -> str:
    """The report of a snapshot built before `change()` ran, in a forked child."""
    def run(fd: int) -> None:
        report = Snapshot(SimpleNamespace(violations=[])).report
        change()
        os.write(fd, str(report()).encode())
    return in_child(run)


def _nothing() -> None:
    import torch
    torch.allclose = torch.allclose  # the same object set again: torch and the interpreter do so


def _grader_class() -> None:
    import autograder.compare
    import autograder.results
    autograder.results.LessonResult.score = property(lambda self: 100)
    autograder.compare.is_close = autograder.compare.is_close


def _restored() -> None:
    import autograder.compare
    real = autograder.compare.is_close
    autograder.compare.is_close = lambda *args, **kwargs: True
    autograder.compare.is_close = real


def _closure() -> None:
    import autograder.checks.forward as checks
    for cell in checks.EXERCISES[0].check.__closure__:
        if callable(cell.cell_contents):
            cell.cell_contents = lambda *args, **kwargs: None


def _frozen_exercise() -> None:
    import autograder.checks.forward as checks
    object.__setattr__(checks.EXERCISES[1], "points", 100)


def _swapped_module() -> None:
    import sys
    import types
    sys.modules["autograder.grade"] = types.ModuleType("autograder.grade")


def _library_class() -> None:
    import torch.utils.benchmark
    torch.utils.benchmark.Timer.blocked_autorange = lambda self, *args, **kwargs: None


def _blinding() -> None:
    import builtins
    import ctypes

    import autograder.compare
    import autograder.snapshot
    builtins.id = lambda obj: 0
    ctypes.c_uint64.value = property(lambda self: 0)
    autograder.snapshot._cell_value = lambda cell: None
    autograder.compare.is_close = lambda *args, **kwargs: True


@pytest.mark.parametrize("change, expected", [
    (_grader_class, "autograder.results.LessonResult.score"),
    (_restored, "autograder.compare (changed, then restored)"),
    (_closure, "autograder.checks.forward.check_lin (a variable of its closure)"),
    (_frozen_exercise, "autograder.checks.forward.EXERCISES[1].points"),
    (_swapped_module, "the module autograder.grade"),
    (_library_class, "torch.utils.benchmark.utils.timer.Timer.blocked_autorange"),
    (_blinding, "autograder.compare.is_close"),
], ids=lambda x: getattr(x, "__name__", "")[1:] if callable(x) else "")
def test_a_change_is_named(change, expected):
    text = report_after(change)
    assert text.startswith("the notebook replaced") and expected in text, text


def test_the_same_object_set_again_is_not_a_change():
    assert report_after(_nothing) == "None"
