"""Reference solutions of lesson 04_backward.

Generated from source/04_backward/04_backward.ipynb by `python -m autograder export`: do not edit;
change the source notebook and export again.
"""
import math

import torch
from torch import Tensor


def lin(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """A linear layer, as in lesson 03: x @ w + b with w of shape (in_features, out_features)."""
    return x @ w + b


def relu(x: Tensor) -> Tensor:
    """max(x, 0) elementwise, as in lesson 03."""
    return x.clamp_min(0.0)


def mse(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error over all elements, pred and target flattened (lesson 03)."""
    return ((pred.reshape(-1) - target.reshape(-1)) ** 2).mean()


def mse_grad(pred: Tensor, target: Tensor) -> None:
    """Set pred.g, the gradient of mse(pred, target) with respect to pred.

    Args:
        pred: (N, 1) or (N,) predictions.
        target: targets with as many elements as pred.

    The loss is the mean of the N squared differences, so each prediction's gradient is
    2 * (pred - target) / N, with pred's shape. Returns None; pred's values are left unchanged.
    """
    pred.g = 2.0 * (pred - target.reshape(pred.shape)) / pred.numel()


def relu_grad(inp: Tensor, out: Tensor) -> None:
    """Set inp.g from out.g, for out = relu(inp).

    Args:
        inp: the ReLU's input, any shape.
        out: its output, with out.g (same shape) already set by the layer after it.

    The gradient passes where inp > 0 and is 0 elsewhere: inp.g = (inp > 0) * out.g, in inp's dtype.
    """
    inp.g = (inp > 0).to(inp.dtype) * out.g


def lin_grad(inp: Tensor, out: Tensor, w: Tensor, b: Tensor) -> None:
    """Set inp.g, w.g and b.g from out.g, for out = inp @ w + b.

    Args:
        inp: (N, in_features) input.
        out: (N, out_features) output, with out.g of the same shape already set.
        w: (in_features, out_features) weights.
        b: (out_features,) bias.

    Shapes of the results: inp.g (N, in) = out.g @ w.T; w.g (in, out) = inp.T @ out.g;
    b.g (out,) = out.g summed over the batch (dim 0): every example added the same b.
    """
    inp.g = out.g @ w.T
    w.g = inp.T @ out.g
    b.g = out.g.sum(0)


class Layer:
    """The base of every layer: calling a layer runs forward and remembers its inputs and output.

    layer(*args) stores the arguments in self.args (a tuple) and the result in self.out, then
    returns it; backward() later reads them to set .g on each input (and on parameters) from
    self.out.g. Subclasses define forward and backward; the base's raise NotImplementedError.
    """

    def __call__(self, *args: Tensor) -> Tensor:
        """Store args in self.args, run self.forward(*args), store the result in self.out, return it."""
        self.args = args
        self.out = self.forward(*args)
        return self.out

    def forward(self, *args: Tensor) -> Tensor:
        """Compute the output from the inputs (each subclass defines this)."""
        raise NotImplementedError(f"{type(self).__name__} must define forward")

    def backward(self) -> None:
        """Set .g on self.args (and on parameters) from self.out.g (each subclass defines this)."""
        raise NotImplementedError(f"{type(self).__name__} must define backward")


class Linear(Layer):
    """A linear layer holding w (in_features, out_features) and b (out_features,): forward(inp) = inp @ w + b."""

    def __init__(self, w: Tensor, b: Tensor) -> None:
        """Keep the parameters as self.w and self.b (the tensors given, not copies)."""
        self.w, self.b = w, b

    def forward(self, inp: Tensor) -> Tensor:
        """inp: (N, in_features) -> (N, out_features)."""
        return inp @ self.w + self.b

    def backward(self) -> None:
        """From self.out.g, set .g on the input (self.args[0]), on self.w and on self.b."""
        inp, = self.args
        inp.g = self.out.g @ self.w.T
        self.w.g = inp.T @ self.out.g
        self.b.g = self.out.g.sum(0)


class ReLU(Layer):
    """max(inp, 0) elementwise, as a layer without parameters."""

    def forward(self, inp: Tensor) -> Tensor:
        """A new tensor max(inp, 0), inp's shape."""
        return inp.clamp_min(0.0)

    def backward(self) -> None:
        """inp.g = out.g where inp > 0, 0 elsewhere."""
        inp, = self.args
        inp.g = (inp > 0).to(inp.dtype) * self.out.g


class MSE(Layer):
    """Mean squared error as the last layer: forward(pred, target) is a 0-d tensor, the mean of the squared differences."""

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """pred (N, 1) or (N,), target with as many elements: the mean over the N squared differences."""
        return ((pred.reshape(-1) - target.reshape(-1)) ** 2).mean()

    def backward(self) -> None:
        """Set pred.g = 2 * (pred - target) / N, pred's shape (the loss is last: the gradient of the loss by itself is 1)."""
        pred, target = self.args
        pred.g = 2.0 * (pred - target.reshape(pred.shape)) / pred.numel()


class CrossEntropy(Layer):
    """Cross-entropy of logits and integer class targets, as the last layer."""

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """logits (N, C), target (N,) int64: the mean over rows of logsumexp(row) - row[target], computed stably."""
        m = logits.max(dim=-1, keepdim=True).values
        lse = m.squeeze(-1) + (logits - m).exp().sum(-1).log()
        picked = logits[torch.arange(logits.shape[0], device=logits.device), target]
        return (lse - picked).mean()

    def backward(self) -> None:
        """Set logits.g = (softmax(logits) - one_hot(target)) / N, shape (N, C)."""
        logits, target = self.args
        n = logits.shape[0]
        probs = (logits - logits.max(dim=-1, keepdim=True).values).exp()
        probs = probs / probs.sum(-1, keepdim=True)
        probs[torch.arange(n, device=logits.device), target] -= 1.0
        logits.g = probs / n


class Model:
    """A classifier: Linear, ReLU, ..., Linear (no ReLU after the last), then a CrossEntropy loss layer.

    Model([784, 50, 10]).layers is [Linear, ReLU, Linear], Linear i with w of shape
    (sizes[i], sizes[i + 1]) drawn Kaiming normal (randn * sqrt(2 / sizes[i])) and b zeros, both float32;
    self.loss_layer is a CrossEntropy().
    """

    def __init__(self, sizes: list[int]) -> None:
        """Build self.layers from sizes (at least two) and self.loss_layer."""
        self.layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            self.layers.append(Linear(torch.randn(n_in, n_out) * math.sqrt(2 / n_in), torch.zeros(n_out)))
            if i < len(sizes) - 2:
                self.layers.append(ReLU())
        self.loss_layer = CrossEntropy()

    def forward(self, x: Tensor) -> Tensor:
        """x: (N, sizes[0]) -> (N, sizes[-1]) logits, each layer called in turn."""
        for layer in self.layers:
            x = layer(x)
        return x

    def loss(self, x: Tensor, target: Tensor) -> Tensor:
        """The forward pass and then the loss layer: a 0-d tensor."""
        return self.loss_layer(self.forward(x), target)

    def backward(self) -> None:
        """After loss(): the loss layer's backward, then every layer's backward in reverse order."""
        self.loss_layer.backward()
        for layer in reversed(self.layers):
            layer.backward()


def relative_error(a: Tensor, b: Tensor) -> float:
    """How far apart two gradients are, relative to their size: ||a - b|| / (||a|| + ||b||).

    Norms are the Frobenius norm (torch.linalg.norm of the flattened tensor). 0 for equal
    tensors, 1 for a and -a; unchanged when both are scaled by the same factor; 0.0 (not nan)
    when both are all zeros. Returns a Python float.
    """
    denom = float(a.norm() + b.norm())
    return float((a - b).norm()) / denom if denom > 0 else 0.0


def gradient_check(f, x: Tensor, eps: float = 1e-6) -> Tensor:
    """The gradient of a scalar function f at x by centred finite differences, without autograd.

    Args:
        f: a function from a tensor of x's shape to a 0-d tensor (or a float).
        x: the point, float64 for accuracy; left unchanged when gradient_check returns.
        eps: the step h.

    Returns:
        A tensor of x's shape, dtype and device: entry i is (f(x + h e_i) - f(x - h e_i)) / (2h),
        e_i being 1 at entry i and 0 elsewhere.
    """
    grad = torch.zeros_like(x)
    flat_x, flat_g = x.detach().clone().reshape(-1), grad.reshape(-1)
    for i in range(flat_x.numel()):
        old = flat_x[i].item()
        flat_x[i] = old + eps
        plus = float(f(flat_x.reshape(x.shape)))
        flat_x[i] = old - eps
        minus = float(f(flat_x.reshape(x.shape)))
        flat_x[i] = old
        flat_g[i] = (plus - minus) / (2 * eps)
    return grad
