"""Hidden checks of lesson 03_forward: layers, losses and a model, against torch.nn.functional."""
from __future__ import annotations

import math
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F

from autograder.checks import reference_helpers
from autograder.compare import expect_close, expect_tensor, inputs_unchanged, product_scale
from autograder.exercise import Exercise, check, randn, reference
from autograder.policy import ACTIVATION_FAMILY, NUMPY_ESCAPES, forbidden_calls, record_ops, torch_name
from autograder.results import CheckFailed
from autograder.stats import tail_fraction

DTYPES = (torch.float32, torch.float64)
LOSS_FAMILY = frozenset({"mse_loss", "nll_loss", "cross_entropy", "log_softmax", "softmax", "logsumexp", "linear"})
# Initial loss of FeedForward([784, 50, 10]) on standard-normal inputs and random labels, mean of 3
# models: the reference measures 2.84-3.57 per model (30 seeds); ln 10 = 2.30 is the floor (uniform
# predictions). Outside [2.0, 4.5] the model's output is scaled wrong.
INITIAL_LOSS_BAND = (2.0, 4.5)


def _reference(name: str) -> Any:
    return reference("forward", name)


def _references_for(fn: Any, *names: str) -> Any:
    return reference_helpers(fn, "forward", *names)


def _call(name: str, fn: Callable, args: tuple, forbidden: frozenset[str], call: str, **inputs: torch.Tensor) -> Any:
    """Call fn, failing on mutated inputs or on a forbidden torch function."""
    with inputs_unchanged(call, **inputs), record_ops() as calls:
        out = fn(*args)
    used = forbidden_calls(calls, forbidden | NUMPY_ESCAPES)
    if used:
        raise CheckFailed(f"{name} calls {', '.join(map(torch_name, used))}, the torch function this exercise rebuilds: "
                          "write it from tensor arithmetic.")
    return out


@check("lin")
def check_lin(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """x @ w + b with w of shape (in, out), against F.linear, on several shapes and dtypes."""
    for dtype in DTYPES:
        for n, k, m in ((4, 3, 5), (1, 7, 2), (16, 784, 10), (5, 4, 4)):
            x, w, b = (randn(*s, gen=gen, dtype=dtype, device=device) for s in ((n, k), (k, m), (m,)))
            call = f"lin(x: {(n, k)}, w: {(k, m)}, b: {(m,)}) {dtype}"
            out = _call("lin", fn, (x, w, b), frozenset({"linear"}), call, x=x, w=w, b=b)
            hints = [(x @ w + 2 * b, "the bias is added twice."), (x @ w, "the bias is missing: x @ w + b.")]
            if k == m:
                hints.append((x @ w.T + b, "w is (in_features, out_features) in this course: x @ w, not x @ w.T."))
            expect_close(out, F.linear(x.double(), w.T.double(), b.double()).to(dtype), "lin", call, hints,
                         scale=product_scale(x, w) + float(b.abs().max()))


def _activation_cases(gen: torch.Generator, device: torch.device) -> Iterator[tuple[torch.Tensor, str]]:
    for dtype in DTYPES:
        for shape in ((1000,), (16, 33)):
            x = randn(*shape, gen=gen, dtype=dtype, device=device) * 3
            x.view(-1)[:2] = torch.tensor([0.0, -0.0])
            yield x, f"x: {shape} {dtype}"


def _relu_hints(x: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    return [(x.clamp(0, 1), "values above 1 are cut off: ReLU is max(x, 0), with no upper bound."),
            (x.abs(), "negative inputs must become 0, not |x|."),
            (x.clamp_max(0), "it keeps the negative part: ReLU keeps the positive part, max(x, 0).")]


@check("relu")
def check_relu(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """max(x, 0) elementwise, against F.relu, input untouched, without torch's activations."""
    for x, shown in _activation_cases(gen, device):
        call = f"relu({shown})"
        out = _call("relu", fn, (x,), ACTIVATION_FAMILY, call, x=x)
        expect_close(out, F.relu(x), "relu", call, _relu_hints(x))


def _copies_of(layer: Any, bias: torch.Tensor) -> list[str]:
    """Names of the layer's other attributes that hold a tensor shaped like its bias (a copy kept in __init__)."""
    found = []
    for name, value in vars(layer).items():
        items = value if isinstance(value, (list, tuple)) else (value,)
        if name != "bias" and any(isinstance(t, torch.Tensor) and t.shape == bias.shape for t in items):
            found.append(name)
    return found


@check("Linear")
def check_Linear(cls: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Kaiming weight (in, out), zero bias, forward = __call__ = x @ weight + bias, a readable repr, autograd-safe."""
    layer = cls(784, 50)
    weight, bias = getattr(layer, "weight", None), getattr(layer, "bias", None)
    if not isinstance(weight, torch.Tensor) or not isinstance(bias, torch.Tensor):
        raise CheckFailed("Linear(784, 50) needs tensor attributes `weight` and `bias`.")
    if tuple(weight.shape) == (50, 784):
        raise CheckFailed("Linear(784, 50).weight has shape (50, 784), nn.Linear's layout; this course stores "
                          "(in_features, out_features) = (784, 50), so that forward is x @ weight + bias.")
    expect_tensor(weight, name="Linear", dtype=torch.float32, device=torch.device("cpu"), shape=(784, 50), call="Linear(784, 50).weight")
    expect_tensor(bias, name="Linear", dtype=torch.float32, device=torch.device("cpu"), shape=(50,), call="Linear(784, 50).bias")
    std, expected = float(weight.std()), math.sqrt(2 / 784)
    if abs(std - expected) > 0.03 * expected or not 0.035 <= tail_fraction(weight) <= 0.056:
        raise CheckFailed(f"Linear(784, 50).weight has std {std:.4g}; Kaiming initialisation draws torch.randn "
                          f"scaled by √(2/in_features) = {expected:.4g}.")
    if bias.abs().max() != 0:
        raise CheckFailed("Linear(784, 50).bias should start at zeros: torch.zeros(out_features).")
    if torch.equal(cls(784, 50).weight, weight):
        raise CheckFailed("two Linear(784, 50) layers got the same weights: draw fresh ones in __init__.")
    old_bias = layer.bias
    layer.bias = randn(50, gen=gen, dtype=torch.float32, device=torch.device("cpu"))
    x = randn(8, 784, gen=gen, dtype=torch.float32, device=torch.device("cpu"))
    expected_out = x @ layer.weight + layer.bias
    copies = _copies_of(layer, old_bias)
    no_bias = (f"forward adds a copy of the bias made in __init__ (self.{copies[0]}), not the layer's bias as it "
               "is now: after `layer.bias = ...` it still added the old zeros. Read self.weight and self.bias in "
               "forward (training replaces or updates them)." if copies else "forward ignores the bias: x @ weight + bias.")
    for how, run in (("layer(x)", lambda: layer(x)), ("layer.forward(x)", lambda: layer.forward(x))):
        out = _call("Linear", run, (), frozenset({"linear"}), f"{how} on x: (8, 784)", x=x)
        expect_close(out, expected_out, "Linear", f"{how} on x: (8, 784)", [(x @ layer.weight, no_bias)])
    text = repr(layer)
    if "Linear" not in text or "784" not in text or "50" not in text:
        raise CheckFailed(f"repr(Linear(784, 50)) is {text!r}; make __repr__ readable, e.g. "
                          "'Linear(in_features=784, out_features=50)'.")
    xg = x.clone().requires_grad_()
    with torch.enable_grad():
        layer(xg).sum().backward()
    if xg.grad is None or not torch.allclose(xg.grad, layer.weight.sum(1).expand(8, 784), rtol=1e-4, atol=1e-6):
        raise CheckFailed("gradients do not flow back through Linear to its input: keep forward a tensor "
                          "expression (no .item(), .numpy() or .detach()).")


@check("ReLU")
def check_ReLU(cls: Callable, device: torch.device, gen: torch.Generator) -> None:
    """A ReLU module: __call__ and forward equal F.relu, repr 'ReLU()'."""
    module = cls()
    for x, shown in _activation_cases(gen, device):
        for how, run in (("ReLU()(x)", module), ("ReLU().forward(x)", module.forward)):
            call = f"{how} with {shown}"
            out = _call("ReLU", run, (x,), ACTIVATION_FAMILY, call, x=x)
            expect_close(out, F.relu(x), "ReLU", call, _relu_hints(x))
    if "ReLU" not in repr(module):
        raise CheckFailed(f"repr(ReLU()) is {repr(module)!r}; make __repr__ return 'ReLU()'.")


@check("mse")
def check_mse(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Mean squared error against F.mse_loss for (N,) and (N, 1) shapes, never an N×N broadcast."""
    for dtype in DTYPES:
        for n, pred_shape, target_shape in ((32, (32,), (32,)), (32, (32, 1), (32,)), (7, (7, 1), (7, 1)), (1, (1,), (1,))):
            pred = randn(*pred_shape, gen=gen, dtype=dtype, device=device)
            target = randn(*target_shape, gen=gen, dtype=dtype, device=device)
            call = f"mse(pred: {pred_shape}, target: {target_shape}) {dtype}"
            out = _call("mse", fn, (pred, target), LOSS_FAMILY, call, pred=pred, target=target)
            expected = F.mse_loss(pred.reshape(-1), target.reshape(-1))
            expect_close(out, expected, "mse", call, [
                (((pred - target) ** 2).mean(), f"pred {pred_shape} and target {target_shape} broadcast to an "
                 f"{n}×{n} matrix of differences: flatten both (reshape(-1)) before subtracting."),
                (((pred.reshape(-1) - target.reshape(-1)) ** 2).sum(), "it sums instead of averaging over the batch."),
                ((pred.reshape(-1) - target.reshape(-1)).abs().mean(), "that is the mean absolute error: square the differences.")])
    pred, target = torch.zeros(5), torch.zeros(4)
    try:
        fn(pred, target)
    except ValueError:
        return
    except Exception as err:
        raise CheckFailed(f"mse(pred: (5,), target: (4,)) raised {type(err).__name__}; raise ValueError naming both sizes.") from None
    raise CheckFailed("mse(pred: (5,), target: (4,)) returned a value; raise ValueError when the sizes differ.")


def _logit_cases(gen: torch.Generator, device: torch.device) -> Iterator[tuple[torch.Tensor, str]]:
    """Ordinary logits, huge ones (±1000) and rows of very different scale in one batch."""
    for dtype in DTYPES:
        yield randn(16, 10, gen=gen, dtype=dtype, device=device), f"logits: (16, 10) {dtype}"
        yield randn(3, 7, gen=gen, dtype=dtype, device=device) * 2 + torch.tensor([[1000.0], [-1000.0], [0.0]], dtype=dtype, device=device), \
            f"rows around +1000, -1000 and 0, {dtype}"
    yield randn(1, 5, gen=gen, dtype=torch.float32, device=device), "one row (1, 5)"


def _global_max(x: torch.Tensor) -> torch.Tensor:
    m = x.max()
    return m + (x - m).exp().sum(-1).log()


@check("logsumexp")
def check_logsumexp(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """log(sum(exp(x))) per row, against torch.logsumexp, stable for huge and mixed-scale rows."""
    for x, shown in _logit_cases(gen, device):
        call = f"logsumexp({shown})"
        out = _call("logsumexp", fn, (x,), LOSS_FAMILY, call, x=x)
        expect_close(out, torch.logsumexp(x, dim=-1), "logsumexp", call, [
            (_global_max(x), "it subtracts one global max: rows far below it underflow to -inf; subtract each "
             "row's own max (x.max(dim=-1, keepdim=True))."),
            (torch.logsumexp(x, dim=0), "it sums over the batch (dim 0); sum over each row's classes (dim=-1).")],
            scale=float(x.abs().max()))


@check("log_softmax")
def check_log_softmax(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """x - logsumexp(x) per row, against F.log_softmax, stable; graded with the reference logsumexp."""
    with _references_for(fn, "logsumexp"):
        for x, shown in _logit_cases(gen, device):
            call = f"log_softmax({shown})"
            out = _call("log_softmax", fn, (x,), LOSS_FAMILY, call, x=x)
            expect_close(out, F.log_softmax(x.double(), dim=-1).to(x.dtype), "log_softmax", call, [
                (F.log_softmax(x, dim=0), "it normalises over the batch (dim 0): each row is a distribution over "
                 "the classes, dim=-1."),
                (x - _global_max(x).unsqueeze(-1), "it uses one global max: subtract each row's own max.")],
                scale=float(x.abs().max()))


@check("nll")
def check_nll(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Mean negative log-likelihood of the target classes, against F.nll_loss."""
    for dtype in DTYPES:
        for n, c in ((16, 10), (1, 3), (64, 10)):
            log_probs = F.log_softmax(randn(n, c, gen=gen, dtype=dtype, device=device), dim=-1)
            target = torch.randint(0, c, (n,), generator=gen).to(device)
            call = f"nll(log_probs: {(n, c)} {dtype}, target: ({n},))"
            out = _call("nll", fn, (log_probs, target), LOSS_FAMILY, call, log_probs=log_probs, target=target)
            picked = log_probs[torch.arange(n, device=device), target]
            expect_close(out, F.nll_loss(log_probs, target), "nll", call, [
                (-picked.sum(), "it sums over the batch; the loss is the mean."),
                (picked.mean(), "the sign is missing: the loss is minus the mean log-probability."),
                (-log_probs[torch.arange(n, device=device), (target + 1) % c].mean(), "it picks the class after the "
                 "target: index log_probs[torch.arange(N), target], with no offset."),
                (-log_probs[:, target].mean(), "log_probs[:, target] picks an N×N block; index rows and columns "
                 "together: log_probs[torch.arange(N), target].")])


@check("cross_entropy")
def check_cross_entropy(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """nll(log_softmax(logits)), against F.cross_entropy, stable; graded with the reference helpers."""
    with _references_for(fn, "log_softmax", "logsumexp", "nll"):
        for x, shown in _logit_cases(gen, device):
            target = torch.randint(0, x.shape[1], (x.shape[0],), generator=gen).to(device)
            call = f"cross_entropy({shown}, target)"
            out = _call("cross_entropy", fn, (x, target), LOSS_FAMILY, call, logits=x, target=target)
            expect_close(out, F.cross_entropy(x.double(), target).to(x.dtype), "cross_entropy", call, [
                (F.cross_entropy(x, target, reduction="sum"), "it sums over the batch; the loss is the mean.")],
                scale=float(x.abs().max()))


@check("accuracy")
def check_accuracy(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """The fraction of rows whose largest logit is the target, as a 0-d float tensor."""
    for n, c in ((100, 10), (7, 3), (1, 10)):
        logits = randn(n, c, gen=gen, dtype=torch.float32, device=device)
        target = torch.randint(0, c, (n,), generator=gen).to(device)
        target[: n // 2] = logits[: n // 2].argmax(-1)  # about half right, so a fraction is visible
        call = f"accuracy(logits: {(n, c)}, target: ({n},))"
        out = _call("accuracy", fn, (logits, target), frozenset(), call, logits=logits, target=target)
        hits = logits.argmax(dim=-1) == target
        floor = ("it divides with //, floor division, which rounds the fraction down to 0 (or 1): take the mean of "
                 "the hits as floats, (pred == target).float().mean().")
        if isinstance(out, torch.Tensor) and not out.is_floating_point():
            raise CheckFailed(f"{call} returned a {out.dtype} tensor; accuracy is a fraction between 0 and 1, a 0-d "
                              "float32 tensor: " + (floor if out.dim() == 0 and int(out) in (0, 1) else
                                                    "take the mean of the hits as floats, (pred == target).float().mean()."))
        if isinstance(out, torch.Tensor) and out.dtype != torch.float32:
            raise CheckFailed(f"{call} returned a {out.dtype} tensor; the contract is a 0-d float32 tensor: "
                              "(pred == target).float().mean().")
        hints = [(hits.sum().float(), "it counts the hits; accuracy is their fraction (.float().mean())."),
                 (torch.div(hits.sum().float(), n, rounding_mode="floor"), floor)]
        if n == c:
            hints.append(((logits.argmax(dim=0) == target).float().mean(), "argmax over the batch (dim 0); take it over each row's classes."))
        expect_close(out, hits.float().mean(), "accuracy", call, hints)


@check("FeedForward")
def check_FeedForward(cls: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Linear/ReLU layers alternating, logits out (no final ReLU), forward = composition, initial loss in band.

    The learner's Linear and ReLU are swapped for the reference's while this runs: this exercise
    grades the model's structure, not the layers (they have their own checks).
    """
    with _references_for(cls, "Linear", "ReLU"):
        for sizes in ([784, 50, 10], [20, 30, 40, 5], [8, 3]):
            model = cls(sizes)
            layers = getattr(model, "layers", None)
            if not isinstance(layers, list):
                raise CheckFailed(f"FeedForward({sizes}) needs a `layers` list of its Linear and ReLU modules.")
            kinds = [type(layer).__name__ for layer in layers]
            expected = ["Linear", "ReLU"] * (len(sizes) - 2) + ["Linear"]
            if kinds != expected:
                hint = (" There must be no ReLU after the last Linear: the outputs are logits, which can be "
                        "negative." if kinds == expected + ["ReLU"] else "")
                raise CheckFailed(f"FeedForward({sizes}).layers is {kinds}; expected {expected}.{hint}")
            shapes = [tuple(layer.weight.shape) for layer, kind in zip(layers, kinds) if kind == "Linear"]
            if shapes != list(zip(sizes[:-1], sizes[1:])):
                raise CheckFailed(f"FeedForward({sizes}) has Linear weights of shapes {shapes}; layer i maps sizes[i] "
                                  "to sizes[i + 1].")
            x = torch.randn(6, sizes[0], generator=gen)
            out = model(x)
            composed = x
            for layer in layers:
                composed = layer(composed)
            expect_close(out, composed, "FeedForward", f"FeedForward({sizes})(x: (6, {sizes[0]}))")
        losses = []
        for _ in range(3):
            model = cls([784, 50, 10])
            losses.append(float(F.cross_entropy(model(torch.randn(500, 784, generator=gen)),
                                                torch.randint(0, 10, (500,), generator=gen))))
    loss = sum(losses) / len(losses)
    low, high = INITIAL_LOSS_BAND
    if not low <= loss <= high:
        raise CheckFailed(f"the initial loss of FeedForward([784, 50, 10]) is {loss:.3g}; with 10 classes an untrained "
                          f"model should be near ln 10 = 2.30 (the reference gives about 3); allowed: {low}-{high}.")


EXERCISES = (
    Exercise("lin", 1, check_lin),
    Exercise("relu", 1, check_relu),
    Exercise("Linear", 3, check_Linear),
    Exercise("ReLU", 1, check_ReLU),
    Exercise("mse", 2, check_mse),
    Exercise("logsumexp", 2, check_logsumexp),
    Exercise("log_softmax", 2, check_log_softmax),
    Exercise("nll", 2, check_nll),
    Exercise("cross_entropy", 1, check_cross_entropy),
    Exercise("accuracy", 1, check_accuracy),
    Exercise("FeedForward", 3, check_FeedForward),
)
