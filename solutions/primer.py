"""Reference solutions of lesson 00_primer.

Generated from source/00_primer/00_primer.ipynb by `python -m autograder export`: do not edit;
change the source notebook and export again.
"""
import functools
import time
from itertools import zip_longest
from numbers import Number
from typing import Any, Callable, Iterable, Sequence


class Polynomial:
    """A polynomial c0 + c1 x + ... + cn x^n from its coefficients, lowest power first.

    Polynomial(1, 0, 3) is 1 + 3x^2. self.coefficients is a tuple of the coefficients as given,
    without trailing zeros (but at least one: Polynomial() is Polynomial(0)); it never changes, and
    arithmetic returns new polynomials. Numbers (any numbers.Number: int, float, Fraction, ...)
    combine with polynomials as constants; other types get NotImplemented. Instances are unhashable
    (__eq__ without __hash__).
    """

    def __init__(self, *coefficients: Number) -> None:
        """Store the coefficients, lowest power first, as a tuple without trailing zeros."""
        kept = list(coefficients)
        while len(kept) > 1 and kept[-1] == 0:
            kept.pop()
        self.coefficients = tuple(kept) if kept else (0,)

    def __call__(self, x: Any) -> Any:
        """p(x) by Horner's rule, with * and + only; x a number, a numpy array or a tensor."""
        result = 0
        for c in reversed(self.coefficients):
            result = result * x + c
        return result

    def __len__(self) -> int:
        """The number of coefficients: the degree plus one."""
        return len(self.coefficients)

    def __getitem__(self, k: int) -> Number:
        """The coefficient of x^k, indexed like a tuple (negative k from the end, IndexError past it)."""
        return self.coefficients[k]

    def __add__(self, other: Any) -> "Polynomial":
        """self + other, for a Polynomial or a number; NotImplemented for anything else."""
        if isinstance(other, Number):
            other = Polynomial(other)
        if not isinstance(other, Polynomial):
            return NotImplemented
        return Polynomial(*(a + b for a, b in zip_longest(self.coefficients, other.coefficients, fillvalue=0)))

    def __radd__(self, other: Any) -> "Polynomial":
        """other + self, when other (a number) does not know how to add a Polynomial."""
        return self + other

    def __mul__(self, other: Any) -> "Polynomial":
        """self * other, for a Polynomial or a number; NotImplemented for anything else."""
        if isinstance(other, Number):
            other = Polynomial(other)
        if not isinstance(other, Polynomial):
            return NotImplemented
        product = [0] * (len(self.coefficients) + len(other.coefficients) - 1)
        for i, a in enumerate(self.coefficients):
            for j, b in enumerate(other.coefficients):
                product[i + j] += a * b
        return Polynomial(*product)

    def __rmul__(self, other: Any) -> "Polynomial":
        """other * self, when other (a number) does not know how to multiply a Polynomial."""
        return self * other

    def __eq__(self, other: Any) -> bool:
        """Equal coefficients; NotImplemented for anything that is not a Polynomial."""
        if not isinstance(other, Polynomial):
            return NotImplemented
        return self.coefficients == other.coefficients

    def __repr__(self) -> str:
        """Text that eval turns back into an equal polynomial: Polynomial(1, 0, 3)."""
        return f"Polynomial({', '.join(repr(c) for c in self.coefficients)})"

    def __str__(self) -> str:
        """Text for people, highest power first: 3x^2 + 1, x^2 - 2x + 1, -x, 0."""
        terms = []
        for k in reversed(range(len(self.coefficients))):
            c = self.coefficients[k]
            if c == 0:
                continue
            number = "" if abs(c) == 1 and k > 0 else str(abs(c))
            power = "" if k == 0 else "x" if k == 1 else f"x^{k}"
            terms.append(("-" if c < 0 else "+", number + power))
        if not terms:
            return "0"
        (sign, first), rest = terms[0], terms[1:]
        return ("-" if sign == "-" else "") + first + "".join(f" {s} {term}" for s, term in rest)


class timer:
    """with timer() as t: ...  then t.elapsed is the block's duration in seconds (a float).

    The clock starts in __enter__ and stops in __exit__, even when the block raises; the exception
    is not swallowed. t.elapsed is None until the block has ended.
    """

    def __init__(self) -> None:
        """A timer that has not run yet: elapsed is None."""
        self.elapsed = None

    def __enter__(self) -> "timer":
        """Start the clock; return self (what `as t` receives)."""
        self.start = time.perf_counter()
        return self

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        """Stop the clock and record self.elapsed; return None, so that an exception carries on."""
        self.elapsed = time.perf_counter() - self.start


def count_calls(fn: Callable) -> Callable:
    """Wrap fn so that wrapper.calls counts its calls (also those that raise).

    The wrapper passes every positional and keyword argument on and returns fn's result; it keeps
    fn's __name__, __qualname__ and __doc__ (functools.wraps), and works on methods too.
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        wrapper.calls += 1
        return fn(*args, **kwargs)

    wrapper.calls = 0
    return wrapper


def run_with_callbacks(steps: Iterable[Callable[[], Any]], callbacks: Sequence[Any]) -> int:
    """Run the steps in order with every callback's hooks around each; return how many steps ran.

    For step i: cb.before(i) for each callback in order, then result = step(), then
    cb.after(i, result) for each callback in order. A missing hook is skipped. A hook that returns
    True stops everything at once: no further hook or step is called.
    """
    ran = 0
    for i, step in enumerate(steps):
        for cb in callbacks:
            before = getattr(cb, "before", None)
            if before is not None and before(i):
                return ran
        result = step()
        ran += 1
        for cb in callbacks:
            after = getattr(cb, "after", None)
            if after is not None and after(i, result):
                return ran
    return ran
