"""Shared fixtures: the lesson, its reference namespace, and notebooks built for a test."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import nbformat
import pytest

from autograder.lessons import Lesson, lesson_for

NotebookFactory = Callable[..., Path]


@pytest.fixture
def matmul_lesson() -> Lesson:
    return lesson_for("01_matmul")


@pytest.fixture
def reference_namespace(matmul_lesson: Lesson) -> dict[str, Any]:
    """A fresh copy of the reference solutions' definitions."""
    return dict(vars(matmul_lesson.solutions()))


def grader_test_cell(source: str) -> Any:
    """An nbgrader autograder-test cell."""
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": True, "points": 1, "grade_id": "t", "schema_version": 3}})


@pytest.fixture
def make_notebook(tmp_path: Path) -> NotebookFactory:
    """Write a notebook of the given code cells (strings or ready cells) and return its path."""
    def make(*cells: Any, name: str = "01_matmul.ipynb") -> Path:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(c) if isinstance(c, str) else c for c in cells]
        path = tmp_path / name
        nbformat.write(nb, path)
        return path
    return make
