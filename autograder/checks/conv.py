"""Hidden checks of lesson 07_conv: convolutions and pooling against torch.nn.functional, op policy, speed."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F

from autograder.compare import expect_close
from autograder.exercise import Exercise, check, randn, reference, references_for
from autograder.policy import NUMPY_ESCAPES, record_ops, run_under_policy
from autograder.results import CheckFailed
from autograder.timing import compare_speed, format_duration

# torch's convolutions, its im2col, and its pooling, as the function mode names them.
CONV_FAMILY = frozenset({
    "conv1d", "conv2d", "conv3d", "convolution", "_convolution", "conv_transpose1d", "conv_transpose2d",
    "conv_transpose3d", "conv_tbc", "_conv_depthwise2d", "mkldnn_convolution", "cudnn_convolution",
    "slow_conv2d", "thnn_conv2d",
})
UNFOLD_FAMILY = frozenset({"unfold", "im2col", "fold", "col2im"})
POOL_FAMILY = frozenset({
    "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices",
    "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d",
    "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d", "lp_pool1d", "lp_pool2d",
    "fractional_max_pool2d", "mkldnn_max_pool2d",
})
# Other exercises' functions that a learner's function may call by name: graded with the references
# instead, so that a mistake in output_size or im2col costs points only there.
CALLED_EXERCISES = ("output_size", "im2col")

F64, F32 = torch.float64, torch.float32
# (N, C_in, H, W, C_out, kh, kw, stride, padding, dtype, bias). The first case has N = C_in = C_out,
# where a swapped channel index or a bias indexed by image computes something that can be named.
CONV_CASES = (
    (2, 2, 5, 6, 2, 3, 3, 1, 0, F64, True),
    (2, 3, 7, 5, 4, 2, 3, 2, 1, F64, True),     # odd sizes, a non-square kernel, stride 2, padding 1
    (1, 1, 6, 6, 1, 3, 3, 1, 2, F32, False),    # no bias, padding 2
    (3, 2, 9, 8, 5, 3, 1, 3, 0, F32, True),     # stride 3, a column kernel
    (2, 4, 8, 7, 3, 5, 5, 1, 2, F32, True),     # 5x5 with "same" padding
    (2, 3, 6, 6, 2, 1, 1, 2, 0, F64, True),     # 1x1 kernel, stride 2
    (1, 2, 4, 4, 3, 4, 4, 1, 0, F64, True),     # the kernel covers the whole image: one output
    (2, 2, 7, 7, 3, 3, 2, 2, 2, F32, True),     # stride 2 with padding 2
)
# The vectorised version also meets a digit-sized batch and more channels.
LARGER_CONV_CASES = (
    (8, 1, 28, 28, 8, 3, 3, 1, 1, F32, True),
    (4, 8, 15, 16, 16, 3, 3, 2, 1, F32, True),
)
# Speed (see README, "Timing margins"): conv2d_unfold must be at least MIN_SPEEDUP_OVER_LOOPS times
# faster than the reference loops on LOOPS_TIMING, and at most MAX_SLOWDOWN times slower than the
# reference conv2d_unfold (which calls F.unfold) on TIMING. LOOPS_TIMING has one image and few
# output channels, where a loop over output positions (one small product per position) is only a
# few times faster than the reference's loop over images, channels and positions, while one
# matrix product is hundreds of times faster.
# TIMING has many small images, where a loop over images and output channels pays Python's
# overhead N * C_out times.
LOOPS_TIMING = (1, 3, 12, 12, 2, 3, 3, 1, 1, F32, True)
TIMING = (32, 4, 8, 8, 8, 3, 3, 1, 1, F32, True)
MIN_SPEEDUP_OVER_LOOPS = {"cpu": 20.0, "cuda": 20.0}
MAX_SLOWDOWN = {"cpu": 3.0, "cuda": 3.0}
# (N, C, H, W, kernel_size, stride or None for the default, padding, dtype, shift). shift moves every
# input below 0 where padding could otherwise hide: a window of negatives next to the border.
POOL_CASES = (
    (2, 3, 8, 8, 2, None, 0, F32, 0.0),         # the usual 2x2 pool, stride by default
    (1, 2, 7, 9, 3, 2, 1, F64, -4.0),           # overlapping windows, padding, odd sizes, all negative
    (3, 1, 9, 7, 3, None, 1, F32, 0.0),         # the default stride 3 with padding 1
    (2, 4, 5, 6, 2, 1, 1, F64, -4.0),           # stride 1, padding 1
    (2, 2, 6, 7, 4, 2, 2, F64, 0.0),            # kernel 4, padding 2
    (4, 3, 28, 28, 2, None, 0, F32, 0.0),       # a batch of digit-sized images
)


# What a non-finite result where the truth is finite usually means in this lesson.
NONFINITE_HINT = "was the result made with torch.empty and never fully written, or does -inf padding leak into it?"


def _size(h: int, k: int, stride: int, padding: int) -> int:
    return (h + 2 * padding - k) // stride + 1


def _size_mistakes(x: torch.Tensor, kh: int, kw: int, stride: int, padding: int,
                   default_stride: bool = False) -> Iterator[tuple[int, int, str]]:
    """(H_out, W_out) as common mistakes compute them, each with its diagnosis."""
    h, w, s, p = x.shape[2], x.shape[3], stride, padding
    if default_stride and s > 1:
        yield _size(h, kh, 1, p), _size(w, kw, 1, p), "stride=None means stride = kernel_size (windows side by side), not 1."
    if p:
        yield ((h + p - kh) // s + 1, (w + p - kw) // s + 1,
               f"it looks padded on one side only: padding adds {p} on every side, so a side grows by 2 * {p}.")
        yield _size(h, kh, s, 0), _size(w, kw, s, 0), "the padding is missing: pad every side first."
    if s > 1:
        yield _size(h, kh, 1, p), _size(w, kw, 1, p), f"the stride is ignored: the window moves {s} positions at a time."
        yield ((h + 2 * p - kh + 1) // s, (w + 2 * p - kw + 1) // s,
               "the number of positions is off by one: with stride s there are (h + 2p - k) // s + 1 of them.")


def _shape_hint(shape: tuple[int, ...], x: torch.Tensor, kh: int, kw: int, c_out: int, stride: int,
                padding: int, default_stride: bool = False) -> str:
    """The likely mistake behind a wrong output shape (N, C_out, H_out, W_out)."""
    if len(shape) != 4:
        return "The result is 4-d: (N, C_out, H_out, W_out)."
    if shape[:2] != (x.shape[0], c_out):
        return (f"The first two dimensions are the batch and the output channels, ({x.shape[0]}, {c_out}): C_out "
                "is w.shape[0] for a convolution, and the input's channels for a pooling.")
    h_out, w_out = _size(x.shape[2], kh, stride, padding), _size(x.shape[3], kw, stride, padding)
    if h_out != w_out and tuple(shape[2:]) == (w_out, h_out):
        return ("H_out and W_out are swapped: the positions run row by row (row-major), so they reshape to "
                "(N, C_out, H_out, W_out).")
    for h_out, w_out, hint in _size_mistakes(x, kh, kw, stride, padding, default_stride):
        if tuple(shape[2:]) == (h_out, w_out):
            return hint
    return "Compute H_out and W_out with output_size."


def _conv_inputs(case: tuple, gen: torch.Generator, device: torch.device,
                 contiguous: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, int, int, str]:
    n, c, h, w, c_out, kh, kw, stride, padding, dtype, bias = case
    if contiguous:
        x = randn(n, c, h, w, gen=gen, dtype=dtype, device=device)
    else:  # a channels-last view: not row-major
        x = randn(n, h, w, c, gen=gen, dtype=dtype, device=device).permute(0, 3, 1, 2)
    weight = randn(c_out, c, kh, kw, gen=gen, dtype=dtype, device=device)
    b = randn(c_out, gen=gen, dtype=dtype, device=device) if bias else None
    shown = (f"x: {(n, c, h, w)}{'' if contiguous else ' channels-last view'}, w: {(c_out, c, kh, kw)}, "
             f"b: {(c_out,) if bias else None}, stride={stride}, padding={padding}, {dtype}")
    return x, weight, b, stride, padding, shown


def _conv_cases(cases: tuple, gen: torch.Generator, device: torch.device) -> Iterator[tuple]:
    for case in cases:
        yield _conv_inputs(case, gen, device)
    yield _conv_inputs((2, 3, 6, 7, 2, 3, 3, 1, 1, F32, True), gen, device, contiguous=False)


def _conv_variants(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, s: int,
                   p: int) -> Iterator[tuple[torch.Tensor, str]]:
    """Wrong convolutions, each with the mistake that computes it."""
    xd, wd = x.double(), w.double()
    bd = None if b is None else b.double()
    yield (F.conv2d(xd, wd.flip(-2, -1), bd, s, p),
           "the kernel is flipped (a mathematician's convolution): deep learning's conv2d is a cross-correlation, "
           "w[o, c, i, j] multiplies x_padded[n, c, r * stride + i, q * stride + j], unflipped.")
    if w.shape[0] == w.shape[1]:
        yield (F.conv2d(xd, wd.transpose(0, 1), bd, s, p),
               "the channels are swapped: w is (C_out, C_in, kh, kw), so output channel o sums the input "
               "channels c with w[o, c], not w[c, o].")
    if bd is not None:
        bare = F.conv2d(xd, wd, None, s, p)
        yield bare, "the bias is missing: add b[o] to every position of output channel o."
        if x.shape[0] == w.shape[0]:
            yield (bare + bd.reshape(-1, 1, 1, 1),
                   "the bias is added per image, not per output channel: b[o] goes to every position of channel o "
                   "of every image, b.reshape(1, C_out, 1, 1).")
    if p:
        for pads, side in (((p, 0, p, 0), "top and left"), ((0, p, 0, p), "bottom and right")):
            yield (F.conv2d(F.pad(xd, pads), wd, bd, s),
                   f"the padding is on one side only ({side}): pad {p} zeros on every side, "
                   "F.pad(x, (p, p, p, p)).")


def _expect_convolutions(name: str, fn: Callable, cases: Iterator[tuple], forbidden: frozenset[str], rule: str) -> None:
    for x, w, b, s, p, shown in cases:
        call = f"{name}({shown})"
        # keywords as the lesson shows them; without a bias, b is left to its default
        run = (lambda: fn(x, w, stride=s, padding=p)) if b is None else (lambda: fn(x, w, b, stride=s, padding=p))
        out = run_under_policy(call, run, forbidden, rule, x=x, w=w, **({} if b is None else {"b": b}))
        expected = F.conv2d(x.double(), w.double(), None if b is None else b.double(), s, p)
        scale = float(F.conv2d(x.double().abs(), w.double().abs(), None, s, p).max())
        scale += 0.0 if b is None else float(b.abs().max())
        hint = "" if not isinstance(out, torch.Tensor) else _shape_hint(tuple(out.shape), x, *w.shape[2:], w.shape[0], s, p)
        expect_close(out, expected.to(x.dtype), name, call, scale=scale, hints=_conv_variants(x, w, b, s, p),
                     shape_hint=hint, nonfinite_hint=NONFINITE_HINT)


def _expect_channel_error(name: str, fn: Callable, gen: torch.Generator, device: torch.device) -> None:
    """x's channels differing from w's input channels must raise a ValueError."""
    x = randn(2, 3, 5, 5, gen=gen, dtype=F32, device=device)
    w = randn(4, 2, 3, 3, gen=gen, dtype=F32, device=device)
    call = f"{name}(x: (2, 3, 5, 5), w: (4, 2, 3, 3))"
    try:
        fn(x, w)
    except ValueError as err:
        if not str(err):
            raise CheckFailed(f"{call} raised ValueError without a message: name both shapes.") from None
        return
    except (NotImplementedError, CheckFailed):
        raise
    except Exception as err:
        raise CheckFailed(f"{call} raised {type(err).__name__} ({err}) from inside the computation: compare "
                          "x.shape[1] with w.shape[1] first and raise ValueError naming both shapes.") from None
    raise CheckFailed(f"{call} returned a result, but x has 3 channels and each kernel expects 2: raise ValueError "
                      "naming both shapes.")


@check("output_size")
def check_output_size(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Every (h, k, stride, padding, dilation) up to small sizes against torch's conv1d output size;
    an int; ValueError when the kernel does not fit; no tensors."""
    cases = [(h, k, s, p, d) for h in (1, 2, 5, 7, 8, 28) for k in (1, 2, 3, 5) for s in (1, 2, 3)
             for p in (0, 1, 2) for d in (1, 2)]
    for h, k, s, p, d in cases:
        call = f"output_size({h}, {k}, stride={s}, padding={p}, dilation={d})"
        fits = h + 2 * p >= d * (k - 1) + 1
        with record_ops() as calls:
            try:
                out = fn(h, k, s, p, d)
            except ValueError:
                if fits:
                    raise CheckFailed(f"{call} raised ValueError, but the kernel fits: its span {d * (k - 1) + 1} "
                                      f"is at most the padded side {h + 2 * p}.") from None
                continue
        if calls:
            raise CheckFailed(f"output_size calls {', '.join(dict.fromkeys(calls))}: sizes are plain Python ints; "
                              "compute with // and +, no tensors needed.")
        if not fits:
            raise CheckFailed(f"{call} returned {out!r}, but a kernel spanning {d * (k - 1) + 1} does not fit in "
                              f"{h} + 2 * {p} positions: raise ValueError saying so.")
        expected = F.conv1d(torch.zeros(1, 1, h), torch.zeros(1, 1, k), stride=s, padding=p, dilation=d).shape[-1]
        if type(out) is not int:
            raise CheckFailed(f"{call} returned {out!r} ({type(out).__name__}); return an int: use // (floor "
                              "division), not / and a conversion.")
        if out != expected:
            span = d * (k - 1) + 1
            if s > 1 and out == (h + 2 * p - span + 1) // s:
                hint = (" With stride s the windows start at 0, s, 2s, ...: there are (h + 2p - span) // s + 1 of "
                        "them, and (h + 2p - span + 1) // s is one short whenever the division leaves a remainder.")
            elif s > 1 and out == -(-(h + 2 * p - span) // s) + 1:
                hint = " It counts one window too many: the last window must fit, so floor the division."
            elif d > 1 and out == (h + 2 * p - k) // s + 1:
                hint = f" Dilation {d} spreads the kernel's taps: it spans dilation * (k - 1) + 1 = {span} positions."
            elif p and out == (h + p - span) // s + 1:
                hint = " Padding goes on both ends: the padded side is h + 2 * padding."
            else:
                hint = " It is (h + 2 * padding - dilation * (k - 1) - 1) // stride + 1."
            raise CheckFailed(f"{call} returned {out}; torch's convolution gives {expected}.{hint}")


@check("conv2d_loops")
def check_conv2d_loops(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Against F.conv2d on every case (channels, odd sizes, non-square kernels, stride, padding, no
    bias, float32/64, a non-contiguous view), ValueError for mismatched channels, no conv or unfold."""
    with references_for(fn, "conv", *CALLED_EXERCISES):
        _expect_convolutions("conv2d_loops", fn, _conv_cases(CONV_CASES, gen, device),
                             CONV_FAMILY | UNFOLD_FAMILY | NUMPY_ESCAPES,
                             "this exercise computes every window's product and sum itself, with loops.")
        _expect_channel_error("conv2d_loops", fn, gen, device)


def _im2col_variants(x: torch.Tensor, expected: torch.Tensor, kh: int, kw: int, s: int, p: int,
                     h_out: int, w_out: int) -> Iterator[tuple[torch.Tensor, str]]:
    n, c = x.shape[:2]
    taps, positions = kh * kw, h_out * w_out
    yield (expected.reshape(n, c, taps, positions).transpose(1, 2).reshape(n, c * taps, positions),
           "the rows are in the wrong order: row c * kh * kw + i * kw + j holds tap (i, j) of channel c, channel "
           "first, as a kernel w[o] of shape (C, kh, kw) flattens (stack the taps after the channels, dim=2).")
    yield (expected.reshape(n, c * taps, h_out, w_out).transpose(2, 3).reshape(n, c * taps, positions),
           "the positions are column-major: column r * W_out + q holds output position (r, q), row by row.")
    if p:
        for pads, side in (((p, 0, p, 0), "top and left"), ((0, p, 0, p), "bottom and right")):
            yield (F.unfold(F.pad(x, pads), (kh, kw), stride=s),
                   f"the padding is on one side only ({side}): pad {p} zeros on every side.")


@check("im2col")
def check_im2col(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Exactly F.unfold on every case (channels, odd sizes, non-square windows, stride, padding, float32/64,
    a non-contiguous view), without calling unfold or a convolution."""
    with references_for(fn, "conv", "output_size"):
        for x, w, _, s, p, shown in _conv_cases(CONV_CASES + LARGER_CONV_CASES, gen, device):
            kh, kw = w.shape[2:]
            shown = shown.split(", w:")[0] + f", kh={kh}, kw={kw}, stride={s}, padding={p}, {x.dtype}"
            call = f"im2col({shown})"
            out = run_under_policy(call, lambda: fn(x, kh, kw, stride=s, padding=p), UNFOLD_FAMILY | CONV_FAMILY | NUMPY_ESCAPES,
                       "this exercise builds the columns itself, from slices of the padded images.", x=x)
            expected = F.unfold(x, (kh, kw), padding=p, stride=s)
            n, c, h, wd = x.shape
            h_out, w_out = _size(h, kh, s, p), _size(wd, kw, s, p)
            hint = ""
            if isinstance(out, torch.Tensor) and tuple(out.shape) == (n, h_out * w_out, c * kh * kw) != expected.shape:
                hint = "It is transposed: one column per output position, (N, C * kh * kw, L), as F.unfold."
            elif isinstance(out, torch.Tensor) and out.dim() == 3 and out.shape[:2] == expected.shape[:2]:
                hint = next((h for ho, wo, h in _size_mistakes(x, kh, kw, s, p) if ho * wo == out.shape[2]),
                            "L = H_out * W_out positions, each from output_size.")
            expect_close(out, expected, "im2col", call, scale=float(x.abs().max()),
                         hints=_im2col_variants(x, expected, kh, kw, s, p, h_out, w_out), shape_hint=hint,
                         nonfinite_hint=NONFINITE_HINT)


def _timed(fn: Callable, reference_name: str, case: tuple, gen: torch.Generator, device: torch.device,
           too_slow: Callable[[float], bool]) -> tuple[Any, str]:
    """fn against a reference, side by side; measured once more on fresh inputs when the first
    measurement is out of bounds. On the shared 2-core machine, with another process holding a core,
    one measurement in 30 of the reference against itself came out at 0.17x: one can be that far
    off, so a right answer gets a second measurement; a wrong answer is out of bounds in both (see
    README, "Timing margins")."""
    for attempt in range(2):
        x, w, b, s, p, shown = _conv_inputs(case, gen, device)
        speed = compare_speed(fn, reference("conv", reference_name), (x, w, b, s, p), device)
        if not too_slow(speed.ratio):
            break
    return speed, shown


def _expect_speed(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """At least MIN_SPEEDUP_OVER_LOOPS times faster than the reference loops, at most MAX_SLOWDOWN times
    slower than the reference conv2d_unfold: both measured side by side."""
    needed = MIN_SPEEDUP_OVER_LOOPS[device.type]
    speed, shown = _timed(fn, "conv2d_loops", LOOPS_TIMING, gen, device, lambda ratio: 1 / ratio < needed)
    if 1 / speed.ratio < needed:
        raise CheckFailed(
            f"conv2d_unfold took {format_duration(speed.student_s)} on {shown}, only {1 / speed.ratio:.1f}x faster "
            f"than the reference loops ({format_duration(speed.reference_s)}); at least {needed:g}x is expected: "
            "is it still looping over output positions in Python? One matrix product of the kernels with the "
            "unfolded windows does every position at once.")
    allowed = MAX_SLOWDOWN[device.type]
    speed, shown = _timed(fn, "conv2d_unfold", TIMING, gen, device, lambda ratio: ratio > allowed)
    if speed.ratio > allowed:
        raise CheckFailed(
            f"conv2d_unfold took {format_duration(speed.student_s)} on {shown}, {speed.ratio:.1f}x the reference's "
            f"{format_duration(speed.reference_s)} (at most {allowed:g}x is allowed): does it loop over images or "
            "output channels in Python? w.reshape(C_out, -1) @ cols multiplies every image's columns by every "
            "kernel in one call.")


@check("conv2d_unfold")
def check_conv2d_unfold(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Against F.conv2d on every case and larger ones, ValueError for mismatched channels, no torch
    convolution, at least 20x faster than the loops and within 3x of the reference."""
    rule = "build the columns with F.unfold (or your im2col) and multiply them by the kernels yourself."
    with references_for(fn, "conv", *CALLED_EXERCISES):
        _expect_convolutions("conv2d_unfold", fn, _conv_cases(CONV_CASES + LARGER_CONV_CASES, gen, device),
                             CONV_FAMILY | NUMPY_ESCAPES, rule)
        _expect_channel_error("conv2d_unfold", fn, gen, device)
        _expect_speed(fn, device, gen)
        # re-checked on fresh inputs after the timing
        _expect_convolutions("conv2d_unfold", fn, (_conv_inputs(case, gen, device) for case in LARGER_CONV_CASES),
                             CONV_FAMILY | NUMPY_ESCAPES, rule)


def _pool_inputs(gen: torch.Generator, device: torch.device) -> Iterator[tuple[torch.Tensor, int, int | None, int, str]]:
    for n, c, h, w, k, s, p, dtype, shift in POOL_CASES:
        x = randn(n, c, h, w, gen=gen, dtype=dtype, device=device) + shift
        shown = (f"x: {(n, c, h, w)}{' all negative' if shift < 0 else ''}, kernel_size={k}"
                 f"{'' if s is None else f', stride={s}'}{f', padding={p}' if p else ''}, {dtype}")
        yield x, k, s, p, shown


def _expect_pools(name: str, fn: Callable, gen: torch.Generator, device: torch.device, truth: Callable,
                  variants: Callable[..., Iterator[tuple[torch.Tensor, str]]]) -> None:
    with references_for(fn, "conv", *CALLED_EXERCISES):
        for x, k, s, p, shown in _pool_inputs(gen, device):
            call = f"{name}({shown})"
            args = (x, k) if s is None else (x, k, s)
            out = run_under_policy(call, lambda: fn(*args, padding=p) if p else fn(*args),
                       POOL_FAMILY | CONV_FAMILY | NUMPY_ESCAPES,
                       "this exercise computes each window's summary itself (unfold is allowed).", x=x)
            stride = k if s is None else s
            expected = truth(x.double(), k, stride, p).to(x.dtype)
            hint = "" if not isinstance(out, torch.Tensor) else _shape_hint(
                tuple(out.shape), x, k, k, x.shape[1], stride, p, default_stride=s is None)
            expect_close(out, expected, name, call, scale=float(x.abs().max()),
                         hints=variants(x.double(), k, stride, p), shape_hint=hint, nonfinite_hint=NONFINITE_HINT)


@check("maxpool2d")
def check_maxpool2d(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Against F.max_pool2d: default and explicit strides, padding (next to all-negative windows),
    odd sizes, batches and channels, float32/64; no torch pooling or convolution."""
    def variants(x: torch.Tensor, k: int, s: int, p: int) -> Iterator[tuple[torch.Tensor, str]]:
        if p:
            yield (F.max_pool2d(F.pad(x, (p, p, p, p)), k, s),
                   "the padding counts as 0, so it wins over windows of negative values: pad with -inf, "
                   "F.pad(x, (p, p, p, p), value=float('-inf')).")
        yield (F.avg_pool2d(x, k, s, p), "it is the mean of each window, not its maximum.")

    _expect_pools("maxpool2d", fn, gen, device, lambda x, k, s, p: F.max_pool2d(x, k, s, p), variants)


@check("avgpool2d")
def check_avgpool2d(fn: Callable, device: torch.device, gen: torch.Generator) -> None:
    """Against F.avg_pool2d (padding zeros counted): default and explicit strides, padding, odd sizes,
    batches and channels, float32/64; no torch pooling or convolution."""
    def variants(x: torch.Tensor, k: int, s: int, p: int) -> Iterator[tuple[torch.Tensor, str]]:
        if p:
            yield (F.avg_pool2d(x, k, s, p, count_include_pad=False),
                   "near the border it divides by the number of real pixels: like F.avg_pool2d, the padding "
                   "zeros count, every window's sum is divided by kernel_size * kernel_size.")
        yield (F.avg_pool2d(x, k, s, p) * k * k, "it is each window's sum: divide by kernel_size * kernel_size.")
        yield (F.max_pool2d(x, k, s, p), "it is the maximum of each window, not its mean.")

    _expect_pools("avgpool2d", fn, gen, device, lambda x, k, s, p: F.avg_pool2d(x, k, s, p), variants)


EXERCISES = (
    Exercise("output_size", 1, check_output_size),
    Exercise("conv2d_loops", 3, check_conv2d_loops),
    Exercise("im2col", 3, check_im2col),
    Exercise("conv2d_unfold", 3, check_conv2d_unfold),
    Exercise("maxpool2d", 2, check_maxpool2d),
    Exercise("avgpool2d", 1, check_avgpool2d),
)
