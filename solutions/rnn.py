"""Reference solutions of lesson 09_rnn.

Generated from source/09_rnn/09_rnn.ipynb by `python -m autograder export`: do not edit;
change the source notebook and export again.
"""
import torch
import torch.nn.functional as F
from torch import Tensor


def rnn_cell(x: Tensor, h: Tensor, W_xh: Tensor, W_hh: Tensor, b: Tensor) -> Tensor:
    """One step of a tanh RNN: the new hidden state tanh(x @ W_xh + h @ W_hh + b).

    Args:
        x: (N, I) the inputs of this step.
        h: (N, H) the previous hidden states.
        W_xh: (I, H) input-to-hidden weights.
        W_hh: (H, H) hidden-to-hidden weights: row j is what previous unit j adds to each new unit.
        b: (H,) bias.

    Returns:
        (N, H) the new hidden states, in x's dtype and device.
    """
    return torch.tanh(x @ W_xh + h @ W_hh + b)


def rnn_forward(xs: Tensor, h0: Tensor | None, W_xh: Tensor, W_hh: Tensor, b: Tensor) -> Tensor:
    """Run rnn_cell over a sequence, carrying the hidden state from each step to the next, like nn.RNN.

    Args:
        xs: (T, N, I) the inputs, time first: xs[t] is step t of every sequence.
        h0: (N, H) the initial hidden states, or None for zeros.
        W_xh: (I, H), W_hh: (H, H), b: (H,) the weights, shared by every step.

    Returns:
        hs: (T, N, H), hs[t] the hidden state after step t (hs[-1] is the last one), in xs's dtype.
    """
    if h0 is None:
        h0 = torch.zeros(xs.shape[1], W_hh.shape[0], dtype=xs.dtype, device=xs.device)
    h, hs = h0, []
    for x in xs:
        h = rnn_cell(x, h, W_xh, W_hh, b)
        hs.append(h)
    return torch.stack(hs)


def bptt_backward(xs: Tensor, h0: Tensor, W_xh: Tensor, W_hh: Tensor, b: Tensor, hs: Tensor,
                  dhs: Tensor) -> dict[str, Tensor]:
    """The gradients of the loss for hs = rnn_forward(xs, h0, W_xh, W_hh, b), by backpropagation through time.

    Args:
        xs: (T, N, I), h0: (N, H), W_xh: (I, H), W_hh: (H, H), b: (H,): the forward pass's inputs.
        hs: (T, N, H) the hidden states the forward pass returned.
        dhs: (T, N, H) the loss's gradient with respect to each hs[t] where the loss uses it directly
            (not counting its effect through the later steps): for a loss L(hs), autograd's
            gradient of (hs * dhs).sum().

    Returns:
        {"xs": (T, N, I), "h0": (N, H), "W_xh": (I, H), "W_hh": (H, H), "b": (H,)}: the gradients,
        each of its tensor's shape, dtype and device.
    """
    grads = {"xs": torch.zeros_like(xs), "W_xh": torch.zeros_like(W_xh), "W_hh": torch.zeros_like(W_hh),
             "b": torch.zeros_like(b)}
    dh_next = torch.zeros_like(h0)
    for t in reversed(range(len(xs))):
        dh = dhs[t] + dh_next                 # the loss's own use of hs[t], and what the later steps owe it
        da = dh * (1 - hs[t] ** 2)            # through tanh: tanh'(a) = 1 - tanh(a)^2 = 1 - h^2
        h_prev = hs[t - 1] if t > 0 else h0
        grads["W_xh"] += xs[t].T @ da
        grads["W_hh"] += h_prev.T @ da
        grads["b"] += da.sum(0)
        grads["xs"][t] = da @ W_xh.T
        dh_next = da @ W_hh.T                 # to the previous step
    grads["h0"] = dh_next
    return grads


def clip_grad_norm(params: list[Tensor], max_norm: float) -> Tensor:
    """Scale every p.grad in place by one factor so that their global L2 norm is at most max_norm.

    Args:
        params: tensors whose .grad to clip; those with .grad None are skipped.
        max_norm: the largest global norm left after clipping.

    Returns:
        The global norm of the gradients before clipping, a 0-d tensor, like torch's clip_grad_norm_.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total = torch.stack([g.norm() for g in grads]).norm()
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g.mul_(coef)
    return total


def classify(xs: Tensor, lengths: Tensor, W_xh: Tensor, W_hh: Tensor, b: Tensor, W_hy: Tensor,
             b_y: Tensor) -> Tensor:
    """Logits for a padded batch of sequences, from each sequence's hidden state after its last real step.

    Args:
        xs: (T, N, I) inputs, time first, zero-padded past each sequence's end.
        lengths: (N,) int64, each sequence's length (1 <= lengths[n] <= T).
        W_xh: (I, H), W_hh: (H, H), b: (H,): the RNN, run from zero states.
        W_hy: (H, C), b_y: (C,): the output layer.

    Returns:
        (N, C) logits: row n is hs[lengths[n] - 1, n] @ W_hy + b_y, with hs = rnn_forward(xs, None, ...).
    """
    hs = rnn_forward(xs, None, W_xh, W_hh, b)
    last = hs[lengths.to(xs.device) - 1, torch.arange(xs.shape[1], device=xs.device)]
    return last @ W_hy + b_y


def train_step(params: list[Tensor], xs: Tensor, lengths: Tensor, ys: Tensor, lr: float, max_norm: float) -> float:
    """One step of SGD with gradient clipping on a batch, for classify's parameters; updates them in place.

    Args:
        params: [W_xh, W_hh, b, W_hy, b_y], leaf tensors that require grad.
        xs: (T, N, I) padded inputs, lengths: (N,) their lengths, ys: (N,) int64 labels.
        lr: the learning rate.
        max_norm: the gradients' global norm is clipped to this before the update.

    Returns:
        The batch's mean cross-entropy before the update, a Python float. Every p.grad is cleared
        (None) afterwards.
    """
    loss = F.cross_entropy(classify(xs, lengths, *params), ys)
    loss.backward()
    clip_grad_norm(params, max_norm)
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None
    return loss.item()
