"""Hidden checks of lesson 08_batchnorm: the forward pass against F.batch_norm, the module against
nn.BatchNorm1d/2d over several steps in train and eval mode, the backward pass against autograd, and
per-layer activation statistics through deep stacks against the reference's."""
from __future__ import annotations

import functools
import math
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F

from autograder.checks import reference_helpers
from autograder.compare import expect_close, expect_tensor, is_close
from autograder.data import load_mnist
from autograder.exercise import Exercise, check, randn
from autograder.policy import AUTOGRAD_FAMILY, NUMPY_ESCAPES, run_under_policy
from autograder.results import CheckFailed

# torch's normalisation functions as the function mode names them (nn.BatchNorm and F.batch_norm
# arrive as batch_norm; the others would normalise just as well over the right axes).
NORM_FAMILY = frozenset({
    "batch_norm", "native_batch_norm", "_native_batch_norm_legit", "_batch_norm_impl_index", "batch_norm_stats",
    "instance_norm", "layer_norm", "native_layer_norm", "group_norm", "native_group_norm", "rms_norm",
})
F64, F32 = torch.float64, torch.float32
# (shape, dtype, eps): features and channels, one image of several positions, a float32 batch of a
# hidden layer's size, and an eps larger than the default (a hard-coded 1e-5 shows there).
FORWARD_CASES = (((8, 5), F64, 1e-5), ((4, 3, 5, 6), F64, 1e-5), ((1, 4, 3, 3), F64, 1e-5), ((2, 3, 1, 4), F64, 1e-3),
                 ((256, 100), F32, 1e-5), ((16, 8, 6, 6), F32, 1e-5), ((5, 6), F64, 1e-3))
# (shape, dtype): nn.BatchNorm1d for 2-d, nn.BatchNorm2d for 4-d; every case has more than one
# value per channel (torch refuses a single one in training mode: its unbiased variance is 0/0).
MODULE_CASES = (((8, 5), F64), ((4, 3, 5, 6), F64), ((1, 4, 3, 3), F64), ((64, 100), F32), ((8, 6, 4, 4), F32))
TRAIN_STEPS, EVAL_STEPS = 4, 2
BACKWARD_CASES = (((8, 5), F64), ((4, 3, 5, 6), F64), ((2, 2, 1, 3), F64), ((256, 100), F32), ((16, 8, 6, 6), F32))
# Deep stacks (see README, "Statistical margins"): the learner's per-layer statistics against the
# reference's on the same weights, to a relative STATS_RTOL in both dtypes. The unbiased and the
# biased std of a layer's entries (1,280 in the smallest stack) differ by at most 3.9e-4 relative,
# and both are right; float32 rounding through 50 layers moved the reference's statistics by at
# most 7.6e-5 relative over 200 seeds; the mistakes of the zoo are off by far more. The bands the truth lies in name them.
STATS_RTOL = {F64: 1e-3, F32: 1e-3}
STACK_DEPTH, STACK_WIDTH, STACK_BATCH = 50, 100, 256
BN_MEAN_BAND, BN_STD_BAND = (0.2, 0.5), (0.5, 0.75)


@contextmanager
def _one_thread() -> Iterator[None]:
    """One intra-op thread: these small products gain nothing from two, and two threads ran the deep
    stacks about a hundred times slower while other processes kept the 2 cores busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _on_one_thread(body: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(body)
    def run(*args: Any) -> None:
        with _one_thread():
            body(*args)
    return run


# What a non-finite result where the truth is finite usually means in this lesson.
NONFINITE_HINT = "is eps inside the square root?"


def _axes(x: torch.Tensor) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The statistics' dims (all but dim 1) and the shape that broadcasts a (C,) vector along dim 1."""
    return (0,) + tuple(range(2, x.dim())), (1, -1) + (1,) * (x.dim() - 2)


def _normalise(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float, dims: tuple[int, ...] | None = None,
               correction: int = 0, eps_outside: bool = False) -> torch.Tensor:
    """Batch norm over `dims` (right or with a classic mistake, for the hints), in float64."""
    x, gamma, beta = x.double(), gamma.double(), beta.double()
    own, shape = _axes(x)
    dims = own if dims is None else dims
    mean, var = x.mean(dim=dims, keepdim=True), x.var(dim=dims, correction=correction, keepdim=True)
    std = var.sqrt() + eps if eps_outside else (var + eps).sqrt()
    return gamma.reshape(shape) * (x - mean) / std + beta.reshape(shape)


def _batch(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device, gen: torch.Generator,
           tiny: bool = True) -> torch.Tensor:
    """Inputs with a different mean and scale per channel; channel 0 nearly constant (variance
    about 1e-6, below eps), where sqrt(var) + eps and sqrt(var + eps) differ by a factor of three."""
    c = shape[1]
    per_channel = (1, c) + (1,) * (len(shape) - 2)
    shift = randn(*per_channel, gen=gen, dtype=F64, device=device) * 2
    scale = torch.rand(per_channel, generator=gen, dtype=F64).to(device) * 2.5 + 0.5
    if tiny:
        scale[:, 0] = 1e-3
    return (randn(*shape, gen=gen, dtype=F64, device=device) * scale + shift).to(dtype)


def _scale(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float) -> float:
    """The magnitude batch norm's rounding error scales with: x's size relative to its channel's
    std (x - mean cancels), times gamma, plus beta."""
    dims, shape = _axes(x)
    xd = x.double()
    std = (xd.var(dim=dims, correction=0, keepdim=True) + eps).sqrt()
    ratio = (xd.abs().amax(dim=dims, keepdim=True) + xd.mean(dim=dims, keepdim=True).abs()) / std
    return 4 * float((gamma.double().abs().reshape(shape) * ratio).max()) + float(beta.abs().max())


def _forward_hints(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float) -> tuple[tuple[torch.Tensor, str], ...]:
    hints = [(_normalise(x, gamma, beta, eps, eps_outside=True),
              "eps is added outside the square root: divide by sqrt(var + eps), not sqrt(var) + eps (they differ "
              "most for a channel whose variance is below eps, as channel 0 here)."),
             (_normalise(x, gamma, beta, eps, correction=1),
              "it normalises with the unbiased variance (divided by n - 1); the batch is normalised with the biased "
              "one, divided by n: x.var(dim, correction=0)."),
             (_normalise(x, beta, gamma, eps), "gamma and beta are swapped: y = gamma * x_hat + beta."),
             (_normalise(x, torch.ones_like(gamma), torch.zeros_like(beta), eps),
              "gamma and beta are not applied: y = gamma * x_hat + beta, each reshaped to broadcast along dim 1."),
             (_normalise(x, gamma, beta, 1e-5), "it ignores the eps argument (a hard-coded 1e-5?).")]
    if x.dim() == 4:
        for dims, what in (((0,), "over dim 0 only, so each pixel position gets its own statistics"),
                           ((2, 3), "over each image's own positions (dims 2, 3: that is instance norm)"),
                           ((1, 2, 3), "over each example's channels and positions (that is layer norm)"),
                           ((0, 1, 2, 3), "over the whole batch at once")):
            hints.append((_normalise(x, gamma, beta, eps, dims=dims),
                          f"the statistics are over the wrong axes: {what}. For (N, C, H, W) each channel's mean and "
                          "variance are over N, H and W: dims (0, 2, 3)."))
    else:
        hints.append((_normalise(x, gamma, beta, eps, dims=(1,)),
                      "it normalises each example over its features (that is layer norm); batch norm normalises each "
                      "feature over the batch: dim 0."))
    return tuple(hints)


@check("batchnorm_forward")
@_on_one_thread
def check_batchnorm_forward(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Against F.batch_norm in training mode (float64, cast): 2-d and 4-d, one image, a channel of
    variance below eps, eps=1e-3, float32 and float64; inputs unchanged; no torch normalisation."""
    for shape, dtype, eps in FORWARD_CASES:
        x = _batch(shape, dtype, device, gen)
        gamma = randn(shape[1], gen=gen, dtype=dtype, device=device)
        beta = randn(shape[1], gen=gen, dtype=dtype, device=device)
        call = f"batchnorm_forward(x: {shape} {str(dtype).replace('torch.', '')}, gamma, beta, eps={eps:g})"
        out = run_under_policy(call, lambda: fn(x, gamma, beta, eps), NORM_FAMILY | NUMPY_ESCAPES,
                   "compute the mean and variance yourself (x.mean, x.var with correction=0).", x=x, gamma=gamma, beta=beta)
        expected = F.batch_norm(x.double(), None, None, gamma.double(), beta.double(), training=True, eps=eps).to(dtype)
        shape_hints = {tuple(shape[1:]): "It reduced the batch away: return one normalised value per input, x's shape.",
                       (shape[1],): "It returns the per-channel statistics; return the normalised x, of x's shape."}
        expect_close(out, expected, "batchnorm_forward", call, scale=_scale(x, gamma, beta, eps),
                     hints=_forward_hints(x, gamma, beta, eps), shape_hint=shape_hints, nonfinite_hint=NONFINITE_HINT)


def _torch_bn(c: int, dims: int, eps: float, device: torch.device) -> torch.nn.Module:
    """nn.BatchNorm1d/2d in float64, built without touching the global random state."""
    with torch.random.fork_rng(devices=[]):
        module = (torch.nn.BatchNorm1d if dims == 2 else torch.nn.BatchNorm2d)(c, eps=eps, momentum=0.1)
    return module.to(device=device, dtype=F64)


def _state(bn: Any, name: str, call: str, c: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    value = getattr(bn, name, None)
    if not isinstance(value, torch.Tensor):
        raise CheckFailed(f"{call}: the module has no tensor `{name}`; keep gamma, beta, running_mean and running_var "
                          "as (C,) tensors under these names.")
    if tuple(value.shape) != (c,):
        hint = (" Each channel has one statistic, over N, H and W: dims (0, 2, 3)." if value.dim() > 1 else "")
        raise CheckFailed(f"{call}: {name} has shape {tuple(value.shape)}; expected ({c},).{hint}")
    expect_tensor(value, name=name, dtype=dtype, device=device, shape=(c,), call=f"{call}: {name}")
    return value


def _mode(bn: Any, method: str, call: str) -> None:
    """bn.train() / bn.eval(): returns the module and sets `training`."""
    out = getattr(bn, method)()
    if out is not bn:
        raise CheckFailed(f"{call}: {method}() returned {type(out).__name__}; return the module itself (return self), "
                          "as nn.Module does, so that `bn.eval()(x)` works.")
    if getattr(bn, "training", None) is not (method == "train"):
        raise CheckFailed(f"{call}: after {method}(), bn.training must be {method == 'train'}.")


def _expect_running(bn: Any, theirs: torch.nn.Module, call: str, c: int, dtype: torch.dtype, device: torch.device,
                    before: tuple[torch.Tensor, torch.Tensor], batch: torch.Tensor | None) -> None:
    """running_mean and running_var against torch's, with the classic mistakes as hints."""
    mean, var = (_state(bn, n, call, c, dtype, device) for n in ("running_mean", "running_var"))
    old_mean, old_var = before
    # In eval mode the truth is the running statistics from before the step (torch leaves them alone).
    for name, ours, truth in (("running_mean", mean, theirs.running_mean), ("running_var", var, theirs.running_var)):
        hints: list[tuple[torch.Tensor, str]] = []
        if batch is None:
            if not is_close(ours, truth.detach().to(dtype), 4 * float(truth.abs().max()) + 1):
                raise CheckFailed(f"{call}: {name} changed in eval mode, which must leave the running statistics "
                                  "alone: update them only when self.training is True.")
        else:
            dims, _ = _axes(batch)
            bd = batch.double()
            new_mean, new_var = bd.mean(dim=dims), bd.var(dim=dims, correction=1)
            old, new = (old_mean, new_mean) if name == "running_mean" else (old_var, new_var)
            hints += [(old, f"{name} is not updated in training mode: after every batch, {name} = (1 - momentum) * "
                            f"{name} + momentum * the batch's statistic."),
                      (0.9 * new + 0.1 * old, "the momentum is the wrong way round: it is the weight of the new batch, "
                       f"{name} = (1 - momentum) * {name} + momentum * batch (0.9 old, 0.1 new), not 0.1 old and 0.9 new."),
                      (new, f"{name} is replaced by the batch's statistic: average it, (1 - momentum) * {name} + "
                       "momentum * batch.")]
            if name == "running_var":
                hints.append((0.9 * old + 0.1 * bd.var(dim=dims, correction=0),
                              "running_var is updated with the biased variance (divided by n); torch's running "
                              "variance is the unbiased one, divided by n - 1 (x.var(dims, correction=1)), while the "
                              "batch itself is normalised with the biased one."))
        expect_close(ours, truth.detach().to(dtype), name, f"{call}: {name}", scale=4 * float(truth.abs().max()) + 1,
                     hints=tuple((h.to(dtype), msg) for h, msg in hints), nonfinite_hint=NONFINITE_HINT)


@check("BatchNorm")
@_on_one_thread
def check_BatchNorm(cls: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Against nn.BatchNorm1d/2d with the same gamma and beta: TRAIN_STEPS training steps (output,
    running mean and variance after each), EVAL_STEPS in eval mode (running statistics used and left
    alone), then back to train(); float32 and float64; no torch normalisation. Graded with the
    reference batchnorm_forward, should it call it."""
    if not isinstance(cls, type):
        raise CheckFailed(f"BatchNorm should be a class, but it is a {type(cls).__name__}.")
    with reference_helpers(cls, "batchnorm", "batchnorm_forward"):
        for shape, dtype in MODULE_CASES:
            c, eps = shape[1], 1e-5
            call = f"BatchNorm({c}, dtype={str(dtype).replace('torch.', '')}) on x: {shape}"
            bn = cls(c, eps=eps, momentum=0.1, dtype=dtype, device=device)
            theirs = _torch_bn(c, len(shape), eps, device)
            if getattr(bn, "training", None) is not True:
                raise CheckFailed(f"{call}: a new module is in training mode: bn.training must be True.")
            for name, start in (("gamma", 1.0), ("beta", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
                value = _state(bn, name, call, c, dtype, device)
                if not bool((value == start).all()):
                    raise CheckFailed(f"{call}: a new module's {name} must be all {start:g}s, as torch's.")
            gamma = randn(c, gen=gen, dtype=dtype, device=device)
            beta = randn(c, gen=gen, dtype=dtype, device=device)
            bn.gamma, bn.beta = gamma.clone(), beta.clone()
            with torch.no_grad():
                theirs.weight.copy_(gamma)
                theirs.bias.copy_(beta)
            plan = ["train"] * TRAIN_STEPS + ["eval"] * EVAL_STEPS + ["train"]
            for step, mode in enumerate(plan):
                if step == 0 or mode != plan[step - 1]:
                    _mode(bn, mode, call)
                    getattr(theirs, mode)()
                x = _batch(shape, dtype, device, gen, tiny=False)
                before = (bn.running_mean.detach().double().clone(), bn.running_var.detach().double().clone())
                where = f"{call}, step {step + 1} ({mode} mode)"
                out = run_under_policy(where, lambda: bn(x), NORM_FAMILY | NUMPY_ESCAPES,
                           "normalise with your own arithmetic (or your batchnorm_forward).", x=x)
                if mode == "eval":  # first: a module that updates its statistics in eval mode also normalises with them
                    _expect_running(bn, theirs, where, c, dtype, device, before, None)
                with torch.no_grad():
                    expected = theirs(x.double()).to(dtype)
                if mode == "eval":
                    rm, rv = (theirs.running_mean, theirs.running_var)
                    _, bshape = _axes(x)
                    hints = ((_normalise(x, gamma, beta, eps), "in eval mode it normalises with the batch's statistics; "
                              "use the running ones: (x - running_mean) / sqrt(running_var + eps), then gamma and beta."),
                             ((x.double() - rm.reshape(bshape)) / (rv.reshape(bshape).sqrt() + eps) * gamma.double().reshape(bshape)
                              + beta.double().reshape(bshape), "eps is added outside the square root: sqrt(running_var + eps)."),
                             ((x.double() - rm.reshape(bshape)) / (rv.reshape(bshape) + eps).sqrt(),
                              "gamma and beta are not applied in eval mode."))
                else:
                    hints = ((_normalise(x, gamma, beta, eps, correction=1), "it normalises the batch with the unbiased "
                              "variance; the batch is normalised with the biased one (correction=0), only the running "
                              "variance is unbiased."),)
                expect_close(out, expected, "BatchNorm", f"{where}: the output", scale=_scale(x, gamma, beta, eps),
                             hints=hints, nonfinite_hint=NONFINITE_HINT)
                if mode == "train":
                    _expect_running(bn, theirs, where, c, dtype, device, before, x)


def _backward_truth(dy: torch.Tensor, x: torch.Tensor, gamma: torch.Tensor, eps: float) -> dict[str, torch.Tensor]:
    """Autograd of F.batch_norm (training mode) in float64, cast back."""
    leaves = {k: t.detach().double().requires_grad_() for k, t in (("x", x), ("gamma", gamma))}
    beta = torch.zeros_like(leaves["gamma"], requires_grad=True)
    with torch.enable_grad():
        F.batch_norm(leaves["x"], None, None, leaves["gamma"], beta, training=True, eps=eps).backward(dy.double())
    return {"dx": leaves["x"].grad.to(x.dtype), "dgamma": leaves["gamma"].grad.to(x.dtype), "dbeta": beta.grad.to(x.dtype)}


@check("batchnorm_backward")
@_on_one_thread
def check_batchnorm_backward(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """dx, dgamma, dbeta against autograd of F.batch_norm in float64 (to 1e-10) and float32, 2-d and
    4-d, a channel of variance below eps; inputs unchanged; no autograd, no torch normalisation."""
    for shape, dtype in BACKWARD_CASES:
        eps = 1e-5
        # In float32 a channel of variance 1e-6 around a mean of 2 keeps only a few bits of x - mean:
        # the nearly constant channel is tested in float64.
        x = _batch(shape, dtype, device, gen, tiny=dtype == F64)
        gamma = randn(shape[1], gen=gen, dtype=dtype, device=device)
        dy = randn(*shape, gen=gen, dtype=dtype, device=device)
        call = f"batchnorm_backward(dy, x: {shape} {str(dtype).replace('torch.', '')}, gamma, eps={eps:g})"
        out = run_under_policy(call, lambda: fn(dy, x, gamma, eps), AUTOGRAD_FAMILY | NORM_FAMILY | NUMPY_ESCAPES,
                   "this exercise computes the gradients by hand (no .backward(), torch.autograd.grad or torch's "
                   "normalisation functions).", dy=dy, x=x, gamma=gamma)
        if not isinstance(out, (tuple, list)) or len(out) != 3:
            raise CheckFailed(f"{call} returned {type(out).__name__}; return the tuple (dx, dgamma, dbeta).")
        truth = _backward_truth(dy, x, gamma, eps)
        dims, bshape = _axes(x)
        xd, dyd, gd = x.double(), dy.double(), gamma.double()
        std = (xd.var(dim=dims, correction=0, keepdim=True) + eps).sqrt()
        x_hat = (xd - xd.mean(dim=dims, keepdim=True)) / std
        # x_hat carries a rounding error of a few eps times |x| / std (x - mean cancels: a channel of
        # variance below eps keeps few digits), and dx's three terms are each about |gamma| |dy| / std.
        lost = (xd.abs().amax(dim=dims, keepdim=True) + xd.mean(dim=dims, keepdim=True).abs()) / std
        dx_scale = (4 * float((gd.abs().reshape(bshape) / std).max()) * float(dyd.abs().max())
                    * (1 + float(x_hat.abs().max()) + float(lost.max())))
        reductions = {"dgamma": float((dyd.abs() * (x_hat.abs() + lost)).sum(dim=dims).max()),
                      "dbeta": float(dyd.abs().sum(dim=dims).max())}
        shape_hints = {tuple(shape[1:]): "It is summed over dim 0 only: for (N, C, H, W) sum over dims (0, 2, 3), one "
                       "value per channel."} if len(shape) == 4 else {}
        shape_hints[tuple(shape)] = "It is not summed: the parameter's gradient adds up over the batch (and positions)."
        for key, got in zip(("dx", "dgamma", "dbeta"), out):
            variants: tuple[tuple[torch.Tensor, str], ...] = ()
            if key == "dx":
                variants = ((dyd * gd.reshape(bshape) / std, "the mean and the variance are treated as constants: dx "
                             "= dy * gamma / sigma is only the first of three terms; subtract mean(dx_hat) and x_hat * "
                             "mean(dx_hat * x_hat), since every x of the channel moves the batch's mean and variance."),
                            (truth["dx"].double() / gd.reshape(bshape), "gamma is missing: dx_hat = dy * gamma."),
                            ((dyd - dyd.mean(dim=dims, keepdim=True)) * gd.reshape(bshape) / std,
                             "the path through the variance is missing: subtract x_hat * mean(dx_hat * x_hat) too."))
            elif key == "dgamma":
                variants = ((dyd.sum(dim=dims), "dgamma is the sum of dy * x_hat, not of dy (that is dbeta)."),
                            ((dyd * xd).sum(dim=dims), "dgamma is the sum of dy * x_hat, the normalised x, not of dy * x."))
            expect_close(got, truth[key], "batchnorm_backward", f"{call}: {key}",
                         scale=dx_scale if key == "dx" else 4 * reductions[key], hints=variants,
                         shape_hint=shape_hints if key != "dx" else None, nonfinite_hint=NONFINITE_HINT)


def _stack_truth(x: torch.Tensor, weights: list[torch.Tensor], batchnorm: bool, eps: float = 1e-5,
                 after_relu: bool = False, pre_activation: bool = False) -> torch.Tensor:
    """The per-layer (mean, std) of the stack in float64, right or with one of the classic mistakes."""
    h, stats = x.double(), []
    for w in weights:
        h = h @ w.double()
        if batchnorm and not after_relu:
            h = F.batch_norm(h, None, None, training=True, eps=eps)
        out = h
        h = torch.relu(h)
        if batchnorm and after_relu:
            h = F.batch_norm(h, None, None, training=True, eps=eps)
        stats.append(torch.stack([(out if pre_activation else h).mean(), (out if pre_activation else h).std()]))
    return torch.stack(stats)


def _relative(got: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    """Each (mean, std) entry's error relative to the larger of its own size and its layer's std (a
    mean near 0 is measured against the spread it is a mean of); nan counts as infinitely far."""
    size = torch.maximum(expected.abs(), expected[:, 1:2].abs()).clamp_min(1e-300)
    return ((got - expected).abs() / size).nan_to_num(nan=math.inf)


def _stacks(gen: torch.Generator, device: torch.device) -> Iterator[tuple[torch.Tensor, list[torch.Tensor], str]]:
    """(x, weights, shown): real MNIST digits through 50 layers of 100 units at three weight scales
    (float32), and a small float64 stack of Gaussian inputs."""
    digits, _ = load_mnist()
    x = digits[torch.randperm(len(digits), generator=gen)[:STACK_BATCH]].to(F32)
    x = ((x - x.mean()) / x.std()).to(device)
    sizes = [x.shape[1]] + [STACK_WIDTH] * STACK_DEPTH
    for name, gain in (("Xavier's sqrt(1/n), vanishing", 1.0), ("1.5 x Kaiming's sqrt(2/n), exploding", 1.5 * math.sqrt(2))):
        weights = [randn(i, o, gen=gen, dtype=F32, device=device) * (gain / math.sqrt(i)) for i, o in zip(sizes[:-1], sizes[1:])]
        yield x, weights, f"{STACK_BATCH} MNIST digits through {STACK_DEPTH} layers of {STACK_WIDTH}, weights at {name}, float32"
    x = randn(64, 20, gen=gen, dtype=F64, device=device)
    weights = [randn(20, 20, gen=gen, dtype=F64, device=device) / math.sqrt(20) for _ in range(10)]
    yield x, weights, "x: (64, 20) through 10 layers of 20, float64"


@check("stack_stats")
@_on_one_thread
def check_stack_stats(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Per-layer (mean, std) against the reference's on the same weights, to STATS_RTOL, with and
    without batch norm, on vanishing and exploding stacks; the bands the truth lies in name the
    mistakes. Graded with the reference batchnorm_forward, should it call it."""
    with reference_helpers(fn, "batchnorm", "batchnorm_forward"):
        for x, weights, shown in _stacks(gen, device):
            for bn in (False, True):
                call = f"stack_stats(x, weights, batchnorm={bn}) with {shown}"
                out = run_under_policy(call, lambda: fn(x, weights, bn), NORM_FAMILY | NUMPY_ESCAPES,
                           "normalise with batchnorm_forward (or your own arithmetic).", x=x)
                if isinstance(out, (list, tuple)):
                    raise CheckFailed(f"{call} returned a {type(out).__name__}; return one (L, 2) tensor "
                                      "(torch.stack the per-layer rows).")
                expected = _stack_truth(x, weights, bn)
                depth = len(weights)
                shape_hints = {(2, depth): "It is transposed: one row (mean, std) per layer, (L, 2).",
                               (depth + 1, 2): "It includes the input's statistics: one row per layer's output, L rows.",
                               (depth,): "It returns one number per layer; return (mean, std) per layer, (L, 2)."}
                if isinstance(out, torch.Tensor) and tuple(out.shape) != (depth, 2):
                    expect_close(out, expected.to(x.dtype), "stack_stats", call, scale=0.0, shape_hint=shape_hints,
                                 nonfinite_hint=NONFINITE_HINT)
                expect_tensor(out, name="stack_stats", dtype=x.dtype, device=x.device, shape=(depth, 2), call=call)
                got = out.double()
                rel = _relative(got, expected)
                if float(rel.max()) <= STATS_RTOL[x.dtype]:
                    continue
                for variant, hint in (
                        (_stack_truth(x, weights, not bn), "batchnorm=True must normalise h @ w before every ReLU, and "
                         "batchnorm=False must not." if bn else "batchnorm=False must run the plain stack, without "
                         "normalisation."),
                        (_stack_truth(x, weights, bn, after_relu=True), "the normalisation comes after the ReLU: it "
                         "belongs between the product and the ReLU, h = relu(batchnorm_forward(h @ w, ...)). Normalised "
                         "last, every layer reports mean 0 and std 1."),
                        (_stack_truth(x, weights, bn, pre_activation=True), "these are the statistics before the ReLU; "
                         "record each layer's output, after its ReLU.")):
                    if float(_relative(got, variant).max()) <= STATS_RTOL[x.dtype]:
                        raise CheckFailed(f"{call} is wrong: {hint}")
                layer = int(rel.max(dim=1).values.argmax())
                band = ""
                if bn:
                    band = (f" With batch norm every layer's mean lies in {BN_MEAN_BAND} and its std in {BN_STD_BAND} "
                            "(stable) whatever the weights' scale.")
                else:
                    band = (" Without batch norm the std falls or grows geometrically layer by layer: "
                            f"the reference's first and last are {float(expected[0, 1]):.3g} and {float(expected[-1, 1]):.3g}.")
                raise CheckFailed(f"{call} is wrong at layer {layer} (counting from 0): expected (mean, std) "
                                  f"({float(expected[layer, 0]):.6g}, {float(expected[layer, 1]):.6g}), got "
                                  f"({float(got[layer, 0]):.6g}, {float(got[layer, 1]):.6g}); the mean and std are over "
                                  f"all of the layer's output entries (batch and units), after its ReLU.{band}")


EXERCISES = (
    Exercise("batchnorm_forward", 3, check_batchnorm_forward),
    Exercise("BatchNorm", 4, check_BatchNorm),
    Exercise("batchnorm_backward", 4, check_batchnorm_backward),
    Exercise("stack_stats", 3, check_stack_stats),
)
