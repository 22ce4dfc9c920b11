from __future__ import annotations

import pytest
import torch

from autograder.compare import expect_close, is_close
from autograder.results import CheckFailed

TRUTH = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)


def _message(out, **options) -> str:
    with pytest.raises(CheckFailed) as err:
        expect_close(out, TRUTH, "f", "f(x)", **options)
    return str(err.value)


def test_expect_close_accepts_the_truth_within_rounding():
    expect_close(TRUTH + 1e-13, TRUTH, "f", "f(x)")
    expect_close(TRUTH + 1e-9, TRUTH, "f", "f(x)", scale=1e7)   # 8 eps * scale of slack


def test_expect_close_names_the_largest_difference():
    assert "largest difference at [1, 0]: expected 3, got 3.5" in _message(TRUTH + torch.tensor([[0, 0], [0.5, 0]]))


def test_expect_close_gives_the_hint_of_the_variant_a_wrong_answer_equals():
    message = _message(TRUTH.T.clone(), hints=[(TRUTH.T, "it is transposed.")])
    assert message == "f(x) is wrong: it is transposed."


def test_expect_close_names_a_wrong_shape_with_its_hint():
    hints = {(4,): "It is flattened.", (2,): "It is reduced."}
    assert _message(TRUTH.reshape(-1), shape_hint=hints) == "f(x) returned shape (4,); expected (2, 2). It is flattened."
    assert _message(TRUTH[0], shape_hint="Keep both dims.") == "f(x) returned shape (2,); expected (2, 2). Keep both dims."
    assert _message(TRUTH[0], shape_hint=None) == "f(x) returned shape (2,); expected (2, 2)."


def test_expect_close_asks_about_stability_for_a_non_finite_answer():
    broken = TRUTH.clone()
    broken[0, 0] = float("nan")
    assert _message(broken).endswith("finite: is it numerically stable?")
    assert _message(broken, nonfinite_hint="is eps inside the square root?").endswith("is eps inside the square root?")


def test_is_close_rejects_another_shape():
    assert not is_close(TRUTH.reshape(-1), TRUTH)
