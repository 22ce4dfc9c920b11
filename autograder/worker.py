"""The grading worker: the forked processes in which a learner's notebook runs and is checked.

One notebook: a loader process enters the sandbox, runs the notebook's code cells, is sealed
(nothing replaced, no thread left), receives the reference module's source, then forks one process
per exercise from that state. Each exercise process runs one check and reports one result, so that
a crash, a hang or a side effect in one exercise cannot touch another. Every message carries the
supervisor's nonce, which learner code cannot read (it lives only in these functions' locals).
"""
from __future__ import annotations

import gc
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.sandbox import Limits


@dataclass
class Task:
    """What one loader process is asked to do (fixed before it forks)."""

    lesson: str
    notebook: bytes | None          # None: grade the reference solutions themselves
    label: str
    device: str | None
    exercises: list[str]
    skip_cells: set[int] = field(default_factory=set)
    prior_problems: list[tuple[int, str]] = field(default_factory=list)   # cells an earlier run lost
    cell_timeout_s: float = 60.0


@dataclass
class Channel:
    """The descriptors and secrets a worker talks to the supervisor through."""

    out_fd: int          # worker -> supervisor: JSON lines
    refs_fd: int         # supervisor -> worker: the reference source, once the notebook has run
    nonce: str
    workdir: Path
    hidden: list[Path]
    secret: list[Path]
    limits: Limits
    namespaces: bool


def _read_exactly(fd: int, size: int) -> bytes:
    chunks, got = [], 0
    while got < size:
        chunk = os.read(fd, size - got)
        if not chunk:
            raise EOFError("the supervisor closed the reference channel")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def receive_sources(fd: int) -> dict[str, str]:
    """The reference sources the supervisor writes: an 8-byte length, then JSON."""
    size = int.from_bytes(_read_exactly(fd, 8), "little")
    return json.loads(_read_exactly(fd, size).decode())


def _clean_environment(workdir: Path) -> dict[str, str]:
    keep = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "AUTOGRADER_TIME_SCALE")
            if k in os.environ}
    return {**keep, "HOME": str(workdir), "TMPDIR": str(workdir), "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": str(workdir), "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def _prepare_interpreter(workdir: Path) -> dict[str, str]:
    """Process-wide settings before learner code: clean environment, no way to `import solutions`."""
    import torch

    # Whatever the supervisor's streams were (a terminal, pytest's capture files), they are closed here:
    # the worker's own print goes nowhere, and never fails.
    sys.stdout = sys.stderr = open(os.devnull, "w")
    env = _clean_environment(workdir)
    os.environ.clear()
    os.environ.update(env)
    torch.set_num_threads(1)  # also makes torch safe to use after fork
    root = str(Path(__file__).resolve().parent.parent)
    sys.path[:] = [p for p in sys.path if p not in ("", ".", root) and not p.startswith(root + os.sep + "tests")]
    for name in [n for n in sys.modules if n == "solutions" or n.startswith(("solutions.", "mutants_", "test_", "conftest"))]:
        del sys.modules[name]
    try:
        import tqdm
        tqdm.tqdm.monitor_interval = 0  # no monitor thread: every thread left running is the notebook's
    except ImportError:
        pass
    return env


def _cache_stack_sources() -> None:
    """Read the source lines of the frames below this process's entry (the supervisor's, which may live
    in folders hidden from learner code) now: torch formats the whole stack at times, and must then
    find them in linecache rather than open hidden files beside learner code."""
    import linecache

    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        lines = linecache.getlines(name)
        if lines:  # an mtime of None: linecache.checkcache keeps the entry even when the file is hidden
            linecache.cache[name] = (sum(map(len, lines)), None, lines, name)
        frame = frame.f_back


def loader_main(task: Task, ch: Channel) -> None:
    """The loader process: never returns (it ends with os._exit)."""
    nonce = ch.nonce
    try:
        from autograder.grade import grade_exercise  # every exercise process uses it: imported before the snapshot
        from autograder.guard import Guard
        from autograder.lessons import lesson_for
        from autograder.messages import make_sender
        from autograder.loader import CellProblem, LoadedNotebook, _run_cell, code_cells, parse_notebook
        from autograder.references import SOLUTIONS_DIR, WorkerReferences, module_from_source
        from autograder.sandbox import enter_sandbox
        from autograder.snapshot import Snapshot

        send = make_sender(ch.out_fd, nonce)  # before the notebook runs: it cannot change what this says
        lesson = lesson_for(task.lesson)
        solutions_text = lesson.solutions_file.read_text(encoding="utf-8") if task.notebook is None else ""
        _cache_stack_sources()
        iso = enter_sandbox(ch.hidden, ch.workdir, [ch.out_fd, ch.refs_fd], ch.limits, ch.namespaces)
        env = _prepare_interpreter(ch.workdir)
        recursion_limit = sys.getrecursionlimit()
        guard = Guard(ch.secret, [ch.workdir], trusted_roots=[SOLUTIONS_DIR])
        guard.base = loader_main.__code__
        guard.guard_signals()
        # Built before the audit hook exists: the hook is a Python call on every audited event, and
        # building the snapshot makes tens of thousands (id, ctypes); 50-70 ms per notebook after it.
        tamper_report = Snapshot(guard).report  # held only here
        guard.add_hook()
        send(t="sandbox", network=iso.network, filesystem=iso.filesystem, user=iso.user,
             notes=iso.notes)

        loaded = LoadedNotebook(path=Path(task.label), namespace={"__name__": "__notebook__"})
        loaded.problems += [CellProblem(cell, message) for cell, message in task.prior_problems]
        if task.notebook is None:
            loaded.namespace = vars(module_from_source(lesson.module, solutions_text))
        else:
            try:
                nb = parse_notebook(task.notebook, task.label)
            except ValueError as err:
                loaded.error = str(err)
            else:
                for number, source in code_cells(nb):
                    if number in task.skip_cells:
                        continue
                    send(t="cell", cell=number)
                    problem = _run_cell(number, source, loaded.namespace, task.cell_timeout_s)
                    if problem:
                        send(t="problem", cell=number, message=problem)
                        loaded.problems.append(CellProblem(number, problem))
        tampered = tamper_report()
        defined = sorted(k for k, v in loaded.namespace.items() if callable(v) and not k.startswith("_"))
        send(t="loaded", error=loaded.error, tampered=tampered, defined=defined)
        if tampered or loaded.error:
            send(t="done")
            os._exit(0)
        gc.disable()  # sealed: no learner finalizer runs in this process from here on
        gc.freeze()  # nor do the exercise processes' collections walk (and so copy) the loader's heap
        __autograder_references__ = WorkerReferences(receive_sources(ch.refs_fd), guard)
        os.close(ch.refs_fd)
        for module in __autograder_references__.sources:
            __autograder_references__.get(module, "__name__")  # compiled once here, shared by every fork

        def run_exercise(name: str, done_fd: int) -> None:
            _exercise_main(lesson, name, loaded, task.device, __autograder_references__, tamper_report, env,
                           ch, send, recursion_limit, done_fd, grade_exercise)

        finished: list[int] = []  # exercise processes stopped after their result, reaped at the end
        spare = _Spare.fork(run_exercise) if task.exercises else None
        for number, name in enumerate(task.exercises, 1):
            send(t="start", exercise=name)
            child, spare = spare, None
            child.begin(name)
            if number < len(task.exercises):
                spare = _Spare.fork(run_exercise, child)  # while this one checks, on another core if there is one
            send(t="exit", exercise=name, status=child.finish(finished))
        for pid in finished:
            os.waitpid(pid, 0)
        send(t="done")
    except BaseException as err:  # the loader itself failed: say so, the supervisor reports it
        _send_crash(ch.out_fd, nonce, err)
    os._exit(0)


class _Spare:
    """An exercise process forked ahead of time from the sealed loader, waiting for the name of the
    exercise it is to check. The loader forks the next one while the current one checks, and does not
    wait for a finished one to tear down its address space: a finished process says so on its own pipe
    (after its result), is killed and reaped later. Forking and tearing down a process as large as
    torch's cost 10-20 ms each, once per exercise."""

    def __init__(self, pid: int, command_fd: int, done_fd: int) -> None:
        self.pid, self.command_fd, self.done_fd = pid, command_fd, done_fd

    @classmethod
    def fork(cls, run: Any, running: "_Spare | None" = None) -> "_Spare":
        command_r, command_w = os.pipe()
        done_r, done_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover -- the child never returns
            try:
                os.close(command_w)
                os.close(done_r)
                if running is not None:  # the pipes of the process checking now are not this one's
                    os.close(running.done_fd)
                name = _read_line(command_r)
                os.close(command_r)
                if name:
                    run(name, done_w)
            finally:
                os._exit(0)
        os.close(command_r)
        os.close(done_w)
        return cls(pid, command_w, done_r)

    def begin(self, name: str) -> None:
        os.write(self.command_fd, name.encode() + b"\n")
        os.close(self.command_fd)

    def finish(self, finished: list[int]) -> str:
        """Wait until the process has reported (or ended); how it ended, in words. A process that
        reported is stopped and added to `finished`, to be reaped later."""
        try:
            said_done = os.read(self.done_fd, 1) == b"1"
        finally:
            os.close(self.done_fd)
        if said_done:
            # Its result is sent: nothing it still does counts. It is stopped now and reaped later.
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            finished.append(self.pid)
            return "finished"
        _, status = os.waitpid(self.pid, 0)
        return describe_status(status)


def _read_line(fd: int) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 256)
        if not chunk:
            return ""
        data += chunk
    return data.decode().strip()


def _send_crash(fd: int, nonce: str, err: BaseException) -> None:
    """Report a failure of the worker's own code, without relying on anything learner code may have
    replaced (json, builtins): plain string formatting and os.write only."""
    try:
        text = type(err).__name__.replace('"', "'").replace("\\", "/")
        os.write(fd, ('{"n": "%s", "t": "crash", "message": "%s"}\n' % (nonce, text)).encode())
    except BaseException:
        pass


def _exercise_main(lesson: Any, name: str, loaded: Any, device: str | None, references: Any,
                   tamper_report: Any, env: dict[str, str], ch: Channel, send: Any,
                   recursion_limit: int, done_fd: int, grade_exercise: Any) -> None:
    """One exercise process: restore what the notebook may have changed, check, verify, report.
    After the learner's code has run, only what was bound before it ran decides what is reported."""
    write = os.write
    try:
        import torch

        from autograder.sandbox import renew_memory_allowance

        renew_memory_allowance(ch.limits)
        gc.enable()
        sys.setrecursionlimit(recursion_limit)
        torch.set_num_threads(1)
        torch.set_default_dtype(torch.float32)
        torch.set_grad_enabled(True)
        os.environ.clear()
        os.environ.update(env)
        os.chdir(ch.workdir)
        __autograder_references__ = references  # noqa: F841 -- found by reference() up the stack
        exercise = next(e for e in lesson.exercises() if e.name == name)
        result = grade_exercise(exercise, loaded.namespace, device, loaded)
        tampered = tamper_report()
        if tampered:
            send(t="result", exercise=name, status="error", message=tampered)
        else:  # nothing the verdict rests on was changed: the result's classes are the grader's own
            send(t="result", exercise=name, status=result.status.value, message=result.message)
        write(done_fd, b"1")
    except BaseException as err:
        try:
            send(t="crash", message=f"{type(err).__name__}: {err}"[:2000])
        except BaseException:
            _send_crash(ch.out_fd, ch.nonce, err)
    os._exit(0)


def describe_status(status: int) -> str:
    """How a process ended, in words a learner can act on."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        meaning = {signal.SIGSEGV: "a segmentation fault", signal.SIGKILL: "killed, e.g. for using too much memory",
                   signal.SIGXCPU: "its CPU time limit", signal.SIGABRT: "an abort", signal.SIGBUS: "a bus error"}
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"signal {name} ({meaning.get(sig, 'a signal')})"
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
    return f"exit code {code}"
