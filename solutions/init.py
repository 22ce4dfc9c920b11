"""Reference solutions of lesson 02_init.

Generated from source/02_init/02_init.ipynb by `python -m autograder export`: do not edit;
change the source notebook and export again.
"""
import math
from typing import Callable, Sequence

import torch
from torch import Tensor


def normalize(x: Tensor, mean: float | Tensor, std: float | Tensor) -> Tensor:
    """Shift and scale x to mean 0 and std 1: (x - mean) / std.

    Args:
        x: floating-point tensor of any shape, e.g. (n, 784) float32 pixels.
        mean: a number, a 0-d tensor, or a tensor that broadcasts against x (per-feature means of
            shape (784,) for x of shape (n, 784)).
        std: like mean; nonzero.

    Returns:
        A new tensor (x - mean) / std with x's shape, dtype and device; x is left unchanged.
    """
    return (x - mean) / std


def activation_stats(x: Tensor, weights: Sequence[Tensor],
                     activation: Callable[[Tensor], Tensor]) -> list[tuple[float, float]]:
    """Push x through a stack of linear layers and record every layer's output mean and std.

    Layer l computes x = activation(x @ weights[l]) (no bias) and feeds the result to layer l + 1.

    Args:
        x: (n, d0) input batch, float32 or float64.
        weights: matrices of shapes (d0, d1), (d1, d2), ...: layer l maps d_l features to d_{l+1}.
        activation: elementwise function applied after each product, e.g. torch.relu, or
            lambda t: t for none.

    Returns:
        One (mean, std) pair of Python floats per layer, in layer order: x.mean().item() and
        x.std().item() over all elements of that layer's output. inf and nan are recorded as
        they are, without raising. x and the weights are left unchanged.
    """
    stats = []
    for w in weights:
        x = activation(x @ w)
        stats.append((x.mean().item(), x.std().item()))
    return stats


def xavier_uniform(fan_in: int, fan_out: int) -> Tensor:
    """Glorot & Bengio's normalized initialization: weights uniform on [-bound, bound].

    bound = sqrt(6 / (fan_in + fan_out)), so that Var(w) = bound**2 / 3 = 2 / (fan_in + fan_out).

    Args:
        fan_in: number of inputs of the layer (rows of w: the layer computes x @ w).
        fan_out: number of outputs of the layer (columns of w).

    Returns:
        A new (fan_in, fan_out) float32 tensor of fresh random weights on every call.
    """
    bound = math.sqrt(6 / (fan_in + fan_out))
    return torch.empty(fan_in, fan_out).uniform_(-bound, bound)


def xavier_normal(fan_in: int, fan_out: int) -> Tensor:
    """Glorot & Bengio's variance 2 / (fan_in + fan_out), drawn from a normal distribution.

    Weights are N(0, std**2) with std = sqrt(2 / (fan_in + fan_out)).

    Args:
        fan_in: number of inputs of the layer (rows of w: the layer computes x @ w).
        fan_out: number of outputs of the layer (columns of w).

    Returns:
        A new (fan_in, fan_out) float32 tensor of fresh random weights on every call.
    """
    return torch.randn(fan_in, fan_out) * math.sqrt(2 / (fan_in + fan_out))


def kaiming_normal(fan_in: int, fan_out: int, a: float = 0.0) -> Tensor:
    """He et al.'s initialization for layers followed by a (leaky) ReLU: weights from N(0, std**2).

    std = sqrt(2 / ((1 + a**2) * fan_in)); a = 0 is the plain ReLU, std = sqrt(2 / fan_in).

    Args:
        fan_in: number of inputs of the layer (rows of w: the layer computes x @ w).
        fan_out: number of outputs of the layer (columns of w).
        a: negative slope of the leaky ReLU that follows the layer (0 for a ReLU).

    Returns:
        A new (fan_in, fan_out) float32 tensor of fresh random weights on every call.
    """
    return torch.randn(fan_in, fan_out) * math.sqrt(2 / ((1 + a**2) * fan_in))


def gain(a: float) -> float:
    """Kaiming's gain for a leaky ReLU of negative slope a: sqrt(2 / (1 + a**2)).

    A layer followed by that activation keeps its scale with weights of std gain(a) / sqrt(fan_in).

    Args:
        a: negative slope of the leaky ReLU (0 for a ReLU, 1 for no activation).

    Returns:
        The gain as a Python float: sqrt(2) for a = 0, 1.0 for a = 1.
    """
    return math.sqrt(2 / (1 + a**2))


def leaky_relu(x: Tensor, a: float) -> Tensor:
    """Leaky ReLU, elementwise: x where x >= 0, a * x where x < 0.

    Args:
        x: floating-point tensor of any shape.
        a: slope for negative inputs (0 gives the ReLU).

    Returns:
        A new tensor with x's shape, dtype and device; x is left unchanged. Built from comparisons
        and arithmetic, without torch's own activation functions.
    """
    return torch.where(x >= 0, x, a * x)


def shifted_relu(x: Tensor, shift: float = 0.5, leak: float = 0.0) -> Tensor:
    """A (leaky) ReLU moved down by shift, elementwise: leaky_relu(x, leak) - shift.

    Args:
        x: floating-point tensor of any shape.
        shift: subtracted from every output (0.5 by default; 0 gives the (leaky) ReLU itself).
        leak: slope for negative inputs (0 by default: a plain ReLU before the shift).

    Returns:
        A new tensor with x's shape, dtype and device; x is left unchanged. Built from comparisons
        and arithmetic, without torch's own activation functions or leaky_relu above.
    """
    return torch.where(x >= 0, x, leak * x) - shift
