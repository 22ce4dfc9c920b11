"""Comparing a learner's tensors with trusted ones, with per-dtype tolerances and teaching messages."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator, Mapping

import numpy as np
import torch

from autograder.results import CheckFailed

# Results are compared with float64 ground truth cast to the input dtype. float32 sums of up to
# a few hundred terms in a different order differ by ~1e-6 relative; 1e-4 leaves room for that
# and still catches any real mistake (those are off by O(1)).
TOLERANCES: dict[torch.dtype, dict[str, float]] = {
    torch.float32: {"rtol": 1e-4, "atol": 1e-5},
    torch.float64: {"rtol": 1e-10, "atol": 1e-12},
}


def is_close(actual: torch.Tensor, expected: torch.Tensor, scale: float = 0.0) -> bool:
    """Same shape and within the tolerance of expected's dtype.

    `scale` is the magnitude the result was computed from (the largest sum of |terms| for a
    product, the largest |logit| for a softmax): rounding leaves an absolute error of a few eps
    times it in every entry, even where the true value is near 0, so 8·eps·scale is allowed too.
    """
    if actual.shape != expected.shape:
        return False
    tol = dict(TOLERANCES.get(expected.dtype, TOLERANCES[torch.float32]))
    tol["atol"] = max(tol["atol"], 8 * torch.finfo(expected.dtype).eps * scale)
    return bool(torch.allclose(actual.to(expected.dtype), expected, **tol))


def product_scale(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest sum of |terms| in a @ b: the magnitude its rounding error scales with."""
    return float((a.abs().double() @ b.abs().double()).max()) if a.numel() and b.numel() else 0.0


def expect_tensor(out: object, *, name: str, dtype: torch.dtype, device: torch.device,
                  shape: tuple[int, ...], call: str) -> torch.Tensor:
    """Fail unless `out` is a plain torch.Tensor of the given dtype, device and shape."""
    if isinstance(out, np.ndarray):
        raise CheckFailed(f"{call} returned a numpy.ndarray; return a torch.Tensor "
                          "(keep the computation in torch rather than converting at the end).")
    if type(out) is not torch.Tensor:
        raise CheckFailed(f"{call} returned {type(out).__name__!s}, not a torch.Tensor: "
                          f"{name} must build and return a new tensor.")
    if out.dtype != dtype:
        raise CheckFailed(f"{call} returned {out.dtype} for {dtype} inputs: build the result in the inputs' dtype "
                          "(a new tensor takes dtype=a.dtype; torch.zeros(n, m) alone is always float32).")
    if out.device.type != device.type:
        raise CheckFailed(f"{call} returned a tensor on {out.device} for inputs on {device}: "
                          "create the result with device=a.device.")
    if tuple(out.shape) != tuple(shape):
        raise CheckFailed(f"{call} returned shape {tuple(out.shape)}; expected {tuple(shape)}.")
    return out


def expect_close(out: object, expected: torch.Tensor, name: str, call: str,
                 hints: Iterable[tuple[torch.Tensor, str]] = (), scale: float = 0.0,
                 shape_hint: str | Mapping[tuple[int, ...], str] | None = "",
                 nonfinite_hint: str = "is it numerically stable?") -> None:
    """Fail unless `out` is a tensor like `expected` and close to it, allowing rounding in proportion
    to `scale` (see is_close).

    A tensor of the wrong shape is named first, with `shape_hint` (one text, or one per wrong shape)
    saying which mistake gives it. A wrong answer that equals one of the `hints`' variants gets that
    hint's diagnosis; a non-finite one where the truth is finite gets `nonfinite_hint`.
    """
    if isinstance(out, torch.Tensor) and tuple(out.shape) != tuple(expected.shape):
        hint = shape_hint.get(tuple(out.shape), "") if isinstance(shape_hint, Mapping) else shape_hint
        raise CheckFailed(f"{call} returned shape {tuple(out.shape)}; expected {tuple(expected.shape)}."
                          + (f" {hint}" if hint else ""))
    out = expect_tensor(out, name=name, dtype=expected.dtype, device=expected.device, shape=tuple(expected.shape), call=call)
    if is_close(out, expected, scale):
        return
    for variant, hint in hints:
        if variant.shape == out.shape and is_close(out, variant.to(out.dtype), scale):
            raise CheckFailed(f"{call} is wrong: {hint}")
    if not torch.isfinite(out).all() and torch.isfinite(expected).all():
        raise CheckFailed(f"{call} gave inf or nan where the true value is finite: {nonfinite_hint}")
    detail = worst_difference(out, expected) if out.dim() else f"expected {expected.item():.6g}, got {out.item():.6g}"
    raise CheckFailed(f"{call} is wrong: {detail}.")


def worst_difference(actual: torch.Tensor, expected: torch.Tensor) -> str:
    """Where and by how much two same-shaped tensors differ most."""
    diff = (actual.to(expected.dtype) - expected).abs()
    flat = int(torch.nan_to_num(diff, nan=float("inf")).argmax())
    index = tuple(int(i) for i in np.unravel_index(flat, tuple(diff.shape))) if diff.dim() else ()
    return (f"largest difference at {list(index)}: expected {expected[index].item():.6g}, "
            f"got {actual[index].item():.6g}")


@contextmanager
def inputs_unchanged(call: str, **tensors: torch.Tensor) -> Iterator[None]:
    """Fail if the block changes any of the given tensors in place."""
    before = {k: t.detach().clone() for k, t in tensors.items()}
    yield
    for k, t in tensors.items():
        if not torch.equal(t.detach(), before[k]):
            raise CheckFailed(f"{call} changed its input `{k}` in place (an in-place op such as "
                              f"`{k} += ...`, `{k}.mul_()` or `{k}[...] = ...`): leave inputs as they "
                              "are and write into a new tensor.")
