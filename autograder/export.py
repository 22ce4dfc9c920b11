"""solutions/<module>.py generated from a source notebook's solution cells (and cells tagged `export`)."""
from __future__ import annotations

from autograder.lessons import COURSE_ROOT, LESSONS, Lesson
from autograder.loader import read_notebook

_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def solution_source(lesson: Lesson) -> str:
    """The text of solutions/<module>.py for a lesson, from its source notebook."""
    nb = read_notebook(lesson.source_notebook)
    blocks = []
    for cell in nb.cells:
        meta = cell.get("metadata", {})
        if cell.cell_type != "code":
            continue
        if meta.get("nbgrader", {}).get("solution") or "export" in meta.get("tags", []):
            lines = [line for line in cell.source.splitlines() if line.strip() not in _MARKERS]
            blocks.append("\n".join(lines).strip())
    source = lesson.source_notebook.relative_to(COURSE_ROOT).as_posix()
    header = (f'"""Reference solutions of lesson {lesson.key}.\n\n'
              f"Generated from {source} by `python -m autograder export`: do not edit;\n"
              f'change the source notebook and export again.\n"""\n')
    return header + "\n\n\n".join(blocks) + "\n"


def export_solutions(check_only: bool = False) -> list[str]:
    """Write every lesson's solutions file that differs from its source; return their paths."""
    changed = []
    for lesson in LESSONS.values():
        text = solution_source(lesson)
        target = lesson.solutions_file
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            changed.append(target.relative_to(COURSE_ROOT).as_posix())
            if not check_only:
                target.write_text(text, encoding="utf-8")
    return changed
