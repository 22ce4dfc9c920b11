"""Realistic wrong answers to lesson 07_conv, each with the exercise it must fail and the message it must get."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from mutants_matmul import Mutant
from solutions.conv import output_size


def output_size_off_by_one_for_stride(h, k, stride=1, padding=0, dilation=1):
    span = dilation * (k - 1) + 1
    if h + 2 * padding < span:
        raise ValueError("the kernel does not fit")
    return (h + 2 * padding - span + 1) // stride  # right for stride 1 only


def output_size_without_dilation(h, k, stride=1, padding=0, dilation=1):
    if h + 2 * padding < dilation * (k - 1) + 1:
        raise ValueError("the kernel does not fit")
    return (h + 2 * padding - k) // stride + 1


def output_size_true_division(h, k, stride=1, padding=0, dilation=1):
    span = dilation * (k - 1) + 1
    if h + 2 * padding < span:
        raise ValueError("the kernel does not fit")
    return (h + 2 * padding - span) / stride + 1


def output_size_padding_once(h, k, stride=1, padding=0, dilation=1):
    span = dilation * (k - 1) + 1
    if h + 2 * padding < span:
        raise ValueError("the kernel does not fit")
    return (h + padding - span) // stride + 1


def output_size_never_raises(h, k, stride=1, padding=0, dilation=1):
    return max(0, (h + 2 * padding - dilation * (k - 1) - 1) // stride + 1)


def _loops(x, w, b, stride, padding, pads=None, kernel=lambda w, o: w[o], bias=lambda b, i, o: b[o], check=True):
    """A loop convolution with pluggable mistakes."""
    if check and x.shape[1] != w.shape[1]:
        raise ValueError(f"channels differ: {tuple(x.shape)} vs {tuple(w.shape)}")
    xp = F.pad(x, pads or (padding,) * 4)
    kh, kw = w.shape[2:]
    h_out, w_out = (xp.shape[2] - kh) // stride + 1, (xp.shape[3] - kw) // stride + 1
    out = torch.zeros(x.shape[0], w.shape[0], h_out, w_out, dtype=x.dtype, device=x.device)
    for i in range(x.shape[0]):
        for o in range(w.shape[0]):
            for r in range(h_out):
                for q in range(w_out):
                    window = xp[i, :, r * stride:r * stride + kh, q * stride:q * stride + kw]
                    out[i, o, r, q] = (window * kernel(w, o)).sum() + (0 if b is None else bias(b, i, o))
    return out


def conv2d_loops_flipped(x, w, b=None, stride=1, padding=0):
    return _loops(x, w, b, stride, padding, kernel=lambda w, o: w[o].flip(-2, -1))


def conv2d_loops_padding_one_side(x, w, b=None, stride=1, padding=0):
    return _loops(x, w, b, stride, padding, pads=(padding, 0, padding, 0))


def conv2d_loops_channels_swapped(x, w, b=None, stride=1, padding=0):
    return _loops(x, w, b, stride, padding, kernel=lambda w, o: w[:, o])


def conv2d_loops_bias_per_image(x, w, b=None, stride=1, padding=0):
    return _loops(x, w, b, stride, padding, bias=lambda b, i, o: b[i])


def conv2d_loops_no_channel_check(x, w, b=None, stride=1, padding=0):
    return _loops(x, w, b, stride, padding, check=False)


def conv2d_loops_calls_torch(x, w, b=None, stride=1, padding=0):
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"channels differ: {tuple(x.shape)} vs {tuple(w.shape)}")
    return F.conv2d(x, w, b, stride, padding)


def _taps(x, kh, kw, stride, padding):
    n, c, h, wd = x.shape
    h_out, w_out = output_size(h, kh, stride, padding), output_size(wd, kw, stride, padding)
    xp = F.pad(x, (padding,) * 4)
    taps = [xp[:, :, i:i + stride * (h_out - 1) + 1:stride, j:j + stride * (w_out - 1) + 1:stride]
            for i in range(kh) for j in range(kw)]
    return taps, n, c * kh * kw, h_out * w_out


def im2col_by_unfold(x, kh, kw, stride=1, padding=0):
    return F.unfold(x, (kh, kw), padding=padding, stride=stride)


def im2col_channels_last(x, kh, kw, stride=1, padding=0):
    taps, n, rows, positions = _taps(x, kh, kw, stride, padding)
    return torch.stack(taps, dim=1).reshape(n, rows, positions)  # rows ordered (i, j, c), not (c, i, j)


def im2col_transposed(x, kh, kw, stride=1, padding=0):
    taps, n, rows, positions = _taps(x, kh, kw, stride, padding)
    return torch.stack(taps, dim=2).reshape(n, rows, positions).transpose(1, 2)


def im2col_column_major(x, kh, kw, stride=1, padding=0):
    taps, n, rows, positions = _taps(x, kh, kw, stride, padding)
    return torch.stack(taps, dim=2).transpose(-2, -1).reshape(n, rows, positions)


def _unfold_setup(x, w):
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"channels differ: {tuple(x.shape)} vs {tuple(w.shape)}")
    return x.shape[0], w.shape[0], w.shape[2], w.shape[3]


def conv2d_unfold_loops_over_positions(x, w, b=None, stride=1, padding=0):
    n, c_out, kh, kw = _unfold_setup(x, w)
    xp = F.pad(x, (padding,) * 4)
    h_out, w_out = output_size(x.shape[2], kh, stride, padding), output_size(x.shape[3], kw, stride, padding)
    out = torch.zeros(n, c_out, h_out, w_out, dtype=x.dtype, device=x.device)
    flat = w.reshape(c_out, -1)
    for r in range(h_out):
        for q in range(w_out):
            window = xp[:, :, r * stride:r * stride + kh, q * stride:q * stride + kw].reshape(n, -1)
            out[:, :, r, q] = window @ flat.T + (0 if b is None else b)
    return out


def conv2d_unfold_loops_over_channels(x, w, b=None, stride=1, padding=0):
    n, c_out, kh, kw = _unfold_setup(x, w)
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)
    out = torch.zeros(n, c_out, cols.shape[2], dtype=x.dtype, device=x.device)
    for i in range(n):
        for o in range(c_out):
            out[i, o] = w[o].reshape(-1) @ cols[i] + (0 if b is None else b[o])
    return out.reshape(n, c_out, output_size(x.shape[2], kh, stride, padding), output_size(x.shape[3], kw, stride, padding))


def conv2d_unfold_calls_torch(x, w, b=None, stride=1, padding=0):
    _unfold_setup(x, w)
    return torch.nn.functional.conv2d(x, w, b, stride=stride, padding=padding)


def conv2d_unfold_bias_per_image(x, w, b=None, stride=1, padding=0):
    n, c_out, kh, kw = _unfold_setup(x, w)
    out = w.reshape(c_out, -1) @ F.unfold(x, (kh, kw), padding=padding, stride=stride)
    if b is not None:
        out = out + b.reshape(-1, 1, 1)  # lines up with the batch, not the channels
    return out.reshape(n, c_out, output_size(x.shape[2], kh, stride, padding), output_size(x.shape[3], kw, stride, padding))


def conv2d_unfold_sizes_swapped(x, w, b=None, stride=1, padding=0):
    n, c_out, kh, kw = _unfold_setup(x, w)
    out = w.reshape(c_out, -1) @ F.unfold(x, (kh, kw), padding=padding, stride=stride)
    if b is not None:
        out = out + b.reshape(c_out, 1)
    return out.reshape(n, c_out, output_size(x.shape[3], kw, stride, padding), output_size(x.shape[2], kh, stride, padding))


def _windows(x, k, stride, padding, value=0.0):
    n, c, h, wd = x.shape
    xp = F.pad(x, (padding,) * 4, value=value)
    cols = F.unfold(xp.reshape(n * c, 1, h + 2 * padding, wd + 2 * padding), k, stride=stride)
    return cols, (n, c, output_size(h, k, stride, padding), output_size(wd, k, stride, padding))


def maxpool2d_zero_padding(x, kernel_size, stride=None, padding=0):
    cols, shape = _windows(x, kernel_size, kernel_size if stride is None else stride, padding)
    return cols.max(dim=1).values.reshape(shape)


def maxpool2d_stride_one_by_default(x, kernel_size, stride=None, padding=0):
    cols, shape = _windows(x, kernel_size, 1 if stride is None else stride, padding, float("-inf"))
    return cols.max(dim=1).values.reshape(shape)


def maxpool2d_calls_torch(x, kernel_size, stride=None, padding=0):
    return F.max_pool2d(x, kernel_size, stride, padding)


def avgpool2d_without_padding_counted(x, kernel_size, stride=None, padding=0):
    stride = kernel_size if stride is None else stride
    sums, shape = _windows(x, kernel_size, stride, padding)
    counts, _ = _windows(torch.ones_like(x), kernel_size, stride, padding)
    return (sums.sum(dim=1) / counts.sum(dim=1)).reshape(shape)


def avgpool2d_sum(x, kernel_size, stride=None, padding=0):
    cols, shape = _windows(x, kernel_size, kernel_size if stride is None else stride, padding)
    return cols.sum(dim=1).reshape(shape)


def avgpool2d_by_convolution(x, kernel_size, stride=None, padding=0):
    n, c, h, wd = x.shape
    ones = torch.full((1, 1, kernel_size, kernel_size), 1 / kernel_size ** 2, dtype=x.dtype, device=x.device)
    out = F.conv2d(x.reshape(n * c, 1, h, wd), ones, stride=kernel_size if stride is None else stride, padding=padding)
    return out.reshape(n, c, *out.shape[2:])


MUTANTS = (
    Mutant("output size off by one for stride 2", "output_size", output_size_off_by_one_for_stride,
           "one short whenever the division leaves a remainder"),
    Mutant("output size without dilation", "output_size", output_size_without_dilation, "Dilation 2 spreads the kernel's taps"),
    Mutant("output size by true division", "output_size", output_size_true_division, "return an int: use //"),
    Mutant("output size with padding on one end", "output_size", output_size_padding_once, "Padding goes on both ends"),
    Mutant("output size never raises", "output_size", output_size_never_raises, "raise ValueError saying so"),
    Mutant("kernel flipped (true convolution)", "conv2d_loops", conv2d_loops_flipped, "the kernel is flipped"),
    Mutant("padding on one side only", "conv2d_loops", conv2d_loops_padding_one_side, "padded on one side only"),
    Mutant("channels summed in the wrong order", "conv2d_loops", conv2d_loops_channels_swapped, "the channels are swapped"),
    Mutant("bias added per image", "conv2d_loops", conv2d_loops_bias_per_image, "the bias is added per image"),
    Mutant("no check of the channels", "conv2d_loops", conv2d_loops_no_channel_check, "compare x.shape[1] with w.shape[1]"),
    Mutant("loops that call F.conv2d", "conv2d_loops", conv2d_loops_calls_torch, "calls `conv2d`"),
    Mutant("im2col by F.unfold", "im2col", im2col_by_unfold, "calls `unfold`"),
    Mutant("im2col rows ordered tap first", "im2col", im2col_channels_last, "the rows are in the wrong order"),
    Mutant("im2col transposed", "im2col", im2col_transposed, "It is transposed"),
    Mutant("im2col positions column-major", "im2col", im2col_column_major, "the positions are column-major"),
    Mutant("unfold version looping over positions", "conv2d_unfold", conv2d_unfold_loops_over_positions,
           "is it still looping over output positions"),
    Mutant("unfold version looping over images and channels", "conv2d_unfold", conv2d_unfold_loops_over_channels,
           "does it loop over images or output channels"),
    Mutant("unfold version calling F.conv2d", "conv2d_unfold", conv2d_unfold_calls_torch, "calls `conv2d`"),
    Mutant("unfold version adding the bias per image", "conv2d_unfold", conv2d_unfold_bias_per_image,
           "the bias is added per image"),
    Mutant("unfold version with height and width swapped", "conv2d_unfold", conv2d_unfold_sizes_swapped,
           "H_out and W_out are swapped"),
    Mutant("max pool padded with zeros", "maxpool2d", maxpool2d_zero_padding, "the padding counts as 0"),
    Mutant("max pool with stride 1 by default", "maxpool2d", maxpool2d_stride_one_by_default,
           "stride=None means stride = kernel_size"),
    Mutant("max pool by F.max_pool2d", "maxpool2d", maxpool2d_calls_torch, "calls `max_pool2d`"),
    Mutant("average pool not counting the padding", "avgpool2d", avgpool2d_without_padding_counted,
           "the padding zeros count"),
    Mutant("average pool summing", "avgpool2d", avgpool2d_sum, "it is each window's sum"),
    Mutant("average pool by a convolution", "avgpool2d", avgpool2d_by_convolution, "calls `conv2d`"),
)
