"""nbgrader pipelines of this course: stubs that name their exercise, feedback without hidden tests."""
from __future__ import annotations

from typing import Any

from nbgrader.converters import GenerateAssignment, GenerateFeedback
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions, GetGrades

# `{name}` becomes the solution cell's grade_id, which is the exercise's name.
CLEAR_SOLUTIONS_STUB = '# YOUR CODE HERE\nraise NotImplementedError("{name}: not attempted yet; replace this line with your code")'


class NamedClearSolutions(ClearSolutions):
    """ClearSolutions whose code stub names the exercise of the cell it replaces."""

    def preprocess_cell(self, cell: Any, resources: Any, cell_index: int) -> Any:
        name = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "this exercise")
        template = self.code_stub
        self.code_stub = {lang: stub.replace("{name}", name) for lang, stub in template.items()}
        try:
            return super().preprocess_cell(cell, resources, cell_index)
        finally:
            self.code_stub = template


def generate_assignment_preprocessors() -> list[type]:
    """nbgrader's generate_assignment pipeline with ClearSolutions swapped for NamedClearSolutions."""
    default = GenerateAssignment.class_traits()["preprocessors"].default()
    return [NamedClearSolutions if p is ClearSolutions else p for p in default]


def generate_feedback_preprocessors() -> list[type]:
    """nbgrader's feedback pipeline, with hidden test code removed after grades are read.

    The learner still sees each hidden check's output (its teaching message), not its code.
    """
    default = GenerateFeedback.class_traits()["preprocessors"].default()
    at = default.index(GetGrades) + 1
    return default[:at] + [ClearHiddenTests] + default[at:]
