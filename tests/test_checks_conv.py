from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F

import autograder.checks.conv as checks
from autograder.grade import grade_loaded, grade_solutions
from autograder.lessons import lesson_for
from autograder.loader import LoadedNotebook
from autograder.results import CheckFailed, NotAttempted, Status
from conftest import assert_fails_only_its_exercise
from mutants_conv import MUTANTS


@pytest.fixture
def conv_lesson():
    return lesson_for("07_conv")


def test_reference_solutions_get_full_marks():
    graded = grade_solutions("07_conv", "cpu")
    assert [(e.name, e.message) for e in graded.exercises if e.status != Status.PASSED] == []
    assert graded.score == graded.max_score == 13


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_fails_exactly_its_exercise_with_its_message(mutant, conv_lesson, tmp_path):
    assert_fails_only_its_exercise(conv_lesson, mutant, tmp_path)


def test_mutant_zoo_covers_every_exercise(conv_lesson):
    assert len(MUTANTS) >= 12
    assert {m.exercise for m in MUTANTS} == {e.name for e in conv_lesson.exercises()}


def test_a_wrong_output_size_costs_points_only_in_its_own_exercise(conv_lesson, tmp_path):
    # The learner's convolutions and pools call their own output_size, which is wrong for stride 2.
    from mutants_conv import output_size_off_by_one_for_stride
    from solutions import conv as ref
    namespace = dict(vars(ref))
    namespace["output_size"] = output_size_off_by_one_for_stride
    for name in ("conv2d_loops", "im2col", "conv2d_unfold", "maxpool2d", "avgpool2d"):
        exec(inspect.getsource(getattr(ref, name)), namespace)  # the learner's function, looking up their output_size
    graded = grade_loaded(conv_lesson, LoadedNotebook(tmp_path, namespace), "cpu")
    assert [e.name for e in graded.exercises if e.status != Status.PASSED] == ["output_size"]
    assert namespace["output_size"] is output_size_off_by_one_for_stride  # the learner's output_size is back


def test_check_raises_not_attempted_for_a_stub():
    def stub(x, w, b=None, stride=1, padding=0):
        raise NotImplementedError("conv2d_loops: not attempted yet")
    with pytest.raises(NotAttempted, match="conv2d_loops is not attempted"):
        checks.check_conv2d_loops(stub)


def test_check_failure_names_the_seed_that_replays_it():
    from mutants_conv import conv2d_loops_flipped
    with pytest.raises(CheckFailed, match=r"check_conv2d_loops\(conv2d_loops, device='cpu', seed=3\)") as first:
        checks.check_conv2d_loops(conv2d_loops_flipped, seed=3)
    with pytest.raises(CheckFailed) as again:
        checks.check_conv2d_loops(conv2d_loops_flipped, "cpu", seed=3)
    assert str(first.value) == str(again.value)


def test_reference_unfold_is_the_slower_of_the_two_right_answers():
    # The 3x bound is relative to F.unfold; the slice-based im2col is at least as fast, so no right
    # answer is near the bound (measured 0.5-0.9x).
    from autograder.timing import compare_speed
    from solutions import conv as ref

    def with_slices(x, w, b, stride, padding):
        cols = ref.im2col(x, *w.shape[2:], stride, padding)
        n, c_out = x.shape[0], w.shape[0]
        out = w.reshape(c_out, -1) @ cols + b.reshape(c_out, 1)
        return out.reshape(n, c_out, ref.output_size(x.shape[2], w.shape[2], stride, padding),
                           ref.output_size(x.shape[3], w.shape[3], stride, padding))

    n, c, h, w, c_out, kh, kw, s, p, dtype, _ = checks.TIMING
    args = (torch.randn(n, c, h, w), torch.randn(c_out, c, kh, kw), torch.randn(c_out), s, p)
    assert torch.allclose(with_slices(*args), F.conv2d(*args), atol=1e-4)
    speed = compare_speed(with_slices, ref.conv2d_unfold, args, torch.device("cpu"))
    assert speed.ratio < checks.MAX_SLOWDOWN["cpu"] / 2


def test_policy_families_name_what_torch_reports():
    from autograder.policy import record_ops
    x = torch.randn(1, 2, 6, 6)
    with record_ops() as calls:
        F.conv2d(x, torch.randn(3, 2, 3, 3))
        torch.nn.Conv2d(2, 3, 3)(x)
        F.unfold(x, 2)
        x.unfold(2, 2, 1)
        F.max_pool2d(x, 2)
        torch.nn.MaxPool2d(2, return_indices=True)(x)
        F.avg_pool2d(x, 2)
        F.adaptive_avg_pool2d(x, 1)
    assert {"conv2d", "unfold"} <= set(calls)
    assert {c for c in calls if "pool" in c} <= checks.POOL_FAMILY
    assert {c for c in calls if "conv" in c} <= checks.CONV_FAMILY


def test_output_size_check_agrees_with_torch_on_every_case():
    from solutions.conv import output_size
    for h in range(1, 12):
        for k in range(1, 6):
            for s in (1, 2, 3):
                for p in (0, 1, 2):
                    for d in (1, 2, 3):
                        if h + 2 * p >= d * (k - 1) + 1:
                            shape = F.conv2d(torch.zeros(1, 1, h, 3), torch.zeros(1, 1, k, 1), stride=s, padding=p,
                                             dilation=d).shape
                            assert output_size(h, k, s, p, d) == shape[2]


@pytest.mark.stress
def test_reference_passes_the_speed_checks_20_times_with_one_core_busy(monkeypatch):
    # python -m pytest tests/test_checks_conv.py -m stress -s prints the measured ratios for the README.
    import statistics
    import subprocess
    import sys

    from solutions.conv import conv2d_unfold
    measured: dict[str, list[float]] = {"conv2d_loops": [], "conv2d_unfold": []}

    def recording_compare_speed(student, reference, *args, **kwargs):
        speed = compare_speed(student, reference, *args, **kwargs)
        measured[reference.__name__].append(speed.ratio)
        return speed

    compare_speed = checks.compare_speed
    monkeypatch.setattr(checks, "compare_speed", recording_compare_speed)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    failures = []
    try:
        for _ in range(20):
            try:
                checks.check_conv2d_unfold(conv2d_unfold, "cpu")
            except CheckFailed as err:
                failures.append(str(err))
    finally:
        busy.kill()
        busy.wait()
    speedups = [1 / r for r in measured["conv2d_loops"]]
    ratios = measured["conv2d_unfold"]
    print(f"\nspeedup over the reference loops: min {min(speedups):.1f} median {statistics.median(speedups):.1f} "
          f"max {max(speedups):.1f} over {len(speedups)} measurements")
    print(f"time ratio to the reference: min {min(ratios):.2f} median {statistics.median(ratios):.2f} "
          f"max {max(ratios):.2f} over {len(ratios)} measurements")
    print(f"false failures: {len(failures)} of 20")
    assert failures == []


def _output_size_with_floor(h, k, stride=1, padding=0, dilation=1):
    import math
    if h + 2 * padding < dilation * (k - 1) + 1:
        raise ValueError("the kernel does not fit")
    return math.floor((h + 2 * padding - dilation * (k - 1) - 1) / stride) + 1


def _conv2d_loops_by_hand(x, w, b=None, stride=1, padding=0):
    # padding by copying into zeros, and every product of a window written out
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"channels differ: {tuple(x.shape)} vs {tuple(w.shape)}")
    n, c, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    xp = torch.zeros(n, c, h + 2 * padding, wd + 2 * padding, dtype=x.dtype, device=x.device)
    xp[:, :, padding:padding + h, padding:padding + wd] = x
    h_out, w_out = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    out = torch.zeros(n, c_out, h_out, w_out, dtype=x.dtype, device=x.device)
    for i in range(n):
        for o in range(c_out):
            for r in range(h_out):
                for q in range(w_out):
                    total = 0.0 if b is None else b[o]
                    for ci in range(c):
                        total = total + (xp[i, ci, r * stride:r * stride + kh, q * stride:q * stride + kw] * w[o, ci]).sum()
                    out[i, o, r, q] = total
    return out


def _im2col_by_indexing(x, kh, kw, stride=1, padding=0):
    # gather with index tensors instead of slices
    n, c, h, wd = x.shape
    xp = F.pad(x, (padding,) * 4)
    h_out, w_out = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    rows = (torch.arange(h_out) * stride)[None, :, None, None] + torch.arange(kh)[:, None, None, None]
    cols = (torch.arange(w_out) * stride)[None, None, :, None] + torch.arange(kw)[None, None, None, :]
    # patches[n, c, i, r, q, j] -> reorder to (n, c, i, j, r, q)
    patches = xp[:, :, rows.to(x.device), cols.to(x.device)]
    return patches.permute(0, 1, 2, 5, 3, 4).reshape(n, c * kh * kw, h_out * w_out)


def _conv2d_unfold_with_im2col(x, w, b=None, stride=1, padding=0):
    # calls the learner's im2col by name (graded with the reference one) and einsum for the product
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"channels differ: {tuple(x.shape)} vs {tuple(w.shape)}")
    n, c_out, kh, kw = x.shape[0], w.shape[0], w.shape[2], w.shape[3]
    cols = im2col(x, kh, kw, stride, padding)  # noqa: F821 -- looked up in the notebook's namespace
    out = torch.einsum("ok,nkl->nol", w.reshape(c_out, -1), cols)
    if b is not None:
        out = out + b[None, :, None]
    h_out = (x.shape[2] + 2 * padding - kh) // stride + 1
    return out.reshape(n, c_out, h_out, -1)


def _maxpool2d_by_tensor_unfold(x, kernel_size, stride=None, padding=0):
    stride = kernel_size if stride is None else stride
    xp = F.pad(x, (padding,) * 4, value=float("-inf"))
    return xp.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).amax(dim=(-2, -1))


def _avgpool2d_by_taps(x, kernel_size, stride=None, padding=0):
    stride = kernel_size if stride is None else stride
    xp = F.pad(x, (padding,) * 4)
    h_out = (x.shape[2] + 2 * padding - kernel_size) // stride + 1
    w_out = (x.shape[3] + 2 * padding - kernel_size) // stride + 1
    total = 0
    for i in range(kernel_size):
        for j in range(kernel_size):
            total = total + xp[:, :, i:i + stride * (h_out - 1) + 1:stride, j:j + stride * (w_out - 1) + 1:stride]
    return total / kernel_size ** 2


OTHER_RIGHT_ANSWERS = (
    ("output_size", _output_size_with_floor),
    ("conv2d_loops", _conv2d_loops_by_hand),
    ("im2col", _im2col_by_indexing),
    ("conv2d_unfold", _conv2d_unfold_with_im2col),
    ("maxpool2d", _maxpool2d_by_tensor_unfold),
    ("avgpool2d", _avgpool2d_by_taps),
)


@pytest.mark.parametrize("name, answer", OTHER_RIGHT_ANSWERS, ids=[n for n, _ in OTHER_RIGHT_ANSWERS])
def test_other_right_answers_pass(name, answer):
    namespace = {"torch": torch, "F": F, "im2col": _im2col_by_indexing}
    exec(inspect.getsource(answer).replace(answer.__name__, name, 1), namespace)
    getattr(checks, f"check_{name}")(namespace[name], "cpu")
