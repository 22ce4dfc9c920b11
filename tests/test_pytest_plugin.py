from __future__ import annotations

import shutil


import autograder.lessons

pytest_plugins = ["pytester"]


def test_plugin_grades_a_solution_notebook_one_test_per_exercise(pytester, matmul_lesson):
    notebook = pytester.path / "01_matmul.ipynb"
    shutil.copyfile(matmul_lesson.source_notebook, notebook)
    result = pytester.runpytest_subprocess(str(notebook), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*01_matmul*14/14 points*"])


def test_plugin_reports_stubs_as_not_attempted_without_tracebacks(pytester, matmul_lesson):
    notebook = pytester.path / "01_matmul.ipynb"
    shutil.copyfile(matmul_lesson.release_notebook, notebook)
    result = pytester.runpytest_subprocess(str(notebook), "-p", "no:cacheprovider")
    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines(["*[[]not_attempted[]] matmul_loops (0/3 points)*", "*0/14 points*"])
    assert "Traceback" not in result.stdout.str()


def test_plugin_lesson_option_uses_and_creates_the_assignment_copy(pytester, matmul_lesson, monkeypatch):
    course = pytester.path / "course"
    (course / "release" / "01_matmul").mkdir(parents=True)
    shutil.copyfile(matmul_lesson.release_notebook, course / "release" / "01_matmul" / "01_matmul.ipynb")
    monkeypatch.setattr(autograder.lessons, "COURSE_ROOT", course)
    result = pytester.runpytest("--lesson", "01_matmul", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=5)
    assert (course / "assignments" / "01_matmul.ipynb").exists()


def test_plugin_ignores_notebooks_it_was_not_asked_to_grade(pytester, matmul_lesson):
    shutil.copyfile(matmul_lesson.release_notebook, pytester.path / "01_matmul.ipynb")
    pytester.makepyfile(test_other="def test_ok():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


