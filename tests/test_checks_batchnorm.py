from __future__ import annotations

import inspect
import math

import pytest
import torch
import torch.nn.functional as F

import autograder.checks.batchnorm as checks
from autograder.grade import grade_loaded, grade_solutions
from autograder.lessons import lesson_for
from autograder.loader import LoadedNotebook
from autograder.results import CheckFailed, NotAttempted, Status
from conftest import assert_fails_only_its_exercise
from mutants_batchnorm import MUTANTS


@pytest.fixture
def batchnorm_lesson():
    return lesson_for("08_batchnorm")


def test_reference_solutions_get_full_marks():
    graded = grade_solutions("08_batchnorm", "cpu")
    assert [(e.name, e.message) for e in graded.exercises if e.status != Status.PASSED] == []
    assert graded.score == graded.max_score == 14


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_fails_exactly_its_exercise_with_its_message(mutant, batchnorm_lesson, tmp_path):
    assert_fails_only_its_exercise(batchnorm_lesson, mutant, tmp_path)


def test_mutant_zoo_covers_every_exercise(batchnorm_lesson):
    assert len(MUTANTS) >= 12
    assert {m.exercise for m in MUTANTS} == {e.name for e in batchnorm_lesson.exercises()}


def test_the_issue_s_mistakes_are_in_the_zoo():
    names = {m.name for m in MUTANTS}
    assert {"BatchNorm_biased_running_var", "BatchNorm_momentum_wrong_way", "forward_eps_outside_sqrt",
            "BatchNorm_eval_with_batch_stats", "forward_over_dim0_only"} <= names


def test_a_wrong_batchnorm_forward_costs_points_only_in_its_own_exercise(batchnorm_lesson, tmp_path):
    # The learner's BatchNorm and stack_stats call their own batchnorm_forward, and it is wrong.
    from mutants_batchnorm import forward_over_dim0_only
    from solutions import batchnorm as ref
    namespace = dict(vars(ref))
    namespace["batchnorm_forward"] = forward_over_dim0_only
    for name in ("BatchNorm", "stack_stats"):
        exec(inspect.getsource(getattr(ref, name)), namespace)  # the learner's code, looking up their helper
    graded = grade_loaded(batchnorm_lesson, LoadedNotebook(tmp_path, namespace), "cpu")
    assert [e.name for e in graded.exercises if e.status != Status.PASSED] == ["batchnorm_forward"]
    assert namespace["batchnorm_forward"] is forward_over_dim0_only  # the learner's helper is back


def test_check_raises_not_attempted_for_a_stub():
    class Stub:
        def __init__(self, num_features, eps=1e-5, momentum=0.1, dtype=torch.float32, device=None):
            raise NotImplementedError("BatchNorm: not attempted yet")
    with pytest.raises(NotAttempted, match="BatchNorm is not attempted"):
        checks.check_BatchNorm(Stub)


def test_check_failure_names_the_seed_that_replays_it():
    from mutants_batchnorm import backward_statistics_as_constants
    with pytest.raises(CheckFailed, match=r"check_batchnorm_backward\(batchnorm_backward, device='cpu', seed=3\)") as first:
        checks.check_batchnorm_backward(backward_statistics_as_constants, seed=3)
    with pytest.raises(CheckFailed) as again:
        checks.check_batchnorm_backward(backward_statistics_as_constants, "cpu", seed=3)
    assert str(first.value) == str(again.value)


def forward_by_sums(x, gamma, beta, eps=1e-5):
    dims = [0] + list(range(2, x.dim()))
    shape = [1, -1] + [1] * (x.dim() - 2)
    n = x.numel() // x.shape[1]
    mean = x.sum(dim=dims, keepdim=True) / n
    var = ((x - mean) ** 2).sum(dim=dims, keepdim=True) / n
    return (x - mean) * torch.rsqrt(var + eps) * gamma.view(shape) + beta.view(shape)


def forward_by_moving_channels_last(x, gamma, beta, eps=1e-5):
    flat = x.transpose(0, 1).reshape(x.shape[1], -1)                # (C, N·H·W)
    mean, var = flat.mean(1, keepdim=True), flat.var(1, unbiased=False, keepdim=True)
    out = ((flat - mean) / (var + eps).sqrt() * gamma[:, None] + beta[:, None])
    return out.reshape(x.shape[1], x.shape[0], *x.shape[2:]).transpose(0, 1)


class BatchNormInPlace:
    def __init__(self, num_features, eps=1e-5, momentum=0.1, dtype=torch.float32, device=None):
        self.eps, self.momentum, self.training = eps, momentum, True
        self.gamma = torch.ones(num_features, dtype=dtype, device=device)
        self.beta = torch.zeros(num_features, dtype=dtype, device=device)
        self.running_mean = torch.zeros(num_features, dtype=dtype, device=device)
        self.running_var = torch.ones(num_features, dtype=dtype, device=device)

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    def __call__(self, x):
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        if self.training:
            mean, var = x.mean(dims), x.var(dims, unbiased=False)
            n = x.numel() // x.shape[1]
            self.running_mean.lerp_(mean.detach(), self.momentum)
            self.running_var.lerp_(var.detach() * n / (n - 1), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean.view(shape)) / (var.view(shape) + self.eps).sqrt() * self.gamma.view(shape) + self.beta.view(shape)


def backward_by_the_chain(dy, x, gamma, eps=1e-5):
    dims = [0] + list(range(2, x.dim()))
    shape = [1, -1] + [1] * (x.dim() - 2)
    n = x.numel() // x.shape[1]
    mu = x.mean(dims, keepdim=True)
    xc = x - mu
    var = (xc ** 2).mean(dims, keepdim=True)
    std = (var + eps).sqrt()
    x_hat = xc / std
    dx_hat = dy * gamma.view(shape)
    dvar = (dx_hat * xc * -0.5 * std ** -3).sum(dims, keepdim=True)
    dmu = (-dx_hat / std).sum(dims, keepdim=True) + dvar * (-2 * xc).mean(dims, keepdim=True)
    dx = dx_hat / std + dvar * 2 * xc / n + dmu / n
    return dx, (dy * x_hat).sum(dims), dy.sum(dims)


def stack_with_own_normalisation(x, weights, batchnorm, eps=1e-5):
    rows, h = [], x
    for w in weights:
        h = torch.einsum("nd,dh->nh", h, w)
        if batchnorm:
            h = (h - h.mean(0)) / (h.var(0, unbiased=False) + eps).sqrt()
        h = torch.where(h > 0, h, torch.zeros_like(h))
        rows.append([h.mean(), h.std(unbiased=False)])
    return torch.tensor([[float(m), float(s)] for m, s in rows], dtype=x.dtype, device=x.device)


@pytest.mark.parametrize("check, answer", [
    (checks.check_batchnorm_forward, forward_by_sums),
    (checks.check_batchnorm_forward, forward_by_moving_channels_last),
    (checks.check_BatchNorm, BatchNormInPlace),
    (checks.check_batchnorm_backward, backward_by_the_chain),
    (checks.check_stack_stats, stack_with_own_normalisation),
], ids=lambda v: getattr(v, "__name__", ""))
def test_other_correct_answers_pass(check, answer):
    check(answer, seed=11)


def test_the_truth_of_the_stacks_lies_in_its_bands():
    # Without batch norm the Xavier stack vanishes and the 1.5 x Kaiming one explodes; with it, both are stable.
    gen = torch.Generator().manual_seed(0)
    stacks = list(checks._stacks(gen, torch.device("cpu")))
    for (x, weights, _), trend in zip(stacks[:2], ("vanishing", "exploding")):
        plain, normed = checks._stack_truth(x, weights, False), checks._stack_truth(x, weights, True)
        ratio = float(plain[-1, 1] / plain[0, 1])
        assert ratio < 1e-5 if trend == "vanishing" else ratio > 1e5
        (lo_m, hi_m), (lo_s, hi_s) = checks.BN_MEAN_BAND, checks.BN_STD_BAND
        assert ((normed[:, 0] > lo_m) & (normed[:, 0] < hi_m)).all() and ((normed[:, 1] > lo_s) & (normed[:, 1] < hi_s)).all()
        assert abs(float(normed[0, 0]) - 1 / math.sqrt(2 * math.pi)) < 0.02


def test_the_truth_of_the_module_is_torch_s_update_rule():
    # The running statistics of nn.BatchNorm1d: momentum 0.1 on the new batch, the unbiased variance.
    x = torch.randn(10, 3, dtype=torch.float64)
    bn = checks._torch_bn(3, 2, 1e-5, torch.device("cpu"))
    bn(x)
    assert torch.allclose(bn.running_mean, 0.1 * x.mean(0))
    assert torch.allclose(bn.running_var, 0.9 + 0.1 * x.var(0, unbiased=True))
    assert torch.allclose(F.batch_norm(x, None, None, training=True), (x - x.mean(0)) / (x.var(0, unbiased=False) + 1e-5).sqrt())
