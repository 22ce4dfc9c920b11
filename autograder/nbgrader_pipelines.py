"""nbgrader pipelines of this course: stubs that name their exercise, verdicts from the isolated grader,
feedback without hidden tests."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from nbgrader.converters import Autograde, GenerateAssignment, GenerateFeedback
from nbgrader.preprocessors import (ClearHiddenTests, ClearSolutions, Execute, GetGrades, NbGraderPreprocessor,
                                    OverwriteCells)

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


def verdict_outputs(result: Any) -> list[Any]:
    """The outputs of an exercise's test cell that carry the isolated grader's verdict: nbgrader gives
    a code test cell its points exactly when none of its outputs is an error."""
    from nbformat.v4 import new_output

    from autograder.results import Status

    if result.status == Status.PASSED:
        return [new_output("stream", name="stdout", text=f"{result.name}: the hidden checks passed.\n")]
    name = {Status.FAILED: "CheckFailed", Status.NOT_ATTEMPTED: "NotAttempted",
            Status.TIMEOUT: "Timeout"}.get(result.status, "Error")
    return [new_output("error", ename=name, evalue=result.message, traceback=[f"{name}: {result.message}"])]


def apply_verdicts(nb: Any, graded: Any) -> None:
    """Replace every exercise test cell's outputs with the grader's verdict (kernel outputs are not trusted)."""
    by_name = {r.name: r for r in graded.exercises}
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        name = grade_id.removeprefix("test_")
        if cell.cell_type == "code" and grade_id.startswith("test_") and name in by_name:
            cell.outputs = verdict_outputs(by_name[name])


class IsolatedVerdicts(NbGraderPreprocessor):
    """After nbgrader has run the notebook in its kernel, grade the submission in the isolated worker and
    make its verdict the test cells' outcome. What the learner's code did in the kernel (replaced a
    check, hid an error, printed a fake pass) then counts for nothing."""

    def preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        from pathlib import Path

        from nbgrader.coursedir import CourseDirectory

        from autograder.grade import notebook_job

        info = resources["nbgrader"]
        coursedir = CourseDirectory(config=self.config)
        folder = Path(coursedir.format_path(coursedir.submitted_directory, info["student"], info["assignment"]))
        submitted = folder / f"{info['notebook']}.ipynb"
        job = notebook_job(submitted, None)
        for _, graded in _supervisor(Path(coursedir.root)).grade([job]):
            apply_verdicts(nb, graded)
        return nb, resources


_SUPERVISORS: dict[Any, Any] = {}


def _supervisor(root: Any) -> Any:
    """One warm supervisor per nbgrader process (torch and the checks imported once)."""
    from autograder.supervisor import Supervisor

    if root not in _SUPERVISORS:
        _SUPERVISORS[root] = Supervisor(extra_hidden=[root])
    return _SUPERVISORS[root]


class SandboxedKernelManager(AsyncKernelManager):
    """Starts the kernel through autograder.kernel_launcher, which sandboxes it before it runs."""

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        return [sys.executable, "-m", "autograder.kernel_launcher", *super().format_kernel_cmd(extra_arguments)]


class ResilientExecute(Execute):
    """nbgrader's Execute, except that a kernel the notebook killed, hung or cut off (e.g. by writing
    into every open descriptor) ends the run instead of the autograde: the cells that ran keep their
    outputs, and the isolated grader gives the verdict. jupyter_client can wait forever on a kernel
    whose connection the notebook broke, so the run has an overall deadline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb: Any, resources: Any = None, km: Any = None) -> tuple[Any, Any]:
        import threading

        from autograder.kernel_launcher import KERNEL_SCRATCH_ENV

        outcome: dict[str, BaseException] = {}

        def run() -> None:
            try:
                super(ResilientExecute, self).preprocess(nb, resources, km)
            except BaseException as err:  # DeadKernelError, CellTimeoutError, an unresponsive kernel, ...
                outcome["error"] = err

        cells = sum(1 for c in nb.cells if c.cell_type == "code")
        deadline = (self.timeout or 60) * (cells + 2) + 60
        # The kernel's temporary folder, removed here however the kernel ends (a notebook may kill it).
        scratch = tempfile.mkdtemp(prefix="grading-kernel-")
        previous = os.environ.get(KERNEL_SCRATCH_ENV)
        os.environ[KERNEL_SCRATCH_ENV] = scratch
        thread = threading.Thread(target=run, name="nbgrader-execute", daemon=True)
        try:
            thread.start()
            thread.join(deadline)
        finally:
            if previous is None:
                os.environ.pop(KERNEL_SCRATCH_ENV, None)
            else:
                os.environ[KERNEL_SCRATCH_ENV] = previous
        if thread.is_alive():
            self.log.warning("The notebook's kernel stopped answering; the isolated grader gives the verdict.")
            self._kill_kernel()
        elif "error" in outcome:
            err = outcome["error"]
            self.log.warning("The notebook stopped its kernel (%s: %s); the isolated grader gives the verdict.",
                             type(err).__name__, str(err).splitlines()[0][:200] if str(err) else "")
        shutil.rmtree(scratch, ignore_errors=True)
        return nb, resources

    def _kill_kernel(self) -> None:
        import signal

        process = getattr(getattr(getattr(self, "km", None), "provisioner", None), "process", None)
        try:
            if process is not None:
                os.kill(process.pid, signal.SIGKILL)
        except (OSError, AttributeError):
            pass


class QuietOverwriteCells(OverwriteCells):
    """OverwriteCells without the false alarm of nbgrader bug #1961: it reports a changed checksum for
    every test cell that holds hidden tests, edited or not. A test cell whose visible part is as
    released passes silently; a real edit is reported, naming the cell (and the grader's verdict
    zeroes that exercise)."""

    def preprocess_cell(self, cell: Any, resources: Any, cell_index: int) -> tuple[Any, Any]:
        self._submitted_source = cell.get("source", "")
        return super().preprocess_cell(cell, resources, cell_index)

    def report_change(self, name: str, attr: str, old: Any, new: Any) -> None:
        if attr == "checksum":
            from autograder.integrity import same_visible_source

            source = self.gradebook.find_source_cell(name, self.notebook_id, self.assignment_id).source
            if same_visible_source(self._submitted_source, source):
                return
            self.log.warning("Test cell %s was edited in the submission: the released version is restored for the "
                             "kernel, and the exercise scores 0.", name)
            return
        super().report_change(name, attr, old, new)


def sanitize_preprocessors() -> list[type]:
    """nbgrader's autograde sanitizing steps, with OverwriteCells that reports only real edits."""
    default = Autograde.class_traits()["sanitize_preprocessors"].default()
    return [QuietOverwriteCells if p is OverwriteCells else p for p in default]


def autograde_preprocessors() -> list[type]:
    """nbgrader's autograde pipeline, run by a resilient Execute, with the isolated verdict applied
    right after the kernel ran."""
    default = Autograde.class_traits()["autograde_preprocessors"].default()
    at = default.index(Execute)
    return default[:at] + [ResilientExecute, IsolatedVerdicts] + default[at + 1:]
