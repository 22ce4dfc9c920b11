"""Building submissions for tests: the released notebook, filled with reference answers or others."""
from __future__ import annotations

from typing import Callable

import nbformat

from autograder.lessons import COURSE_ROOT

Answer = str | Callable[[str], str]
STUB = "STUB"  # an answer that leaves the released stub in place


def reference_answers(key: str) -> dict[str, str]:
    """grade_id -> the source notebook's solution cell, without the solution markers."""
    source = nbformat.read(COURSE_ROOT / "source" / key / f"{key}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: "\n".join(
                line for line in c.source.splitlines() if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)
            for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}


def submission(key: str, replace: dict[str, Answer] | None = None, extra: list[str] = (),
               first: list[str] = (), lean: bool = False) -> nbformat.NotebookNode:
    """The released notebook with every solution cell filled in from source/, or from `replace`: a whole
    answer, an edit of the reference answer, or STUB; `first`/`extra` cells go at the start/end.
    `lean` drops the lesson's demonstration code cells (timing tables, plots) to grade faster."""
    replace = replace or {}
    answers = reference_answers(key)
    nb = nbformat.read(COURSE_ROOT / "release" / key / f"{key}.ipynb", as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in answers:
            answer = replace.get(grade_id, answers[grade_id])
            if answer == STUB:
                continue
            cell.source = answer(answers[grade_id]) if callable(answer) else answer
    if lean:
        nb.cells = [c for c in nb.cells if c.cell_type != "code" or "nbgrader" in c.metadata
                    or "export" in c.metadata.get("tags", [])]
    nb.cells = ([nbformat.v4.new_code_cell(c) for c in first] + nb.cells
                + [nbformat.v4.new_code_cell(c) for c in extra])
    return nb


def edit(old: str, new: str) -> Callable[[str], str]:
    """One line of the reference answer changed: a wrong answer that differs from it only there."""
    def apply(answer: str) -> str:
        assert old in answer, f"{old!r} is not in the reference answer any more"
        return answer.replace(old, new)
    return apply
