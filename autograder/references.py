"""Where the reference solutions come from: solutions/ in-process, or the text handed to a grading worker.

In a grading worker the references are never importable and never on disk for the learner's code:
the supervisor hands the worker the module's source after the notebook has run, and the worker keeps
the compiled module in a local variable of its exercise process. `reference()` finds it by walking
up the stack, which learner code cannot do (the guard refuses frame access), and refuses a caller
that is learner code.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autograder.guard import Guard

# The course repository (this package is installed from it with `pip install -e .`).
COURSE_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_DIR = COURSE_ROOT / "solutions"
# The name of the local variable of a worker's exercise function that holds its WorkerReferences.
WORKER_LOCAL = "__autograder_references__"


def solutions_file(module: str) -> Path:
    """The reference module file of a lesson module name (matmul -> solutions/matmul.py)."""
    return SOLUTIONS_DIR / f"{module}.py"


def load_solutions(module: str) -> ModuleType:
    """solutions.<module>, imported from the course repository (it is not an installed package)."""
    name = f"solutions.{module}"
    if name in sys.modules:
        return sys.modules[name]
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        spec = importlib.util.spec_from_file_location(name, solutions_file(module))
        assert spec and spec.loader
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[name] = loaded
        spec.loader.exec_module(loaded)
        return loaded


def module_from_source(module: str, source: str) -> ModuleType:
    """A reference module compiled from its source text, registered nowhere."""
    loaded = ModuleType(f"solutions.{module}")
    loaded.__file__ = str(solutions_file(module))
    exec(compile(source, loaded.__file__, "exec"), vars(loaded))
    return loaded


class WorkerReferences:
    """The reference modules of one grading worker, compiled on first use from the text it was handed."""

    def __init__(self, sources: dict[str, str], guard: Guard | None) -> None:
        self.sources, self.guard = sources, guard
        self.modules: dict[str, ModuleType] = {}

    def get(self, module: str, name: str) -> Any:
        if module not in self.modules:
            self.modules[module] = module_from_source(module, self.sources[module])
        return getattr(self.modules[module], name)


def _worker_references() -> WorkerReferences | None:
    frame = sys._getframe(2)
    while frame is not None:
        if WORKER_LOCAL in frame.f_code.co_varnames:
            return frame.f_locals.get(WORKER_LOCAL)
        frame = frame.f_back
    return None


def reference(module: str, name: str) -> Any:
    """The reference definition `name` of solutions/<module>.py (the checks' source of truth)."""
    refs = _worker_references()
    if refs is None:
        return getattr(load_solutions(module), name)
    if refs.guard is not None and refs.guard.learner_on_stack():
        refs.guard.refuse("asking the grader for a reference solution")
    return refs.get(module, name)
