"""Hidden checks of lesson 09_rnn: an RNN against nn.RNN, BPTT against autograd, clipping against
torch.nn.utils.clip_grad_norm_, and a character-level classifier trained on the lesson's words."""
from __future__ import annotations

import math
import time
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from autograder.checks import reference_helpers
from autograder.compare import expect_close, is_close, product_scale
from autograder.exercise import Exercise, check, randn
from autograder.policy import AUTOGRAD_FAMILY, NUMPY_ESCAPES, run_under_policy
from autograder.results import CheckFailed
from autograder.words import alphabet, encode, load_words

# torch's recurrent layers and cells, as the function mode names them (nn.RNN arrives as rnn_tanh).
RNN_FAMILY = frozenset({
    "rnn_tanh", "rnn_relu", "rnn_tanh_cell", "rnn_relu_cell", "lstm", "lstm_cell", "gru", "gru_cell",
    "_thnn_fused_lstm_cell", "_thnn_fused_gru_cell",
})
# torch.nn.utils.clip_grad_norm_ and its parts (it is plain Python: the function mode sees the
# _foreach_ kernels it calls, on the CPU too).
CLIP_FAMILY = frozenset({"_foreach_norm", "_foreach_mul_", "_foreach_mul", "clip_grad_norm_", "clip_grad_norm",
                         "clip_grads_with_norm_", "get_total_norm"})
F64, F32 = torch.float64, torch.float32
GRAD_NAMES = ("xs", "h0", "W_xh", "W_hh", "b")
# (N, I, H, dtype): a few rows, one row, a square W_xh (where swapping the two weights keeps the
# shapes), one input, and a batch of the classifier's size.
CELL_CASES = ((3, 4, 5, F64), (1, 3, 3, F64), (4, 6, 6, F32), (2, 1, 7, F64), (32, 64, 64, F32))
# (T, N, I, H, dtype, h0 given): several steps, one step, one sequence, square weights, h0=None, and
# a float32 batch as long as the longest word.
SEQ_CASES = ((5, 3, 4, 6, F64, True), (1, 2, 3, 3, F64, True), (7, 1, 2, 5, F64, True), (6, 3, 5, 5, F64, False),
             (20, 16, 64, 32, F32, True), (12, 4, 3, 8, F32, False))
# (T, N, I, H, dtype, where the loss reads the states): "all" steps or only the "last" one.
BPTT_CASES = ((5, 3, 4, 6, F64, "all"), (6, 2, 5, 5, F64, "last"), (1, 3, 2, 4, F64, "all"), (8, 1, 3, 4, F64, "all"),
              (10, 8, 16, 12, F32, "all"), (12, 4, 6, 8, F64, "last"))
# The training run of check_train_step (see README, "Statistical margins"): 64 hidden units, batches
# of 32 words, SGD clipped to norm 1 at the step sizes of LR_PER_EPOCH, on 3,397 words. Over 200
# random seeds the reference reached VALID_RANGE (median 62.9%) on the 800 held-out words, training
# in 0.9-5.0 s on a 2-core machine shared with other jobs; chance is 1/6, and the bar is 18 points
# below the lowest of the 200. With lr 0.2 to the end the last model's accuracy was noisier: 49.6-65.6%
# over 300 seeds, and 38.2% once in about 120 more.
HIDDEN, BATCH, MAX_NORM, N_VALID = 64, 32, 1.0, 800
LR_PER_EPOCH = (0.2, 0.2, 0.05)  # a smaller last step size: the last model is not left wherever one noisy batch threw it
TRAIN_EPOCHS = len(LR_PER_EPOCH)
MIN_ACCURACY = 0.40
VALID_RANGE = "58.4-67.5%"
TRAIN_BUDGET_S = 30.0


def _weights(i: int, h: int, dtype: torch.dtype, device: torch.device,
             gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """W_xh (I, H), W_hh (H, H) and b (H,), scaled as an initialization would: W_hh is not symmetric,
    so a transposed one computes something else."""
    return (randn(i, h, gen=gen, dtype=dtype, device=device) / math.sqrt(i),
            randn(h, h, gen=gen, dtype=dtype, device=device) / math.sqrt(h),
            randn(h, gen=gen, dtype=dtype, device=device) * 0.5)


def _torch_rnn(w_xh: torch.Tensor, w_hh: torch.Tensor, b: torch.Tensor, cell: bool = False) -> torch.nn.Module:
    """nn.RNN (or nn.RNNCell) in float64 with our weights copied in: torch keeps them transposed and
    has two biases (bias_hh set to 0). Built without touching the global random state."""
    i, h = w_xh.shape
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        module = (torch.nn.RNNCell(i, h) if cell else torch.nn.RNN(i, h)).to(device=w_xh.device, dtype=F64)
        suffix = "" if cell else "_l0"
        getattr(module, f"weight_ih{suffix}").copy_(w_xh.T)
        getattr(module, f"weight_hh{suffix}").copy_(w_hh.T)
        getattr(module, f"bias_ih{suffix}").copy_(b)
        getattr(module, f"bias_hh{suffix}").zero_()
    return module


def _forward(xs: torch.Tensor, h0: torch.Tensor, w_xh: torch.Tensor, w_hh: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The trusted forward pass (differentiable), a loop over time."""
    h, hs = h0, []
    for x in xs:
        h = torch.tanh(x @ w_xh + h @ w_hh + b)
        hs.append(h)
    return torch.stack(hs)


def _step_scale(x: torch.Tensor, h: torch.Tensor, w_xh: torch.Tensor, w_hh: torch.Tensor, b: torch.Tensor) -> float:
    """The magnitude a pre-activation is summed from: its rounding error scales with it (tanh' <= 1)."""
    return product_scale(x, w_xh) + product_scale(h, w_hh) + float(b.abs().max())


@check("rnn_cell")
def check_rnn_cell(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Against nn.RNNCell with the weights copied in: batches, one row, square weights, float32/64;
    inputs unchanged; no torch RNN function."""
    for n, i, h, dtype in CELL_CASES:
        x, hp = randn(n, i, gen=gen, dtype=dtype, device=device), randn(n, h, gen=gen, dtype=dtype, device=device).tanh()
        w_xh, w_hh, b = _weights(i, h, dtype, device, gen)
        call = f"rnn_cell(x: {(n, i)}, h: {(n, h)}, W_xh: {(i, h)}, W_hh: {(h, h)}, b: {(h,)}) {dtype}"
        out = run_under_policy(call, lambda: fn(x, hp, w_xh, w_hh, b), RNN_FAMILY | NUMPY_ESCAPES,
                   "build the step from @, + and torch.tanh.", x=x, h=hp, W_xh=w_xh, W_hh=w_hh, b=b)
        cell = _torch_rnn(w_xh.double(), w_hh.double(), b.double(), cell=True)
        with torch.no_grad():
            expected = cell(x.double(), hp.double()).to(dtype)
        xd, hd, wx, wh, bd = (t.double() for t in (x, hp, w_xh, w_hh, b))
        pre = xd @ wx + hd @ wh + bd
        variants = [(torch.tanh(xd @ wx + hd @ wh.T + bd), "W_hh is transposed: the previous state multiplies W_hh "
                     "from the left, h @ W_hh (row j of W_hh is what previous unit j adds to each new unit), "
                     "not h @ W_hh.T."),
                    (pre, "the tanh is missing: the new state is tanh(x @ W_xh + h @ W_hh + b)."),
                    (torch.relu(pre), "it applies a ReLU; this RNN's nonlinearity is tanh, as nn.RNN's by default."),
                    (torch.tanh(xd @ wx + hd @ wh), "the bias b is missing."),
                    (torch.tanh(xd @ wx + bd), "the previous state h is ignored: add h @ W_hh, the memory of the "
                     "earlier steps.")]
        if i == h:
            variants.append((torch.tanh(xd @ wh + hd @ wx + bd), "W_xh and W_hh are swapped: the input goes through "
                             "W_xh (I, H), the previous state through W_hh (H, H)."))
        expect_close(out, expected, "rnn_cell", call, scale=_step_scale(x, hp, w_xh, w_hh, b), hints=variants,
                     shape_hint={(h, n): "It is transposed: one row per sequence, (N, H)."} if n != h else None)


@check("rnn_forward")
def check_rnn_forward(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Against nn.RNN with the weights copied in: several steps, one step, one sequence, square weights,
    h0 None (zeros), float32/64; inputs unchanged; no torch RNN function. Graded with the reference
    rnn_cell, should it call it."""
    with reference_helpers(fn, "rnn", "rnn_cell"):
        for t, n, i, h, dtype, given in SEQ_CASES:
            xs = randn(t, n, i, gen=gen, dtype=dtype, device=device)
            h0 = randn(n, h, gen=gen, dtype=dtype, device=device).tanh() if given else None
            w_xh, w_hh, b = _weights(i, h, dtype, device, gen)
            call = (f"rnn_forward(xs: {(t, n, i)}, h0: {(n, h) if given else None}, W_xh: {(i, h)}, W_hh: {(h, h)}, "
                    f"b: {(h,)}) {dtype}")
            inputs = {"xs": xs, "W_xh": w_xh, "W_hh": w_hh, "b": b} | ({"h0": h0} if given else {})
            out = run_under_policy(call, lambda: fn(xs, h0, w_xh, w_hh, b), RNN_FAMILY | NUMPY_ESCAPES,
                       "run your own cell in a loop over time.", **inputs)
            rnn = _torch_rnn(w_xh.double(), w_hh.double(), b.double())
            h0d = torch.zeros(n, h, dtype=F64, device=device) if h0 is None else h0.double()
            with torch.no_grad():
                expected = rnn(xs.double(), h0d.unsqueeze(0))[0]
            xd, wx, wh, bd = xs.double(), w_xh.double(), w_hh.double(), b.double()
            variants = [(torch.tanh(xd @ wx + h0d @ wh + bd), "every step starts from h0: the hidden state is not "
                         "carried. Each step's new state is the next step's h (h = rnn_cell(x, h, ...))."),
                        (torch.cat([h0d.unsqueeze(0), expected[:-1]]), "it is one step late: hs[t] is the state after "
                         "reading xs[t], so the list starts with the first new state, not with h0.")]
            shape_hints = {(n, t, h): "Time comes first: hs[t] is step t of every sequence, (T, N, H), as nn.RNN.",
                           (n, h): "It returns only the last state; return every step's, stacked along time: (T, N, H).",
                           (1, n, h): "It returns only the last state; return every step's, stacked along time: (T, N, H).",
                           (t + 1, n, h): "It includes h0: hs holds the T new states, one per input step."}
            scale = 2 * (product_scale(xd.reshape(-1, i), wx) + float(wh.abs().sum(0).max() + bd.abs().max()))
            expect_close(out, expected.to(dtype), "rnn_forward", call, scale=scale, hints=variants,
                         shape_hint=shape_hints)


def _bptt(xs: torch.Tensor, h0: torch.Tensor, w_xh: torch.Tensor, w_hh: torch.Tensor, b: torch.Tensor,
          hs: torch.Tensor, dhs: torch.Tensor, truncate: bool = False, pre_activation: bool = False,
          transposed: bool = False) -> dict[str, torch.Tensor]:
    """Backpropagation through time, right or with one of the classic mistakes (for the hints)."""
    grads = {"xs": torch.zeros_like(xs), "W_xh": torch.zeros_like(w_xh), "W_hh": torch.zeros_like(w_hh),
             "b": torch.zeros_like(b)}
    dh_next = torch.zeros_like(h0)
    for t in reversed(range(len(xs))):
        h_prev = hs[t - 1] if t > 0 else h0
        dh = dhs[t] + (0 if truncate else dh_next)
        a = xs[t] @ w_xh + h_prev @ w_hh + b
        da = dh * (1 - (a if pre_activation else hs[t]) ** 2)
        grads["W_xh"] += xs[t].T @ da
        grads["W_hh"] += h_prev.T @ da
        grads["b"] += da.sum(0)
        grads["xs"][t] = da @ w_xh.T
        dh_next = da @ (w_hh if transposed else w_hh.T)
    grads["h0"] = dh_next
    return grads


_BPTT_HINTS = (
    ({"truncate": True}, "the gradient is truncated to one step: each state's gradient must add what the next step "
     "sends back, dh = dhs[t] + dh_next with dh_next = da @ W_hh.T, or nothing flows back through time."),
    ({"pre_activation": True}, "tanh's derivative is computed from the pre-activation, 1 - a²; it is 1 - tanh(a)² = "
     "1 - h², from the state hs[t] that the forward pass kept."),
    ({"transposed": True}, "the gradient sent to the previous state uses W_hh, not W_hh.T: h_prev's gradient is "
     "da @ W_hh.T, since the forward pass computed h_prev @ W_hh."),
)


@check("bptt_backward")
def check_bptt_backward(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Every gradient (xs, h0, W_xh, W_hh, b) against autograd of (hs * dhs).sum(), in float64 to 1e-10
    and in float32; the loss reading every state or only the last; one step, one sequence, square
    weights; inputs unchanged; no autograd and no torch RNN function."""
    for t, n, i, h, dtype, reads in BPTT_CASES:
        xs = randn(t, n, i, gen=gen, dtype=dtype, device=device)
        h0 = randn(n, h, gen=gen, dtype=dtype, device=device).tanh()
        w_xh, w_hh, b = _weights(i, h, dtype, device, gen)
        with torch.no_grad():
            hs = _forward(xs.double(), h0.double(), w_xh.double(), w_hh.double(), b.double()).to(dtype)
        dhs = randn(t, n, h, gen=gen, dtype=dtype, device=device)
        if reads == "last":
            dhs[:-1] = 0
        call = (f"bptt_backward(xs: {(t, n, i)}, h0: {(n, h)}, W_xh: {(i, h)}, W_hh: {(h, h)}, b: {(h,)}, hs, dhs) "
                f"{dtype}, the loss reading {'every state' if reads == 'all' else 'only the last state'}")
        inputs = {"xs": xs, "h0": h0, "W_xh": w_xh, "W_hh": w_hh, "b": b, "hs": hs, "dhs": dhs}
        grads = run_under_policy(call, lambda: fn(xs, h0, w_xh, w_hh, b, hs, dhs), AUTOGRAD_FAMILY | RNN_FAMILY | NUMPY_ESCAPES,
                     "this exercise computes the gradients by hand, backwards through time (no .backward(), "
                     "torch.autograd.grad or torch's RNN).", **inputs)
        if not isinstance(grads, dict):
            raise CheckFailed(f"{call} returned {type(grads).__name__}; return a dict of the gradients with the keys "
                              f"{', '.join(repr(k) for k in GRAD_NAMES)}.")
        missing = [k for k in GRAD_NAMES if k not in grads]
        if missing:
            raise CheckFailed(f"{call} returned a dict without {', '.join(repr(k) for k in missing)}: return the "
                              f"gradients of all five inputs, {', '.join(repr(k) for k in GRAD_NAMES)}.")
        leaves = {k: v.detach().double().requires_grad_() for k, v in inputs.items() if k in GRAD_NAMES}
        with torch.enable_grad():
            (_forward(*(leaves[k] for k in GRAD_NAMES)) * dhs.double()).sum().backward()
        truth = {k: leaf.grad.to(dtype) for k, leaf in leaves.items()}
        plain = {k: v.double() for k, v in inputs.items()}
        variants = [(_bptt(*(plain[k] for k in ("xs", "h0", "W_xh", "W_hh", "b", "hs", "dhs")), **flags), hint)
                    for flags, hint in _BPTT_HINTS]
        for k in ("W_hh", "W_xh", "b", "h0", "xs"):
            scale = 10 * float(truth[k].abs().max()) * t
            shape_hints = {(n, h): "It is not summed over the batch: b's gradient is da.sum(0), added up over the "
                           "steps."} if k == "b" else None
            expect_close(grads[k], truth[k], "bptt_backward", f"{call}: the gradient of {k}", scale=scale,
                         hints=[(v[k], hint) for v, hint in variants], shape_hint=shape_hints)


def _with_grads(grads: list[torch.Tensor | None]) -> list[torch.Tensor]:
    """Parameters whose .grad are copies of `grads` (None: no gradient)."""
    params = []
    for g in grads:
        p = torch.zeros(() if g is None else g.shape, dtype=F64 if g is None else g.dtype,
                        device="cpu" if g is None else g.device, requires_grad=True)
        p.grad = None if g is None else g.clone()
        params.append(p)
    return params


def _clip_cases(gen: torch.Generator, device: torch.device) -> Iterator[tuple[list, float, str]]:
    """(gradients, max_norm, shown): clipped by far (where each parameter alone is also over the
    limit, so clipping per parameter computes something else), not clipped, some gradients None, one
    parameter, none at all."""
    for dtype in (F64, F32):
        grads = [randn(*s, gen=gen, dtype=dtype, device=device) * scale for s, scale in (((4, 5), 1.0), ((5,), 3.0), ((3, 3), 10.0))]
        yield grads, 1.0, f"gradients (4, 5), (5,), (3, 3) of norms {', '.join(f'{float(g.norm()):.3g}' for g in grads)}, {dtype}"
        yield grads, 1e3, f"the same gradients, max_norm far above their norm, {dtype}"
    grads = [randn(6, gen=gen, dtype=F64, device=device) * 2, None, randn(2, 3, gen=gen, dtype=F64, device=device)]
    yield grads, 0.5, "gradients (6,), None, (2, 3): the parameter without a gradient is skipped"
    yield [randn(7, gen=gen, dtype=F64, device=device) * 5], 2.0, "one parameter's gradient (7,)"
    yield [torch.full((3,), 1e-3, dtype=F64, device=device)], 1.0, "one small gradient (3,) far below max_norm"


@check("clip_grad_norm")
def check_clip_grad_norm(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """The gradients in place and the returned norm against torch.nn.utils.clip_grad_norm_: clipped,
    not clipped (never scaled up), .grad None skipped, one parameter, none; no torch clipping."""
    for grads, max_norm, shown in _clip_cases(gen, device):
        call = f"clip_grad_norm(params, max_norm={max_norm:g}) with {shown}"
        ours, theirs = _with_grads(grads), _with_grads(grads)
        with torch.random.fork_rng(devices=[]):
            expected_norm = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
        out = run_under_policy(call, lambda: fn(ours, max_norm), CLIP_FAMILY | NUMPY_ESCAPES,
                   "compute the global norm and scale the gradients yourself.")
        if isinstance(out, float) or not isinstance(out, torch.Tensor) or out.dim() != 0:
            what = f"a tensor of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
            raise CheckFailed(f"{call} returned {what}; return the total norm before clipping as a 0-d tensor, like "
                              "clip_grad_norm_.")
        real = [g for g in grads if g is not None]
        norms = torch.stack([g.double().norm() for g in real])
        total = float(norms.norm())
        dtype = real[0].dtype
        if not math.isclose(float(out), float(expected_norm), rel_tol=1e-5) and \
                not math.isclose(float(out), total, rel_tol=1e-5):
            hint = ""
            if math.isclose(float(out), min(total, max_norm), rel_tol=1e-5) and total > max_norm:
                hint = " It is the norm after clipping; return the one before (as clip_grad_norm_ does)."
            elif math.isclose(float(out), float(norms.sum()), rel_tol=1e-5):
                hint = (" It adds up the parameters' norms; the global norm is the square root of the sum of all "
                        "squared entries, (sum of each norm²) ** 0.5.")
            raise CheckFailed(f"{call} returned {float(out):.6g}; the global norm before clipping is {total:.6g}.{hint}")
        coef = min(1.0, max_norm / (total + 1e-6))
        for k, (p, q, g) in enumerate(zip(ours, theirs, grads)):
            if g is None:
                if p.grad is not None:
                    raise CheckFailed(f"{call} gave params[{k}] a gradient; it had none: skip parameters whose .grad is None.")
                continue
            what = f"{call}: params[{k}].grad"
            if p.grad is None:
                raise CheckFailed(f"{what} is None afterwards: scale the gradients in place (p.grad.mul_(...)).")
            gd = g.double()
            variants = [(gd * min(1.0, max_norm / (float(gd.norm()) + 1e-6)),
                         "each parameter is clipped by its own norm; clip by the global norm of all gradients "
                         "together, one factor for all, so that the gradient keeps its direction."),
                        (gd * max_norm / (total + 1e-6), "the gradients are scaled up to max_norm; below max_norm "
                         "they must stay as they are (the factor is at most 1)."),
                        (gd, "the gradients are unchanged: when the global norm is over max_norm, multiply every "
                         "p.grad in place by max_norm / (norm + 1e-6)" + (" (p.grad = p.grad * c makes a new "
                         "tensor, which is fine too; a local variable g = g * c changes nothing)." if coef < 1 else "."))]
            if is_close(p.grad.double(), (gd * max_norm / total) if total > max_norm else gd):
                continue  # without torch's 1e-6: as good
            expect_close(p.grad, q.grad.to(dtype), "clip_grad_norm", what, scale=float(gd.abs().max()),
                         hints=variants)
    none = [torch.zeros(3, requires_grad=True)]
    out = run_under_policy("clip_grad_norm(params) with no gradients", lambda: fn(none, 1.0), CLIP_FAMILY | NUMPY_ESCAPES,
               "compute the global norm and scale the gradients yourself.")
    if not isinstance(out, torch.Tensor) or out.dim() != 0 or float(out) != 0.0:
        raise CheckFailed(f"clip_grad_norm(params) where no parameter has a gradient returned {out!r}; return "
                          "torch.tensor(0.0), as clip_grad_norm_ does.")


def _padded_batch(t: int, n: int, i: int, dtype: torch.dtype, device: torch.device,
                  gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random inputs zero-padded past random lengths in 1..T, with at least one full and one of length 1."""
    lengths = torch.randint(1, t + 1, (n,), generator=gen)
    lengths[0] = t
    if n > 1:
        lengths[1] = 1
    xs = randn(t, n, i, gen=gen, dtype=dtype, device=device)
    mask = (torch.arange(t).unsqueeze(1) < lengths.unsqueeze(0)).to(device=device, dtype=dtype)
    return xs * mask.unsqueeze(-1), lengths


def _classifier_weights(i: int, h: int, c: int, dtype: torch.dtype, device: torch.device,
                        gen: torch.Generator) -> list[torch.Tensor]:
    return [*_weights(i, h, dtype, device, gen), randn(h, c, gen=gen, dtype=dtype, device=device) / math.sqrt(h),
            randn(c, gen=gen, dtype=dtype, device=device) * 0.5]


def _logits(xs: torch.Tensor, lengths: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    """The truth: nn.RNN over the packed sequence (its h_n is each sequence's last real state), in float64."""
    w_xh, w_hh, b, w_hy, b_y = (p.detach().double() for p in params)
    rnn = _torch_rnn(w_xh, w_hh, b)
    with torch.no_grad():
        _, h_n = rnn(pack_padded_sequence(xs.double(), lengths.cpu(), enforce_sorted=False))
    return h_n[0] @ w_hy + b_y


@check("classify")
def check_classify(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Logits from each sequence's state after its last real step, against nn.RNN over a packed
    sequence: random lengths, one sequence, real words, float32/64; inputs unchanged. Graded with
    the reference rnn_forward and rnn_cell, should it call them."""
    words, _ = load_words()
    chars = alphabet(words)
    pick = torch.randperm(len(words), generator=gen)[:24].tolist()
    cases = [(*_padded_batch(6, 5, 4, F64, device, gen), _classifier_weights(4, 5, 3, F64, device, gen), "(6, 5, 4), H 5, C 3 float64"),
             (*_padded_batch(4, 1, 3, F64, device, gen), _classifier_weights(3, 3, 2, F64, device, gen), "(4, 1, 3), H 3, C 2 float64"),
             (*_padded_batch(9, 7, 5, F32, device, gen), _classifier_weights(5, 8, 4, F32, device, gen), "(9, 7, 5), H 8, C 4 float32")]
    xs_words, lengths_words = encode([words[k] for k in pick], chars)
    cases.append((xs_words.to(device), lengths_words, _classifier_weights(len(chars), 16, 6, F32, device, gen),
                  f"24 words one-hot {tuple(xs_words.shape)}, H 16, C 6 float32"))
    with reference_helpers(fn, "rnn", "rnn_forward", "rnn_cell"):
        for xs, lengths, params, shown in cases:
            call = f"classify(xs: {shown}, lengths {lengths.tolist()})"
            names = ("W_xh", "W_hh", "b", "W_hy", "b_y")
            out = run_under_policy(call, lambda: fn(xs, lengths, *params), RNN_FAMILY | NUMPY_ESCAPES,
                       "run rnn_forward and pick each sequence's last state yourself.",
                       xs=xs, lengths=lengths, **dict(zip(names, params)))
            expected = _logits(xs, lengths, params)
            w_xh, w_hh, b, w_hy, b_y = (p.double() for p in params)
            last_all = _forward(xs.double(), torch.zeros(xs.shape[1], w_hh.shape[0], dtype=F64, device=device), w_xh, w_hh, b)[-1]
            variants = [(last_all @ w_hy + b_y, "it uses hs[-1], the state after the last step of the padded batch: a "
                         "shorter sequence's state went on changing over its padding. Take hs[lengths - 1, "
                         "torch.arange(N)], each sequence's state after its own last step."),
                        (F.softmax(expected, dim=1), "it returns probabilities (a softmax); return the logits, "
                         "F.cross_entropy applies the softmax itself."),
                        (F.log_softmax(expected, dim=1), "it returns log-probabilities; return the logits, "
                         "F.cross_entropy applies log_softmax itself."),
                        (expected - b_y, "the output bias b_y is missing.")]
            t, n = xs.shape[:2]
            shape_hints = {(t, n, w_hy.shape[1]): "Many-to-one: one row of logits per sequence, (N, C), from its last "
                           "state, not one per step.", (n, w_hh.shape[0]): "These are states; map them to logits with "
                           "the output layer, @ W_hy + b_y."}
            scale = float(w_hy.abs().sum(0).max()) * 4 + float(b_y.abs().max())
            expect_close(out, expected.to(xs.dtype), "classify", call, scale=scale, hints=variants,
                         shape_hint=shape_hints)


def _reference_step(params: list[torch.Tensor], xs: torch.Tensor, lengths: torch.Tensor, ys: torch.Tensor,
                    lr: float, max_norm: float, clip: bool = True, sign: float = -1.0,
                    eps: bool = True) -> tuple[float, list[torch.Tensor]]:
    """The truth for one step (loss before it, parameters after it), on copies; without torch's 1e-6 in
    the clipping factor (as good), or with a mistake for the hints."""
    leaves = [p.detach().clone().requires_grad_() for p in params]
    w_xh, w_hh, b, w_hy, b_y = leaves
    with torch.enable_grad():
        hs = _forward(xs, torch.zeros(xs.shape[1], w_hh.shape[0], dtype=xs.dtype, device=xs.device), w_xh, w_hh, b)
        last = hs[lengths.to(xs.device) - 1, torch.arange(xs.shape[1], device=xs.device)]
        loss = F.cross_entropy(last @ w_hy + b_y, ys)
        loss.backward()
    if clip and eps:
        with torch.random.fork_rng(devices=[]):
            torch.nn.utils.clip_grad_norm_(leaves, max_norm)
    elif clip:
        total = float(torch.stack([p.grad.norm() for p in leaves]).norm())
        for p in leaves:
            p.grad.mul_(min(1.0, max_norm / total))
    return float(loss), [(p + sign * lr * p.grad).detach() for p in leaves]


def _expect_step(fn: Callable, params: list[torch.Tensor], batch: tuple, lr: float, max_norm: float, call: str) -> None:
    """One learner step against the truth: the returned loss, the parameters updated in place, the
    gradients cleared."""
    xs, lengths, ys = batch
    before = [p.detach().clone() for p in params]
    expected_loss, expected = _reference_step(before, xs, lengths, ys, lr, max_norm)
    objects = list(params)
    try:
        loss = run_under_policy(call, lambda: fn(params, xs, lengths, ys, lr, max_norm), RNN_FAMILY | NUMPY_ESCAPES,
                    "the RNN runs through classify.", xs=xs, lengths=lengths, ys=ys)
    except RuntimeError as err:
        if "leaf Variable that requires grad" not in str(err):
            raise
        raise CheckFailed(f"{call} raised RuntimeError ({err}): update the parameters inside `with torch.no_grad():`, "
                          "so that autograd does not record the update itself.") from None
    if any(a is not b for a, b in zip(params, objects)) or len(params) != len(objects):
        raise CheckFailed(f"{call} replaced the tensors in the params list; update each parameter in place "
                          "(p -= lr * p.grad inside torch.no_grad()).")
    if isinstance(loss, torch.Tensor):
        raise CheckFailed(f"{call} returned a tensor; return the loss as a Python float, loss.item(): a tensor "
                          "would keep the whole graph of the step alive in the loss curve.")
    if type(loss) is not float:
        raise CheckFailed(f"{call} returned {type(loss).__name__}; return the loss as a Python float (loss.item()).")
    if not math.isclose(loss, expected_loss, rel_tol=1e-9):
        raise CheckFailed(f"{call} returned {loss:.9g}; the batch's mean cross-entropy before the update is "
                          f"{expected_loss:.9g}.")
    if all(torch.equal(p.detach(), q) for p, q in zip(params, before)):
        raise CheckFailed(f"{call} left the parameters unchanged: update each one in place, p -= lr * p.grad, inside "
                          "torch.no_grad() (p = p - lr * p.grad only rebinds a local name).")
    _, unclipped = _reference_step(before, xs, lengths, ys, lr, max_norm, clip=False)
    _, ascent = _reference_step(before, xs, lengths, ys, lr, max_norm, sign=1.0)
    names = ("W_xh", "W_hh", "b", "W_hy", "b_y")
    _, without_eps = _reference_step(before, xs, lengths, ys, lr, max_norm, eps=False)
    if all(is_close(p.detach(), want, float(want.abs().max())) for p, want in zip(params, without_eps)):
        expected = without_eps  # clipped by max_norm / norm, without torch's 1e-6: as good
    for k, (p, want) in enumerate(zip(params, expected)):
        variants = [(unclipped[k], "the gradients are not clipped before the update: call clip_grad_norm(params, "
                     "max_norm) after loss.backward() and before the update."),
                    (ascent[k], "it steps uphill: p -= lr * p.grad, against the gradient.")]
        expect_close(p.detach(), want, "train_step", f"{call}: params[{k}] ({names[k]}) after the step",
                     scale=float(want.abs().max()), hints=variants)
        if p.grad is not None and p.grad.abs().max() != 0:
            raise CheckFailed(f"{call}: params[{k}].grad is still set after the step: clear it (p.grad = None) so "
                              "that the next backward() does not add to it.")


def _words_split(gen: torch.Generator) -> tuple[str, list[str], torch.Tensor, list[str], torch.Tensor]:
    words, labels = load_words()
    order = torch.randperm(len(words), generator=gen)
    words, labels = [words[i] for i in order], labels[order]
    return alphabet(words), words[:-N_VALID], labels[:-N_VALID], words[-N_VALID:], labels[-N_VALID:]


@check("train_step")
def check_train_step(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Steps in float64 against the truth (loss returned, clipped update in place, gradients cleared),
    with and without clipping at work; then 3 epochs on the lesson's words reaching 40% validation
    accuracy (chance: 17%). Graded with the reference classify, clip_grad_norm, rnn_forward and rnn_cell."""
    with reference_helpers(fn, "rnn", "classify", "clip_grad_norm", "rnn_forward", "rnn_cell"):
        for max_norm in (0.05, 1e3):
            params = [p.requires_grad_() for p in _classifier_weights(4, 5, 3, F64, device, gen)]
            batches = []
            for _ in range(2):
                xs, lengths = _padded_batch(6, 8, 4, F64, device, gen)
                batches.append((xs, lengths, torch.randint(0, 3, (8,), generator=gen).to(device)))
            shown = f"train_step(params, xs: (6, 8, 4) float64, lengths, ys, lr=0.5, max_norm={max_norm:g})"
            for which, batch in zip(("a first step", "a second step"), batches):
                _expect_step(fn, params, batch, 0.5, max_norm, f"{shown}, {which}")
        _expect_training(fn, device, gen)


def _expect_training(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    chars, train_words, train_labels, valid_words, valid_labels = _words_split(gen)
    v, c = len(chars), 6
    params = [(randn(v, HIDDEN, gen=gen, dtype=F32, device=device) / math.sqrt(v)).requires_grad_(),
              (randn(HIDDEN, HIDDEN, gen=gen, dtype=F32, device=device) / math.sqrt(HIDDEN)).requires_grad_(),
              torch.zeros(HIDDEN, device=device, requires_grad=True),
              (randn(HIDDEN, c, gen=gen, dtype=F32, device=device) / math.sqrt(HIDDEN)).requires_grad_(),
              torch.zeros(c, device=device, requires_grad=True)]
    call = (f"train_step over {TRAIN_EPOCHS} epochs of {len(train_words):,} words (64 hidden units, batches of "
            f"{BATCH}, lr={', '.join(map(str, LR_PER_EPOCH))} in the {TRAIN_EPOCHS} epochs, max_norm={MAX_NORM:g})")
    # One thread: these small products gain nothing from two, and two threads slow down a hundredfold
    # when another process holds a core of a 2-core machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    losses = []
    try:
        start = time.perf_counter()
        for lr in LR_PER_EPOCH:
            for idx in torch.randperm(len(train_words), generator=gen).split(BATCH):
                xs, lengths = encode([train_words[i] for i in idx], chars)
                losses.append(fn(params, xs.to(device), lengths, train_labels[idx].to(device), lr, MAX_NORM))
        took = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    if took > TRAIN_BUDGET_S:
        raise CheckFailed(f"{call} took {took:.1f} s; the budget is {TRAIN_BUDGET_S:.0f} s (the reference takes "
                          "1-3 s).")
    if not all(isinstance(x, float) and math.isfinite(x) for x in losses):
        raise CheckFailed(f"{call}: the losses returned are not all finite floats.")
    steps = len(losses) // TRAIN_EPOCHS
    first, last = sum(losses[:20]) / 20, sum(losses[-steps:]) / steps
    if not last < first:
        raise CheckFailed(f"{call}: the loss does not go down (first 20 steps {first:.3f}, last epoch {last:.3f}).")
    xs, lengths = encode(valid_words, chars)
    with torch.no_grad():
        logits = _logits(xs.to(device), lengths, params)
    accuracy = float((logits.argmax(1).cpu() == valid_labels).double().mean())
    if accuracy < MIN_ACCURACY:
        raise CheckFailed(f"{call} reached {accuracy:.1%} validation accuracy on {N_VALID} words; at least "
                          f"{MIN_ACCURACY:.0%} is expected (the reference gets {VALID_RANGE}; chance is 17%).")


EXERCISES = (
    Exercise("rnn_cell", 2, check_rnn_cell),
    Exercise("rnn_forward", 3, check_rnn_forward),
    Exercise("bptt_backward", 4, check_bptt_backward),
    Exercise("clip_grad_norm", 2, check_clip_grad_norm),
    Exercise("classify", 2, check_classify),
    Exercise("train_step", 3, check_train_step),
)
