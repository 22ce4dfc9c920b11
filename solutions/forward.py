"""Reference solutions of lesson 03_forward.

Generated from source/03_forward/03_forward.ipynb by `python -m autograder export`: do not edit;
change the source notebook and export again.
"""
import math

import torch
from torch import Tensor


def lin(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """A linear layer: x @ w + b.

    Args:
        x: (N, in_features) batch of inputs, one row per example.
        w: (in_features, out_features) weights: this course's convention, the transpose of
            nn.Linear's (out_features, in_features) storage.
        b: (out_features,) bias, added to every row.

    Returns:
        A new (N, out_features) tensor with x's dtype and device; the inputs are left unchanged.
        Built from tensor arithmetic, without F.linear.
    """
    return x @ w + b


def relu(x: Tensor) -> Tensor:
    """The rectified linear unit, elementwise: max(x, 0).

    Args:
        x: floating-point tensor of any shape.

    Returns:
        A new tensor with x's shape, dtype and device; x is left unchanged. Built from tensor
        operations, without torch.relu, F.relu or any other torch activation function.
    """
    return x.clamp_min(0.0)


class Linear:
    """A linear layer that holds its parameters: forward(x) = x @ weight + bias.

    Attributes:
        in_features, out_features: the sizes given to __init__.
        weight: (in_features, out_features) float32 tensor (this course's layout; nn.Linear stores
            the transpose), Kaiming normal: torch.randn scaled by sqrt(2 / in_features), drawn
            afresh for every layer.
        bias: (out_features,) float32 tensor of zeros.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        """Store the sizes and create weight (Kaiming normal) and bias (zeros)."""
        self.in_features, self.out_features = in_features, out_features
        self.weight = torch.randn(in_features, out_features) * math.sqrt(2 / in_features)
        self.bias = torch.zeros(out_features)

    def forward(self, x: Tensor) -> Tensor:
        """x: (N, in_features) -> (N, out_features): x @ self.weight + self.bias."""
        return x @ self.weight + self.bias

    def __call__(self, x: Tensor) -> Tensor:
        """layer(x) is layer.forward(x)."""
        return self.forward(x)

    def __repr__(self) -> str:
        """'Linear(in_features=784, out_features=50)' for Linear(784, 50)."""
        return f"Linear(in_features={self.in_features}, out_features={self.out_features})"


class ReLU:
    """The ReLU as a layer without parameters: forward(x) = max(x, 0) elementwise; repr 'ReLU()'."""

    def forward(self, x: Tensor) -> Tensor:
        """A new tensor max(x, 0) with x's shape, dtype and device, without torch's activations."""
        return x.clamp_min(0.0)

    def __call__(self, x: Tensor) -> Tensor:
        """act(x) is act.forward(x)."""
        return self.forward(x)

    def __repr__(self) -> str:
        """'ReLU()'."""
        return "ReLU()"


def mse(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error between predictions and targets, one pair per example.

    Args:
        pred: (N,) or (N, 1) predictions.
        target: (N,) or (N, 1) targets, as floats.

    Returns:
        A 0-d tensor: the mean over the N examples of (pred_i - target_i) ** 2, with both inputs
        flattened first, never broadcast to an N x N matrix. The inputs are left unchanged.

    Raises:
        ValueError: if pred and target hold different numbers of values (naming both).
    """
    if pred.numel() != target.numel():
        raise ValueError(f"pred has {pred.numel()} values but target has {target.numel()}")
    return ((pred.reshape(-1) - target.reshape(-1)) ** 2).mean()


def logsumexp(x: Tensor) -> Tensor:
    """log(sum(exp(x))) over each row, computed stably.

    Args:
        x: (N, C) logits, float32 or float64; any size, e.g. rows around +1000 or -1000.

    Returns:
        A new (N,) tensor m + log(sum(exp(x - m))) with m each row's own maximum: finite for
        finite x, without overflow or underflow. x is left unchanged; without torch.logsumexp.
    """
    m = x.max(dim=-1, keepdim=True).values
    return m.squeeze(-1) + (x - m).exp().sum(dim=-1).log()


def log_softmax(x: Tensor) -> Tensor:
    """Log-probabilities of each row of logits: x - logsumexp(x), per row.

    Args:
        x: (N, C) logits, float32 or float64, possibly huge (around +-1000).

    Returns:
        A new (N, C) tensor; exp() of each row sums to 1. Numerically stable (through logsumexp
        above); x is left unchanged; without F.log_softmax or softmax.
    """
    return x - logsumexp(x).unsqueeze(-1)


def nll(log_probs: Tensor, target: Tensor) -> Tensor:
    """Mean negative log-likelihood of the target classes.

    Args:
        log_probs: (N, C) log-probabilities, e.g. from log_softmax.
        target: (N,) int64 class labels in [0, C).

    Returns:
        A 0-d tensor: -mean over i of log_probs[i, target[i]] (the mean over the batch, not the
        sum). The inputs are left unchanged; without F.nll_loss.
    """
    return -log_probs[torch.arange(target.shape[0]), target].mean()


def cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """Cross-entropy loss: nll(log_softmax(logits), target).

    Args:
        logits: (N, C) unnormalized scores, float32 or float64, possibly huge.
        target: (N,) int64 class labels in [0, C).

    Returns:
        A 0-d tensor, the mean over the batch; finite for finite logits. The inputs are left
        unchanged; without F.cross_entropy.
    """
    return nll(log_softmax(logits), target)


def accuracy(logits: Tensor, target: Tensor) -> Tensor:
    """Fraction of rows whose largest logit is at the target class.

    Args:
        logits: (N, C) scores.
        target: (N,) int64 class labels in [0, C).

    Returns:
        A 0-d float32 tensor in [0, 1] (a tensor, not a Python float).
    """
    return (logits.argmax(dim=-1) == target).float().mean()


class FeedForward:
    """A stack of Linear layers with a ReLU between consecutive ones; outputs are logits.

    FeedForward([784, 50, 10]).layers is [Linear(784, 50), ReLU(), Linear(50, 10)]: a Python list of
    the Linear and ReLU objects defined above, Linear i mapping sizes[i] to sizes[i + 1], and no
    ReLU after the last Linear.
    """

    def __init__(self, sizes: list[int]) -> None:
        """Build self.layers from sizes (at least two): Linear, ReLU, Linear, ..., Linear."""
        self.layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            self.layers.append(Linear(n_in, n_out))
            if i < len(sizes) - 2:
                self.layers.append(ReLU())

    def forward(self, x: Tensor) -> Tensor:
        """x: (N, sizes[0]) -> (N, sizes[-1]) logits: each layer applied in turn."""
        for layer in self.layers:
            x = layer(x)
        return x

    def __call__(self, x: Tensor) -> Tensor:
        """model(x) is model.forward(x)."""
        return self.forward(x)

    def __repr__(self) -> str:
        """'FeedForward(' then one indented line '(i): <layer>' per layer, then ')'."""
        inner = "\n".join(f"  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"FeedForward(\n{inner}\n)"
