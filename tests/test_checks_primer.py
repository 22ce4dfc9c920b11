from __future__ import annotations

import inspect
import textwrap
import time
from contextlib import contextmanager
from types import SimpleNamespace

import pytest

import autograder.checks.primer as checks
from autograder.grade import grade_loaded, grade_solutions
from autograder.lessons import lesson_for
from autograder.loader import LoadedNotebook
from autograder.results import CheckFailed, Status
from conftest import assert_fails_only_its_exercise
from mutants_primer import MUTANTS, _edited
from solutions import primer as ref


@pytest.fixture
def primer_lesson():
    return lesson_for("00_primer")


def test_reference_solutions_get_full_marks():
    graded = grade_solutions("00_primer", "cpu")
    assert [(e.name, e.message) for e in graded.exercises if e.status != Status.PASSED] == []
    assert graded.score == graded.max_score == 10


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_fails_exactly_its_exercise_with_its_message(mutant, primer_lesson, tmp_path):
    assert_fails_only_its_exercise(primer_lesson, mutant, tmp_path)


def test_mutant_zoo_covers_every_exercise(primer_lesson):
    assert len(MUTANTS) >= 12
    assert {m.exercise for m in MUTANTS} == {e.name for e in primer_lesson.exercises()}


def test_the_issue_s_classic_mistakes_are_in_the_zoo():
    names = {m.name for m in MUTANTS}
    assert {"no __radd__", "__eq__ with the identity hash", "__exit__ returns True",
            "decorator without functools.wraps"} <= names


@contextmanager
def timer_from_a_generator():
    t = SimpleNamespace(elapsed=None)
    start = time.perf_counter()
    try:
        yield t
    finally:
        t.elapsed = time.perf_counter() - start


def count_calls_with_nonlocal(fn):
    import functools
    count = 0

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        nonlocal count
        count += 1
        wrapper.calls = count
        return fn(*args, **kwargs)

    wrapper.calls = 0
    return wrapper


def run_with_callbacks_is_true(steps, callbacks):
    ran = 0
    for i, step in enumerate(steps):
        if any(getattr(cb, "before", lambda i: None)(i) is True for cb in callbacks):
            return ran
        result = step()
        ran += 1
        if any(getattr(cb, "after", lambda i, r: None)(i, result) is True for cb in callbacks):
            return ran
    return ran


# Other correct answers: each must get full marks.
CORRECT_VARIANTS = {
    "a hash that agrees with ==": ("Polynomial", _edited(ref.Polynomial, (
        "    def __init__(", "    def __hash__(self):\n        return hash(self.coefficients)\n\n    def __init__("))),
    "reflected operators as aliases": ("Polynomial", _edited(ref.Polynomial, (
        "    def __radd__(self, other: Any) -> \"Polynomial\":", "    __radd__ = __add__\n\n    def _unused(self, other):"), (
        "    def __rmul__(self, other: Any) -> \"Polynomial\":", "    __rmul__ = __mul__\n\n    def _unused2(self, other):"))),
    "== answering False for other types": ("Polynomial", _edited(ref.Polynomial, (
        "            return NotImplemented\n        return self.coefficients == other.coefficients",
        "            return False\n        return self.coefficients == other.coefficients"))),
    "Horner by functools.reduce": ("Polynomial", _edited(ref.Polynomial, (
        """        result = 0
        for c in reversed(self.coefficients):
            result = result * x + c
        return result""", "        return functools.reduce(lambda acc, c: acc * x + c, reversed(self.coefficients), 0)"))),
    "results built with type(self)": ("Polynomial", _edited(ref.Polynomial, (
        "return Polynomial(*(a + b", "return type(self)(*(a + b"), ("return Polynomial(*product)", "return type(self)(*product)"))),
    "a timer on time.time()": ("timer", _edited(ref.timer, (
        "self.start = time.perf_counter()", "self.start = time.time()"), (
        "self.elapsed = time.perf_counter() - self.start", "self.elapsed = time.time() - self.start"))),
    "a timer written as a generator": ("timer", timer_from_a_generator),
    "a counter in a nonlocal variable": ("count_calls", count_calls_with_nonlocal),
    "hooks that stop on `is True`, any() over the callbacks": ("run_with_callbacks", run_with_callbacks_is_true),
}


@pytest.mark.parametrize("variant", list(CORRECT_VARIANTS))
def test_other_correct_answers_get_full_marks(variant, primer_lesson, tmp_path):
    exercise, answer = CORRECT_VARIANTS[variant]
    namespace = dict(vars(primer_lesson.solutions()))
    namespace[exercise] = answer
    graded = grade_loaded(primer_lesson, LoadedNotebook(tmp_path, namespace), "cpu")
    assert [(e.name, e.message) for e in graded.exercises if e.status != Status.PASSED] == []


def test_horner_counter_tells_horner_from_a_running_power():
    # A running power (power = power * x, then c * power) makes two multiplications per coefficient.
    source = textwrap.dedent(inspect.getsource(ref.Polynomial))
    running = source.replace("""        result = 0
        for c in reversed(self.coefficients):
            result = result * x + c
        return result""", """        result, power = 0, 1
        for c in self.coefficients:
            result = result + c * power
            power = power * x
        return result""")
    namespace = dict(vars(ref))
    exec(running, namespace)
    with pytest.raises(CheckFailed, match="Horner's rule needs one per coefficient"):
        checks.check_Polynomial(namespace["Polynomial"], seed=0)
    checks.check_Polynomial(ref.Polynomial, seed=0)


def test_a_stub_is_not_attempted_for_every_exercise(primer_lesson, tmp_path):
    def stub(*args, **kwargs):
        raise NotImplementedError("not attempted yet")

    class StubClass:
        def __init__(self, *args, **kwargs):
            raise NotImplementedError("not attempted yet")

    namespace = {"Polynomial": StubClass, "timer": StubClass, "count_calls": stub, "run_with_callbacks": stub}
    graded = grade_loaded(primer_lesson, LoadedNotebook(tmp_path, namespace), "cpu")
    assert [e.status for e in graded.exercises] == [Status.NOT_ATTEMPTED] * 4
