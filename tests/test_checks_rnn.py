from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F

import autograder.checks.rnn as checks
from autograder.grade import grade_loaded, grade_solutions
from autograder.lessons import lesson_for
from autograder.loader import LoadedNotebook
from autograder.results import CheckFailed, NotAttempted, Status
from conftest import assert_fails_only_its_exercise
from mutants_rnn import MUTANTS


@pytest.fixture
def rnn_lesson():
    return lesson_for("09_rnn")


def test_reference_solutions_get_full_marks():
    graded = grade_solutions("09_rnn", "cpu")
    assert [(e.name, e.message) for e in graded.exercises if e.status != Status.PASSED] == []
    assert graded.score == graded.max_score == 16


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_fails_exactly_its_exercise_with_its_message(mutant, rnn_lesson, tmp_path):
    assert_fails_only_its_exercise(rnn_lesson, mutant, tmp_path)


def test_mutant_zoo_covers_every_exercise(rnn_lesson):
    assert len(MUTANTS) >= 12
    assert {m.exercise for m in MUTANTS} == {e.name for e in rnn_lesson.exercises()}


def test_the_issue_s_mistakes_are_in_the_zoo():
    names = {m.name for m in MUTANTS}
    assert {"rnn_forward_state_not_carried", "bptt_truncated_to_one_step", "clip_per_parameter",
            "bptt_tanh_derivative_of_pre_activation", "rnn_cell_W_hh_transposed"} <= names


def test_a_wrong_rnn_cell_costs_points_only_in_its_own_exercise(rnn_lesson, tmp_path):
    # The learner's rnn_forward, classify and train_step call their own helpers, and rnn_cell is wrong.
    from mutants_rnn import rnn_cell_W_hh_transposed
    from solutions import rnn as ref
    namespace = dict(vars(ref))
    namespace["rnn_cell"] = rnn_cell_W_hh_transposed
    for name in ("rnn_forward", "classify", "train_step", "clip_grad_norm"):
        exec(inspect.getsource(getattr(ref, name)), namespace)  # the learner's function, looking up their helpers
    graded = grade_loaded(rnn_lesson, LoadedNotebook(tmp_path, namespace), "cpu")
    assert [e.name for e in graded.exercises if e.status != Status.PASSED] == ["rnn_cell"]
    assert namespace["rnn_cell"] is rnn_cell_W_hh_transposed  # the learner's helper is back


def test_check_raises_not_attempted_for_a_stub():
    def stub(xs, h0, W_xh, W_hh, b):
        raise NotImplementedError("rnn_forward: not attempted yet")
    with pytest.raises(NotAttempted, match="rnn_forward is not attempted"):
        checks.check_rnn_forward(stub)


def test_check_failure_names_the_seed_that_replays_it():
    from mutants_rnn import bptt_truncated_to_one_step
    with pytest.raises(CheckFailed, match=r"check_bptt_backward\(bptt_backward, device='cpu', seed=3\)") as first:
        checks.check_bptt_backward(bptt_truncated_to_one_step, seed=3)
    with pytest.raises(CheckFailed) as again:
        checks.check_bptt_backward(bptt_truncated_to_one_step, "cpu", seed=3)
    assert str(first.value) == str(again.value)


def rnn_forward_preallocated(xs, h0, W_xh, W_hh, b):
    hs = torch.empty(xs.shape[0], xs.shape[1], W_hh.shape[0], dtype=xs.dtype, device=xs.device)
    h = torch.zeros_like(hs[0]) if h0 is None else h0
    for t in range(len(xs)):
        h = torch.tanh(F.linear(xs[t], W_xh.T) + F.linear(h, W_hh.T, b))
        hs[t] = h
    return hs


def bptt_recomputing_tanh(xs, h0, W_xh, W_hh, b, hs, dhs):
    grads = {k: torch.zeros_like(v) for k, v in (("xs", xs), ("W_xh", W_xh), ("W_hh", W_hh), ("b", b))}
    dh_next = torch.zeros_like(h0)
    for t in range(len(xs) - 1, -1, -1):
        h_prev = h0 if t == 0 else hs[t - 1]
        a = xs[t] @ W_xh + h_prev @ W_hh + b
        da = (dhs[t] + dh_next) * (1 - torch.tanh(a) ** 2)   # tanh' from the pre-activation, done right
        grads["W_xh"] = grads["W_xh"] + torch.einsum("ni,nh->ih", xs[t], da)
        grads["W_hh"] = grads["W_hh"] + h_prev.T @ da
        grads["b"] = grads["b"] + da.sum(0)
        grads["xs"][t] = da @ W_xh.T
        dh_next = da @ W_hh.T
    return grads | {"h0": dh_next}


def clip_without_epsilon_new_tensors(params, max_norm):
    params = [p for p in params if p.grad is not None]
    total = sum((p.grad ** 2).sum() for p in params) ** 0.5 if params else torch.tensor(0.0)
    if total > max_norm:
        for p in params:
            p.grad = p.grad * (max_norm / total)
    return total


def classify_one_by_one(xs, lengths, W_xh, W_hh, b, W_hy, b_y):
    rows = []
    for n in range(xs.shape[1]):
        hs = rnn_forward_preallocated(xs[:int(lengths[n]), n:n + 1], None, W_xh, W_hh, b)
        rows.append(hs[-1, 0] @ W_hy + b_y)
    return torch.stack(rows)


def train_step_zeroing(params, xs, lengths, ys, lr, max_norm):
    from solutions.rnn import classify, clip_grad_norm
    loss = F.cross_entropy(classify(xs, lengths, *params), ys)
    loss.backward()
    clip_grad_norm(params, max_norm)
    with torch.no_grad():
        for p in params:
            p.sub_(p.grad, alpha=lr)
            p.grad.zero_()
    return float(loss)


def train_step_inline_clipping(params, xs, lengths, ys, lr, max_norm):
    from solutions.rnn import classify
    for p in params:
        p.grad = None
    loss = F.cross_entropy(classify(xs, lengths, *params), ys)
    grads = torch.autograd.grad(loss, params)
    norm = torch.cat([g.reshape(-1) for g in grads]).norm()
    scale = min(1.0, max_norm / float(norm))  # without torch's 1e-6
    with torch.no_grad():
        for p, g in zip(params, grads):
            p -= lr * scale * g
    return loss.item()


@pytest.mark.parametrize("check, answer", [
    (checks.check_rnn_forward, rnn_forward_preallocated),
    (checks.check_bptt_backward, bptt_recomputing_tanh),
    (checks.check_clip_grad_norm, clip_without_epsilon_new_tensors),
    (checks.check_classify, classify_one_by_one),
    (checks.check_train_step, train_step_zeroing),
    (checks.check_train_step, train_step_inline_clipping),
], ids=lambda v: getattr(v, "__name__", ""))
def test_other_correct_answers_pass(check, answer):
    check(answer, seed=11)


def test_words_file_is_what_the_script_writes(tmp_path):
    pytest.importorskip("babel")
    from autograder import words
    import babel
    if babel.__version__ != "2.18.0":
        pytest.skip(f"the shipped file was written with babel 2.18.0, not {babel.__version__}")
    words.write_words(tmp_path / "words.tsv")
    assert (tmp_path / "words.tsv").read_bytes() == words.WORDS_FILE.read_bytes()


def test_words_are_labelled_once_and_encoded_time_first():
    from autograder.words import LANGUAGES, alphabet, encode, load_words
    words, labels = load_words()
    assert len(words) == len(set(words)) == len(labels) == 4197
    assert sorted(set(labels.tolist())) == list(range(len(LANGUAGES)))
    chars = alphabet(words)
    xs, lengths = encode(["ab", "b"], chars)
    assert xs.shape == (2, 2, len(chars)) and lengths.tolist() == [2, 1]
    assert xs[1, 1].sum() == 0 and xs[0, 1, chars.index("b")] == 1


def test_the_truth_for_classify_is_each_sequence_s_own_last_state():
    # nn.RNN over a packed batch must agree with running each sequence alone.
    gen = torch.Generator().manual_seed(0)
    xs, lengths = checks._padded_batch(5, 4, 3, torch.float64, torch.device("cpu"), gen)
    params = checks._classifier_weights(3, 4, 2, torch.float64, torch.device("cpu"), gen)
    expected = checks._logits(xs, lengths, params)
    assert torch.allclose(expected, classify_one_by_one(xs, lengths, *params))
