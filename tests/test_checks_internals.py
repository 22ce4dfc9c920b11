from __future__ import annotations

import pytest

import autograder.checks.internals as checks
from autograder.grade import grade_loaded, grade_solutions
from autograder.lessons import lesson_for
from autograder.loader import LoadedNotebook
from autograder.results import Status
from conftest import assert_fails_only_its_exercise
from mutants_internals import MUTANTS


@pytest.fixture
def internals_lesson():
    return lesson_for("05_internals")


def test_reference_solutions_get_full_marks():
    graded = grade_solutions("05_internals", "cpu")
    assert [(e.name, e.message) for e in graded.exercises if e.status != Status.PASSED] == []
    assert graded.score == graded.max_score == 20


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_fails_exactly_its_exercise_with_its_message(mutant, internals_lesson, tmp_path):
    assert_fails_only_its_exercise(internals_lesson, mutant, tmp_path)


def test_mutant_zoo_covers_every_exercise(internals_lesson):
    assert len(MUTANTS) >= 10
    assert {m.exercise for m in MUTANTS} == {e.name for e in internals_lesson.exercises()}


def test_a_wrong_module_costs_points_only_in_its_own_exercise(internals_lesson, tmp_path):
    # The learner's Sequential subclasses their own Module, whose parameters() lists some twice.
    from mutants_internals import ModuleListsTwice
    from solutions import internals as ref
    namespace = dict(vars(ref))
    namespace["Module"] = ModuleListsTwice
    exec("class Sequential(Module):\n"
         "    def __init__(self, *modules):\n"
         "        super().__init__()\n"
         "        self.layers = list(modules)\n"
         "        for i, m in enumerate(modules):\n"
         "            setattr(self, f'layer{i}', m)\n"
         "    def forward(self, x):\n"
         "        for m in self.layers:\n"
         "            x = m(x)\n"
         "        return x\n", namespace)
    graded = grade_loaded(internals_lesson, LoadedNotebook(tmp_path, namespace), "cpu")
    assert [e.name for e in graded.exercises if e.status != Status.PASSED] == ["Module"]
    assert ModuleListsTwice.parameters is not ref.Module.parameters  # the learner's method is back after grading
    assert list(namespace["Sequential"](ref.Linear(2, 2)).parameters()) != []


def test_metrics_case_separates_weighted_from_batch_averaged_metrics():
    from mutants_internals import fit_accuracy_per_batch
    from solutions.internals import fit
    import torch.nn.functional as F
    model, opt, train_dl, valid_dl, _, _ = checks._metrics_case()
    right = fit(model, F.cross_entropy, opt, train_dl, valid_dl, 1)[0]
    wrong = fit_accuracy_per_batch(model, F.cross_entropy, opt, train_dl, valid_dl, 1)[0]
    assert right["valid_accuracy"] == pytest.approx(0.8) and wrong["valid_accuracy"] == pytest.approx(2.5 / 3)
