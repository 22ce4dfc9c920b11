from __future__ import annotations

import pytest
import torch

import autograder.checks.forward as checks
from autograder.grade import grade_solutions
from autograder.lessons import lesson_for
from autograder.results import Status
from conftest import assert_fails_only_its_exercise
from mutants_forward import MUTANTS


@pytest.fixture
def forward_lesson():
    return lesson_for("03_forward")


def test_reference_solutions_get_full_marks():
    graded = grade_solutions("03_forward", "cpu")
    assert [(e.name, e.message) for e in graded.exercises if e.status != Status.PASSED] == []
    assert graded.score == graded.max_score == 19


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_fails_exactly_its_exercise_with_its_message(mutant, forward_lesson, tmp_path):
    assert_fails_only_its_exercise(forward_lesson, mutant, tmp_path)


def test_mutant_zoo_covers_most_exercises(forward_lesson):
    assert len(MUTANTS) >= 8
    assert len({m.exercise for m in MUTANTS}) >= 10


def test_a_wrong_helper_costs_points_only_in_its_own_exercise(forward_lesson, tmp_path):
    # cross_entropy written on top of the learner's own (wrong) logsumexp: only logsumexp loses points.
    from solutions import forward as ref
    namespace = dict(vars(ref))
    namespace["logsumexp"] = lambda x: x.max() + (x - x.max()).exp().sum(-1).log()
    exec("def cross_entropy(logits, target):\n    return nll(log_softmax(logits), target)\n"
         "def log_softmax(x):\n    return x - logsumexp(x).unsqueeze(-1)\n", namespace)
    from autograder.grade import grade_loaded
    from autograder.loader import LoadedNotebook
    graded = grade_loaded(forward_lesson, LoadedNotebook(tmp_path, namespace), "cpu")
    assert [e.name for e in graded.exercises if e.status != Status.PASSED] == ["logsumexp"]
    assert namespace["logsumexp"] is not ref.logsumexp  # the learner's helper is back after grading


def test_initial_loss_band_contains_ln_10():
    low, high = checks.INITIAL_LOSS_BAND
    assert low < torch.log(torch.tensor(10.0)).item() < high


def test_cross_entropy_keeps_its_points_when_nll_is_renamed(tmp_path):
    # The learner renamed nll (a NameError inside their cross_entropy, were it run with their names):
    # only nll loses points, as missing.
    import inspect
    from autograder.grade import grade_loaded
    from autograder.lessons import lesson_for
    from autograder.loader import LoadedNotebook
    from solutions import forward as ref
    namespace = dict(vars(ref))
    namespace["negative_log_likelihood"] = namespace.pop("nll")
    exec(inspect.getsource(ref.cross_entropy), namespace)  # the learner's cross_entropy, calling `nll`
    graded = grade_loaded(lesson_for("03_forward"), LoadedNotebook(tmp_path, namespace), "cpu")
    failed = {e.name: e for e in graded.exercises if e.status != Status.PASSED}
    assert list(failed) == ["nll"] and failed["nll"].status == Status.ERROR
    assert "nll" not in namespace  # the reference put in for the check is gone again
