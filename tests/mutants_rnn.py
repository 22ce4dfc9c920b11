"""Realistic wrong answers to lesson 09_rnn, each with the exercise it must fail and the message it must get."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mutants_matmul import Mutant
from solutions.rnn import classify, clip_grad_norm, rnn_cell, rnn_forward


def rnn_cell_W_hh_transposed(x, h, W_xh, W_hh, b):
    return torch.tanh(x @ W_xh + h @ W_hh.T + b)


def rnn_cell_without_tanh(x, h, W_xh, W_hh, b):
    return x @ W_xh + h @ W_hh + b


def rnn_cell_without_bias(x, h, W_xh, W_hh, b):
    return torch.tanh(x @ W_xh + h @ W_hh)


def rnn_cell_by_torch(x, h, W_xh, W_hh, b):
    return torch.rnn_tanh_cell(x, h, W_xh.T, W_hh.T, b, torch.zeros_like(b))


def _loop(xs, h0, W_xh, W_hh, b, carry=True):
    if h0 is None:
        h0 = torch.zeros(xs.shape[1], W_hh.shape[0], dtype=xs.dtype, device=xs.device)
    h, hs = h0, []
    for x in xs:
        new = rnn_cell(x, h, W_xh, W_hh, b)
        hs.append(new)
        if carry:
            h = new
    return hs, h0


def rnn_forward_state_not_carried(xs, h0, W_xh, W_hh, b):
    return torch.stack(_loop(xs, h0, W_xh, W_hh, b, carry=False)[0])


def rnn_forward_batch_first(xs, h0, W_xh, W_hh, b):
    return torch.stack(_loop(xs, h0, W_xh, W_hh, b)[0], dim=1)


def rnn_forward_last_state_only(xs, h0, W_xh, W_hh, b):
    return _loop(xs, h0, W_xh, W_hh, b)[0][-1]


def rnn_forward_one_step_late(xs, h0, W_xh, W_hh, b):
    hs, h0 = _loop(xs, h0, W_xh, W_hh, b)
    return torch.stack([h0] + hs[:-1])


def rnn_forward_by_torch(xs, h0, W_xh, W_hh, b):
    rnn = torch.nn.RNN(W_xh.shape[0], W_xh.shape[1]).to(xs.dtype)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(W_xh.T)
        rnn.weight_hh_l0.copy_(W_hh.T)
        rnn.bias_ih_l0.copy_(b)
        rnn.bias_hh_l0.zero_()
        return rnn(xs, None if h0 is None else h0.unsqueeze(0))[0]


def _bptt(xs, h0, W_xh, W_hh, b, hs, dhs, truncate=False, pre_activation=False, transposed=False, sum_b=True):
    grads = {"xs": torch.zeros_like(xs), "W_xh": torch.zeros_like(W_xh), "W_hh": torch.zeros_like(W_hh),
             "b": torch.zeros_like(b) if sum_b else torch.zeros_like(h0)}
    dh_next = torch.zeros_like(h0)
    for t in reversed(range(len(xs))):
        h_prev = hs[t - 1] if t > 0 else h0
        dh = dhs[t] if truncate else dhs[t] + dh_next
        if pre_activation:
            a = xs[t] @ W_xh + h_prev @ W_hh + b
            da = dh * (1 - a ** 2)
        else:
            da = dh * (1 - hs[t] ** 2)
        grads["W_xh"] += xs[t].T @ da
        grads["W_hh"] += h_prev.T @ da
        grads["b"] += da.sum(0) if sum_b else da
        grads["xs"][t] = da @ W_xh.T
        dh_next = da @ (W_hh if transposed else W_hh.T)
    grads["h0"] = dh_next
    return grads


def bptt_truncated_to_one_step(xs, h0, W_xh, W_hh, b, hs, dhs):
    return _bptt(xs, h0, W_xh, W_hh, b, hs, dhs, truncate=True)


def bptt_tanh_derivative_of_pre_activation(xs, h0, W_xh, W_hh, b, hs, dhs):
    return _bptt(xs, h0, W_xh, W_hh, b, hs, dhs, pre_activation=True)


def bptt_W_hh_not_transposed(xs, h0, W_xh, W_hh, b, hs, dhs):
    return _bptt(xs, h0, W_xh, W_hh, b, hs, dhs, transposed=True)


def bptt_bias_not_summed(xs, h0, W_xh, W_hh, b, hs, dhs):
    return _bptt(xs, h0, W_xh, W_hh, b, hs, dhs, sum_b=False)


def bptt_by_autograd(xs, h0, W_xh, W_hh, b, hs, dhs):
    leaves = [t.detach().clone().requires_grad_() for t in (xs, h0, W_xh, W_hh, b)]
    with torch.enable_grad():
        (rnn_forward(*leaves) * dhs).sum().backward()
    return dict(zip(("xs", "h0", "W_xh", "W_hh", "b"), (t.grad for t in leaves)))


def bptt_as_tuple(xs, h0, W_xh, W_hh, b, hs, dhs):
    grads = _bptt(xs, h0, W_xh, W_hh, b, hs, dhs)
    return tuple(grads[k] for k in ("xs", "h0", "W_xh", "W_hh", "b"))


def _grads(params):
    return [p.grad for p in params if p.grad is not None]


def clip_per_parameter(params, max_norm):
    grads = _grads(params)
    if not grads:
        return torch.tensor(0.0)
    total = torch.stack([g.norm() for g in grads]).norm()
    for g in grads:
        g.mul_(min(1.0, max_norm / (float(g.norm()) + 1e-6)))
    return total


def clip_scales_up(params, max_norm):
    grads = _grads(params)
    if not grads:
        return torch.tensor(0.0)
    total = torch.stack([g.norm() for g in grads]).norm()
    for g in grads:
        g.mul_(max_norm / (total + 1e-6))
    return total


def clip_returns_norm_after(params, max_norm):
    total = clip_grad_norm(params, max_norm)
    return torch.clamp(total, max=max_norm)


def clip_sum_of_norms(params, max_norm):
    grads = _grads(params)
    if not grads:
        return torch.tensor(0.0)
    total = torch.stack([g.norm() for g in grads]).sum()
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g.mul_(coef)
    return total


def clip_by_torch(params, max_norm):
    return torch.nn.utils.clip_grad_norm_(params, max_norm)


def clip_on_a_local_copy(params, max_norm):
    grads = _grads(params)
    if not grads:
        return torch.tensor(0.0)
    total = torch.stack([g.norm() for g in grads]).norm()
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g = g * coef  # noqa: F841 (rebinds a local name, the gradient stays)
    return total


def classify_last_padded_step(xs, lengths, W_xh, W_hh, b, W_hy, b_y):
    return rnn_forward(xs, None, W_xh, W_hh, b)[-1] @ W_hy + b_y


def classify_probabilities(xs, lengths, W_xh, W_hh, b, W_hy, b_y):
    hs = rnn_forward(xs, None, W_xh, W_hh, b)
    return F.softmax(hs[lengths - 1, torch.arange(xs.shape[1])] @ W_hy + b_y, dim=1)


def classify_without_output_bias(xs, lengths, W_xh, W_hh, b, W_hy, b_y):
    hs = rnn_forward(xs, None, W_xh, W_hh, b)
    return hs[lengths - 1, torch.arange(xs.shape[1])] @ W_hy


def classify_every_step(xs, lengths, W_xh, W_hh, b, W_hy, b_y):
    return rnn_forward(xs, None, W_xh, W_hh, b) @ W_hy + b_y


def _step(params, xs, lengths, ys, lr, max_norm, clip=True, clear=True, sign=-1.0, item=True):
    loss = F.cross_entropy(classify(xs, lengths, *params), ys)
    loss.backward()
    if clip:
        clip_grad_norm(params, max_norm)
    with torch.no_grad():
        for p in params:
            p += sign * lr * p.grad
            if clear:
                p.grad = None
    return loss.item() if item else loss


def train_step_without_clipping(params, xs, lengths, ys, lr, max_norm):
    return _step(params, xs, lengths, ys, lr, max_norm, clip=False)


def train_step_gradients_kept(params, xs, lengths, ys, lr, max_norm):
    return _step(params, xs, lengths, ys, lr, max_norm, clear=False)


def train_step_uphill(params, xs, lengths, ys, lr, max_norm):
    return _step(params, xs, lengths, ys, lr, max_norm, sign=1.0)


def train_step_returns_tensor(params, xs, lengths, ys, lr, max_norm):
    return _step(params, xs, lengths, ys, lr, max_norm, item=False)


def train_step_rebinds(params, xs, lengths, ys, lr, max_norm):
    loss = F.cross_entropy(classify(xs, lengths, *params), ys)
    loss.backward()
    clip_grad_norm(params, max_norm)
    with torch.no_grad():
        for p in params:
            p = p - lr * p.grad  # noqa: PLW2901 (a new tensor; the parameter stays)
    for q in params:
        q.grad = None
    return loss.item()


def train_step_without_no_grad(params, xs, lengths, ys, lr, max_norm):
    loss = F.cross_entropy(classify(xs, lengths, *params), ys)
    loss.backward()
    clip_grad_norm(params, max_norm)
    for p in params:
        p -= lr * p.grad
        p.grad = None
    return loss.item()


def train_step_clips_after_the_update(params, xs, lengths, ys, lr, max_norm):
    loss = F.cross_entropy(classify(xs, lengths, *params), ys)
    loss.backward()
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
    clip_grad_norm(params, max_norm)
    for p in params:
        p.grad = None
    return loss.item()


MUTANTS = [
    Mutant("rnn_cell_W_hh_transposed", "rnn_cell", rnn_cell_W_hh_transposed, "W_hh is transposed"),
    Mutant("rnn_cell_without_tanh", "rnn_cell", rnn_cell_without_tanh, "the tanh is missing"),
    Mutant("rnn_cell_without_bias", "rnn_cell", rnn_cell_without_bias, "the bias b is missing"),
    Mutant("rnn_cell_by_torch", "rnn_cell", rnn_cell_by_torch, "calls `rnn_tanh_cell`"),
    Mutant("rnn_forward_state_not_carried", "rnn_forward", rnn_forward_state_not_carried,
           "every step starts from h0: the hidden state is not carried"),
    Mutant("rnn_forward_batch_first", "rnn_forward", rnn_forward_batch_first, "Time comes first"),
    Mutant("rnn_forward_last_state_only", "rnn_forward", rnn_forward_last_state_only, "It returns only the last state"),
    Mutant("rnn_forward_one_step_late", "rnn_forward", rnn_forward_one_step_late, "it is one step late"),
    Mutant("rnn_forward_by_torch", "rnn_forward", rnn_forward_by_torch, "calls `rnn_tanh`"),
    Mutant("bptt_truncated_to_one_step", "bptt_backward", bptt_truncated_to_one_step,
           "the gradient is truncated to one step"),
    Mutant("bptt_tanh_derivative_of_pre_activation", "bptt_backward", bptt_tanh_derivative_of_pre_activation,
           "tanh's derivative is computed from the pre-activation"),
    Mutant("bptt_W_hh_not_transposed", "bptt_backward", bptt_W_hh_not_transposed, "uses W_hh, not W_hh.T"),
    Mutant("bptt_bias_not_summed", "bptt_backward", bptt_bias_not_summed, "It is not summed over the batch"),
    Mutant("bptt_by_autograd", "bptt_backward", bptt_by_autograd, "calls `backward`"),
    Mutant("bptt_as_tuple", "bptt_backward", bptt_as_tuple, "returned tuple; return a dict"),
    Mutant("clip_per_parameter", "clip_grad_norm", clip_per_parameter, "each parameter is clipped by its own norm"),
    Mutant("clip_scales_up", "clip_grad_norm", clip_scales_up, "the gradients are scaled up to max_norm"),
    Mutant("clip_returns_norm_after", "clip_grad_norm", clip_returns_norm_after, "It is the norm after clipping"),
    Mutant("clip_sum_of_norms", "clip_grad_norm", clip_sum_of_norms, "It adds up the parameters' norms"),
    Mutant("clip_by_torch", "clip_grad_norm", clip_by_torch, "calls `_foreach_norm`"),
    Mutant("clip_on_a_local_copy", "clip_grad_norm", clip_on_a_local_copy, "the gradients are unchanged"),
    Mutant("classify_last_padded_step", "classify", classify_last_padded_step, "it uses hs[-1]"),
    Mutant("classify_probabilities", "classify", classify_probabilities, "it returns probabilities"),
    Mutant("classify_without_output_bias", "classify", classify_without_output_bias, "the output bias b_y is missing"),
    Mutant("classify_every_step", "classify", classify_every_step, "Many-to-one: one row of logits per sequence"),
    Mutant("train_step_without_clipping", "train_step", train_step_without_clipping,
           "the gradients are not clipped before the update"),
    Mutant("train_step_clips_after_the_update", "train_step", train_step_clips_after_the_update,
           "the gradients are not clipped before the update"),
    Mutant("train_step_gradients_kept", "train_step", train_step_gradients_kept, ".grad is still set after the step"),
    Mutant("train_step_uphill", "train_step", train_step_uphill, "it steps uphill"),
    Mutant("train_step_returns_tensor", "train_step", train_step_returns_tensor, "returned a tensor"),
    Mutant("train_step_rebinds", "train_step", train_step_rebinds, "left the parameters unchanged"),
    Mutant("train_step_without_no_grad", "train_step", train_step_without_no_grad, "inside `with torch.no_grad():`"),
]
