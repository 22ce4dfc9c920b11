"""Reference solutions of lesson 07_conv.

Generated from source/07_conv/07_conv.ipynb by `python -m autograder export`: do not edit;
change the source notebook and export again.
"""
import torch
import torch.nn.functional as F
from torch import Tensor


def output_size(h: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """The number of positions a kernel takes along one side of an image, as in torch's conv2d.

    Args:
        h: the side's size (rows or columns), before padding.
        k: the kernel's size along that side.
        stride: how far the window moves each step.
        padding: zeros added at each end of the side (so the padded side is h + 2 * padding).
        dilation: the spacing of the kernel's taps (it then spans dilation * (k - 1) + 1 positions).

    Returns:
        (h + 2 * padding - dilation * (k - 1) - 1) // stride + 1, an int.

    Raises:
        ValueError: if the dilated kernel does not fit in the padded side.
    """
    span = dilation * (k - 1) + 1
    if h + 2 * padding < span:
        raise ValueError(f"a kernel spanning {span} positions does not fit in a side of {h} "
                         f"with padding {padding} ({h + 2 * padding} positions)")
    return (h + 2 * padding - span) // stride + 1


def conv2d_loops(x: Tensor, w: Tensor, b: Tensor | None = None, stride: int = 1, padding: int = 0) -> Tensor:
    """A 2-d convolution (cross-correlation, as F.conv2d) computed with loops over output positions.

    Args:
        x: (N, C_in, H, W) images.
        w: (C_out, C_in, kh, kw) kernels; w[o, c] is input channel c's kernel for output channel o.
        b: (C_out,) bias, or None.
        stride: the step of the window, the same along rows and columns.
        padding: zeros added on every side of each image.

    Returns:
        (N, C_out, H_out, W_out) in x's dtype and device, H_out = output_size(H, kh, stride, padding)
        and W_out likewise: out[n, o, r, q] = b[o] + sum over c, i, j of
        x_padded[n, c, r * stride + i, q * stride + j] * w[o, c, i, j].

    Raises:
        ValueError: if x's channels differ from w's input channels.
    """
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels but w expects {w.shape[1]}: x {tuple(x.shape)}, w {tuple(w.shape)}")
    n, c_out, (kh, kw) = x.shape[0], w.shape[0], w.shape[2:]
    h_out = output_size(x.shape[2], kh, stride, padding)
    w_out = output_size(x.shape[3], kw, stride, padding)
    xp = F.pad(x, (padding, padding, padding, padding))
    out = torch.zeros(n, c_out, h_out, w_out, dtype=x.dtype, device=x.device)
    for i in range(n):
        for o in range(c_out):
            for r in range(h_out):
                for q in range(w_out):
                    window = xp[i, :, r * stride:r * stride + kh, q * stride:q * stride + kw]
                    out[i, o, r, q] = (window * w[o]).sum()
    if b is not None:
        out = out + b.reshape(1, c_out, 1, 1)
    return out


def im2col(x: Tensor, kh: int, kw: int, stride: int = 1, padding: int = 0) -> Tensor:
    """Every (kh, kw) window of the zero-padded images as a column, exactly like F.unfold.

    Args:
        x: (N, C, H, W) images.
        kh, kw: the window's height and width.
        stride: the step of the window along rows and columns.
        padding: zeros added on every side of each image.

    Returns:
        (N, C * kh * kw, H_out * W_out) in x's dtype: entry [n, c * kh * kw + i * kw + j, r * W_out + q]
        is x_padded[n, c, r * stride + i, q * stride + j]. Without calling unfold.
    """
    n, c, h, wd = x.shape
    h_out, w_out = output_size(h, kh, stride, padding), output_size(wd, kw, stride, padding)
    xp = F.pad(x, (padding, padding, padding, padding))
    # one strided slice per kernel tap (i, j): the pixel that tap meets at every output position
    taps = [xp[:, :, i:i + stride * (h_out - 1) + 1:stride, j:j + stride * (w_out - 1) + 1:stride]
            for i in range(kh) for j in range(kw)]
    return torch.stack(taps, dim=2).reshape(n, c * kh * kw, h_out * w_out)


def conv2d_unfold(x: Tensor, w: Tensor, b: Tensor | None = None, stride: int = 1, padding: int = 0) -> Tensor:
    """The same convolution as conv2d_loops, as one matrix product of the kernels with the unfolded windows.

    Args:
        x: (N, C_in, H, W) images.
        w: (C_out, C_in, kh, kw) kernels.
        b: (C_out,) bias, or None.
        stride: the step of the window.
        padding: zeros added on every side.

    Returns:
        (N, C_out, H_out, W_out), equal to F.conv2d(x, w, b, stride, padding), in x's dtype.

    Raises:
        ValueError: if x's channels differ from w's input channels.
    """
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels but w expects {w.shape[1]}: x {tuple(x.shape)}, w {tuple(w.shape)}")
    n, c_out, (kh, kw) = x.shape[0], w.shape[0], w.shape[2:]
    h_out = output_size(x.shape[2], kh, stride, padding)
    w_out = output_size(x.shape[3], kw, stride, padding)
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)   # (N, C_in * kh * kw, L)
    out = w.reshape(c_out, -1) @ cols                               # (N, C_out, L)
    if b is not None:
        out = out + b.reshape(c_out, 1)
    return out.reshape(n, c_out, h_out, w_out)


def maxpool2d(x: Tensor, kernel_size: int, stride: int | None = None, padding: int = 0) -> Tensor:
    """The maximum of every kernel_size x kernel_size window of each channel, like F.max_pool2d.

    Args:
        x: (N, C, H, W) images.
        kernel_size: the window's height and width.
        stride: the step of the window; None means kernel_size.
        padding: positions added on every side, which count as -inf (at most kernel_size // 2).

    Returns:
        (N, C, H_out, W_out) in x's dtype, H_out = output_size(H, kernel_size, stride, padding).
    """
    stride = kernel_size if stride is None else stride
    n, c, h, wd = x.shape
    xp = F.pad(x, (padding, padding, padding, padding), value=float("-inf"))
    cols = F.unfold(xp.reshape(n * c, 1, h + 2 * padding, wd + 2 * padding), kernel_size, stride=stride)
    h_out, w_out = output_size(h, kernel_size, stride, padding), output_size(wd, kernel_size, stride, padding)
    return cols.max(dim=1).values.reshape(n, c, h_out, w_out)


def avgpool2d(x: Tensor, kernel_size: int, stride: int | None = None, padding: int = 0) -> Tensor:
    """The mean of every kernel_size x kernel_size window of each channel, like F.avg_pool2d.

    Args:
        x: (N, C, H, W) images.
        kernel_size: the window's height and width.
        stride: the step of the window; None means kernel_size.
        padding: zeros added on every side, counted in every window's mean (count_include_pad=True).

    Returns:
        (N, C, H_out, W_out) in x's dtype, H_out = output_size(H, kernel_size, stride, padding).
    """
    stride = kernel_size if stride is None else stride
    n, c, h, wd = x.shape
    cols = F.unfold(x.reshape(n * c, 1, h, wd), kernel_size, padding=padding, stride=stride)
    h_out, w_out = output_size(h, kernel_size, stride, padding), output_size(wd, kernel_size, stride, padding)
    return cols.mean(dim=1).reshape(n, c, h_out, w_out)
