from __future__ import annotations

import math

import pytest
import torch

import autograder.checks.init as checks
from autograder.grade import grade_solutions
from autograder.results import CheckFailed, Status
from conftest import assert_fails_only_its_exercise
from mutants_init import MUTANTS


@pytest.fixture
def init_lesson():
    from autograder.lessons import lesson_for
    return lesson_for("02_init")


def test_reference_solutions_get_full_marks():
    graded = grade_solutions("02_init", "cpu")
    assert [(e.name, e.message) for e in graded.exercises if e.status != Status.PASSED] == []
    assert graded.score == graded.max_score == 16


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_fails_exactly_its_exercise_with_its_message(mutant, init_lesson, tmp_path):
    assert_fails_only_its_exercise(init_lesson, mutant, tmp_path)


def test_mutant_zoo_covers_every_exercise(init_lesson):
    assert {m.exercise for m in MUTANTS} == {e.name for e in init_lesson.exercises()}
    assert len(MUTANTS) >= 8


def test_deep_stacks_explode_vanish_or_stay_as_the_lesson_says():
    from solutions import init as ref
    gen = torch.Generator().manual_seed(0)
    assert not math.isfinite(checks._last_std(lambda i, o: torch.randn(i, o), lambda t: t, gen))
    assert checks._last_std(ref.xavier_normal, torch.relu, gen) < 1e-5
    assert 0.1 < checks._last_std(ref.kaiming_normal, torch.relu, gen) < 2


def test_stack_check_fails_xavier_under_relu_as_vanishing():
    from solutions import init as ref
    with pytest.raises(CheckFailed, match="your activations vanish"):
        checks._expect_stack_like_reference("kaiming_normal", ref.xavier_normal, ref.kaiming_normal, torch.relu,
                                           "ReLU", torch.Generator().manual_seed(1))


def test_shifted_relu_calling_a_wrong_leaky_relu_keeps_its_points(init_lesson, tmp_path):
    from autograder.grade import grade_loaded
    from autograder.loader import LoadedNotebook
    from mutants_init import leaky_relu_is_relu
    from solutions import init as ref
    namespace = dict(vars(ref))
    namespace["leaky_relu"] = leaky_relu_is_relu
    exec("def shifted_relu(x, shift=0.5, leak=0.0):\n    return leaky_relu(x, leak) - shift\n", namespace)
    graded = grade_loaded(init_lesson, LoadedNotebook(tmp_path, namespace), "cpu")
    assert [e.name for e in graded.exercises if e.status != Status.PASSED] == ["leaky_relu"]
    assert namespace["leaky_relu"] is leaky_relu_is_relu


def test_deep_stacks_run_on_one_thread_and_restore_the_setting():
    # Two intra-op threads ran the stacks 5-20 times slower while another process held one of two cores.
    from solutions import init as ref
    seen = []

    def init(fan_in, fan_out):
        seen.append(torch.get_num_threads())
        return ref.kaiming_normal(fan_in, fan_out)

    threads = torch.get_num_threads()
    checks._expect_stack_like_reference("kaiming_normal", init, ref.kaiming_normal, torch.relu, "ReLU",
                                        torch.Generator().manual_seed(0))
    assert set(seen) == {1} and torch.get_num_threads() == threads
