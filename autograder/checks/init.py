"""Hidden checks of lesson 02_init: weight distributions, activations, and per-layer statistics."""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F

from autograder.checks import reference_helpers
from autograder.compare import expect_tensor, inputs_unchanged, is_close, worst_difference
from autograder.exercise import Exercise, check, randn, reference
from autograder.policy import ACTIVATION_FAMILY, NUMPY_ESCAPES, forbidden_calls, record_ops, torch_name
from autograder.results import CheckFailed
from autograder.stats import Stats, geometric_mean, same_stats, tail_fraction

# Weight checks draw one large matrix per shape: with n = 39,200 entries the std is known to
# ±0.4% (1/√(2n)), so a 3% tolerance is ~8 standard errors wide and any formula mistake
# (√2 off, fans swapped on a 784×50 matrix, variance for std) is far outside it.
WEIGHT_SHAPES = ((784, 50), (50, 784))
STD_RTOL = 0.03
# A normal distribution has 4.55% of its mass beyond 2σ (±0.1% at this n); a uniform one has none.
NORMAL_TAIL = (0.035, 0.056)
# Deep stacks: 50 layers of 256 units on a batch of 128 standard-normal rows. The last layer's std
# varies between seeds, so each side is the geometric mean over STACKS stacks. Two runs of the
# reference differ by a log-ratio with sd 0.35 (Kaiming+ReLU), 0.42 (leaky ReLU with its gain),
# 0.09 (Xavier, linear) over 60 measured pairs, so the allowed factor of 10 (ln 10 = 2.3) is more
# than 5 sd wide; the mistakes it guards against are off by 10^5 or more (Xavier+ReLU: 1.5e-8,
# gain 2: 1.7e7). A factor 3 flaked once in 600 reference runs. Re-measured on one thread over 150
# pairs: sd 0.38 (Kaiming+ReLU, leaky ReLU), 0.08-0.09 (Xavier); the largest |log-ratio| was 1.27.
DEPTH, WIDTH, BATCH, STACKS, STACK_BAND = 50, 256, 128, 3, 10.0
LEAKS = (0.0, 0.01, 0.2, 1.0)

Init = Callable[..., torch.Tensor]


def _reference(name: str) -> Any:
    return reference("init", name)


def _expect_weights(name: str, fn: Init, args: tuple, expected_std: float, hint: Callable[[float], str]) -> torch.Tensor:
    """One call's weights: a float32 tensor of shape (fan_in, fan_out), mean ~0, the expected std."""
    fan_in, fan_out = args[:2]
    call = f"{name}({', '.join(map(repr, args))})"
    out = fn(*args)
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (fan_out, fan_in) and fan_in != fan_out:
        raise CheckFailed(f"{call} returned shape {(fan_out, fan_in)}: this course stores weights as "
                          f"(fan_in, fan_out) = {(fan_in, fan_out)}, so that a layer is x @ w.")
    w = expect_tensor(out, name=name, dtype=torch.float32, device=torch.device("cpu"), shape=(fan_in, fan_out), call=call)
    std, mean = float(w.double().std()), float(w.double().mean())
    if abs(std - expected_std) > STD_RTOL * expected_std:
        raise CheckFailed(f"{call} has std {std:.4g} where {expected_std:.4g} was expected: {hint(std)}")
    if abs(mean) > 6 * expected_std / math.sqrt(w.numel()):
        raise CheckFailed(f"{call} has mean {mean:.3g}; weights must be centred on 0.")
    again = fn(*args)
    if isinstance(again, torch.Tensor) and torch.equal(again, w):
        raise CheckFailed(f"{call} returned the same weights twice: draw fresh random numbers on every "
                          "call (no torch.manual_seed inside the function).")
    return w


def _std_hint(std: float, expected: float, alternatives: dict[str, float]) -> str:
    """Name the formula the measured std matches, if it matches a known mistake."""
    for mistake, value in alternatives.items():
        if abs(std - value) <= STD_RTOL * value:
            return mistake
    return f"it is {std / expected:.3g}x the expected value; check the formula."


def _expect_normal_shape(call: str, w: torch.Tensor) -> None:
    tail = tail_fraction(w)
    if not NORMAL_TAIL[0] <= tail <= NORMAL_TAIL[1]:
        raise CheckFailed(f"{call}: {tail:.1%} of the weights lie beyond 2 standard deviations, where a normal "
                          "distribution has 4.6% (a uniform one 0%): draw them with torch.randn.")


def _last_std(init: Init, activation: Callable[[torch.Tensor], torch.Tensor], gen: torch.Generator) -> float:
    """Geometric mean, over STACKS deep stacks, of the last layer's std (reference statistics)."""
    stats = _reference("activation_stats")
    lasts = []
    for _ in range(STACKS):
        torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=gen)))
        weights = [init(WIDTH, WIDTH) for _ in range(DEPTH)]
        lasts.append(stats(torch.randn(BATCH, WIDTH, generator=gen), weights, activation)[-1][1])
    return geometric_mean(lasts)


@contextmanager
def _one_thread() -> Iterator[None]:
    """One intra-op thread: these 256-wide products gain nothing from two, and two threads ran the deep
    stacks 5-20 times slower when another process kept one of the 2 cores busy (measured: 2.8 s for the
    four stack checks with one thread against 33 s with two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _expect_stack_like_reference(name: str, init: Init, reference: Init, activation: Callable, what: str,
                                 gen: torch.Generator) -> None:
    with _one_thread():
        mine, ref = _last_std(init, activation, gen), _last_std(reference, activation, gen)
    if not (math.isfinite(mine) and mine > 0 and 1 / STACK_BAND <= mine / ref <= STACK_BAND):
        trend = "explode" if not math.isfinite(mine) or mine > ref else "vanish"
        raise CheckFailed(f"through {DEPTH} layers of {WIDTH} units with {what}, the last layer's std is "
                          f"{mine:.3g} with your {name} and {ref:.3g} with the reference (a factor {STACK_BAND:g} "
                          f"is allowed): your activations {trend}.")


@check("normalize")
def check_normalize(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """(x - mean) / std with float, 0-d and per-feature statistics; the input is left alone."""
    x = randn(64, 784, gen=gen, dtype=torch.float32, device=device) * 3 + 5
    per_feature = x.mean(0), x.std(0)
    for mean, std in ((5.0, 3.0), (x.mean(), x.std()), per_feature):
        kind = "per-feature tensors" if isinstance(mean, torch.Tensor) and mean.dim() else type(mean).__name__
        call = f"normalize(x, mean, std) with {kind}"
        with inputs_unchanged(call, x=x):
            out = fn(x, mean, std)
        expected = (x - mean) / std
        expect_tensor(out, name="normalize", dtype=x.dtype, device=x.device, shape=tuple(x.shape), call=call)
        if not is_close(out, expected):
            hint = worst_difference(out, expected) + "."
            if is_close(out, x - mean / std):
                hint = "it computes x - mean / std: subtract first, (x - mean) / std."
            elif is_close(out, (x - mean) / std**2):
                hint = "it divides by the variance; divide by the standard deviation."
            raise CheckFailed(f"{call} is wrong: {hint}")


@check("xavier_uniform")
def check_xavier_uniform(fn: Init, device: torch.device, gen: torch.Generator) -> None:
    """U(-b, b) with b = √(6/(fan_in+fan_out)): bounds, std b/√3, no tails, stable linear stacks."""
    for fan_in, fan_out in WEIGHT_SHAPES:
        bound = math.sqrt(6 / (fan_in + fan_out))
        hint = lambda std: _std_hint(std, bound / math.sqrt(3), {  # noqa: E731
            "that is U(±1/√fan_in), the heuristic: Glorot's normalized rule is U(±√(6/(fan_in+fan_out))).":
                1 / math.sqrt(fan_in) / math.sqrt(3),
            "did you use √(6/(fan_in+fan_out)) as the std? It is the bound: draw with .uniform_(-bound, bound).": bound,
            "did you use √(3/(fan_in+fan_out))? The bound is √(6/(fan_in+fan_out)).": math.sqrt(3 / (fan_in + fan_out)) / math.sqrt(3),
        })
        w = _expect_weights("xavier_uniform", fn, (fan_in, fan_out), bound / math.sqrt(3), hint)
        top = float(w.abs().max())
        if top > bound * (1 + 1e-6) or top < 0.98 * bound:
            raise CheckFailed(f"xavier_uniform({fan_in}, {fan_out}) reaches {top:.4g}, where a uniform draw on "
                              f"±{bound:.4g} fills the whole interval: use .uniform_(-bound, bound).")
    _expect_stack_like_reference("xavier_uniform", fn, _reference("xavier_uniform"), lambda t: t, "no activation", gen)


@check("xavier_normal")
def check_xavier_normal(fn: Init, device: torch.device, gen: torch.Generator) -> None:
    """N(0, 2/(fan_in+fan_out)): std, normal tails, stable linear stacks."""
    for fan_in, fan_out in WEIGHT_SHAPES:
        expected = math.sqrt(2 / (fan_in + fan_out))
        hint = lambda std: _std_hint(std, expected, {  # noqa: E731
            "that is 2/(fan_in+fan_out), the variance: the std is its square root.": expected**2,
            "that is 1/√fan_in, the heuristic: Glorot's rule averages the fans, √(2/(fan_in+fan_out)).": 1 / math.sqrt(fan_in),
        })
        w = _expect_weights("xavier_normal", fn, (fan_in, fan_out), expected, hint)
        _expect_normal_shape(f"xavier_normal({fan_in}, {fan_out})", w)
    _expect_stack_like_reference("xavier_normal", fn, _reference("xavier_normal"), lambda t: t, "no activation", gen)


@check("kaiming_normal")
def check_kaiming_normal(fn: Init, device: torch.device, gen: torch.Generator) -> None:
    """N(0, 2/((1+a²)·fan_in)) for several a: std, tails, and deep ReLU stacks that neither explode nor vanish."""
    for fan_in, fan_out in WEIGHT_SHAPES:
        for a in (0.0, 0.1, math.sqrt(5)):
            expected = math.sqrt(2 / ((1 + a**2) * fan_in))
            hint = lambda std: _std_hint(std, expected, {  # noqa: E731
                f"did you use fan_out? √(2/fan_out) = {math.sqrt(2 / ((1 + a**2) * fan_out)):.4g}; "
                "Kaiming keeps the forward pass stable with fan_in.": math.sqrt(2 / ((1 + a**2) * fan_out)),
                "that is the variance 2/((1+a²)·fan_in): take its square root.": expected**2,
                "that is a gain of 2 instead of √2: std = √(2/((1+a²)·fan_in)).": 2 / math.sqrt((1 + a**2) * fan_in),
                "the leak a is ignored: the gain is √(2/(1+a²)).": math.sqrt(2 / fan_in),
                "the factor 2 is missing: ReLU zeroes half the inputs, so the variance needs doubling.":
                    math.sqrt(1 / ((1 + a**2) * fan_in)),
            })
            args = (fan_in, fan_out, a) if a else (fan_in, fan_out)
            w = _expect_weights("kaiming_normal", fn, args, expected, hint)
            _expect_normal_shape(f"kaiming_normal{args}", w)
    _expect_stack_like_reference("kaiming_normal", fn, _reference("kaiming_normal"), torch.relu, "ReLU", gen)


@check("gain")
def check_gain(fn: Callable[[float], float], device: torch.device, gen: torch.Generator) -> None:
    """√(2/(1+a²)) as a Python float, and leaky-ReLU stacks scaled by it that keep their std."""
    for a in (0.0, 0.01, 0.1, 1.0, math.sqrt(5)):
        out = fn(a)
        expected = math.sqrt(2 / (1 + a**2))
        if not isinstance(out, float):
            raise CheckFailed(f"gain({a:.4g}) returned {type(out).__name__}; return a Python float (math.sqrt).")
        if not math.isclose(out, expected, rel_tol=1e-9):
            hint = "check the formula √(2/(1+a²))."
            if math.isclose(out, expected**2, rel_tol=1e-9):
                hint = "that is 2/(1+a²): the gain is its square root."
            elif math.isclose(out, math.sqrt(2 / (1 + a)), rel_tol=1e-9):
                hint = "square the slope a: √(2/(1+a²))."
            raise CheckFailed(f"gain({a:.4g}) returned {out:.6g}, expected {expected:.6g}: {hint}")
    leak = 0.1
    relu = lambda t: F.leaky_relu(t, leak)  # noqa: E731

    def scaled(g: Callable[[float], float]) -> Init:
        return lambda fan_in, fan_out: torch.randn(fan_in, fan_out) * (g(leak) / math.sqrt(fan_in))

    _expect_stack_like_reference("gain", scaled(fn), scaled(_reference("gain")), relu, f"leaky ReLU (a={leak})", gen)


Activation = Callable[[torch.Tensor], torch.Tensor]
# (how the call is shown, how to call the learner's function on x, the truth, what a mismatch means)
ActivationCase = tuple[str, Callable[[Callable, torch.Tensor], torch.Tensor], Activation, Callable[[torch.Tensor, torch.Tensor], str]]


def _expect_activation(name: str, fn: Callable, cases: list[ActivationCase], gen: torch.Generator, device: torch.device) -> None:
    """An elementwise activation equal to torch's, shape and dtype kept, input untouched, no torch activation."""
    for dtype in (torch.float32, torch.float64):
        for shape in ((1000,), (16, 33), (2, 3, 4)):
            x = randn(*shape, gen=gen, dtype=dtype, device=device)
            x.view(-1)[:3] = torch.tensor([0.0, -0.0, 1e-8])  # the kink itself
            for shown, call_fn, truth, diagnose in cases:
                call = f"{name}(x: {shape} {dtype}{shown})"
                with inputs_unchanged(call, x=x), record_ops() as calls:
                    out = call_fn(fn, x)
                used = forbidden_calls(calls, ACTIVATION_FAMILY | NUMPY_ESCAPES)
                if used:
                    raise CheckFailed(f"{name} calls torch's own {', '.join(map(torch_name, used))}: build it from "
                                      "comparisons and arithmetic (torch.where, clamp, *) instead.")
                expected = truth(x)
                expect_tensor(out, name=name, dtype=dtype, device=x.device, shape=tuple(x.shape), call=call)
                if not is_close(out, expected):
                    raise CheckFailed(f"{call} is wrong: {diagnose(out, x)}")


def _leaky_hint(a: float) -> Callable[[torch.Tensor, torch.Tensor], str]:
    def diagnose(out: torch.Tensor, x: torch.Tensor) -> str:
        if a and is_close(out, F.relu(x)):
            return f"negative inputs should be multiplied by a={a}, not set to 0."
        if a and is_close(out, x.abs() * torch.where(x >= 0, 1.0, a).to(x.dtype)):
            return "negative inputs must keep their sign: a * x, not a * |x|."
        return worst_difference(out, F.leaky_relu(x, a)) + "."
    return diagnose


def _shifted_hint(shift: float, leak: float) -> Callable[[torch.Tensor, torch.Tensor], str]:
    def diagnose(out: torch.Tensor, x: torch.Tensor) -> str:
        if shift and is_close(out, F.leaky_relu(x - shift, leak)):
            return "the shift is applied before the ReLU: shift its output, relu(x) - shift."
        if shift and is_close(out, F.leaky_relu(x, leak) + shift):
            return "the shift is added: subtract it, to pull the mean down towards 0."
        if leak and is_close(out, F.relu(x) - shift):
            return f"the leak is ignored: negative inputs keep slope leak={leak}."
        return worst_difference(out, F.leaky_relu(x, leak) - shift) + "."
    return diagnose


@check("leaky_relu")
def check_leaky_relu(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Equal to F.leaky_relu for several slopes, elementwise, input untouched, without torch's activations."""
    cases: list[ActivationCase] = [
        (f", a={a}", (lambda f, x, a=a: f(x, a)), (lambda t, a=a: F.leaky_relu(t, a)), _leaky_hint(a)) for a in LEAKS]
    _expect_activation("leaky_relu", fn, cases, gen, device)


@check("shifted_relu")
def check_shifted_relu(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """leaky_relu(x, leak) - shift, defaults shift=0.5 and leak=0; the same deep-stack means as the reference.

    Graded with the reference leaky_relu, should shifted_relu call it: a wrong leaky_relu costs points
    only in its own exercise."""
    cases: list[ActivationCase] = [("", (lambda f, x: f(x)), (lambda t: F.relu(t) - 0.5), _shifted_hint(0.5, 0.0))]
    for shift, leak in ((0.4, 0.1), (0.0, 0.0)):
        cases.append((f", shift={shift}, leak={leak}", (lambda f, x, s=shift, l=leak: f(x, shift=s, leak=l)),
                      (lambda t, s=shift, l=leak: F.leaky_relu(t, l) - s), _shifted_hint(shift, leak)))
    with reference_helpers(fn, "init", "leaky_relu"):
        _expect_activation("shifted_relu", fn, cases, gen, device)
        x = torch.randn(BATCH, WIDTH, generator=gen)
        weights = [torch.randn(WIDTH, WIDTH, generator=gen) * math.sqrt(2 / WIDTH) for _ in range(DEPTH)]
        stats = _reference("activation_stats")
        with _one_thread():
            mine, ref = stats(x, weights, fn), stats(x, weights, _reference("shifted_relu"))
    if not same_stats(mine, ref):
        raise CheckFailed(f"through {DEPTH} Kaiming-initialised layers the last layer's mean is {mine[-1][0]:.3g} "
                          f"with your shifted_relu and {ref[-1][0]:.3g} with the reference.")


def _stats_hint(mine: Stats, x: torch.Tensor, weights: list[torch.Tensor], activation: Callable) -> str:
    """Recognise the usual ways of measuring the wrong thing."""
    stats = _reference("activation_stats")
    if len(mine) == len(weights) + 1:
        return "it has one pair more than there are layers: record after each layer only, not the input."
    if len(mine) != len(weights):
        return f"it has {len(mine)} pairs for {len(weights)} layers: one (mean, std) per layer."
    pre, first, h, g = [], [], x, x
    for w in weights:
        z = h @ w
        pre.append((z.mean().item(), z.std().item()))
        h = activation(z)
        g = activation(g) @ w
        first.append((g.mean().item(), g.std().item()))
    if same_stats(mine, pre):
        return "these are the statistics before the activation: apply it, then measure."
    if same_stats(mine, first):
        return "the activation is applied before the linear layer: each layer is activation(x @ w)."
    ref = stats(x, weights, activation)
    if all(abs(m[0] - r[0]) <= 1e-4 * abs(r[0]) + 1e-6 for m, r in zip(mine, ref)):
        return "the means agree but the stds do not: take the std over all elements (x.std()), not per row or column."
    return f"layer 1 is {mine[0]} where {ref[0]} was expected."


@check("activation_stats")
def check_activation_stats(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """The reference's per-layer (mean, std) on small and deep stacks, exploding ones included."""
    relu, ident = torch.relu, (lambda t: t)
    small = [torch.randn(20, 30, generator=gen) * 0.3, torch.randn(30, 10, generator=gen) * 0.3]
    deep_naive = [torch.randn(128, 128, generator=gen) for _ in range(DEPTH)]  # non-finite by layer ~32
    cases = [("a 2-layer ReLU stack (20 -> 30 -> 10)", torch.randn(16, 20, generator=gen), small, relu),
             ("the same stack without activation", torch.randn(16, 20, generator=gen), small, ident),
             (f"a {DEPTH}-layer stack of randn weights, which explodes", torch.randn(64, 128, generator=gen), deep_naive, ident)]
    for what, x, weights, activation in cases:
        call = f"activation_stats on {what}"
        with inputs_unchanged(call, x=x, **{f"weights[{i}]": w for i, w in enumerate(weights[:3])}):
            out = fn(x, weights, activation)
        if not isinstance(out, list):
            raise CheckFailed(f"{call} returned {type(out).__name__}; return a list with one (mean, std) pair "
                              "of floats per layer.")
        try:
            mine = [(float(m), float(s)) for m, s in out]
        except (TypeError, ValueError, RuntimeError):
            raise CheckFailed(f"{call} returned {type(out).__name__}; return a list with one (mean, std) pair "
                              "of floats per layer.") from None
        kinds = {type(v).__name__ for pair in out for v in pair if not isinstance(v, float)}
        if kinds:
            raise CheckFailed(f"{call} holds {', '.join(sorted(kinds))} values; the means and stds must be Python "
                              "floats: convert each 0-d tensor with .item().")
        if not same_stats(mine, _reference("activation_stats")(x, weights, activation)):
            raise CheckFailed(f"{call} is wrong: {_stats_hint(mine, x, weights, activation)}")


EXERCISES = (
    Exercise("normalize", 1, check_normalize),
    Exercise("activation_stats", 3, check_activation_stats),
    Exercise("xavier_uniform", 2, check_xavier_uniform),
    Exercise("xavier_normal", 2, check_xavier_normal),
    Exercise("kaiming_normal", 3, check_kaiming_normal),
    Exercise("gain", 1, check_gain),
    Exercise("leaky_relu", 2, check_leaky_relu),
    Exercise("shifted_relu", 2, check_shifted_relu),
)
