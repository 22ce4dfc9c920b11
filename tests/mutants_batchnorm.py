"""Realistic wrong answers to lesson 08_batchnorm, each with the exercise it must fail and the message it must get."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mutants_matmul import Mutant
from solutions.batchnorm import BatchNorm, batchnorm_backward, batchnorm_forward


def _axes(x):
    return (0,) + tuple(range(2, x.dim())), (1, -1) + (1,) * (x.dim() - 2)


def _forward(x, gamma, beta, eps, dims=None, correction=0, eps_outside=False):
    own, shape = _axes(x)
    dims = own if dims is None else dims
    mean, var = x.mean(dim=dims, keepdim=True), x.var(dim=dims, correction=correction, keepdim=True)
    std = torch.sqrt(var) + eps if eps_outside else torch.sqrt(var + eps)
    return gamma.reshape(shape) * (x - mean) / std + beta.reshape(shape)


def forward_eps_outside_sqrt(x, gamma, beta, eps=1e-5):
    return _forward(x, gamma, beta, eps, eps_outside=True)


def forward_over_dim0_only(x, gamma, beta, eps=1e-5):
    return _forward(x, gamma, beta, eps, dims=(0,))


def forward_unbiased_variance(x, gamma, beta, eps=1e-5):
    return _forward(x, gamma, beta, eps, correction=1)


def forward_gamma_beta_swapped(x, gamma, beta, eps=1e-5):
    return _forward(x, beta, gamma, eps)


def forward_layer_norm(x, gamma, beta, eps=1e-5):
    return _forward(x, gamma, beta, eps, dims=tuple(range(1, x.dim())))


def forward_eps_hard_coded(x, gamma, beta, eps=1e-5):
    return _forward(x, gamma, beta, 1e-5)


def forward_by_torch(x, gamma, beta, eps=1e-5):
    return F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)


def forward_in_place(x, gamma, beta, eps=1e-5):
    dims, shape = _axes(x)
    x -= x.mean(dim=dims, keepdim=True)
    return gamma.reshape(shape) * x / torch.sqrt(x.var(dim=dims, correction=0, keepdim=True) + eps) + beta.reshape(shape)


class _Module(BatchNorm):
    """The reference module with one of its update rules swapped for a mistake."""

    correction, new_weight, eval_with_batch, update_in_eval = 1, None, False, False

    def __call__(self, x):
        dims, shape = _axes(x)
        if self.training or self.update_in_eval:
            with torch.no_grad():
                m = self.momentum if self.new_weight is None else self.new_weight
                self.running_mean = (1 - m) * self.running_mean + m * x.mean(dim=dims)
                self.running_var = (1 - m) * self.running_var + m * x.var(dim=dims, correction=self.correction)
        if self.training or self.eval_with_batch:
            return batchnorm_forward(x, self.gamma, self.beta, self.eps)
        x_hat = (x - self.running_mean.reshape(shape)) / torch.sqrt(self.running_var.reshape(shape) + self.eps)
        return self.gamma.reshape(shape) * x_hat + self.beta.reshape(shape)


class BatchNormBiasedRunningVar(_Module):
    correction = 0


class BatchNormMomentumWrongWay(_Module):
    new_weight = 0.9


class BatchNormEvalWithBatchStats(_Module):
    eval_with_batch = True


class BatchNormUpdatesInEval(_Module):
    update_in_eval = True


class BatchNormNeverUpdates(_Module):
    new_weight = 0.0


class BatchNormEvalReturnsNone(BatchNorm):
    def eval(self):
        self.training = False


class BatchNormByTorch(BatchNorm):
    def __call__(self, x):
        out = F.batch_norm(x, self.running_mean, self.running_var, self.gamma, self.beta, training=self.training,
                           momentum=self.momentum, eps=self.eps)
        return out


class BatchNormRunningStatsPerPosition(BatchNorm):
    def __call__(self, x):
        out = super().__call__(x)
        if self.training and x.dim() == 4:
            rm = self.running_mean if self.running_mean.dim() == 3 else self.running_mean.reshape(-1, 1, 1)
            self.running_mean = 0.9 * rm + 0.1 * x.mean(dim=0)
        return out


def _backward(dy, x, gamma, eps, constants=False, sum_dims=None, dgamma_of_x=False):
    dims, shape = _axes(x)
    mean = x.mean(dim=dims, keepdim=True)
    inv_std = 1 / torch.sqrt(x.var(dim=dims, correction=0, keepdim=True) + eps)
    x_hat = (x - mean) * inv_std
    sums = dims if sum_dims is None else sum_dims
    dbeta = dy.sum(dim=sums)
    dgamma = (dy * (x if dgamma_of_x else x_hat)).sum(dim=sums)
    dx_hat = dy * gamma.reshape(shape)
    if constants:
        return dx_hat * inv_std, dgamma, dbeta
    dx = inv_std * (dx_hat - dx_hat.mean(dim=dims, keepdim=True) - x_hat * (dx_hat * x_hat).mean(dim=dims, keepdim=True))
    return dx, dgamma, dbeta


def backward_statistics_as_constants(dy, x, gamma, eps=1e-5):
    return _backward(dy, x, gamma, eps, constants=True)


def backward_summed_over_dim0_only(dy, x, gamma, eps=1e-5):
    return _backward(dy, x, gamma, eps, sum_dims=(0,))


def backward_dgamma_of_x(dy, x, gamma, eps=1e-5):
    return _backward(dy, x, gamma, eps, dgamma_of_x=True)


def backward_by_autograd(dy, x, gamma, eps=1e-5):
    x, gamma = x.detach().clone().requires_grad_(), gamma.detach().clone().requires_grad_()
    beta = torch.zeros_like(gamma, requires_grad=True)
    with torch.enable_grad():
        batchnorm_forward(x, gamma, beta, eps).backward(dy)
    return x.grad, gamma.grad, beta.grad


def backward_as_dict(dy, x, gamma, eps=1e-5):
    return dict(zip(("dx", "dgamma", "dbeta"), batchnorm_backward(dy, x, gamma, eps)))


def _stack(x, weights, batchnorm, eps=1e-5, after_relu=False, pre_activation=False, always=False, as_list=False):
    h, stats = x, []
    for w in weights:
        h = h @ w
        ones = torch.ones(h.shape[1], dtype=h.dtype, device=h.device)
        if (batchnorm or always) and not after_relu:
            h = batchnorm_forward(h, ones, torch.zeros_like(ones), eps)
        before = h
        h = h.clamp_min(0)
        if batchnorm and after_relu:
            h = batchnorm_forward(h, ones, torch.zeros_like(ones), eps)
        seen = before if pre_activation else h
        stats.append(torch.stack([seen.mean(), seen.std()]))
    return stats if as_list else torch.stack(stats)


def stack_bn_after_relu(x, weights, batchnorm, eps=1e-5):
    return _stack(x, weights, batchnorm, eps, after_relu=True)


def stack_stats_before_relu(x, weights, batchnorm, eps=1e-5):
    return _stack(x, weights, batchnorm, eps, pre_activation=True)


def stack_always_normalised(x, weights, batchnorm, eps=1e-5):
    return _stack(x, weights, batchnorm, eps, always=True)


def stack_returns_list(x, weights, batchnorm, eps=1e-5):
    return _stack(x, weights, batchnorm, eps, as_list=True)


def stack_per_unit_std(x, weights, batchnorm, eps=1e-5):
    h, stats = x, []
    for w in weights:
        h = h @ w
        if batchnorm:
            ones = torch.ones(h.shape[1], dtype=h.dtype, device=h.device)
            h = batchnorm_forward(h, ones, torch.zeros_like(ones), eps)
        h = h.clamp_min(0)
        stats.append(torch.stack([h.mean(), h.std(dim=0).mean()]))
    return torch.stack(stats)


def stack_with_input_row(x, weights, batchnorm, eps=1e-5):
    return torch.cat([torch.stack([x.mean(), x.std()])[None], _stack(x, weights, batchnorm, eps)])


MUTANTS = [
    Mutant("forward_eps_outside_sqrt", "batchnorm_forward", forward_eps_outside_sqrt, "eps is added outside the square root"),
    Mutant("forward_over_dim0_only", "batchnorm_forward", forward_over_dim0_only,
           "the statistics are over the wrong axes: over dim 0 only"),
    Mutant("forward_unbiased_variance", "batchnorm_forward", forward_unbiased_variance,
           "it normalises with the unbiased variance"),
    Mutant("forward_gamma_beta_swapped", "batchnorm_forward", forward_gamma_beta_swapped, "gamma and beta are swapped"),
    Mutant("forward_layer_norm", "batchnorm_forward", forward_layer_norm, "(that is layer norm)"),
    Mutant("forward_eps_hard_coded", "batchnorm_forward", forward_eps_hard_coded, "it ignores the eps argument"),
    Mutant("forward_by_torch", "batchnorm_forward", forward_by_torch, "calls `batch_norm`"),
    Mutant("forward_in_place", "batchnorm_forward", forward_in_place, "changed its input `x` in place"),
    Mutant("BatchNorm_biased_running_var", "BatchNorm", BatchNormBiasedRunningVar,
           "running_var is updated with the biased variance"),
    Mutant("BatchNorm_momentum_wrong_way", "BatchNorm", BatchNormMomentumWrongWay, "the momentum is the wrong way round"),
    Mutant("BatchNorm_eval_with_batch_stats", "BatchNorm", BatchNormEvalWithBatchStats,
           "in eval mode it normalises with the batch's statistics"),
    Mutant("BatchNorm_updates_in_eval", "BatchNorm", BatchNormUpdatesInEval, "changed in eval mode"),
    Mutant("BatchNorm_never_updates", "BatchNorm", BatchNormNeverUpdates, "is not updated in training mode"),
    Mutant("BatchNorm_eval_returns_none", "BatchNorm", BatchNormEvalReturnsNone, "return the module itself"),
    Mutant("BatchNorm_by_torch", "BatchNorm", BatchNormByTorch, "calls `batch_norm`"),
    Mutant("BatchNorm_running_stats_per_position", "BatchNorm", BatchNormRunningStatsPerPosition,
           "Each channel has one statistic, over N, H and W"),
    Mutant("backward_statistics_as_constants", "batchnorm_backward", backward_statistics_as_constants,
           "the mean and the variance are treated as constants"),
    Mutant("backward_summed_over_dim0_only", "batchnorm_backward", backward_summed_over_dim0_only,
           "It is summed over dim 0 only"),
    Mutant("backward_dgamma_of_x", "batchnorm_backward", backward_dgamma_of_x, "not of dy * x"),
    Mutant("backward_by_autograd", "batchnorm_backward", backward_by_autograd, "calls `backward`"),
    Mutant("backward_as_dict", "batchnorm_backward", backward_as_dict, "return the tuple (dx, dgamma, dbeta)"),
    Mutant("stack_bn_after_relu", "stack_stats", stack_bn_after_relu, "the normalisation comes after the ReLU"),
    Mutant("stack_stats_before_relu", "stack_stats", stack_stats_before_relu, "these are the statistics before the ReLU"),
    Mutant("stack_always_normalised", "stack_stats", stack_always_normalised,
           "batchnorm=False must run the plain stack"),
    Mutant("stack_returns_list", "stack_stats", stack_returns_list, "return one (L, 2) tensor"),
    Mutant("stack_per_unit_std", "stack_stats", stack_per_unit_std, "over all of the layer's output entries"),
    Mutant("stack_with_input_row", "stack_stats", stack_with_input_row, "It includes the input's statistics"),
]
