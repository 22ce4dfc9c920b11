"""Realistic wrong answers to lesson 02_init, each with the exercise it must fail and the message it must get."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mutants_matmul import Mutant


def normalize_precedence(x, mean, std):
    return x - mean / std


def normalize_in_place(x, mean, std):
    return x.sub_(mean).div_(std)


def stats_activation_first(x, weights, activation):
    out = []
    for w in weights:
        x = activation(x) @ w
        out.append((x.mean().item(), x.std().item()))
    return out


def stats_std_per_column(x, weights, activation):
    out = []
    for w in weights:
        x = activation(x @ w)
        out.append((x.mean().item(), x.std(0).mean().item()))
    return out


def stats_as_tensors(x, weights, activation):
    out = []
    for w in weights:
        x = activation(x @ w)
        out.append((x.mean(), x.std()))
    return out


def stats_with_input(x, weights, activation):
    out = [(x.mean().item(), x.std().item())]
    for w in weights:
        x = activation(x @ w)
        out.append((x.mean().item(), x.std().item()))
    return out


def stats_before_activation(x, weights, activation):
    out = []
    for w in weights:
        z = x @ w
        out.append((z.mean().item(), z.std().item()))
        x = activation(z)
    return out


def xavier_uniform_heuristic(fan_in, fan_out):
    bound = 1 / math.sqrt(fan_in)
    return torch.empty(fan_in, fan_out).uniform_(-bound, bound)


def xavier_uniform_but_normal(fan_in, fan_out):
    return torch.randn(fan_in, fan_out) * math.sqrt(2 / (fan_in + fan_out))


def xavier_normal_variance(fan_in, fan_out):
    return torch.randn(fan_in, fan_out) * (2 / (fan_in + fan_out))


def xavier_normal_but_uniform(fan_in, fan_out):
    bound = math.sqrt(6 / (fan_in + fan_out))
    return torch.empty(fan_in, fan_out).uniform_(-bound, bound)


def kaiming_fan_out(fan_in, fan_out, a=0.0):
    return torch.randn(fan_in, fan_out) * math.sqrt(2 / ((1 + a**2) * fan_out))


def kaiming_gain_two(fan_in, fan_out, a=0.0):
    return torch.randn(fan_in, fan_out) * 2 / math.sqrt((1 + a**2) * fan_in)


def kaiming_variance(fan_in, fan_out, a=0.0):
    return torch.randn(fan_in, fan_out) * 2 / ((1 + a**2) * fan_in)


def kaiming_ignores_leak(fan_in, fan_out, a=0.0):
    return torch.randn(fan_in, fan_out) * math.sqrt(2 / fan_in)


def kaiming_pytorch_layout(fan_in, fan_out, a=0.0):
    return torch.randn(fan_out, fan_in) * math.sqrt(2 / ((1 + a**2) * fan_in))


def gain_without_sqrt(a):
    return 2 / (1 + a**2)


def gain_unsquared(a):
    return math.sqrt(2 / (1 + a))


def leaky_relu_torch(x, a):
    return F.leaky_relu(x, a)


def leaky_relu_in_place(x, a):
    x[x < 0] *= a
    return x


def leaky_relu_is_relu(x, a):
    return x.clamp_min(0)


def shifted_before(x, shift=0.5, leak=0.0):
    x = x - shift
    return torch.where(x >= 0, x, leak * x)


def shifted_added(x, shift=0.5, leak=0.0):
    return torch.where(x >= 0, x, leak * x) + shift


def shifted_no_leak(x, shift=0.5, leak=0.0):
    return x.clamp_min(0) - shift


MUTANTS = (
    Mutant("mean / std before subtracting", "normalize", normalize_precedence, "x - mean / std"),
    Mutant("normalize in place", "normalize", normalize_in_place, "changed its input `x` in place"),
    Mutant("ReLU applied before the linear layer", "activation_stats", stats_activation_first, "before the linear layer"),
    Mutant("std over the wrong axis", "activation_stats", stats_std_per_column, "over all elements"),
    Mutant("0-d tensors for floats", "activation_stats", stats_as_tensors, "must be Python floats"),
    Mutant("input statistics included", "activation_stats", stats_with_input, "one pair more"),
    Mutant("statistics before the activation", "activation_stats", stats_before_activation, "before the activation"),
    Mutant("1/sqrt(fan_in) heuristic", "xavier_uniform", xavier_uniform_heuristic, "the heuristic"),
    Mutant("normal where uniform is asked", "xavier_uniform", xavier_uniform_but_normal, "uniform_(-bound, bound)"),
    Mutant("variance instead of std", "xavier_normal", xavier_normal_variance, "the variance"),
    Mutant("uniform where normal is asked", "xavier_normal", xavier_normal_but_uniform, "torch.randn"),
    Mutant("swapped fans", "kaiming_normal", kaiming_fan_out, "did you use fan_out?"),
    Mutant("gain 2 instead of sqrt 2", "kaiming_normal", kaiming_gain_two, "gain of 2 instead of √2"),
    Mutant("missing square root", "kaiming_normal", kaiming_variance, "take its square root"),
    Mutant("leak ignored", "kaiming_normal", kaiming_ignores_leak, "the leak a is ignored"),
    Mutant("nn.Linear's (out, in) layout", "kaiming_normal", kaiming_pytorch_layout, "(fan_in, fan_out)"),
    Mutant("gain without its square root", "gain", gain_without_sqrt, "the gain is its square root"),
    Mutant("gain with a instead of a squared", "gain", gain_unsquared, "square the slope"),
    Mutant("F.leaky_relu called", "leaky_relu", leaky_relu_torch, "calls torch's own torch.nn.functional.leaky_relu"),
    Mutant("leaky_relu in place", "leaky_relu", leaky_relu_in_place, "changed its input `x` in place"),
    Mutant("leak ignored in leaky_relu", "leaky_relu", leaky_relu_is_relu, "not set to 0"),
    Mutant("shift before the ReLU", "shifted_relu", shifted_before, "applied before the ReLU"),
    Mutant("shift added", "shifted_relu", shifted_added, "the shift is added"),
    Mutant("leak ignored in shifted_relu", "shifted_relu", shifted_no_leak, "the leak is ignored"),
)
