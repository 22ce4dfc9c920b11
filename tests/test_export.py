from __future__ import annotations

from autograder.export import export_solutions, solution_source
from autograder.lessons import LESSONS


def test_committed_solutions_match_the_source_notebooks():
    assert export_solutions(check_only=True) == [], "solutions/ drifted from source/: run `python -m autograder export`"


def test_solution_source_names_its_origin_and_drops_the_markers():
    text = solution_source(LESSONS["01_matmul"])
    assert "Generated from source/01_matmul/01_matmul.ipynb" in text
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    compile(text, "solutions/matmul.py", "exec")
