"""Statistics of weights and activations, as the initialization checks measure them."""
from __future__ import annotations

import math
from typing import Sequence

import torch

Stats = list[tuple[float, float]]


def same_stats(a: Stats, b: Stats, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    """Equal pair by pair within tolerance, counting nan as equal to nan and inf to inf of its sign."""
    def close(u: float, v: float) -> bool:
        if math.isnan(u) or math.isnan(v):
            return math.isnan(u) and math.isnan(v)
        if math.isinf(u) or math.isinf(v):
            return u == v
        return abs(u - v) <= atol + rtol * abs(v)
    return len(a) == len(b) and all(close(u, v) for pa, pb in zip(a, b) for u, v in zip(pa, pb))


def geometric_mean(values: Sequence[float]) -> float:
    """The geometric mean of positive numbers (0 if any is 0, nan if any is not finite)."""
    if any(not math.isfinite(v) for v in values):
        return math.nan
    if any(v <= 0 for v in values):
        return 0.0
    return math.exp(sum(math.log(v) for v in values) / len(values))


def tail_fraction(w: torch.Tensor, sigmas: float = 2.0) -> float:
    """Share of entries further than `sigmas` standard deviations from the mean (normal: 4.6% at 2)."""
    w = w.double().flatten()
    return float(((w - w.mean()).abs() > sigmas * w.std()).double().mean())
