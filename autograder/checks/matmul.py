"""Hidden checks of lesson 01_matmul: results, errors, op policy and speed of each matmul step."""
from __future__ import annotations

from typing import Callable, Iterator

import torch

from autograder.compare import TOLERANCES, expect_tensor, inputs_unchanged, is_close, product_scale, worst_difference
from autograder.exercise import Exercise, check, randn, reference
from autograder.policy import MATMUL_FAMILY, NUMPY_ESCAPES, forbidden_calls, record_ops
from autograder.results import CheckFailed
from autograder.timing import compare_speed, format_duration

Matmul = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Case = tuple[torch.Tensor, torch.Tensor, str]

DTYPES = (torch.float32, torch.float64)
# (n, k, m) for a: (n, k) @ b: (k, m): square, rectangular both ways, 1×n, n×1, all ones.
SMALL_SHAPES = ((4, 4, 4), (2, 3, 5), (5, 3, 2), (1, 6, 3), (4, 5, 1), (3, 1, 2), (1, 1, 1))
# The vectorised steps also meet sizes where a row/column mix-up cannot hide.
LARGER_SHAPES = ((16, 64, 8), (1, 100, 10), (32, 20, 1))
# Timing inputs: big enough that per-call overhead does not dominate, small enough for the loops.
LOOPS_TIMING_SHAPE = (8, 48, 8)
TIMING_SHAPE = (64, 256, 32)
# Speed margins, measured (see README, "Timing margins"): the reference loops vs the reference
# elementwise step run ~30-90x apart, a learner's step must be at least MIN_SPEEDUP_OVER_LOOPS
# faster; the broadcast and einsum steps may be at most MAX_SLOWDOWN slower than the reference
# step (the reference against itself measures 0.9-1.2x, a disguised Python loop 10x and more).
MIN_SPEEDUP_OVER_LOOPS = {"cpu": 8.0, "cuda": 8.0}
MAX_SLOWDOWN = {"cpu": 3.0, "cuda": 3.0}


def _reference(name: str) -> Matmul:
    return reference("matmul", name)


def _cases(shapes: tuple[tuple[int, int, int], ...], gen: torch.Generator, device: torch.device) -> Iterator[Case]:
    for dtype in DTYPES:
        for n, k, m in shapes:
            yield (randn(n, k, gen=gen, dtype=dtype, device=device),
                   randn(k, m, gen=gen, dtype=dtype, device=device), f"a: ({n}, {k}) {dtype}, b: ({k}, {m})")
        # Non-contiguous inputs: transposed views, whose strides are not row-major.
        n, k, m = shapes[0]
        yield (randn(k, n, gen=gen, dtype=dtype, device=device).T,
               randn(m, k, gen=gen, dtype=dtype, device=device).T, f"transposed (non-contiguous) inputs, {dtype}")


def _near(actual: torch.Tensor, target: torch.Tensor, dtype: torch.dtype) -> bool:
    return actual.shape == target.shape and bool(torch.allclose(actual, target, **TOLERANCES[dtype]))


def _diagnose(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, expected: torch.Tensor) -> str:
    """Name the likely mistake behind a wrong product, from the shape of the error."""
    o, ad, bd, e = out.double(), a.double(), b.double(), expected.double()
    (n, k), m, dt = a.shape, b.shape[1], a.dtype
    if not torch.isfinite(o).all():
        return "it contains nan or inf: was the result made with torch.empty and never fully written?"
    if n == m and n > 1 and _near(o, e.T, dt):
        return "it is the transpose of a @ b: c[i, j] is row i of a times column j of b."
    if k > 1 and _near(o, ad[:, :-1] @ bd[:-1], dt):
        return "every sum misses its last term: is the inner loop bound off by one (range(k - 1))?"
    if k > 1 and _near(o, ad[:, 1:] @ bd[1:], dt):
        return "every sum misses its first term: does the inner loop start at 1?"
    if m > 1 and _near(o[:, :-1], e[:, :-1], dt):
        return "only the last column is wrong: is the loop over b's columns off by one (range(m - 1))?"
    if n > 1 and _near(o[:-1], e[:-1], dt):
        return "only the last row is wrong: is the loop over a's rows off by one (range(n - 1))?"
    if _near(o.flatten(), e.flatten().cumsum(0), dt) or _near(o, e.cumsum(1), dt) or _near(o, e.cumsum(0), dt):
        return ("each entry also holds the sums of the entries before it: "
                "the accumulator is not reset to 0 for each (i, j).")
    return worst_difference(out, expected) + "."


def _expect_products(name: str, fn: Matmul, cases: Iterator[Case]) -> None:
    """Compare fn with a float64 product on every case; inputs must not change."""
    earlier: list[torch.Tensor] = []
    for a, b, desc in cases:
        call = f"{name}({desc})"
        with inputs_unchanged(call, a=a, b=b):
            out = fn(a, b)
        expected = (a.double() @ b.double()).to(a.dtype)
        if isinstance(out, torch.Tensor) and any(is_close(out, e) and not is_close(expected, e) for e in earlier):
            raise CheckFailed(f"{call} returned the result of an earlier call: compute every result from "
                              "the inputs you are given, never from a cache.")
        earlier.append(expected)
        n, m = a.shape[0], b.shape[1]
        if isinstance(out, torch.Tensor) and n != m and tuple(out.shape) == (m, n):
            raise CheckFailed(f"{call} returned shape {(m, n)} instead of {(n, m)}: the result is "
                              "transposed; c has a's rows and b's columns.")
        expect_tensor(out, name=name, dtype=a.dtype, device=a.device, shape=(n, m), call=call)
        if not is_close(out, expected, product_scale(a, b)):
            raise CheckFailed(f"{call} is wrong: {_diagnose(out, a, b, expected)}")


def _expect_shape_error(name: str, fn: Matmul, gen: torch.Generator, device: torch.device) -> None:
    """Mismatched inner dimensions must raise a ValueError, not compute something."""
    for (n, k), (k_b, m) in (((3, 4), (5, 2)), ((2, 3), (2, 3))):
        a = randn(n, k, gen=gen, dtype=torch.float32, device=device)
        b = randn(k_b, m, gen=gen, dtype=torch.float32, device=device)
        call = f"{name}(a: {(n, k)}, b: {(k_b, m)})"
        try:
            fn(a, b)
        except ValueError as err:
            if not str(err):
                raise CheckFailed(f"{call} raised ValueError without a message: say which shapes "
                                  "differ, e.g. f'inner dimensions differ: {{a.shape}} vs {{b.shape}}'.") from None
            continue
        except AssertionError:
            raise CheckFailed(f"{call} used assert for the shape check: raise ValueError with a message "
                              "naming both shapes instead (asserts vanish under python -O).") from None
        except (NotImplementedError, CheckFailed):
            raise
        except Exception as err:  # the learner's code failing deep inside, e.g. IndexError
            raise CheckFailed(f"{call} raised {type(err).__name__} ({err}) from inside the computation: "
                              "check a.shape[1] == b.shape[0] first and raise ValueError naming both "
                              "shapes.") from None
        raise CheckFailed(f"{call} returned a result, but a's {k} columns cannot meet b's {k_b} rows: "
                          "check the inner dimensions first and raise ValueError naming both shapes.")


def _expect_ops(name: str, fn: Matmul, gen: torch.Generator, device: torch.device,
                forbidden: frozenset[str], required: str | None = None) -> None:
    """Watch which ops fn calls on one product: forbidden ones fail, a required one must appear."""
    a = randn(3, 4, gen=gen, dtype=torch.float32, device=device)
    b = randn(4, 2, gen=gen, dtype=torch.float32, device=device)
    with record_ops() as calls:
        fn(a, b)
    used = forbidden_calls(calls, forbidden)
    if used:
        what = " and ".join(f"`{u}`" for u in used)
        if required:
            hint = f"let torch.{required} do the whole product on its own."
        elif set(used) <= NUMPY_ESCAPES:
            hint = "keep the computation in torch tensors; converting to numpy hides it."
        else:
            hint = "this step is about doing the multiplication yourself with indexing, * and sum."
        raise CheckFailed(f"{name} calls {what}, which this exercise does not allow: {hint}")
    if required and required not in calls:
        raise CheckFailed(f"{name} never calls torch.{required}: this exercise is about expressing "
                          f"the product as torch.{required}('ik,kj->ij', a, b).")


def _timing_inputs(shape: tuple[int, int, int], gen: torch.Generator, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    n, k, m = shape
    return (randn(n, k, gen=gen, dtype=torch.float32, device=device),
            randn(k, m, gen=gen, dtype=torch.float32, device=device))


def _expect_faster_than_loops(name: str, fn: Matmul, gen: torch.Generator, device: torch.device) -> None:
    args = _timing_inputs(LOOPS_TIMING_SHAPE, gen, device)
    speed = compare_speed(fn, _reference("matmul_loops"), args, device)
    needed = MIN_SPEEDUP_OVER_LOOPS[device.type]
    if 1 / speed.ratio < needed:
        raise CheckFailed(
            f"{name} took {format_duration(speed.student_s)} on a: {LOOPS_TIMING_SHAPE[:2]}, b: "
            f"{LOOPS_TIMING_SHAPE[1:]}, only {1 / speed.ratio:.1f}x faster than the reference triple loop "
            f"({format_duration(speed.reference_s)}); at least {needed:g}x is expected: is the innermost "
            "loop still a Python loop? Replace it with one elementwise product and .sum().")


def _expect_near_reference_speed(name: str, fn: Matmul, gen: torch.Generator, device: torch.device, hint: str) -> None:
    args = _timing_inputs(TIMING_SHAPE, gen, device)
    speed = compare_speed(fn, _reference(name), args, device)
    allowed = MAX_SLOWDOWN[device.type]
    if speed.ratio > allowed:
        raise CheckFailed(
            f"{name} took {format_duration(speed.student_s)} on a: {TIMING_SHAPE[:2]}, b: {TIMING_SHAPE[1:]}, "
            f"{speed.ratio:.1f}x the reference's {format_duration(speed.reference_s)} (at most {allowed:g}x "
            f"is allowed): {hint}")


@check("matmul_loops")
def check_matmul_loops(fn: Matmul, device: torch.device, gen: torch.Generator) -> None:
    """Triple loop: right results on every shape and dtype, ValueError on mismatch, no matmul ops."""
    _expect_products("matmul_loops", fn, _cases(SMALL_SHAPES, gen, device))
    _expect_shape_error("matmul_loops", fn, gen, device)
    _expect_ops("matmul_loops", fn, gen, device, MATMUL_FAMILY | NUMPY_ESCAPES)


@check("matmul_elementwise")
def check_matmul_elementwise(fn: Matmul, device: torch.device, gen: torch.Generator) -> None:
    """Two loops and an elementwise product: results, errors, no matmul ops, much faster than loops."""
    _expect_products("matmul_elementwise", fn, _cases(SMALL_SHAPES + LARGER_SHAPES, gen, device))
    _expect_shape_error("matmul_elementwise", fn, gen, device)
    _expect_ops("matmul_elementwise", fn, gen, device, MATMUL_FAMILY | NUMPY_ESCAPES)
    _expect_faster_than_loops("matmul_elementwise", fn, gen, device)
    _expect_products("matmul_elementwise", fn, _cases(LARGER_SHAPES, gen, device))


@check("matmul_broadcast")
def check_matmul_broadcast(fn: Matmul, device: torch.device, gen: torch.Generator) -> None:
    """One loop and broadcasting: results, errors, no matmul ops, about as fast as the reference."""
    _expect_products("matmul_broadcast", fn, _cases(SMALL_SHAPES + LARGER_SHAPES, gen, device))
    _expect_shape_error("matmul_broadcast", fn, gen, device)
    _expect_ops("matmul_broadcast", fn, gen, device, MATMUL_FAMILY | NUMPY_ESCAPES)
    _expect_near_reference_speed(
        "matmul_broadcast", fn, gen, device,
        "is it still looping over columns or the inner dimension in Python? One loop over a's rows, "
        "with a[i, :, None] * b summed over dim 0, is the target.")
    _expect_products("matmul_broadcast", fn, _cases(LARGER_SHAPES, gen, device))


@check("matmul_einsum")
def check_matmul_einsum(fn: Matmul, device: torch.device, gen: torch.Generator) -> None:
    """einsum: results, errors, calls einsum and nothing else of the matmul family, reference speed."""
    _expect_products("matmul_einsum", fn, _cases(SMALL_SHAPES + LARGER_SHAPES, gen, device))
    _expect_shape_error("matmul_einsum", fn, gen, device)
    _expect_ops("matmul_einsum", fn, gen, device, (MATMUL_FAMILY - {"einsum"}) | NUMPY_ESCAPES, required="einsum")
    _expect_near_reference_speed(
        "matmul_einsum", fn, gen, device,
        "one einsum call over whole matrices is the target; is einsum called once per row or element?")
    _expect_products("matmul_einsum", fn, _cases(LARGER_SHAPES, gen, device))


Shape = tuple[int, ...]
# (shape_a, shape_b) pairs that broadcast: equal, stretched 1s, missing leading dims, scalars, zeros.
BROADCASTABLE: tuple[tuple[Shape, Shape], ...] = (
    ((3, 4), (3, 4)), ((5, 1), (1, 6)), ((4, 3), (3,)), ((3,), (4, 3)), ((8, 1, 6, 1), (7, 1, 5)),
    ((2, 1), (3, 1, 1)), ((), (2, 3)), ((4,), ()), ((1,), (5,)), ((0,), (1,)), ((3, 0), (1, 0)),
    ((1, 1), (1,)), ((6, 1, 2), (6, 3, 1)),
)
# Pairs that do not: a mismatch at the end, in the middle, with a missing leading dim, 0 vs 2.
INCOMPATIBLE: tuple[tuple[Shape, Shape], ...] = (
    ((3, 4), (4, 3)), ((2, 3, 4), (2, 5, 4)), ((4, 3), (4,)), ((0,), (2,)), ((5, 2, 3), (3, 3)),
)


def _random_broadcastable(gen: torch.Generator) -> tuple[Shape, Shape]:
    """A fresh broadcastable pair: a common shape with some dims set to 1 and some leading ones dropped."""
    ndim = int(torch.randint(1, 5, (1,), generator=gen))
    full = [int(s) for s in torch.randint(2, 6, (ndim,), generator=gen)]
    a, b = list(full), list(full)
    for d in range(ndim):
        coin = int(torch.randint(0, 3, (1,), generator=gen))
        if coin == 1:
            a[d] = 1
        elif coin == 2:
            b[d] = 1
    drop = int(torch.randint(0, ndim, (1,), generator=gen))
    return tuple(a[drop:]), tuple(b)


def _left_aligned(a: Shape, b: Shape) -> Shape | None:
    """What aligning the shapes from the left (the classic mistake) would give, if anything."""
    ndim = max(len(a), len(b))
    a2, b2 = tuple(a) + (1,) * (ndim - len(a)), tuple(b) + (1,) * (ndim - len(b))
    if any(x != y and 1 not in (x, y) for x, y in zip(a2, b2)):
        return None
    return tuple(max(x, y) if 0 not in (x, y) else 0 for x, y in zip(a2, b2))


@check("broadcast_shape")
def check_broadcast_shape(fn: Callable[[Shape, Shape], Shape], device: torch.device, gen: torch.Generator) -> None:
    """The broadcasting rules: the result shape of every compatible pair, ValueError for the others."""
    pairs = list(BROADCASTABLE) + [_random_broadcastable(gen) for _ in range(5)]
    for i, (sa, sb) in enumerate(pairs):
        # The learner sees tuples, lists and torch.Size: all three are shapes.
        wrap = (tuple, list, torch.Size)[i % 3]
        call = f"broadcast_shape({wrap(sa)!r}, {wrap(sb)!r})"
        expected = tuple(torch.broadcast_shapes(sa, sb))
        with record_ops() as calls:
            try:
                out = fn(wrap(sa), wrap(sb))
            except ValueError as err:
                raise CheckFailed(f"{call} raised ValueError ({err}), but these shapes broadcast to "
                                  f"{expected}: shapes are aligned from the right (last dimensions first), "
                                  "a dimension of size 1 stretches to match the other, and missing leading "
                                  "dimensions count as 1.") from None
        if calls:  # shapes are tuples of ints: no tensor (or numpy) op is needed, or allowed
            raise CheckFailed(f"broadcast_shape calls {', '.join(dict.fromkeys(calls))}: apply the rules "
                              "yourself to the shape tuples, dimension by dimension, from the right.")
        if type(out) is not tuple or not all(type(d) is int for d in out):
            raise CheckFailed(f"{call} returned {out!r} ({type(out).__name__}); return a tuple of ints, "
                              "e.g. tuple(result).")
        if out != expected:
            hint = ""
            if out == _left_aligned(sa, sb) or (len(out) == len(expected) and out[::-1] == expected):
                hint = " Shapes are aligned from the right: compare the last dimensions first."
            elif len(out) != len(expected):
                hint = " The result has as many dimensions as the longer shape."
            elif 0 in sa + sb:
                hint = " A size 1 stretches to any size, including 0."
            raise CheckFailed(f"{call} returned {out}, expected {expected}.{hint}")
    for sa, sb in INCOMPATIBLE:
        call = f"broadcast_shape({sa}, {sb})"
        try:
            out = fn(sa, sb)
        except ValueError as err:
            if not str(err):
                raise CheckFailed(f"{call} raised ValueError without a message: name the two shapes and "
                                  "the dimensions that clash.") from None
            continue
        except (NotImplementedError, CheckFailed):
            raise
        except Exception as err:
            raise CheckFailed(f"{call} raised {type(err).__name__} ({err}); raise ValueError naming the "
                              "shapes instead.") from None
        raise CheckFailed(f"{call} returned {out!r}, but these shapes cannot broadcast (two sizes differ "
                          "and neither is 1): raise ValueError naming the shapes.")


EXERCISES = (
    Exercise("matmul_loops", 3, check_matmul_loops),
    Exercise("matmul_elementwise", 3, check_matmul_elementwise),
    Exercise("broadcast_shape", 3, check_broadcast_shape),
    Exercise("matmul_broadcast", 3, check_matmul_broadcast),
    Exercise("matmul_einsum", 2, check_matmul_einsum),
)
