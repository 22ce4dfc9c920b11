"""The supervisor: grades notebooks in isolated workers, enforces their time limits from outside, and
turns every way a worker can end into results. Learner code never runs in this process.

Many notebooks can be graded at once (`workers`): the supervisor forks one loader per notebook from
itself, so torch and the checks are imported once and each notebook starts warm.
"""
from __future__ import annotations

import gc
import json
import os
import secrets
import selectors
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from autograder.exercise import Exercise
from autograder.hidden import hidden_paths
from autograder.lessons import Lesson
from autograder.limits import time_scale
from autograder.loader import CELL_TIMEOUT_S, CellProblem
from autograder.results import ExerciseResult, LessonResult, Status
from autograder.sandbox import Limits
from autograder.worker import Channel, Task, describe_status, loader_main

# Seconds a worker may take beyond a budget before it is stopped from outside (the worker's own
# timer normally reports first, with the check's message).
GRACE_S = 15.0
STARTUP_S = 60.0


# Loaders killed after they reported, not yet reaped (in this process; at most a few at any time).
_ENDED_LOADERS: list[int] = []


def reap_loaders(block: bool = False) -> None:
    """Collect the loaders stopped after they reported (without waiting for them, unless `block`)."""
    for pid in list(_ENDED_LOADERS):
        try:
            done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _ENDED_LOADERS.remove(pid)


def warm_up() -> None:
    """Import, once and before any fork, what graded notebooks and checks use: each worker then starts
    warm, and no module is first imported (and its import-time code run) beside learner code."""
    import importlib

    from autograder.lessons import LESSONS
    os.environ.setdefault("MPLBACKEND", "Agg")
    for name in ("torch.optim", "torch.utils.data", "torch.utils.benchmark", "torch.nn.functional",
                 "matplotlib.pyplot", "tqdm.auto", "numpy.random"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    for lesson in LESSONS.values():
        lesson.exercises()
    # An optimizer's first step imports torch's compiler stack (800 modules, which write a cache
    # folder on import): take one tiny step here rather than in every worker.
    import torch
    param = torch.nn.Parameter(torch.zeros(1))
    param.grad = torch.zeros(1)
    torch.optim.SGD([param], lr=0.1).step()
    # Reading a notebook imports nbformat and builds its schema validator (jsonschema, rfc3987-syntax's
    # grammar): 3.6 s when it first happened inside each worker, under the audit hook; once here, ~1.5 s.
    import nbformat
    from autograder.loader import parse_notebook
    parse_notebook(nbformat.writes(nbformat.v4.new_notebook()).encode(), "warm-up")


@dataclass
class Job:
    """One notebook (or, with notebook=None, a lesson's reference solutions) to grade."""

    lesson: Lesson
    notebook: bytes | None
    label: str
    device: str | None = None
    release: bytes | None = None      # the released notebook, to find deleted or edited test cells
    key: object = None                # the caller's handle (e.g. a student id)


@dataclass
class _Run:
    """The state of one notebook's grading, across restarts of its loader."""

    job: Job
    exercises: list[Exercise]
    results: dict[str, ExerciseResult] = field(default_factory=dict)
    problems: list[CellProblem] = field(default_factory=list)
    skip: set[int] = field(default_factory=set)
    restarts: int = 0
    isolation: dict = field(default_factory=dict)
    # per loader process
    pid: int = 0
    fd: int = -1
    refs_fd: int = -1
    nonce: str = ""
    workdir: Path | None = None
    buffer: bytes = b""
    phase: str = "start"
    cell: int = 0
    exercise: str = ""
    deadline: float = 0.0
    started: float = 0.0
    phase_started: float = 0.0
    finished: bool = False
    crash: str = ""
    profile: dict = field(default_factory=dict)   # seconds per phase: start, load, check <exercise>

    def remaining(self) -> list[str]:
        return [e.name for e in self.exercises if e.name not in self.results]

    def budget(self, name: str) -> float:
        return next(e.time_budget_s for e in self.exercises if e.name == name) * time_scale()

    def set_all(self, status: Status, message: str) -> None:
        for name in self.remaining():
            self.set(name, status, message)

    def set(self, name: str, status: Status, message: str) -> None:
        exercise = next(e for e in self.exercises if e.name == name)
        points = exercise.points if status == Status.PASSED else 0
        self.results[name] = ExerciseResult(name, points, exercise.points, status, message)


class Supervisor:
    """Runs jobs in sandboxed workers, at most `workers` notebooks at a time."""

    def __init__(self, workers: int = 1, limits: Limits | None = None, namespaces: bool = True,
                 extra_hidden: Iterable[Path] = (), cell_timeout_s: float = CELL_TIMEOUT_S) -> None:
        self.workers, self.limits, self.namespaces = max(1, workers), limits or Limits(), namespaces
        self.hidden = hidden_paths(extra_hidden)
        self.cell_timeout_s = cell_timeout_s * time_scale()
        self.grace_s = max(3.0, GRACE_S * time_scale())
        self._sources: dict[str, str] = {}
        warm_up()

    def _source(self, lesson: Lesson) -> str:
        if lesson.module not in self._sources:
            self._sources[lesson.module] = lesson.solutions_file.read_text(encoding="utf-8")
        return self._sources[lesson.module]

    # ------------------------------------------------------------ one loader process

    def _start(self, run: _Run) -> None:
        lesson = run.job.lesson
        self._source(lesson)
        out_r, out_w = os.pipe()
        refs_r, refs_w = os.pipe()
        run.nonce = secrets.token_hex(16)
        run.workdir = Path(tempfile.mkdtemp(prefix="grading-"))
        task = Task(lesson.key, run.job.notebook, run.job.label, run.job.device, run.remaining(),
                    set(run.skip), [(p.cell, p.message) for p in run.problems], self.cell_timeout_s)
        channel = Channel(out_w, refs_r, run.nonce, run.workdir, self.hidden,
                          [*self.hidden, lesson.solutions_file.parent], self.limits, self.namespaces)
        # The child's garbage collector leaves what it inherits alone: a collection that walked it would
        # copy every page of the warm heap (measured: 0.27 s instead of 0.03 s for a small child).
        gc.freeze()
        pid = os.fork()
        if pid == 0:  # pragma: no cover -- the child never returns
            os.close(out_r)
            os.close(refs_w)
            loader_main(task, channel)
        gc.unfreeze()
        os.close(out_w)
        os.close(refs_r)
        run.pid, run.fd, run.refs_fd, run.buffer = pid, out_r, refs_w, b""
        run.phase, run.cell, run.exercise, run.finished = "start", 0, "", False
        run.started = time.monotonic()
        run.deadline = run.started + STARTUP_S

    def _stop(self, run: _Run) -> str:
        """End the loader and everything it started; returns how the loader ended. A loader that said
        it was done is not waited for: tearing down its address space (hundreds of MB after a notebook
        that trained a model) takes 20-50 ms, and its result is complete. It is reaped later."""
        try:
            os.killpg(run.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            os.kill(run.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if run.finished:
            _ENDED_LOADERS.append(run.pid)
            status = 0
        else:
            _, status = os.waitpid(run.pid, 0)
        for fd in (run.fd, run.refs_fd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        run.fd = run.refs_fd = -1
        if run.workdir is not None:
            shutil.rmtree(run.workdir, ignore_errors=True)
        return describe_status(status)

    # ------------------------------------------------------------ messages

    def _handle(self, run: _Run, message: dict) -> None:
        kind, now = message.get("t"), time.monotonic()
        if kind == "sandbox":
            run.isolation = {k: message[k] for k in ("network", "filesystem", "user", "notes")}
            run.profile["start"] = run.profile.get("start", 0.0) + now - run.started
        elif kind == "cell":
            run.phase, run.cell, run.phase_started = "cell", message["cell"], now
            run.deadline = now + self.cell_timeout_s + self.grace_s
        elif kind == "problem":
            run.problems.append(CellProblem(message["cell"], message["message"]))
        elif kind == "loaded":
            run.profile["load"] = run.profile.get("load", 0.0) + now - run.started - run.profile.get("start", 0.0)
            run.phase = "loaded"
            if message.get("error"):
                run.set_all(Status.ERROR, message["error"])
            elif message.get("tampered"):
                run.set_all(Status.ERROR, message["tampered"])
            else:
                data = json.dumps({run.job.lesson.module: self._source(run.job.lesson)}).encode()
                os.write(run.refs_fd, len(data).to_bytes(8, "little"))
                _write_all(run.refs_fd, data)
            os.close(run.refs_fd)
            run.refs_fd = -1
            run.deadline = now + STARTUP_S
        elif kind == "start":
            run.phase, run.exercise, run.phase_started = "exercise", message["exercise"], now
            run.deadline = now + run.budget(run.exercise) + self.grace_s
        elif kind == "result" and message.get("exercise") == run.exercise and run.exercise not in run.results:
            run.set(run.exercise, Status(message["status"]), message["message"])
        elif kind == "exit":
            name = message["exercise"]
            run.profile[f"check {name}"] = now - run.phase_started
            if name not in run.results:
                run.set(name, Status.ERROR, f"checking {name} ended its process ({message['status']}) before it "
                                            "could report: does your code call os._exit, crash the interpreter or "
                                            "use more memory than the grader allows?")
            run.phase, run.deadline = "between", now + STARTUP_S
        elif kind == "crash":
            run.crash = message.get("message", "")
            if run.phase == "exercise" and run.exercise not in run.results:
                run.set(run.exercise, Status.ERROR, f"the grader failed while checking {run.exercise}: {run.crash}")
        elif kind == "done":
            run.finished = True

    def _feed(self, run: _Run, data: bytes) -> None:
        run.buffer += data
        *lines, run.buffer = run.buffer.split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
                genuine = isinstance(message, dict) and secrets.compare_digest(str(message.get("n", "")), run.nonce)
            except (ValueError, UnicodeDecodeError):
                genuine = False
            if genuine:
                self._handle(run, message)
            else:
                self._forged(run)

    def _forged(self, run: _Run) -> None:
        text = ("the notebook wrote to the grader's private channel (a forged or garbled result); "
                "graded code must not write to descriptors it did not open")
        if run.phase == "exercise" and run.exercise:
            run.set(run.exercise, Status.ERROR, text)
        else:
            run.set_all(Status.ERROR, text)

    # ------------------------------------------------------------ endings

    def _ended(self, run: _Run, timed_out: bool) -> bool:
        """The loader ended (or ran out of time); returns True when the notebook is finished."""
        elapsed = time.monotonic() - run.phase_started
        how = self._stop(run)
        if run.finished:
            return True
        if run.crash and run.phase in ("cell", "loaded", "between"):
            # The worker's own code failed after learner code ran: the notebook broke what it relies on.
            run.set_all(Status.ERROR, f"the grader's worker failed after running the notebook ({run.crash}): the "
                                      "notebook changed something the grader relies on, such as a built-in function")
            return True
        if run.phase == "cell":
            if timed_out:
                text = (f"code cell {run.cell} did not finish within {self.cell_timeout_s:g} s and was stopped: "
                        "is there an infinite loop, or a loop far bigger than its inputs?")
            else:
                text = f"code cell {run.cell} ended the grading process ({how}): does it call os._exit or crash?"
            run.problems.append(CellProblem(run.cell, text))
            run.skip.add(run.cell)
        elif run.phase == "exercise" and run.exercise not in run.results:
            budget = run.budget(run.exercise)
            if timed_out:
                run.set(run.exercise, Status.TIMEOUT,
                        f"your {run.exercise} did not finish within its {budget:g} s budget (the grader stopped it "
                        f"after {elapsed:.0f} s): is there an infinite loop, or a loop far bigger than its inputs?")
            else:
                run.set(run.exercise, Status.ERROR, f"checking {run.exercise} ended the grading process ({how}).")
        elif run.phase == "start":
            run.set_all(Status.ERROR, f"the grader could not start a worker ({run.crash or how}); "
                                      "this is a problem of the grading machine, not of the notebook")
            return True
        run.restarts += 1
        if not run.remaining() or run.restarts > 2 + len(run.exercises) + len(run.skip):
            run.set_all(Status.ERROR, "the notebook's worker kept ending before it could be graded")
            return True
        return False

    def _result(self, run: _Run) -> LessonResult:
        from autograder.integrity import apply_integrity
        graded = LessonResult(run.job.lesson.key, run.job.label)
        for exercise in run.exercises:
            graded.exercises.append(run.results.get(exercise.name) or ExerciseResult(
                exercise.name, 0, exercise.points, Status.ERROR, "not graded"))
        if run.job.notebook is not None and run.job.release is not None:
            apply_integrity(graded, run.job.notebook, run.job.release)
        graded.isolation = {**run.isolation, "profile": run.profile, "restarts": run.restarts}
        return graded

    # ------------------------------------------------------------ the loop

    def grade(self, jobs: Iterable[Job], on_result: Callable[[Job, LessonResult], None] | None = None
              ) -> Iterator[tuple[Job, LessonResult]]:
        """Grade every job; yields (job, result) as each notebook finishes."""
        pending = list(jobs)
        running: dict[int, _Run] = {}
        selector = selectors.DefaultSelector()
        try:
            while pending or running:
                while pending and len(running) < self.workers:
                    job = pending.pop(0)
                    run = _Run(job, list(job.lesson.exercises()))
                    self._start(run)
                    running[run.fd] = run
                    selector.register(run.fd, selectors.EVENT_READ, run)
                timeout = max(0.0, min(r.deadline for r in running.values()) - time.monotonic())
                events = selector.select(timeout)
                for key, _ in events:
                    run = key.data
                    try:
                        data = os.read(run.fd, 1 << 16)
                    except OSError:
                        data = b""
                    if data:
                        self._feed(run, data)
                        if not run.finished:
                            continue  # a finished loader is retired now, without waiting for it to exit
                    yield from self._retire(run, running, selector, timed_out=False)
                reap_loaders()
                now = time.monotonic()
                for run in [r for r in running.values() if r.deadline <= now]:
                    yield from self._retire(run, running, selector, timed_out=True)
        finally:
            for run in running.values():
                self._stop(run)
            selector.close()
            reap_loaders()  # the last ones may still be exiting: collected by the next grade()

    def _retire(self, run: _Run, running: dict[int, _Run], selector: selectors.BaseSelector,
                timed_out: bool) -> Iterator[tuple[Job, LessonResult]]:
        selector.unregister(run.fd)
        del running[run.fd]
        if self._ended(run, timed_out):
            yield run.job, self._result(run)
        else:
            self._start(run)
            running[run.fd] = run
            selector.register(run.fd, selectors.EVENT_READ, run)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def grade_one(job: Job, **options: object) -> LessonResult:
    """Grade a single notebook (or reference) in an isolated worker."""
    for _, result in Supervisor(**options).grade([job]):  # type: ignore[arg-type]
        return result
    raise RuntimeError("the supervisor returned no result")
