"""Realistic wrong answers to lesson 01_matmul, each with the exercise it must fail and the message it must get."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch


@dataclass(frozen=True)
class Mutant:
    """A wrong `exercise` implementation whose failure message must contain `message`."""

    name: str
    exercise: str
    fn: Callable
    message: str
    status: str = "failed"


def _shapes(a, b):
    (n, k), (k_b, m) = a.shape, b.shape
    if k != k_b:
        raise ValueError(f"inner dimensions differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    return n, k, m


def loops_transposed(a, b):
    n, k, m = _shapes(a, b)
    c = torch.zeros(m, n, dtype=a.dtype)
    for i in range(n):
        for j in range(m):
            for p in range(k):
                c[j, i] += a[i, p] * b[p, j]
    return c


def loops_off_by_one(a, b):
    n, k, m = _shapes(a, b)
    c = torch.zeros(n, m, dtype=a.dtype)
    for i in range(n):
        for j in range(m):
            for p in range(k - 1):
                c[i, j] += a[i, p] * b[p, j]
    return c


def loops_accumulator_not_reset(a, b):
    n, k, m = _shapes(a, b)
    c = torch.zeros(n, m, dtype=a.dtype)
    acc = 0.0
    for i in range(n):
        for j in range(m):
            for p in range(k):
                acc += a[i, p] * b[p, j]
            c[i, j] = acc
    return c


def loops_hidden_matmul(a, b):
    n, k, m = _shapes(a, b)
    c = torch.zeros(n, m, dtype=a.dtype)
    for i in range(n):
        for j in range(m):
            c[i, j] = a[i] @ b[:, j]
    return c


def loops_float32_result(a, b):
    n, k, m = _shapes(a, b)
    c = torch.zeros(n, m)
    for i in range(n):
        for j in range(m):
            for p in range(k):
                c[i, j] += a[i, p] * b[p, j]
    return c


def loops_no_shape_check(a, b):
    n, k, m = a.shape[0], a.shape[1], b.shape[1]
    c = torch.zeros(n, m, dtype=a.dtype)
    for i in range(n):
        for j in range(m):
            for p in range(k):
                c[i, j] += a[i, p] * b[p, j]
    return c


def loops_numpy_result(a, b):
    n, k, m = _shapes(a, b)
    c = np.zeros((n, m))
    for i in range(n):
        for j in range(m):
            for p in range(k):
                c[i, j] += float(a[i, p] * b[p, j])
    return c


def elementwise_really_loops(a, b):
    return loops_no_shape_check(a, b) if _shapes(a, b) else None


def elementwise_mutates_input(a, b):
    n, k, m = _shapes(a, b)
    c = torch.zeros(n, m, dtype=a.dtype, device=a.device)
    for i in range(n):
        for j in range(m):
            row = a[i, :]
            row *= b[:, j]  # a view of a: this writes into the caller's tensor
            c[i, j] = row.sum()
    return c


def broadcast_really_loops(a, b):
    n, k, m = _shapes(a, b)
    c = torch.zeros(n, m, dtype=a.dtype, device=a.device)
    for i in range(n):
        for j in range(m):
            c[i, j] = (a[i, :] * b[:, j]).sum()
    return c


_cache: dict = {}


def broadcast_cached(a, b):
    if "c" not in _cache:
        n, k, m = _shapes(a, b)
        _cache["c"] = (a[:, :, None] * b[None]).sum(1)
    return _cache["c"]


def broadcast_assert(a, b):
    assert a.shape[1] == b.shape[0], "shapes differ"
    return (a[:, :, None] * b[None]).sum(1)


def einsum_without_einsum(a, b):
    _shapes(a, b)
    return a @ b


def einsum_per_row(a, b):
    _shapes(a, b)
    return torch.stack([torch.einsum("k,kj->j", row, b) for row in a])


def einsum_swapped_output(a, b):
    _shapes(a, b)
    return torch.einsum("ik,kj->ji", a, b)


def shape_left_aligned(shape_a, shape_b):
    a, b = tuple(shape_a), tuple(shape_b)
    ndim = max(len(a), len(b))
    a, b = a + (1,) * (ndim - len(a)), b + (1,) * (ndim - len(b))
    out = []
    for da, db in zip(a, b):
        if da != db and 1 not in (da, db):
            raise ValueError(f"shapes {shape_a} and {shape_b} cannot be broadcast")
        out.append(db if da == 1 else da)
    return tuple(out)


def shape_never_raises(shape_a, shape_b):
    a, b = tuple(shape_a), tuple(shape_b)
    ndim = max(len(a), len(b))
    a, b = (1,) * (ndim - len(a)) + a, (1,) * (ndim - len(b)) + b
    return tuple(max(da, db) if 0 not in (da, db) else 0 for da, db in zip(a, b))


def shape_returns_list(shape_a, shape_b):
    a, b = tuple(shape_a), tuple(shape_b)
    ndim = max(len(a), len(b))
    a, b = (1,) * (ndim - len(a)) + a, (1,) * (ndim - len(b)) + b
    out = []
    for da, db in zip(a, b):
        if da != db and 1 not in (da, db):
            raise ValueError(f"shapes {shape_a} and {shape_b} cannot be broadcast")
        out.append(db if da == 1 else da)
    return out


def shape_via_torch(shape_a, shape_b):
    return tuple(torch.broadcast_shapes(tuple(shape_a), tuple(shape_b)))


def shape_as_torch_size(shape_a, shape_b):
    from solutions.matmul import broadcast_shape
    return torch.Size(broadcast_shape(shape_a, shape_b))


MUTANTS = (
    Mutant("transposed result", "matmul_loops", loops_transposed, "transpose"),
    Mutant("off-by-one inner bound", "matmul_loops", loops_off_by_one, "off by one (range(k - 1))"),
    Mutant("accumulator not reset", "matmul_loops", loops_accumulator_not_reset, "accumulator is not reset"),
    Mutant("@ hidden in the loops", "matmul_loops", loops_hidden_matmul, "calls `matmul`"),
    Mutant("float32 result for float64", "matmul_loops", loops_float32_result, "dtype=a.dtype"),
    Mutant("no inner-dimension check", "matmul_loops", loops_no_shape_check, "cannot meet b's 5 rows"),
    Mutant("numpy array returned", "matmul_loops", loops_numpy_result, "returned a numpy.ndarray"),
    Mutant("elementwise is a triple loop", "matmul_elementwise", elementwise_really_loops, "still a Python loop"),
    Mutant("input mutated in place", "matmul_elementwise", elementwise_mutates_input, "changed its input `a` in place"),
    Mutant("broadcast is two Python loops", "matmul_broadcast", broadcast_really_loops, "still looping over columns"),
    Mutant("result cached from the previous call", "matmul_broadcast", broadcast_cached, "result of an earlier call"),
    Mutant("assert instead of ValueError", "matmul_broadcast", broadcast_assert, "used assert"),
    Mutant("einsum version without einsum", "matmul_einsum", einsum_without_einsum, "calls `matmul`"),
    Mutant("einsum once per row", "matmul_einsum", einsum_per_row, "called once per row"),
    Mutant("einsum output subscripts swapped", "matmul_einsum", einsum_swapped_output, "transpose"),
    Mutant("shapes aligned from the left", "broadcast_shape", shape_left_aligned, "aligned from the right"),
    Mutant("incompatible shapes accepted", "broadcast_shape", shape_never_raises, "cannot broadcast"),
    Mutant("list instead of tuple", "broadcast_shape", shape_returns_list, "return a tuple of ints"),
    Mutant("torch.Size instead of tuple", "broadcast_shape", shape_as_torch_size, "(Size); return a tuple of ints"),
    Mutant("torch.broadcast_shapes used", "broadcast_shape", shape_via_torch, "apply the rules"),
)
