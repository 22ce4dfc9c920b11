"""Hidden checks of lesson 00_primer: the data model (a Polynomial against numpy.polynomial), a
context manager, a decorator and callbacks."""
from __future__ import annotations

import inspect
import itertools
import math
import time
from fractions import Fraction
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import torch
from numpy.polynomial import polynomial as npp

from autograder.compare import is_close, worst_difference
from autograder.exercise import Exercise, check, reference
from autograder.results import CheckFailed

# Results are compared with numpy.polynomial's, computed in float64. Integer coefficients and
# points give exact results (float64 holds every integer below 2^53). Products and sums of float
# coefficients (standard normal, so O(1)) may round differently in another order of operations, by
# about 1e-16: rtol and atol 1e-12 allow for that, and any real mistake is off by O(1). Values on
# tensors and arrays use compare.is_close: the dtype's tolerance plus rounding in proportion to
# the sum of |c_k| |x|^k.
FLOAT64_RTOL = 1e-12
# The timer is checked against blocks that sleep (sleep never returns early) and a clock read
# around the with statement: elapsed must lie between the two. time.time() instead of
# perf_counter() could be off by its resolution, so 10% of the sleep (and 5 ms above) is allowed.
SLEEP_S = 0.02
CLOCK_SLACK = 0.1
CLOCK_SLACK_S = 0.005


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- Polynomial -------------------------------------------------------------------------------

def _trim(coefficients: Any) -> tuple:
    """Coefficients without trailing zeros (one stays), as Python numbers."""
    kept = [c.item() if isinstance(c, np.generic) else c for c in coefficients]
    # numpy computes in float64: shown as the ints they are when they are integers
    kept = [int(c) if isinstance(c, float) and c.is_integer() else c for c in kept]
    while len(kept) > 1 and kept[-1] == 0:
        kept.pop()
    return tuple(kept) if kept else (0,)


def _random_ints(gen: torch.Generator, low: int = 1, high: int = 6) -> tuple[int, ...]:
    """Integer coefficients in [-5, 5], between `low` and `high` of them, the last nonzero."""
    n = int(torch.randint(low, high + 1, (), generator=gen))
    values = torch.randint(-5, 6, (n,), generator=gen).tolist()
    if values[-1] == 0:
        values[-1] = int(torch.randint(1, 6, (), generator=gen))
    return tuple(values)


def _random_floats(gen: torch.Generator, n: int) -> tuple[float, ...]:
    return tuple(torch.randn(n, generator=gen, dtype=torch.float64).tolist())


def _coefficients(p: Any, call: str) -> tuple:
    """p.coefficients, which must be a tuple."""
    coefficients = getattr(p, "coefficients", None)
    if coefficients is None:
        raise CheckFailed(f"{call} has no attribute `coefficients`: store them in __init__, "
                          "self.coefficients = tuple(...).")
    if not isinstance(coefficients, tuple):
        raise CheckFailed(f"{call}.coefficients is a {type(coefficients).__name__}; store a tuple "
                          "(a list could be changed in place by anyone who holds it).")
    return coefficients


def _name(coefficients: tuple) -> str:
    return f"Polynomial({', '.join(repr(c) for c in coefficients)})"


def _expect_polynomial(result: Any, cls: type, expected: tuple, call: str, exact: bool = True) -> None:
    """result is a polynomial (of cls or a base of it) with the expected coefficients."""
    kinds = tuple(c for c in cls.__mro__ if c is not object)
    if not isinstance(result, kinds):
        raise CheckFailed(f"{call} returned {_short(result)}, not a Polynomial: build the result with "
                          "Polynomial(...).")
    got = _coefficients(result, call)
    if exact and got == expected:
        return
    if not exact and len(got) == len(expected) and np.allclose(
            np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64), rtol=FLOAT64_RTOL, atol=1e-12):
        return
    if len(got) > len(expected) and all(c == 0 for c in got[len(expected):]) and got[: len(expected)] == expected:
        raise CheckFailed(f"{call} has coefficients {_short(got)}, with trailing zeros: build the result with "
                          f"Polynomial(...), whose __init__ drops them, so that it equals {_name(expected)}.")
    raise CheckFailed(f"{call} has coefficients {_short(got)}; numpy.polynomial gives {_short(expected)}.")


def _check_storage(cls: type) -> None:
    for given, expected, why in (
            ((1, 0, 3), (1, 0, 3), ""),
            ((1, 2, 0, 0), (1, 2), "drop the trailing zeros (the coefficients of the highest powers), "),
            ((0, 0), (0,), "the zero polynomial keeps one coefficient: "),
            ((), (0,), "the zero polynomial keeps one coefficient: "),
            ((0, 0, 7), (0, 0, 7), "only trailing zeros go, not leading ones: ")):
        call = _name(given) if given else "Polynomial()"
        got = _coefficients(cls(*given), call)
        if got == tuple(reversed(expected)) and got != expected:
            raise CheckFailed(f"{call}.coefficients is {got!r}: keep them lowest power first, as given "
                              f"({expected!r}).")
        if got != expected:
            raise CheckFailed(f"{call}.coefficients is {_short(got)}; {why}expected {expected!r}.")
        if [type(c) for c in got] != [type(c) for c in expected]:
            raise CheckFailed(f"{call}.coefficients is {got!r}: keep the coefficients as given (ints stay ints, "
                              f"{expected!r}), without converting them.")


def _check_sequence(cls: type, gen: torch.Generator) -> None:
    for coefficients in ((1, 0, 3), _random_ints(gen), (4,)):
        p, name = cls(*coefficients), _name(coefficients)
        if len(p) != len(coefficients):
            raise CheckFailed(f"len({name}) is {len(p)}; it is the number of coefficients, {len(coefficients)} "
                              "(the degree plus one).")
        for k in (0, len(coefficients) - 1, -1):
            if p[k] != coefficients[k]:
                raise CheckFailed(f"{name}[{k}] is {_short(p[k])}; p[k] is the coefficient of x^{k} as a tuple "
                                  f"indexes it: {coefficients[k]!r}.")
        try:
            past = p[len(coefficients)]
        except IndexError:
            pass
        else:
            raise CheckFailed(f"{name}[{len(coefficients)}] returned {_short(past)} instead of raising IndexError: "
                              "`for c in p` calls p[0], p[1], ... until IndexError, so it would never end.")
        listed = list(itertools.islice(iter(p), len(coefficients) + 1))
        if listed != list(coefficients):
            raise CheckFailed(f"list({name}) is {_short(listed)}; iterating over p should give its coefficients.")


class _Counting:
    """A number that counts the multiplications it takes part in and refuses powers, to tell
    Horner's rule from evaluating every power."""

    def __init__(self, value: float, counter: list[int]) -> None:
        self.value, self.counter = value, counter

    @staticmethod
    def _value(other: Any) -> float:
        return other.value if isinstance(other, _Counting) else other

    def _mul(self, other: Any) -> "_Counting":
        self.counter[0] += 1
        return _Counting(self.value * self._value(other), self.counter)

    def _add(self, other: Any) -> "_Counting":
        return _Counting(self.value + self._value(other), self.counter)

    __mul__ = __rmul__ = _mul
    __add__ = __radd__ = _add

    def __sub__(self, other: Any) -> "_Counting":
        return _Counting(self.value - self._value(other), self.counter)

    def __rsub__(self, other: Any) -> "_Counting":
        return _Counting(self._value(other) - self.value, self.counter)

    def __pow__(self, other: Any) -> Any:
        raise CheckFailed("Polynomial.__call__ raised x to a power (x ** k): Horner's rule needs no powers, only "
                          "result = result * x + c for each coefficient, from the highest power down.")

    __rpow__ = __pow__


def _check_call(cls: type, gen: torch.Generator) -> None:
    cases = [((1, 0, 3), 2), ((1, -2, 1), -3), ((5,), 7), ((0, 1), 4)]
    cases += [(_random_ints(gen, 2, 7), int(torch.randint(-4, 5, (), generator=gen))) for _ in range(4)]
    for coefficients, x in cases:
        got, expected = cls(*coefficients)(x), npp.polyval(x, coefficients)
        if got != expected:
            name = f"{_name(coefficients)}({x})"
            if len(coefficients) > 1 and got == npp.polyval(x, coefficients[::-1]):
                raise CheckFailed(f"{name} is {got!r}, the value with the coefficients in reverse order: "
                                  "coefficients[k] multiplies x^k (lowest power first), and Horner's rule "
                                  "starts from the highest power, reversed(self.coefficients).")
            raise CheckFailed(f"{name} is {_short(got)}; numpy.polynomial gives {expected:g}.")
    # Horner's rule: one multiplication by x per coefficient, no powers.
    coefficients = _random_ints(gen, 8, 8)
    counter = [0]
    got = cls(*coefficients)(_Counting(1.5, counter))
    value = got.value if isinstance(got, _Counting) else got
    if not isinstance(value, (int, float)) or not math.isclose(value, npp.polyval(1.5, coefficients), rel_tol=1e-9):
        raise CheckFailed(f"{_name(coefficients)}(x) for a number-like x is {_short(value)}; numpy.polynomial gives "
                          f"{npp.polyval(1.5, coefficients):g}: use only * and + on x.")
    if counter[0] > len(coefficients):
        raise CheckFailed(f"{_name(coefficients)}(x) made {counter[0]} multiplications with x for a degree-"
                          f"{len(coefficients) - 1} polynomial: Horner's rule needs one per coefficient "
                          "(result = result * x + c), never a power of x computed on its own.")
    # Floats, on tensors of both dtypes and on a numpy array, entry by entry.
    coefficients = _random_floats(gen, 6)
    x = torch.randn(7, generator=gen, dtype=torch.float64) * 2
    truth = torch.from_numpy(npp.polyval(x.numpy(), coefficients))
    scale = float(npp.polyval(x.abs().numpy(), np.abs(coefficients)).max())
    for shown, arg, dtype in (("a float64 tensor", x, torch.float64), ("a float32 tensor", x.float(), torch.float32),
                              ("a numpy array", x.numpy().copy(), torch.float64)):
        call = f"p(x) for x {shown} of shape (7,) and p = {_name(coefficients)}"
        got = cls(*coefficients)(arg)
        got = torch.from_numpy(got) if isinstance(got, np.ndarray) else got
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (7,):
            raise CheckFailed(f"{call} returned {_short(got)}: it should hold one value per entry of x "
                              "(use only * and + on x, which work entry by entry).")
        expected = torch.from_numpy(npp.polyval(arg.double().numpy(), coefficients)).to(dtype) \
            if dtype == torch.float32 else truth
        if not is_close(got.to(dtype), expected, scale):
            raise CheckFailed(f"{call} differs from numpy.polynomial's polyval: {worst_difference(got, expected)}.")
    constant = cls(5)(torch.zeros(3, dtype=torch.float64))
    if not isinstance(constant, torch.Tensor) or tuple(constant.shape) != (3,):
        raise CheckFailed(f"Polynomial(5)(x) for a tensor x of shape (3,) returned {_short(constant)}: a constant "
                          "polynomial still gives one value per entry of x. Start Horner's rule from 0 "
                          "(result = 0, then result = result * x + c for each coefficient).")


def _check_arithmetic(cls: type, gen: torch.Generator) -> None:
    pairs = [((1, 2, 3), (0, 1, -3)), ((1, 1), (0, -1)), ((2,), (0, 0, 1))]
    pairs += [(_random_ints(gen), _random_ints(gen)) for _ in range(4)]
    scalars = (2, -1, 0, Fraction(1, 2))
    for a, b in pairs:
        p, q = cls(*a), cls(*b)
        pa, qa = _name(a), _name(b)
        _expect_polynomial(p + q, cls, _trim(npp.polyadd(a, b)), f"{pa} + {qa}")
        _expect_polynomial(p * q, cls, _trim(npp.polymul(a, b)), f"{pa} * {qa}")
        if p.coefficients != a or q.coefficients != b:
            raise CheckFailed(f"{pa} + {qa} or {pa} * {qa} changed an operand: return a new Polynomial and "
                              "leave self and other as they are.")
        for k in scalars:
            for call, op, expected in ((f"{pa} + {k!r}", lambda: p + k, npp.polyadd(a, [k])),
                                       (f"{pa} * {k!r}", lambda: p * k, npp.polymul(a, [k])),
                                       (f"{k!r} + {pa}", lambda: k + p, npp.polyadd(a, [k])),
                                       (f"{k!r} * {pa}", lambda: k * p, npp.polymul(a, [k]))):
                try:
                    result = op()
                except TypeError as err:
                    if call.startswith(repr(k)):
                        method = "__radd__" if "+" in call else "__rmul__"
                        raise CheckFailed(f"{call} raised TypeError ({err}): {type(k).__name__}'s own method returns "
                                          f"NotImplemented for a Polynomial, so Python calls p.{method}({k!r}); "
                                          f"define {method}.") from None
                    raise CheckFailed(f"{call} raised TypeError ({err}): every number works as the constant "
                                      "polynomial; test isinstance(other, Number) (numbers.Number covers int, float, "
                                      "Fraction and numpy's numbers).") from None
                _expect_polynomial(result, cls, _trim(expected), call)
    floats = (_random_floats(gen, 4), _random_floats(gen, 3))
    p, q = cls(*floats[0]), cls(*floats[1])
    _expect_polynomial(p * q, cls, _trim(npp.polymul(*floats)), "p * q with float coefficients", exact=False)
    _expect_polynomial(p + 0.5 * q, cls, _trim(npp.polyadd(floats[0], npp.polymul(floats[1], [0.5]))),
                       "p + 0.5 * q with float coefficients", exact=False)
    p = cls(1, 2)
    for op, symbol in (("__add__", "+"), ("__mul__", "*")):
        for other in ("ab", [1, 2], None):
            try:
                result = getattr(p, op)(other)
            except Exception as err:  # noqa: BLE001 -- raising is the mistake this looks for
                raise CheckFailed(f"p.{op}({other!r}) raised {type(err).__name__} ({err}): for a type it does not "
                                  "know it should return NotImplemented, so that Python can ask the other operand "
                                  "(and raise the TypeError itself if neither knows).") from None
            if result is not NotImplemented:
                raise CheckFailed(f"p.{op}({other!r}) returned {_short(result)}: for anything that is neither a "
                                  f"Polynomial nor a number it should return NotImplemented (p {symbol} {other!r} "
                                  "is then a TypeError).")


def _check_equality(cls: type, gen: torch.Generator) -> None:
    a = _random_ints(gen, 2, 5)
    for left, right, equal in (((1, 2), (1, 2), True), ((1, 2), (1, 2, 0), True), (a, a, True),
                               ((1, 2), (2, 1), False), ((1, 2), (1, 2, 3), False), ((0,), (), True)):
        p, q = cls(*left), cls(*right)
        if (p == q) is not equal or (p != q) is equal:
            raise CheckFailed(f"{_name(left)} == {_name(right) if right else 'Polynomial()'} is {p == q!r}; "
                              f"expected {equal}: compare the coefficients.")
    p = cls(1, 2)
    for other in ("x", (1, 2), 3, None):
        try:
            same = p == other
        except Exception as err:  # noqa: BLE001 -- raising is the mistake this looks for
            raise CheckFailed(f"Polynomial(1, 2) == {other!r} raised {type(err).__name__} ({err}): return "
                              "NotImplemented for other types, and Python answers False.") from None
        if same is not False:
            raise CheckFailed(f"Polynomial(1, 2) == {other!r} is {_short(same)}; a polynomial only equals "
                              "polynomials (return NotImplemented for other types).")
    alive = [cls(1, 2), cls(1, 2), cls(1, 2, 0)]  # kept alive: an identity hash could reuse a freed id
    try:
        hashes = [hash(p) for p in alive]
    except TypeError:
        return  # unhashable, as Python makes a class that defines __eq__
    if len(set(hashes)) > 1:
        raise CheckFailed("two equal polynomials have different hashes, so a set holds both: a class that defines "
                          "__eq__ gets __hash__ = None from Python (unhashable), and should keep it; "
                          "__hash__ = object.__hash__ (by identity) breaks the rule that equal objects hash equal.")


def _check_texts(cls: type, gen: torch.Generator) -> None:
    cases = [(1, 0, 3), (1, -2, 1), (0,), (-2.5, 0, 0.5), (0, -1), (3, 1), _random_ints(gen), _random_floats(gen, 3)]
    for coefficients in cases:
        p = cls(*coefficients)
        text = repr(p)
        try:
            back = eval(text, {"__builtins__": {}}, {"Polynomial": cls, cls.__name__: cls})  # noqa: S307
        except Exception as err:  # noqa: BLE001 -- any failure to read it back is the mistake
            same_as_str = " (it is the same as str(p): repr is for programmers)" if text == str(p) else ""
            raise CheckFailed(f"repr({_name(coefficients)}) is {text!r}, which eval cannot read back "
                              f"({type(err).__name__}: {err}){same_as_str}: write it as the call that builds p, "
                              f"{_name(coefficients)}.") from None
        if getattr(back, "coefficients", None) != p.coefficients:
            raise CheckFailed(f"repr({_name(coefficients)}) is {text!r}, and eval of it is a polynomial with coefficients "
                              f"{_short(getattr(back, 'coefficients', None))}: pass the coefficients one by one, "
                              f"{_name(coefficients)}.")
    expected_texts = {(1, 0, 3): "3x^2 + 1", (1, -2, 1): "x^2 - 2x + 1", (0,): "0", (5,): "5", (0, -1): "-x",
                      (2.5, 0, 0, -1): "-x^3 + 2.5", (-1, 0, -1): "-x^2 - 1", (0, 1, 0, 2): "2x^3 + x", (-7, 1): "x - 7"}
    truth = reference("primer", "Polynomial")
    for coefficients in (_random_ints(gen), _random_ints(gen)):
        expected_texts[coefficients] = str(truth(*coefficients))
    for coefficients, expected in expected_texts.items():
        got = str(cls(*coefficients))
        if got == expected:
            continue
        call = f"str({_name(coefficients)})"
        for mistake, hint in (("+ -", "a negative coefficient is a minus between the terms: ' - 2x', not ' + -2x'"),
                              ("x^1", "the power 1 is just 'x'"), ("x^0", "the constant term has no x"),
                              ("1x", "a coefficient 1 is not written: 'x^2', not '1x^2'"),
                              ("0x", "terms whose coefficient is 0 are left out")):
            if mistake in got and mistake not in expected:
                raise CheckFailed(f"{call} is {got!r}; expected {expected!r}: {hint}.")
        if got.replace(" ", "") != expected.replace(" ", "") and sorted(got.split()) == sorted(expected.split()):
            raise CheckFailed(f"{call} is {got!r}; expected {expected!r}: the highest power comes first.")
        raise CheckFailed(f"{call} is {got!r}; expected {expected!r} (highest power first, zero terms left out, "
                          "no coefficient 1, minus signs between terms).")


@check("Polynomial")
def check_Polynomial(cls: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Storage, __len__/__getitem__, Horner's __call__ on numbers, arrays and tensors, arithmetic (also
    reflected) against numpy.polynomial, __eq__ and its __hash__, repr round trip, str."""
    if not isinstance(cls, type):
        raise CheckFailed(f"Polynomial should be a class, but it is a {type(cls).__name__}.")
    _check_storage(cls)
    _check_sequence(cls, gen)
    _check_call(cls, gen)
    _check_arithmetic(cls, gen)
    _check_equality(cls, gen)
    _check_texts(cls, gen)


# --- timer ------------------------------------------------------------------------------------

def _timed(make: Callable, body: Callable[[], None]) -> tuple[Any, float, BaseException | None]:
    """Run `with make() as t: body()`; return t, the seconds around the whole with statement, and
    what came out of it (None when nothing was raised)."""
    manager = make()
    if not (hasattr(type(manager), "__enter__") and hasattr(type(manager), "__exit__")):
        raise CheckFailed(f"timer() returned {_short(manager)}, which is not a context manager: it needs "
                          "__enter__ and __exit__ methods.")
    t, raised = None, None
    start = time.perf_counter()
    try:
        with manager as t:
            body()
    except Exception as err:  # noqa: BLE001 -- what escapes the with statement is what is checked
        raised = err
    return t, time.perf_counter() - start, raised


def _elapsed(t: Any, call: str) -> float:
    if t is None:
        raise CheckFailed(f"{call}: `with timer() as t` gave t = None: __enter__ must return the timer (return self).")
    elapsed = getattr(t, "elapsed", None)
    if elapsed is None:
        raise CheckFailed(f"{call}: t.elapsed is {'missing' if not hasattr(t, 'elapsed') else 'None'} after the block: "
                          "record it in __exit__, which runs however the block ends.")
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)):
        raise CheckFailed(f"{call}: t.elapsed is {_short(elapsed)}; it should be the seconds as a float "
                          "(time.perf_counter() at the end minus at the start).")
    return float(elapsed)


def _expect_between(elapsed: float, low: float, high: float, call: str) -> None:
    if low * 1000 * (1 - CLOCK_SLACK) <= elapsed <= high * 1000 + 1:
        raise CheckFailed(f"{call}: t.elapsed is {elapsed:.4g}, but the block took {low:.3f}-{high:.3f} s: "
                          "record seconds, not milliseconds.")
    if elapsed < low * (1 - CLOCK_SLACK):
        raise CheckFailed(f"{call}: t.elapsed is {elapsed:.4g} s, but the block slept {low:.3f} s: start the clock "
                          "in __enter__ and stop it in __exit__ (end minus start).")
    if elapsed > high * (1 + CLOCK_SLACK) + CLOCK_SLACK_S:
        raise CheckFailed(f"{call}: t.elapsed is {elapsed:.4g} s, more than the {high:.3f} s the whole with statement "
                          "took: start the clock when the block is entered (__enter__), not when timer() is called.")


@check("timer")
def check_timer(timer: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Elapsed seconds between the block's bounds, the clock started in __enter__, recorded and
    re-raised when the block raises, and two nested timers independent."""
    t, around, raised = _timed(timer, lambda: time.sleep(SLEEP_S))
    if raised is not None:
        raise raised
    _expect_between(_elapsed(t, "a block that sleeps"), SLEEP_S, around, "with timer() as t: time.sleep(0.02)")

    late = timer()
    time.sleep(3 * SLEEP_S)
    t, around, raised = _timed(lambda: late, lambda: time.sleep(SLEEP_S))
    if raised is not None:
        raise raised
    _expect_between(_elapsed(t, "a timer entered 0.06 s after timer()"), SLEEP_S, around,
                    "t = timer(); time.sleep(0.06); with t: time.sleep(0.02)")

    error = KeyError("raised inside the block")

    def fail() -> None:
        time.sleep(SLEEP_S)
        raise error

    call = "with timer() as t: time.sleep(0.02); raise KeyError(...)"
    t, around, raised = _timed(timer, fail)
    if raised is None:
        raise CheckFailed(f"{call}: the KeyError disappeared. __exit__ returned a true value, which tells Python the "
                          "exception was handled (or a try/except around the yield caught it): return None, so that "
                          "it carries on.")
    if raised is not error:
        raise CheckFailed(f"{call}: {type(raised).__name__} ({raised}) came out instead of the block's KeyError: let "
                          "the exception through as it is.")
    _expect_between(_elapsed(t, call), SLEEP_S, around, call)

    inner_box: dict[str, Any] = {}

    def nested() -> None:
        inner_box["begin"] = time.perf_counter()
        time.sleep(SLEEP_S)
        inner_box["t"], inner_box["around"], _ = _timed(timer, lambda: time.sleep(SLEEP_S))
        inner_box["end"] = time.perf_counter()

    outer, around, raised = _timed(timer, nested)
    if raised is not None:
        raise raised
    call = "with timer() as outer: sleep 0.02; with timer() as inner: sleep 0.02"
    inner = _elapsed(inner_box["t"], call)
    whole = _elapsed(outer, call)
    # The outer block holds both sleeps, whatever the machine's load: its elapsed time covers at least
    # the span measured around them (a shared start time would leave out the first sleep).
    span = inner_box["end"] - inner_box["begin"]
    if inner_box["t"] is outer or whole < span * (1 - CLOCK_SLACK) or inner > whole:
        raise CheckFailed(f"{call}: outer.elapsed is {whole:.4g} s and inner.elapsed {inner:.4g} s, but the outer block "
                          "took both sleeps: the two timers share their start time or result. Keep them on self, "
                          "the instance, not on the class or in a global.")
    _expect_between(inner, SLEEP_S, inner_box["around"], call)


# --- count_calls ------------------------------------------------------------------------------

def _decorate(count_calls: Callable, fn: Callable, what: str) -> Any:
    wrapper = count_calls(fn)
    if wrapper is None:
        raise CheckFailed(f"count_calls({what}) returned None: return the wrapper function.")
    if not callable(wrapper):
        raise CheckFailed(f"count_calls({what}) returned {_short(wrapper)}, which cannot be called: return the "
                          "wrapper function.")
    return wrapper


def _calls(wrapper: Any, expected: int, call: str) -> None:
    if not hasattr(wrapper, "calls"):
        raise CheckFailed(f"{call}: the decorated function has no attribute `calls`: set wrapper.calls = 0 in "
                          "count_calls, before returning the wrapper.")
    if wrapper.calls != expected:
        raise CheckFailed(f"{call}: calls is {_short(wrapper.calls)}, expected {expected}. Add 1 to wrapper.calls "
                          "inside the wrapper, on every call (a variable copied into wrapper.calls once does not "
                          "follow, and each decorated function counts its own calls).")


@check("count_calls")
def check_count_calls(count_calls: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Arguments and result passed through, wrapper.calls per function (raising calls too),
    functools.wraps's name, docstring and signature, and methods that keep their self."""
    ran: list[tuple] = []

    def volume(w, h=2, *, d=3):
        """The volume of a w × h × d box."""
        ran.append((w, h, d))
        return w * h * d

    original = (volume.__name__, volume.__qualname__, volume.__doc__, inspect.signature(volume))
    box = _decorate(count_calls, volume, "volume")
    if ran:
        raise CheckFailed("count_calls(volume) called volume: decorating only wraps it; the wrapper calls it later.")
    _calls(box, 0, "before any call")
    n = int(torch.randint(2, 6, (), generator=gen))
    for i in range(n):
        args, kwargs = ((i + 1,), {"h": 5, "d": i}) if i % 2 else ((i + 1, 4), {})
        try:
            got = box(*args, **kwargs)
        except TypeError as err:
            raise CheckFailed(f"volume(*{args}, **{kwargs}) through the wrapper raised TypeError ({err}): define it as "
                              "wrapper(*args, **kwargs) and call fn(*args, **kwargs).") from None
        ran.clear()
        want = args[0] * (args[1] if len(args) > 1 else kwargs.get("h", 2)) * kwargs.get("d", 3)
        if got != want:
            raise CheckFailed(f"volume(*{args}, **{kwargs}) through the wrapper returned {_short(got)}, not {want}: "
                              "return fn's result (return fn(*args, **kwargs)).")
    _calls(box, n, f"after {n} calls of the decorated volume")
    if (volume.__name__, volume.__qualname__, volume.__doc__) != original[:3]:
        raise CheckFailed("count_calls changed the original function's name or docstring: wraps copies them onto the "
                          "wrapper, from fn.")
    for attr, want in (("__name__", original[0]), ("__qualname__", original[1]), ("__doc__", original[2])):
        if getattr(box, attr, None) != want:
            raise CheckFailed(f"the decorated volume's {attr} is {_short(getattr(box, attr, None))}, not {want!r}: "
                              "decorate the wrapper with @functools.wraps(fn), which copies __name__, __qualname__ "
                              "and __doc__ (tracebacks and help() would otherwise show the wrapper).")
    try:
        signature = inspect.signature(box)
    except (TypeError, ValueError):
        signature = None
    if signature != original[3]:
        raise CheckFailed(f"inspect.signature of the decorated volume is {signature}, not {original[3]}: "
                          "@functools.wraps(fn) sets wrapper.__wrapped__ = fn, through which help() shows fn's.")

    def other():
        """Another function."""
        return "other"

    second = _decorate(count_calls, other, "other")
    _calls(second, 0, "a second decorated function, before any call")
    second()
    _calls(box, n, "the decorated volume, after a call of another decorated function")
    _calls(second, 1, "a second decorated function, called once")

    error = ValueError("no")

    def refuse():
        raise error

    failing = _decorate(count_calls, refuse, "refuse")
    try:
        failing()
    except ValueError as err:
        if err is not error:
            raise CheckFailed("a decorated function that raises ValueError came out with another ValueError: let the "
                              "exception through as it is.") from None
    else:
        raise CheckFailed("a decorated function that raises came back without the exception: the wrapper must not "
                          "catch it.")
    _calls(failing, 1, "a decorated function whose call raised")

    class Account:
        def __init__(self) -> None:
            self.balance = 0

        def deposit(self, amount, fee=0):
            """Add amount, less the fee."""
            self.balance += amount - fee
            return self.balance

    Account.deposit = _decorate(count_calls, Account.__dict__["deposit"], "Account.deposit")
    first, other_account = Account(), Account()
    try:
        results = [first.deposit(10), first.deposit(5, fee=1), other_account.deposit(3)]
    except TypeError as err:
        raise CheckFailed(f"a decorated method raised TypeError ({err}): the method did not get its self. An object "
                          "with __call__ is not bound to the instance like a function is (it is not a descriptor); "
                          "return an inner function, def wrapper(*args, **kwargs).") from None
    if results != [10, 14, 3] or (first.balance, other_account.balance) != (14, 3):
        raise CheckFailed(f"a decorated method returned {results} (balances {first.balance}, "
                          f"{other_account.balance}), not [10, 14, 3] (balances 14, 3): pass self and every "
                          "argument on.")
    _calls(Account.deposit, 3, "a decorated method called three times, on two instances")
    _calls(first.deposit, 3, "a decorated method read through an instance")


# --- run_with_callbacks -----------------------------------------------------------------------

class _Hooks:
    """A callback that logs its hooks and returns True from the hook named in `stop_at`."""

    def __init__(self, name: str, log: list[str], stop_at: tuple[str, int] | None = None) -> None:
        self.name, self.log, self.stop_at = name, log, stop_at

    def before(self, i: int) -> bool | None:
        self.log.append(f"{self.name}.before({i})")
        return True if self.stop_at == ("before", i) else None

    def after(self, i: int, result: Any) -> bool | None:
        self.log.append(f"{self.name}.after({i}, {result})")
        return True if self.stop_at == ("after", i) else False


def _steps(log: list[str], n: int, base: int) -> list[Callable[[], int]]:
    def step(i: int) -> Callable[[], int]:
        def run() -> int:
            log.append(f"step {i}")
            return base + i
        return run
    return [step(i) for i in range(n)]


def _expected_log(n: int, names: list[str], hooks: dict[str, set[str]], base: int,
                  stop: tuple[str, str, int] | None) -> tuple[list[str], int]:
    """The calls the contract makes (hooks in list order around each step) up to a stop, and the steps run."""
    log, ran = [], 0
    for i in range(n):
        for name in names:
            if "before" in hooks[name]:
                log.append(f"{name}.before({i})")
                if stop == (name, "before", i):
                    return log, ran
        log.append(f"step {i}")
        ran += 1
        for name in names:
            if "after" in hooks[name]:
                log.append(f"{name}.after({i}, {base + i})")
                if stop == (name, "after", i):
                    return log, ran
    return log, ran


def _diagnose(got: list[str], expected: list[str], call: str) -> str:
    for k, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            hint = ""
            if "after" in g and "after" in e and g.split(".")[1] == e.split(".")[1]:
                hint = " The after hooks go in list order too, like the before hooks."
            elif e.startswith("step") and "before" in g:
                hint = " Each step's before hooks come just before it, not all at once."
            elif "before" in e and "after" in g:
                hint = " Call the before hooks before the step, the after hooks after it."
            return (f"{call}: call {k + 1} was {g}, expected {e} (the expected calls: "
                    f"{', '.join(expected[: k + 2])}, ...).{hint}")
    if len(got) > len(expected):
        return (f"{call}: after {expected[-1] if expected else 'the start'} came {got[len(expected)]}, but a hook had "
                "returned True there: stop at once, calling no further hook or step.")
    return f"{call}: the calls stopped after {got[-1] if got else 'nothing'}; expected next: {expected[len(got)]}."


@check("run_with_callbacks")
def check_run_with_callbacks(run_with_callbacks: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Hooks in list order around each step with the right arguments, missing hooks skipped, a stop
    from every possible hook, steps given as a generator, and the number of steps that ran."""
    base = int(torch.randint(10, 90, (), generator=gen))
    n = int(torch.randint(3, 6, (), generator=gen))
    both = {"before", "after"}
    scenarios: list[tuple[str, list[str], dict[str, set[str]], tuple[str, str, int] | None]] = [
        ("two callbacks with both hooks", ["a", "b"], {"a": both, "b": both}, None),
        ("three callbacks, one with only after, one with no hooks at all", ["a", "b", "c"],
         {"a": {"after"}, "b": set(), "c": both}, None),
        ("a callback with only before", ["a", "b"], {"a": {"before"}, "b": both}, None)]
    for name, hook in (("a", "after"), ("b", "after"), ("a", "before"), ("b", "before")):
        for i in (0, int(torch.randint(1, n, (), generator=gen))):
            scenarios.append((f"{name}.{hook}({i}) returns True", ["a", "b"], {"a": both, "b": both}, (name, hook, i)))
    scenarios.append(("no steps", ["a"], {"a": both}, None))
    for shown, names, hooks, stop in scenarios:
        steps_n = 0 if shown == "no steps" else n
        log: list[str] = []
        callbacks = []
        for name in names:
            stop_at = (stop[1], stop[2]) if stop and stop[0] == name else None
            full = _Hooks(name, log, stop_at)
            if hooks[name] == both:
                callbacks.append(full)
            elif hooks[name]:
                callbacks.append(SimpleNamespace(**{h: getattr(full, h) for h in hooks[name]}))
            else:
                callbacks.append(SimpleNamespace())
        steps = _steps(log, steps_n, base)
        call = f"run_with_callbacks({steps_n} steps, callbacks: {shown})"
        given = (s for s in steps) if stop is None and shown.startswith("two") else steps
        try:
            ran = run_with_callbacks(given, callbacks)
        except AttributeError as err:
            raise CheckFailed(f"{call} raised AttributeError ({err}): a callback may lack a hook; look it up with "
                              "getattr(cb, 'before', None) and skip it when it is None.") from None
        expected, expected_ran = _expected_log(steps_n, names, hooks, base, stop)
        if log != expected:
            raise CheckFailed(_diagnose(log, expected, call))
        if ran != expected_ran or isinstance(ran, bool):
            raise CheckFailed(f"{call} returned {_short(ran)}; {expected_ran} steps ran (their step() was called), "
                              "and that is what it returns.")


EXERCISES = (
    Exercise("Polynomial", 4, check_Polynomial),
    Exercise("timer", 2, check_timer),
    Exercise("count_calls", 2, check_count_calls),
    Exercise("run_with_callbacks", 2, check_run_with_callbacks),
)
