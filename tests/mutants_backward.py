"""Realistic wrong answers to lesson 04_backward, each with the exercise it must fail and the message it must get."""
from __future__ import annotations

import torch

from mutants_matmul import Mutant
from solutions import backward as ref


def mse_grad_without_2_over_n(pred, target):
    pred.g = pred - target.reshape(pred.shape)


def mse_grad_returns_it(pred, target):
    ref.mse_grad(pred, target)
    return pred.g


def mse_grad_broadcast(pred, target):
    pred.g = 2.0 * (pred - target) / pred.shape[0]


def relu_grad_without_mask(inp, out):
    inp.g = out.g.clone()


def relu_grad_at_zero(inp, out):
    inp.g = (inp >= 0).to(inp.dtype) * out.g


def relu_grad_by_autograd(inp, out):
    leaf = inp.detach().clone().requires_grad_()
    leaf.clamp_min(0).backward(out.g)
    inp.g = leaf.grad


def lin_grad_bias_not_summed(inp, out, w, b):
    inp.g, w.g, b.g = out.g @ w.T, inp.T @ out.g, out.g.clone()


def lin_grad_transposed_weight(inp, out, w, b):
    inp.g, w.g, b.g = out.g @ w.T, out.g.T @ inp, out.g.sum(0)


def lin_grad_in_place(inp, out, w, b):
    inp.g, w.g, b.g = out.g @ w.T, inp.T @ out.g, out.g.sum(0)
    inp.zero_()  # "free memory" by clearing the activations once their gradient is known


class LayerKeepsOnlyFirstArg(ref.Layer):
    def __call__(self, *args):
        self.args = args[0]
        self.out = self.forward(*args)
        return self.out


class LinearBackwardForgetsInput(ref.Layer):
    def __init__(self, w, b):
        self.w, self.b = w, b

    def forward(self, inp):
        return inp @ self.w + self.b

    def backward(self):
        inp, = self.args
        self.w.g = inp.T @ self.out.g
        self.b.g = self.out.g.sum(0)


class ReLUWithoutMask(ref.ReLU):
    def backward(self):
        self.args[0].g = self.out.g


class MSEWithoutMean(ref.MSE):
    def backward(self):
        pred, target = self.args
        pred.g = 2.0 * (pred - target.reshape(pred.shape))


class CrossEntropyNoOneHot(ref.CrossEntropy):
    def backward(self):
        logits, _ = self.args
        logits.g = logits.softmax(-1) / logits.shape[0]


class ModelForwardOrderBackward(ref.Model):
    def backward(self):
        self.loss_layer.backward()
        for layer in self.layers:
            layer.backward()


def relative_error_absolute(a, b):
    return float((a - b).norm())


def relative_error_nan_for_zeros(a, b):
    return float((a - b).norm() / (a.norm() + b.norm()))


def gradient_check_one_sided(f, x, eps=1e-6):
    grad, flat = torch.zeros_like(x), x.detach().clone().reshape(-1)
    base = float(f(flat.reshape(x.shape)))
    for i in range(flat.numel()):
        old = flat[i].item()
        flat[i] = old + eps
        grad.view(-1)[i] = (float(f(flat.reshape(x.shape))) - base) / eps
        flat[i] = old
    return grad


def gradient_check_by_autograd(f, x, eps=1e-6):
    leaf = x.detach().clone().requires_grad_()
    return torch.autograd.grad(f(leaf), leaf)[0]


def gradient_check_mutates_x(f, x, eps=1e-6):
    grad, flat = torch.zeros_like(x), x.view(-1)
    for i in range(flat.numel()):
        flat[i] += eps
        plus = float(f(x))
        flat[i] -= 2 * eps
        minus = float(f(x))
        grad.view(-1)[i] = (plus - minus) / (2 * eps)
    return grad  # x is left eps below where it was: the last step is never undone


class ReLUPassesAtZero(ref.ReLU):
    def backward(self):
        inp, = self.args
        inp.g = (inp >= 0).to(inp.dtype) * self.out.g


def relative_error_tensor(a, b):
    return (a - b).norm() / (a.norm() + b.norm()).clamp_min(1e-300)


MUTANTS = (
    Mutant("MSE gradient without 2/N", "mse_grad", mse_grad_without_2_over_n, "the 2/N is missing"),
    Mutant("MSE gradient returned", "mse_grad", mse_grad_returns_it, "sets pred.g and returns None"),
    Mutant("MSE gradient broadcast to N×N", "mse_grad", mse_grad_broadcast, "broadcasts to (N, N)"),
    Mutant("ReLU gradient ignores the mask", "relu_grad", relu_grad_without_mask, "ignores ReLU's mask"),
    Mutant("ReLU gradient passes at 0", "relu_grad", relu_grad_at_zero, "the mask is inp >= 0"),
    Mutant("ReLU gradient from autograd", "relu_grad", relu_grad_by_autograd, "without autograd"),
    Mutant("bias gradient not summed over the batch", "lin_grad", lin_grad_bias_not_summed, "forget to sum over the batch"),
    Mutant("transposed weight gradient", "lin_grad", lin_grad_transposed_weight, "it is transposed"),
    Mutant("lin_grad clears its input", "lin_grad", lin_grad_in_place, "changed its input `inp` in place"),
    Mutant("Layer stores only the first argument", "Layer", LayerKeepsOnlyFirstArg, "as the tuple they arrive in"),
    Mutant("Linear backward without inp.g", "Linear", LinearBackwardForgetsInput, "did not set inp.g"),
    Mutant("ReLU layer without its mask", "ReLU", ReLUWithoutMask, "ignores ReLU's mask"),
    Mutant("ReLU layer passes the gradient at 0", "ReLU", ReLUPassesAtZero, "the mask is inp >= 0"),
    Mutant("MSE layer without the mean's 1/N", "MSE", MSEWithoutMean, "the 1/N of the mean is missing"),
    Mutant("cross-entropy gradient without the one-hot", "CrossEntropy", CrossEntropyNoOneHot, "the one-hot term is missing"),
    Mutant("Model backward in forward order", "Model", ModelForwardOrderBackward, "read a .g that was not set"),
    Mutant("absolute instead of relative error", "relative_error", relative_error_absolute, "the absolute error"),
    Mutant("relative error as a tensor", "relative_error", relative_error_tensor, "return a Python float"),
    Mutant("relative error nan for zero gradients", "relative_error", relative_error_nan_for_zeros, "returned nan"),
    Mutant("one-sided finite differences", "gradient_check", gradient_check_one_sided, "one-sided difference"),
    Mutant("gradient check by autograd", "gradient_check", gradient_check_by_autograd, "without autograd"),
    Mutant("gradient check moves x", "gradient_check", gradient_check_mutates_x, "changed its input `x` in place"),
)
