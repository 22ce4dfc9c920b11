from __future__ import annotations

import pytest
import torch

from autograder.checks.matmul import check_matmul_loops
from autograder.grade import grade_solutions
from autograder.results import CheckFailed, NotAttempted, Status
from conftest import assert_fails_only_its_exercise
from mutants_matmul import MUTANTS


def test_reference_solutions_get_full_marks():
    graded = grade_solutions("01_matmul", "cpu")
    assert [(e.name, e.status) for e in graded.exercises if e.status != Status.PASSED] == []
    assert graded.score == graded.max_score == 14


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_fails_exactly_its_exercise_with_its_message(mutant, matmul_lesson, tmp_path):
    assert_fails_only_its_exercise(matmul_lesson, mutant, tmp_path)


def test_mutant_zoo_covers_every_exercise(matmul_lesson):
    assert {m.exercise for m in MUTANTS} == {e.name for e in matmul_lesson.exercises()}
    assert len(MUTANTS) >= 10


def test_check_raises_not_attempted_for_a_stub():
    def stub(a, b):
        raise NotImplementedError("matmul_loops: not attempted yet")
    with pytest.raises(NotAttempted, match="matmul_loops is not attempted"):
        check_matmul_loops(stub)


def test_check_refuses_an_object_that_compares_equal_to_anything():
    class Anything:
        shape = (4, 4)

        def __eq__(self, other):
            return True

    with pytest.raises(CheckFailed, match="returned Anything, not a torch.Tensor"):
        check_matmul_loops(lambda a, b: Anything())


def test_check_refuses_something_that_is_not_a_function():
    with pytest.raises(CheckFailed, match="should be a function"):
        check_matmul_loops(42)


def test_check_failure_names_the_seed_that_replays_it():
    def wrong(a, b):
        return torch.zeros(a.shape[0], b.shape[1], dtype=a.dtype) + a.sum()

    with pytest.raises(CheckFailed, match=r"replay these inputs in your notebook: from autograder.checks.matmul import check_matmul_loops; check_matmul_loops\(matmul_loops, device='cpu', seed=7\)") as first:
        check_matmul_loops(wrong, seed=7)
    with pytest.raises(CheckFailed) as again:
        check_matmul_loops(wrong, "cpu", seed=7)
    assert str(first.value) == str(again.value)
