"""Loading a learner's notebook: run its code cells (not its test cells) and collect what they define."""
from __future__ import annotations

import contextlib
import linecache
import os
import sys
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.guard import BoundedSink
from autograder.limits import time_limit
from autograder.results import ExerciseTimeout

CELL_TIMEOUT_S = 60.0
# Cell magics whose body is ordinary code that must still run (its definitions matter).
_BODY_MAGICS = frozenset({"time", "capture", "timeit", "prun"})


@dataclass
class CellProblem:
    """A code cell that raised or ran out of time while the notebook was loaded."""

    cell: int
    message: str


@dataclass
class LoadedNotebook:
    """What a notebook defined, and what went wrong on the way; `error` set means it could not be read."""

    path: Path
    namespace: dict[str, Any] = field(default_factory=dict)
    problems: list[CellProblem] = field(default_factory=list)
    error: str | None = None


class _NoShell:
    """Stands in for IPython's shell: magics and `!` commands are skipped, cell magics run their body."""

    def __init__(self, namespace: dict[str, Any], filename: str) -> None:
        self.namespace, self.filename = namespace, filename

    def run_line_magic(self, *args: Any, **kwargs: Any) -> None:
        return None

    def run_cell_magic(self, name: str, line: str, body: str) -> None:
        if name in _BODY_MAGICS:
            exec(compile(body, self.filename, "exec"), self.namespace)

    def system(self, *args: Any, **kwargs: Any) -> None:
        return None

    getoutput = system


def is_test_cell(cell: Any) -> bool:
    """An nbgrader autograder-test cell (graded and not a solution): never run when loading."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def _to_python(source: str) -> str:
    """Rewrite IPython syntax (%magic, !cmd) into plain Python calls on get_ipython()."""
    if "%" not in source and "!" not in source:
        return source
    from IPython.core.inputtransformer2 import TransformerManager
    return TransformerManager().transform_cell(source)


def learner_frames(err: BaseException) -> str:
    """The lines of a traceback that are in the learner's notebook cells, as `cell N, line L: code`."""
    lines = []
    for frame in traceback.extract_tb(err.__traceback__):
        if frame.filename.startswith("<notebook cell "):
            cell = frame.filename[len("<notebook cell "):-1]
            lines.append(f"code cell {cell}, line {frame.lineno}: {(frame.line or '').strip()}")
    return "\n".join(lines[-3:])


def describe_exception(err: BaseException) -> str:
    """`Type: message` plus where in the learner's cells it happened."""
    where = learner_frames(err)
    text = f"{type(err).__name__}: {err}"
    return f"{text}\n{where}" if where else text


def read_notebook(path: Path) -> Any:
    """Parse and validate a notebook without changing the file; raises ValueError when malformed."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"no notebook at {path}") from None
    return parse_notebook(data, str(path))


def parse_notebook(data: bytes, name: str) -> Any:
    """Parse and validate notebook bytes; raises ValueError (saying how to recover) when malformed."""
    import nbformat

    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        nbformat.validate(nb)
        if nb.nbformat != 4:
            raise ValueError(f"nbformat {nb.nbformat} is not supported")
    except Exception as err:  # JSON, schema, encoding errors all mean: not a notebook we can read
        first = (str(err).splitlines() or [""])[0][:200]
        raise ValueError(f"{name} is not a valid notebook ({type(err).__name__}: {first}); "
                         "restore it from your last good copy or from release/") from None
    return nb


def _run_cell(index: int, source: str, namespace: dict[str, Any], timeout_s: float) -> str | None:
    """Execute one cell's code in the namespace; return a problem description or None."""
    filename = f"<notebook cell {index}>"  # `index` counts code cells, as a reader of the notebook does
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace["get_ipython"] = lambda: _NoShell(namespace, filename)
    sink = BoundedSink()  # a print flood is dropped, not kept in memory
    try:
        code = compile(_to_python(source), filename, "exec")
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with time_limit(timeout_s, f"cell {index}"):
                exec(code, namespace)
    except ExerciseTimeout as err:
        return str(err)
    except (Exception, SystemExit) as err:  # the learner's code may raise anything; record, go on
        return describe_exception(err)
    finally:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")
    return None


def code_cells(nb: Any) -> list[tuple[int, str]]:
    """The cells a load runs, as (code cell number, source): code cells only, as Jupyter numbers
    them for a reader counting down the notebook, skipping test cells and empty cells."""
    cells, number = [], 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        number += 1
        if not is_test_cell(cell) and cell.source.strip():
            cells.append((number, cell.source))
    return cells


def first_line(source: str) -> str:
    """A cell's first line of code, to name the cell in a message."""
    for line in source.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()[:60]
    return ""


def load_notebook(path: str | Path, cell_timeout_s: float = CELL_TIMEOUT_S) -> LoadedNotebook:
    """Run a notebook's code cells, skipping nbgrader test cells, and return its definitions.

    Every cell runs even after one fails (as nbgrader does), each within `cell_timeout_s`.
    The file is only read, never written. Plots go to a non-interactive backend.
    """
    path = Path(path)
    loaded = LoadedNotebook(path=path, namespace={"__name__": "__notebook__"})
    try:
        nb = read_notebook(path)
    except ValueError as err:
        loaded.error = str(err)
        return loaded
    os.environ.setdefault("MPLBACKEND", "Agg")
    for number, source in code_cells(nb):
        problem = _run_cell(number, source, loaded.namespace, cell_timeout_s)
        if problem:
            loaded.problems.append(CellProblem(number, problem))
    return loaded
