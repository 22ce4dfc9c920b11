import torch
from torch import Tensor

def matmul_loops(a, b):
    (n, k), (k_b, m) = a.shape, b.shape
    if k != k_b:
        raise ValueError(f"inner dimensions differ: a is {tuple(a.shape)}, b is {tuple(b.shape)}")
    c = torch.zeros(n, m, dtype=a.dtype, device=a.device)
    for i in range(n):
        for j in range(m):
            for p in range(k):
                c[i, j] += a[i, p] * b[p, j]
    return c

def matmul_elementwise(a, b):
    (n, k), (k_b, m) = a.shape, b.shape
    if k != k_b:
        raise ValueError(f"inner dimensions differ: a is {tuple(a.shape)}, b is {tuple(b.shape)}")
    c = torch.zeros(n, m, dtype=a.dtype, device=a.device)
    for i in range(n):
        for j in range(m):
            c[i, j] = (a[i, :] * b[:, j]).sum()
    return c

def broadcast_shape(shape_a, shape_b):
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

def matmul_broadcast(a, b):
    (n, k), (k_b, m) = a.shape, b.shape
    if k != k_b:
        raise ValueError(f"inner dimensions differ: a is {tuple(a.shape)}, b is {tuple(b.shape)}")
    c = torch.zeros(n, m, dtype=a.dtype, device=a.device)
    for i in range(n):
        c[i] = (a[i, :, None] * b).sum(dim=0)
    return c

def matmul_einsum(a, b):
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"inner dimensions differ: a is {tuple(a.shape)}, b is {tuple(b.shape)}")
    return torch.einsum("ik,kj->ij", a, b)
