"""Reference solutions of lesson 01_matmul.

Generated from source/01_matmul/01_matmul.ipynb by `python -m autograder export`: do not edit;
change the source notebook and export again.
"""
import torch
from torch import Tensor


def matmul_loops(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product a @ b with three nested Python loops over tensor elements.

    Args:
        a: (n, k) tensor.
        b: (k, m) tensor, same dtype and device as a.

    Returns:
        A new (n, m) tensor with a's dtype and device; a and b are left unchanged.

    Raises:
        ValueError: naming both shapes, when the inner dimensions differ (a.shape[1] != b.shape[0]).
    """
    (n, k), (k_b, m) = a.shape, b.shape
    if k != k_b:
        raise ValueError(f"inner dimensions differ: a is {tuple(a.shape)}, b is {tuple(b.shape)}")
    c = torch.zeros(n, m, dtype=a.dtype, device=a.device)
    for i in range(n):
        for j in range(m):
            for p in range(k):
                c[i, j] += a[i, p] * b[p, j]
    return c


def matmul_elementwise(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product a @ b with two Python loops; each entry is one elementwise product and a sum.

    Args:
        a: (n, k) tensor.
        b: (k, m) tensor, same dtype and device as a.

    Returns:
        A new (n, m) tensor with a's dtype and device; a and b are left unchanged.

    Raises:
        ValueError: naming both shapes, when the inner dimensions differ (a.shape[1] != b.shape[0]).
    """
    (n, k), (k_b, m) = a.shape, b.shape
    if k != k_b:
        raise ValueError(f"inner dimensions differ: a is {tuple(a.shape)}, b is {tuple(b.shape)}")
    c = torch.zeros(n, m, dtype=a.dtype, device=a.device)
    for i in range(n):
        for j in range(m):
            c[i, j] = (a[i, :] * b[:, j]).sum()
    return c


def broadcast_shape(shape_a: tuple[int, ...], shape_b: tuple[int, ...]) -> tuple[int, ...]:
    """The shape that broadcasting shape_a with shape_b gives (the NumPy/PyTorch rules).

    Shapes are aligned from the right; two sizes are compatible when they are equal or one is 1
    (a 1 stretches to the other size, 0 included); missing leading dimensions count as 1.

    Args:
        shape_a: a shape, as a tuple, list or torch.Size of non-negative ints.
        shape_b: another shape, in any of the same forms.

    Returns:
        The broadcast shape as a plain tuple of ints, as long as the longer input.

    Raises:
        ValueError: naming both shapes and the clashing dimension, when they cannot broadcast.
    """
    a, b = tuple(shape_a), tuple(shape_b)
    ndim = max(len(a), len(b))
    a, b = (1,) * (ndim - len(a)) + a, (1,) * (ndim - len(b)) + b
    result = []
    for axis, (da, db) in enumerate(zip(a, b)):
        if da != db and 1 not in (da, db):
            raise ValueError(f"shapes {tuple(shape_a)} and {tuple(shape_b)} cannot be broadcast: "
                             f"size {da} and size {db} meet at dimension {axis - ndim}")
        result.append(db if da == 1 else da)
    return tuple(result)


def matmul_broadcast(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product a @ b with one Python loop over a's rows, using broadcasting for each row.

    Args:
        a: (n, k) tensor.
        b: (k, m) tensor, same dtype and device as a.

    Returns:
        A new (n, m) tensor with a's dtype and device; a and b are left unchanged.

    Raises:
        ValueError: naming both shapes, when the inner dimensions differ (a.shape[1] != b.shape[0]).
    """
    (n, k), (k_b, m) = a.shape, b.shape
    if k != k_b:
        raise ValueError(f"inner dimensions differ: a is {tuple(a.shape)}, b is {tuple(b.shape)}")
    c = torch.zeros(n, m, dtype=a.dtype, device=a.device)
    for i in range(n):
        c[i] = (a[i, :, None] * b).sum(dim=0)
    return c


def matmul_einsum(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product a @ b as a single Einstein summation, torch.einsum("ik,kj->ij", a, b).

    Args:
        a: (n, k) tensor.
        b: (k, m) tensor, same dtype and device as a.

    Returns:
        A new (n, m) tensor with a's dtype and device; a and b are left unchanged.

    Raises:
        ValueError: naming both shapes, when the inner dimensions differ (a.shape[1] != b.shape[0]).
    """
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"inner dimensions differ: a is {tuple(a.shape)}, b is {tuple(b.shape)}")
    return torch.einsum("ik,kj->ij", a, b)
