"""Test cells a submission must keep as released: a deleted, edited or re-pointed test cell costs its points.

nbgrader's own `validate` passes such a notebook with "Success!" and autograde silently restores an
edited cell; a grade should say what happened, so every route reports it per exercise.
"""
from __future__ import annotations

import json
import re
from typing import Any

from autograder.results import LessonResult, Status


def _test_cells(data: bytes) -> dict[str, tuple[str, Any]] | None:
    """grade_id -> (source, points) of the nbgrader test cells of notebook bytes; None if unreadable."""
    try:
        nb = json.loads(data.decode("utf-8"))
        cells = {}
        for cell in nb.get("cells", []):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution") and "grade_id" in meta:
                source = cell.get("source", "")
                cells[meta["grade_id"]] = ("".join(source) if isinstance(source, list) else str(source),
                                           meta.get("points"))
        return cells
    except (ValueError, UnicodeDecodeError, AttributeError, TypeError):
        return None


_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.M | re.S)


def _normal(source: str) -> str:
    """A test cell's visible part, as nbgrader releases it (hidden tests removed, trailing blanks ignored)."""
    return "\n".join(line.rstrip() for line in _HIDDEN.sub("", source).strip().splitlines())


def same_visible_source(submitted: str, source: str) -> bool:
    """Whether a submitted test cell shows what the source's cell shows once hidden tests are removed."""
    return _normal(submitted) == _normal(source)


def test_cell_problems(submitted: bytes, released: bytes) -> dict[str, str]:
    """Exercise name -> what happened to its test cell, for every test cell not as released."""
    got, want = _test_cells(submitted), _test_cells(released)
    if got is None or want is None:
        return {}
    problems = {}
    for grade_id, (source, points) in want.items():
        name = grade_id.removeprefix("test_")
        if grade_id not in got:
            problems[name] = f"the test cell `{grade_id}` was deleted from the notebook"
        elif _normal(got[grade_id][0]) != _normal(source):
            problems[name] = f"the test cell `{grade_id}` was edited"
        elif got[grade_id][1] != points:
            problems[name] = f"the points of test cell `{grade_id}` were changed from {points} to {got[grade_id][1]}"
    return problems


def apply_integrity(graded: LessonResult, submitted: bytes, released: bytes) -> None:
    """Zero the exercises whose test cell is not as released, saying why and how to restore it."""
    problems = test_cell_problems(submitted, released)
    for result in graded.exercises:
        if result.name in problems:
            why = (f"{problems[result.name]}: test cells belong to the grader. Copy the cell back from the released "
                   "notebook unchanged; until then this exercise scores 0.")
            result.points, result.status = 0, Status.ERROR
            result.message = why + (f"\n(the check itself said: {result.message})" if result.message else "")
