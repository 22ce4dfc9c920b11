"""Realistic wrong answers to lesson 03_forward, each with the exercise it must fail and the message it must get."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mutants_matmul import Mutant


def lin_bias_twice(x, w, b):
    return x @ w + b + b


def relu_clamps_at_one(x):
    return x.clamp(0.0, 1.0)


def relu_torch(x):
    return F.relu(x)


class LinearTorchLayout:
    def __init__(self, in_features, out_features):
        self.in_features, self.out_features = in_features, out_features
        self.weight = torch.randn(out_features, in_features) * math.sqrt(2 / in_features)
        self.bias = torch.zeros(out_features)

    def __call__(self, x):
        return x @ self.weight.T + self.bias

    forward = __call__


class LinearNoRepr:
    def __init__(self, in_features, out_features):
        self.weight = torch.randn(in_features, out_features) * math.sqrt(2 / in_features)
        self.bias = torch.zeros(out_features)

    def forward(self, x):
        return x @ self.weight + self.bias

    def __call__(self, x):
        return self.forward(x)


def mse_broadcasts(pred, target):
    return ((pred - target) ** 2).mean()


def mse_sum(pred, target):
    if pred.numel() != target.numel():
        raise ValueError("sizes differ")
    return ((pred.reshape(-1) - target.reshape(-1)) ** 2).sum()


def logsumexp_global_max(x):
    m = x.max()
    return m + (x - m).exp().sum(-1).log()


def log_softmax_over_batch(x):
    m = x.max(dim=0, keepdim=True).values
    return x - (m + (x - m).exp().sum(0, keepdim=True).log())


def nll_sum(log_probs, target):
    return -log_probs[torch.arange(target.shape[0]), target].sum()


def nll_off_by_one(log_probs, target):
    return -log_probs[torch.arange(target.shape[0]), (target + 1) % log_probs.shape[1]].mean()


def cross_entropy_naive(logits, target):
    probs = logits.exp() / logits.exp().sum(-1, keepdim=True)
    return -probs.log()[torch.arange(target.shape[0]), target].mean()


def accuracy_float64(logits, target):
    return (logits.argmax(dim=-1) == target).double().mean()


def accuracy_floor_division(logits, target):
    return (logits.argmax(dim=-1) == target).sum() // len(target)


class LinearCopiesItsParameters:
    def __init__(self, n_in, n_out):
        self.weight = torch.randn(n_in, n_out) * math.sqrt(2 / n_in)
        self.bias = torch.zeros(n_out)
        self.w, self.b = self.weight.clone(), self.bias.clone()  # "working copies"

    def forward(self, x):
        return x @ self.w + self.b

    def __call__(self, x):
        return self.forward(x)

    def __repr__(self):
        return f"Linear({self.weight.shape[0]}, {self.weight.shape[1]})"


def accuracy_count(logits, target):
    return (logits.argmax(dim=-1) == target).float().sum()


class FeedForwardFinalReLU:
    def __init__(self, sizes):
        from solutions.forward import Linear, ReLU
        self.layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            self.layers += [Linear(n_in, n_out), ReLU()]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


MUTANTS = (
    Mutant("bias added twice", "lin", lin_bias_twice, "the bias is added twice"),
    Mutant("ReLU that clamps at 1", "relu", relu_clamps_at_one, "no upper bound"),
    Mutant("F.relu called", "relu", relu_torch, "calls torch.nn.functional.relu"),
    Mutant("nn.Linear's (out, in) weight", "Linear", LinearTorchLayout, "nn.Linear's layout"),
    Mutant("Linear without __repr__", "Linear", LinearNoRepr, "make __repr__ readable"),
    Mutant("MSE broadcast to N×N", "mse", mse_broadcasts, "broadcast to an"),
    Mutant("MSE summed", "mse", mse_sum, "sums instead of averaging"),
    Mutant("global max in logsumexp", "logsumexp", logsumexp_global_max, "one global max"),
    Mutant("softmax over the batch axis", "log_softmax", log_softmax_over_batch, "normalises over the batch"),
    Mutant("nll summed", "nll", nll_sum, "sums over the batch"),
    Mutant("off-by-one nll indexing", "nll", nll_off_by_one, "the class after the target"),
    Mutant("naive softmax cross entropy", "cross_entropy", cross_entropy_naive, "numerically stable"),
    Mutant("accuracy counts hits", "accuracy", accuracy_count, "counts the hits"),
    Mutant("accuracy in float64", "accuracy", accuracy_float64, "the contract is a 0-d float32 tensor"),
    Mutant("accuracy by floor division", "accuracy", accuracy_floor_division, "floor division"),
    Mutant("Linear forward reads copies made in __init__", "Linear", LinearCopiesItsParameters, "a copy of the bias made in __init__ (self.b)"),
    Mutant("ReLU after the output layer", "FeedForward", FeedForwardFinalReLU, "no ReLU after the last Linear"),
)
