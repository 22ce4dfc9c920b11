"""Reference solutions of lesson 08_batchnorm.

Generated from source/08_batchnorm/08_batchnorm.ipynb by `python -m autograder export`: do not edit;
change the source notebook and export again.
"""
import torch
from torch import Tensor


def batchnorm_forward(x: Tensor, gamma: Tensor, beta: Tensor, eps: float = 1e-5) -> Tensor:
    """Batch normalisation in training mode: standardise each feature over the batch, then scale and shift.

    Args:
        x: (N, C) or (N, C, H, W); the statistics of feature (channel) c are over every dim but dim 1.
        gamma: (C,) scale, beta: (C,) shift.
        eps: added to the variance inside the square root.

    Returns:
        A tensor of x's shape, dtype and device: gamma * (x - mean) / sqrt(var + eps) + beta, with the
        biased variance (divided by the number of values, not minus one).
    """
    dims = (0,) + tuple(range(2, x.dim()))
    shape = (1, -1) + (1,) * (x.dim() - 2)
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, correction=0, keepdim=True)
    x_hat = (x - mean) / torch.sqrt(var + eps)
    return gamma.reshape(shape) * x_hat + beta.reshape(shape)


class BatchNorm:
    """Batch normalisation over dim 1 of (N, C) or (N, C, H, W) inputs, like nn.BatchNorm1d/2d."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> None:
        """gamma ones, beta zeros, running_mean zeros, running_var ones, all (num_features,); training mode."""
        self.eps, self.momentum, self.training = eps, momentum, True
        self.gamma = torch.ones(num_features, dtype=dtype, device=device)
        self.beta = torch.zeros(num_features, dtype=dtype, device=device)
        self.running_mean = torch.zeros(num_features, dtype=dtype, device=device)
        self.running_var = torch.ones(num_features, dtype=dtype, device=device)

    def train(self) -> "BatchNorm":
        """Training mode (batch statistics, running statistics updated); returns self."""
        self.training = True
        return self

    def eval(self) -> "BatchNorm":
        """Eval mode (running statistics used, not updated); returns self."""
        self.training = False
        return self

    def __call__(self, x: Tensor) -> Tensor:
        """Normalise x; in training mode also update the running statistics (unbiased variance, momentum)."""
        dims = (0,) + tuple(range(2, x.dim()))
        shape = (1, -1) + (1,) * (x.dim() - 2)
        if self.training:
            with torch.no_grad():
                m = self.momentum
                self.running_mean = (1 - m) * self.running_mean + m * x.mean(dim=dims)
                self.running_var = (1 - m) * self.running_var + m * x.var(dim=dims, correction=1)
            return batchnorm_forward(x, self.gamma, self.beta, self.eps)
        x_hat = (x - self.running_mean.reshape(shape)) / torch.sqrt(self.running_var.reshape(shape) + self.eps)
        return self.gamma.reshape(shape) * x_hat + self.beta.reshape(shape)


def batchnorm_backward(dy: Tensor, x: Tensor, gamma: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor, Tensor]:
    """The gradients of batchnorm_forward (training mode) with respect to x, gamma and beta.

    Args:
        dy: the upstream gradient, of x's shape.
        x: (N, C) or (N, C, H, W), the input of the forward pass.
        gamma: (C,) the scale; eps: as in the forward pass.

    Returns:
        (dx, dgamma, dbeta): dx of x's shape, dgamma and dbeta (C,), in x's dtype.
    """
    dims = (0,) + tuple(range(2, x.dim()))
    shape = (1, -1) + (1,) * (x.dim() - 2)
    mean = x.mean(dim=dims, keepdim=True)
    inv_std = 1 / torch.sqrt(x.var(dim=dims, correction=0, keepdim=True) + eps)
    x_hat = (x - mean) * inv_std
    dbeta = dy.sum(dim=dims)
    dgamma = (dy * x_hat).sum(dim=dims)
    dx_hat = dy * gamma.reshape(shape)
    dx = inv_std * (dx_hat - dx_hat.mean(dim=dims, keepdim=True)
                    - x_hat * (dx_hat * x_hat).mean(dim=dims, keepdim=True))
    return dx, dgamma, dbeta


def stack_stats(x: Tensor, weights: list[Tensor], batchnorm: bool, eps: float = 1e-5) -> Tensor:
    """Per-layer mean and std of a stack of layers h = relu(h @ w), batch-normalised before the ReLU if asked.

    Args:
        x: (N, D) the input batch.
        weights: L matrices, the first (D, H), the others (H, H).
        batchnorm: normalise h @ w with batchnorm_forward (gamma ones, beta zeros, eps) before the ReLU.

    Returns:
        (L, 2) in x's dtype: row l is (mean, std) of layer l's output (after its ReLU), over all its entries.
    """
    h, stats = x, []
    for w in weights:
        h = h @ w
        if batchnorm:
            ones = torch.ones(h.shape[1], dtype=h.dtype, device=h.device)
            h = batchnorm_forward(h, ones, torch.zeros_like(ones), eps)
        h = h.clamp_min(0)
        stats.append(torch.stack([h.mean(), h.std()]))
    return torch.stack(stats)
