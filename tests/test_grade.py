from __future__ import annotations

from dataclasses import replace

from autograder.grade import grade_exercise, grade_loaded, grade_notebook
from autograder.loader import load_notebook
from autograder.results import Status


def _exercise(lesson, name):
    return next(e for e in lesson.exercises() if e.name == name)


def test_grade_exercise_reports_a_missing_name_with_the_similar_one(matmul_lesson, make_notebook):
    loaded = load_notebook(make_notebook("def matmul_loop(a, b):\n    return a"))
    result = grade_exercise(_exercise(matmul_lesson, "matmul_loops"), loaded.namespace, "cpu", loaded)
    assert result.status == Status.ERROR and result.points == 0
    assert "`matmul_loops` is not defined" in result.message and "`matmul_loop` is defined" in result.message


def test_grade_exercise_names_the_failed_cell_when_a_definition_is_missing(matmul_lesson, make_notebook):
    loaded = load_notebook(make_notebook("import torch_typo\ndef matmul_loops(a, b):\n    return a"))
    result = grade_exercise(_exercise(matmul_lesson, "matmul_loops"), loaded.namespace, "cpu", loaded)
    assert "Code cell 1 failed" in result.message and "ModuleNotFoundError" in result.message


def test_grade_exercise_reports_an_exception_with_the_learners_line(matmul_lesson, make_notebook):
    loaded = load_notebook(make_notebook("def matmul_loops(a, b):\n    return a[99, 99]"))
    result = grade_exercise(_exercise(matmul_lesson, "matmul_loops"), loaded.namespace, "cpu", loaded)
    assert result.status == Status.ERROR
    assert "matmul_loops raised IndexError" in result.message
    assert "code cell 1, line 2: return a[99, 99]" in result.message
    assert "Hint: check each loop's range" in result.message


def test_grade_exercise_stops_an_infinite_loop(matmul_lesson, make_notebook):
    loaded = load_notebook(make_notebook("def matmul_loops(a, b):\n    while True:\n        pass"))
    quick = replace(_exercise(matmul_lesson, "matmul_loops"), time_budget_s=0.5)
    result = grade_exercise(quick, loaded.namespace, "cpu", loaded)
    assert result.status == Status.TIMEOUT and "infinite loop" in result.message


def test_grade_exercise_calls_a_stub_not_attempted(matmul_lesson, make_notebook):
    loaded = load_notebook(make_notebook("def matmul_loops(a, b):\n    raise NotImplementedError()"))
    result = grade_exercise(_exercise(matmul_lesson, "matmul_loops"), loaded.namespace, "cpu", loaded)
    assert result.status == Status.NOT_ATTEMPTED and result.points == 0
    assert "not attempted" in result.message


def test_grade_exercise_survives_sys_exit_in_learner_code(matmul_lesson, make_notebook):
    loaded = load_notebook(make_notebook("import sys\ndef matmul_loops(a, b):\n    sys.exit(3)"))
    result = grade_exercise(_exercise(matmul_lesson, "matmul_loops"), loaded.namespace, "cpu", loaded)
    assert result.status == Status.ERROR and "SystemExit" in result.message


def test_grade_exercise_accepts_a_correct_answer_that_warns(matmul_lesson, reference_namespace):
    import warnings

    def noisy(a, b):
        warnings.warn("a learner's warning", UserWarning)
        return reference_namespace["matmul_einsum"](a, b)

    result = grade_exercise(_exercise(matmul_lesson, "matmul_einsum"), {"matmul_einsum": noisy}, "cpu")
    assert result.status == Status.PASSED


def test_grade_notebook_reports_every_exercise_of_a_malformed_notebook(tmp_path):
    path = tmp_path / "01_matmul.ipynb"
    path.write_text("not json", encoding="utf-8")
    graded = grade_notebook(path, "cpu")
    assert [e.status for e in graded.exercises] == [Status.ERROR] * 5
    assert all("is not a valid notebook" in e.message for e in graded.exercises)
    assert graded.score == 0 and graded.max_score == 14


def test_grade_loaded_grades_each_exercise_on_its_own(matmul_lesson, make_notebook, reference_namespace):
    # Only the einsum step is right; the loop steps crash. The einsum points must still count.
    loaded = load_notebook(make_notebook("def matmul_loops(a, b):\n    return 1 / 0"))
    loaded.namespace["matmul_einsum"] = reference_namespace["matmul_einsum"]
    graded = grade_loaded(matmul_lesson, loaded, "cpu")
    by_name = {e.name: e for e in graded.exercises}
    assert by_name["matmul_einsum"].status == Status.PASSED and graded.score == 2
    assert by_name["matmul_loops"].status == Status.ERROR


def test_a_renamed_exercise_is_found_by_its_parameters_when_its_name_is_not_close(make_notebook):
    from autograder.lessons import lesson_for

    lesson = lesson_for("03_forward")
    loaded = load_notebook(make_notebook(
        "import torch\ndef negative_log_likelihood(log_probs, target):\n"
        "    return -log_probs[torch.arange(target.shape[0]), target].mean()", name="03_forward.ipynb"))
    exercise = next(e for e in lesson.exercises() if e.name == "nll")
    result = grade_exercise(exercise, loaded.namespace, "cpu", loaded)
    assert result.status == Status.ERROR
    assert "Did you rename it? `negative_log_likelihood` is defined" in result.message
