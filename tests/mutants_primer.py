"""Realistic wrong answers to lesson 00_primer, each with the exercise it must fail and the message it must get."""
from __future__ import annotations

import functools
import inspect
import textwrap
import time
from contextlib import contextmanager
from types import SimpleNamespace

from mutants_matmul import Mutant
from solutions import primer as ref


def _edited(definition, *edits: tuple[str, str]):
    """The reference definition with lines of its source changed: a learner's answer that differs from
    the reference only there (a class looks itself up by its own name, as the learner's does)."""
    source = textwrap.dedent(inspect.getsource(definition))
    for old, new in edits:
        assert old in source, f"{old!r} is not in the reference {definition.__name__} any more"
        source = source.replace(old, new)
    namespace = dict(vars(ref))
    exec(compile(source, f"<{definition.__name__} mutant>", "exec"), namespace)
    return namespace[definition.__name__]


# --- Polynomial -------------------------------------------------------------------------------

def _without(method: str):
    """The reference Polynomial with one method deleted, as a learner who never wrote it."""
    source = textwrap.dedent(inspect.getsource(ref.Polynomial))
    start = source.index(f"    def {method}(")
    end = source.index("\n    def ", start + 1)
    namespace = dict(vars(ref))
    exec(source[:start] + source[end + 1:], namespace)
    return namespace["Polynomial"]


PolynomialWithoutRadd = _without("__radd__")
PolynomialWithoutRmul = _without("__rmul__")
PolynomialHashedByIdentity = _edited(ref.Polynomial, ("    def __init__(", "    __hash__ = object.__hash__\n\n    def __init__("))
PolynomialReprIsStr = _edited(ref.Polynomial, (
    """return f"Polynomial({', '.join(repr(c) for c in self.coefficients)})\"""", "return str(self)"))
PolynomialReprOfAList = _edited(ref.Polynomial, (
    """return f"Polynomial({', '.join(repr(c) for c in self.coefficients)})\"""",
    'return f"Polynomial({list(self.coefficients)})"'))
PolynomialEveryPower = _edited(ref.Polynomial, (
    """        result = 0
        for c in reversed(self.coefficients):
            result = result * x + c
        return result""", "        return sum(c * x ** k for k, c in enumerate(self.coefficients))"))
PolynomialRepeatedProducts = _edited(ref.Polynomial, (
    """        result = 0
        for c in reversed(self.coefficients):
            result = result * x + c
        return result""", """        result = 0
        for k, c in enumerate(self.coefficients):
            term = c
            for _ in range(k):
                term = term * x
            result = result + term
        return result"""))
PolynomialHornerBackwards = _edited(ref.Polynomial, ("for c in reversed(self.coefficients):", "for c in self.coefficients:"))
PolynomialHornerFromLast = _edited(ref.Polynomial, (
    """        result = 0
        for c in reversed(self.coefficients):
            result = result * x + c""", """        result = self.coefficients[-1]
        for c in reversed(self.coefficients[:-1]):
            result = result * x + c"""))
PolynomialKeepsTrailingZeros = _edited(ref.Polynomial, ("while len(kept) > 1 and kept[-1] == 0:", "while False:"))
PolynomialFloatCoefficients = _edited(ref.Polynomial, ("kept = list(coefficients)", "kept = [float(c) for c in coefficients]"))
PolynomialIndexPastTheEnd = _edited(ref.Polynomial, (
    "return self.coefficients[k]", "return self.coefficients[k] if k < len(self.coefficients) else 0"))
PolynomialAddRaises = _edited(ref.Polynomial, (
    "            return NotImplemented\n        return Polynomial(*(a + b",
    "            raise TypeError(f'cannot add {type(other).__name__} to a Polynomial')\n        return Polynomial(*(a + b"))
PolynomialMulAnything = _edited(ref.Polynomial, (
    """        if isinstance(other, Number):
            other = Polynomial(other)
        if not isinstance(other, Polynomial):
            return NotImplemented
        product""", """        if not isinstance(other, Polynomial):
            return Polynomial(*(c * other for c in self.coefficients))
        product"""))
PolynomialPlusMinus = _edited(ref.Polynomial, (
    'number = "" if abs(c) == 1 and k > 0 else str(abs(c))', 'number = "" if c == 1 and k > 0 else str(c)'), (
    'terms.append(("-" if c < 0 else "+", number + power))', 'terms.append(("+", number + power))'))
PolynomialOneX = _edited(ref.Polynomial, ('number = "" if abs(c) == 1 and k > 0 else str(abs(c))', "number = str(abs(c))"))
PolynomialEqualByIdentity = _without("__eq__")
PolynomialIntsAndFloatsOnly = _edited(ref.Polynomial, (
    "        if isinstance(other, Number):\n            other = Polynomial(other)\n        if not isinstance(other, Polynomial):\n            return NotImplemented\n        return Polynomial(*(a + b",
    "        if isinstance(other, (int, float)):\n            other = Polynomial(other)\n        if not isinstance(other, Polynomial):\n            return NotImplemented\n        return Polynomial(*(a + b"))


class PolynomialSumKeepsZeros(ref.Polynomial):
    """Builds sums without __init__, so (x^2 + 1) + (1 - x^2) keeps its zero x^2 term."""

    def __add__(self, other):
        if isinstance(other, (int, float)):
            other = ref.Polynomial(other)
        if not isinstance(other, ref.Polynomial):
            return NotImplemented
        a, b = self.coefficients, other.coefficients
        result = object.__new__(type(self))
        result.coefficients = tuple((a[i] if i < len(a) else 0) + (b[i] if i < len(b) else 0)
                                    for i in range(max(len(a), len(b))))
        return result


# --- timer ------------------------------------------------------------------------------------

TimerSwallows = _edited(ref.timer, ("self.elapsed = time.perf_counter() - self.start",
                                    "self.elapsed = time.perf_counter() - self.start\n        return True"))


@contextmanager
def timer_generator_swallows():
    t = SimpleNamespace(elapsed=None)
    start = time.perf_counter()
    try:
        yield t
    except Exception:
        pass
    t.elapsed = time.perf_counter() - start


@contextmanager
def timer_generator_without_finally():
    t = SimpleNamespace(elapsed=None)
    start = time.perf_counter()
    yield t
    t.elapsed = time.perf_counter() - start


class TimerStartsInInit(ref.timer):
    def __init__(self):
        self.elapsed, self.start = None, time.perf_counter()

    def __enter__(self):
        return self


TimerInMilliseconds = _edited(ref.timer, ("self.elapsed = time.perf_counter() - self.start",
                                          "self.elapsed = (time.perf_counter() - self.start) * 1000"))
TimerStartOnTheClass = _edited(ref.timer, ("self.start = time.perf_counter()", "timer.start = time.perf_counter()"))
TimerEnterReturnsNone = _edited(ref.timer, ("        return self\n", "\n"))


# --- count_calls ------------------------------------------------------------------------------

count_calls_without_wraps = _edited(ref.count_calls, ("    @functools.wraps(fn)\n", ""))


class CountCallsClass:
    """A decorator as a class with __call__: keeps the name, but a method loses its self."""

    def __init__(self, fn):
        functools.update_wrapper(self, fn)
        self.fn, self.calls = fn, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.fn(*args, **kwargs)


count_calls_after_the_call = _edited(ref.count_calls, (
    "        wrapper.calls += 1\n        return fn(*args, **kwargs)",
    "        result = fn(*args, **kwargs)\n        wrapper.calls += 1\n        return result"))

_shared = {"calls": 0}


def count_calls_one_counter(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _shared["calls"] += 1
        wrapper.calls = _shared["calls"]
        return fn(*args, **kwargs)

    wrapper.calls = 0
    return wrapper


count_calls_forgets_return = _edited(ref.count_calls, ("        return fn(*args, **kwargs)", "        fn(*args, **kwargs)"))
count_calls_without_kwargs = _edited(ref.count_calls, (
    "def wrapper(*args, **kwargs):", "def wrapper(*args):"), ("return fn(*args, **kwargs)", "return fn(*args)"))


# --- run_with_callbacks -----------------------------------------------------------------------

run_with_callbacks_after_reversed = _edited(ref.run_with_callbacks, (
    "        for cb in callbacks:\n            after", "        for cb in reversed(callbacks):\n            after"))
run_with_callbacks_needs_every_hook = _edited(ref.run_with_callbacks, (
    'before = getattr(cb, "before", None)', "before = cb.before"), ('after = getattr(cb, "after", None)', "after = cb.after"))
run_with_callbacks_never_stops = _edited(ref.run_with_callbacks, (
    "if before is not None and before(i):\n                return ran", "if before is not None:\n                before(i)"), (
    "if after is not None and after(i, result):\n                return ran", "if after is not None:\n                after(i, result)"))


def run_with_callbacks_finishes_the_round(steps, callbacks):
    ran = 0
    for i, step in enumerate(steps):
        stop = [bool(cb.before(i)) for cb in callbacks if getattr(cb, "before", None)]
        if any(stop):
            return ran
        result = step()
        ran += 1
        stop = [bool(cb.after(i, result)) for cb in callbacks if getattr(cb, "after", None)]
        if any(stop):
            return ran
    return ran


run_with_callbacks_counts_the_stopped_step = _edited(ref.run_with_callbacks, (
    "            if before is not None and before(i):\n                return ran",
    "            if before is not None and before(i):\n                return ran + 1"))


MUTANTS = (
    Mutant("no __radd__", "Polynomial", PolynomialWithoutRadd, "define __radd__"),
    Mutant("no __rmul__", "Polynomial", PolynomialWithoutRmul, "define __rmul__"),
    Mutant("__eq__ with the identity hash", "Polynomial", PolynomialHashedByIdentity, "different hashes"),
    Mutant("no __eq__", "Polynomial", PolynomialEqualByIdentity, "compare the coefficients"),
    Mutant("repr is str", "Polynomial", PolynomialReprIsStr, "it is the same as str(p)"),
    Mutant("repr of a list", "Polynomial", PolynomialReprOfAList, "pass the coefficients one by one"),
    Mutant("every power computed", "Polynomial", PolynomialEveryPower, "raised x to a power"),
    Mutant("powers by repeated products", "Polynomial", PolynomialRepeatedProducts, "Horner's rule needs one per coefficient"),
    Mutant("Horner from the lowest power", "Polynomial", PolynomialHornerBackwards, "coefficients in reverse order"),
    Mutant("Horner started from the last coefficient", "Polynomial", PolynomialHornerFromLast, "a constant polynomial still gives one value per entry"),
    Mutant("trailing zeros kept", "Polynomial", PolynomialKeepsTrailingZeros, "drop the trailing zeros"),
    Mutant("coefficients made floats", "Polynomial", PolynomialFloatCoefficients, "keep the coefficients as given"),
    Mutant("index past the end is 0", "Polynomial", PolynomialIndexPastTheEnd, "would never end"),
    Mutant("__add__ raises for other types", "Polynomial", PolynomialAddRaises, "should return NotImplemented"),
    Mutant("__mul__ takes anything as a number", "Polynomial", PolynomialMulAnything, "should return NotImplemented"),
    Mutant("only int and float taken as numbers", "Polynomial", PolynomialIntsAndFloatsOnly, "isinstance(other, Number)"),
    Mutant("sum built without __init__", "Polynomial", PolynomialSumKeepsZeros, "with trailing zeros"),
    Mutant("str writes + -2x", "Polynomial", PolynomialPlusMinus, "a negative coefficient is a minus"),
    Mutant("str writes 1x", "Polynomial", PolynomialOneX, "a coefficient 1 is not written"),
    Mutant("__exit__ returns True", "timer", TimerSwallows, "the KeyError disappeared"),
    Mutant("generator timer catches the exception", "timer", timer_generator_swallows, "the KeyError disappeared"),
    Mutant("generator timer without finally", "timer", timer_generator_without_finally, "record it in __exit__"),
    Mutant("clock started in __init__", "timer", TimerStartsInInit, "not when timer() is called"),
    Mutant("milliseconds", "timer", TimerInMilliseconds, "record seconds, not milliseconds"),
    Mutant("start kept on the class", "timer", TimerStartOnTheClass, "share their start time"),
    Mutant("__enter__ returns None", "timer", TimerEnterReturnsNone, "return self"),
    Mutant("decorator without functools.wraps", "count_calls", count_calls_without_wraps, "@functools.wraps(fn)"),
    Mutant("decorator as a class with __call__", "count_calls", CountCallsClass, "did not get its self"),
    Mutant("calls counted after the call", "count_calls", count_calls_after_the_call, "calls is 0, expected 1"),
    Mutant("one counter for every function", "count_calls", count_calls_one_counter, "each decorated function counts its own"),
    Mutant("wrapper without return", "count_calls", count_calls_forgets_return, "return fn's result"),
    Mutant("wrapper without **kwargs", "count_calls", count_calls_without_kwargs, "wrapper(*args, **kwargs)"),
    Mutant("after hooks in reverse order", "run_with_callbacks", run_with_callbacks_after_reversed, "after hooks go in list order"),
    Mutant("every hook required", "run_with_callbacks", run_with_callbacks_needs_every_hook, "getattr(cb, 'before', None)"),
    Mutant("hooks cannot stop the run", "run_with_callbacks", run_with_callbacks_never_stops, "stop at once"),
    Mutant("a stop waits for the round of hooks", "run_with_callbacks", run_with_callbacks_finishes_the_round, "stop at once"),
    Mutant("the step stopped in before counted", "run_with_callbacks", run_with_callbacks_counts_the_stopped_step, "steps ran"),
)
