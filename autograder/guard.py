"""In-process guards around learner code in a grading worker: what it may not do, and what it must not change.

The operating system isolates the worker (see sandbox.py); these guards protect the verdict inside it.
An audit hook (which Python offers no way to remove) refuses introspection and escape routes while a
frame of the learner's code is on the stack; a snapshot of the modules a verdict rests on is compared
after every learner call, so that a replaced `torch.allclose` or `time.perf_counter` is reported.
"""
from __future__ import annotations

import io
import os
import signal
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable

# Events that read the grader's frames or memory, escape the process, or lift its limits.
_DENIED_EVENTS = frozenset({
    "sys.settrace", "sys.setprofile", "sys.addaudithook",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents",
    "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.exec", "os.system", "os.kill", "os.killpg",
    "subprocess.Popen", "pty.spawn", "resource.setrlimit", "resource.prlimit", "code.__new__",
    "webbrowser.open", "urllib.Request", "http.client.connect", "ftplib.connect", "smtplib.connect",
})
_DENIED_PREFIXES = ("ctypes.", "socket.", "_posixsubprocess.", "cffi.", "mmap.")
# Attribute reads that hand out a stack frame (the grader's locals would follow from it).
_FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back"})
# Frame reads that installed code makes for itself (torch formats its own stack) are allowed; these
# functions hand the frames they read to their caller, so reading through them counts as the caller's.
_FRAME_EVENTS = frozenset({"sys._getframe", "sys._current_frames"})
_FRAME_HANDING = frozenset({"currentframe", "stack", "trace", "getouterframes", "getinnerframes",
                            "walk_stack", "walk_tb", "_current_frames"})
# Every event the hook acts on (besides those starting with _DENIED_PREFIXES).
_WATCHED_EVENTS = _DENIED_EVENTS | _FRAME_EVENTS | {"compile", "open", "import", "object.__getattr__"}
LEARNER_CELL = "<notebook cell "  # the file name under which a notebook's code cells are compiled


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r + os.sep) for r in roots)


def _depth(path: str, roots: tuple[str, ...]) -> int:
    """The length of the deepest root that holds `path` (-1 if none does): the most specific root decides."""
    return max((len(r) for r in roots if path == r or path.startswith(r.rstrip(os.sep) + os.sep)), default=-1)


def installed_code_roots() -> tuple[str, ...]:
    """Where installed code lives: the standard library, site-packages, and this package."""
    import site
    import sysconfig
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             str(Path(__file__).resolve().parent), *site.getsitepackages()}
    paths.update(v for k, v in sysconfig.get_paths().items() if k in ("stdlib", "platstdlib", "purelib", "platlib"))
    return tuple(sorted(os.path.realpath(p) for p in paths if p))


class Guard:
    """The audit hook's state. Created once per worker, before any learner code runs.

    `violations` fills with what the learner's code tried and was refused; the worker reads it
    through the object it created (learner code reaches neither: frames and gc are refused).
    """

    def __init__(self, secret_paths: Iterable[Path], writable: Iterable[Path],
                 trusted_roots: Iterable[Path] = ()) -> None:
        self.secret = tuple(str(p) for p in secret_paths)
        self.trusted_roots = tuple(str(p) for p in trusted_roots) + installed_code_roots()
        self.writable = tuple(str(p) for p in writable) + ("/dev/null",)
        self.violations: list[str] = []
        self._trusted: dict[str, bool] = {}
        self._busy = False
        self._ignored: set[str] = set()  # events seen that the hook never acts on
        self.base: Any = None  # the code of the worker's entry frame: the frames below it are the supervisor's

    def trusted(self, filename: str) -> bool:
        """Code from an installed file (the grader, torch, the standard library, the references) rather
        than from the notebook: cells, strings given to exec, files the notebook wrote."""
        known = self._trusted.get(filename)
        if known is None:
            if filename.startswith("<"):  # generated code: trusted unless learner code compiled it
                known = not filename.startswith(LEARNER_CELL)
            else:
                # Installed code is trusted unless it lies in a place graded code may write to. The most
                # specific root decides: a course checked out under /tmp, with its virtual environment,
                # keeps its installed code trusted when /tmp is writable (the kernel's case), while a
                # working directory inside an installed tree still makes what is written there learner code.
                known = _depth(filename, self.trusted_roots) > _depth(filename, self.writable)
            self._trusted[filename] = known
        return known

    def learner_on_stack(self) -> bool:
        """Whether any frame above the caller's runs learner code."""
        busy, self._busy = self._busy, True
        try:
            frame = sys._getframe(2)
            while frame is not None and frame.f_code is not self.base:
                if not self.trusted(frame.f_code.co_filename):
                    return True
                frame = frame.f_back
            return False
        finally:
            self._busy = busy

    def refuse(self, what: str) -> None:
        if what not in self.violations:
            self.violations.append(what)
        raise PermissionError(f"the grader does not allow {what} in graded code")

    def _path_allowed(self, path: Any, mode: Any, flags: Any) -> str | None:
        if isinstance(path, int):
            return None  # an already open descriptor: its path was checked when it was opened
        try:
            target = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return None
        if target.startswith("/proc/") and (target.endswith("/mem") or "/fd/" in target or "/environ" in target):
            return f"opening {target}"
        if _under(target, self.secret):
            return f"reading {target} (the grader's files are off limits)"
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                  (isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC))
        if writing and not _depth(target, self.writable) > _depth(target, self.trusted_roots):
            # Nor into installed code below a writable root: a file written there would be trusted.
            return f"writing {target} (graded code may write only in its working directory)"
        return None

    def hook(self, event: str, args: tuple) -> None:
        """The audit hook: refuse an event when learner code is on the stack."""
        # Python calls the hook for every event, `builtins.id` included (a million times in one autograd
        # notebook): an event the hook never acts on is dismissed with one set lookup. (No wrapper
        # around this method: the frame reads below count their depth from here.)
        if event in self._ignored:
            return
        if not (event in _WATCHED_EVENTS or event.startswith(_DENIED_PREFIXES)):
            self._ignored.add(event)
            return
        if self._busy:
            return
        if event == "compile":
            # Source compiled while learner code runs is learner code, whatever name it was given.
            filename = args[1] if len(args) > 1 else None
            if isinstance(filename, str) and filename.startswith("<") and self.trusted(filename) \
                    and self.learner_on_stack():
                self._trusted[filename] = False
            return
        if event == "open":
            what = self._path_allowed(*args) if len(args) == 3 else None
        elif event == "import":
            name = args[0] if args and isinstance(args[0], str) else ""
            what = "importing the reference solutions" if name.split(".")[0] in ("solutions", "source") else None
        elif event in _FRAME_EVENTS or event == "object.__getattr__":
            if event == "object.__getattr__" and not (len(args) > 1 and args[1] in _FRAME_ATTRIBUTES):
                return
            what = f"reading .{args[1]}" if event == "object.__getattr__" else f"`{event}`"
            self._busy = True
            try:
                caller = sys._getframe(1).f_code
            finally:
                self._busy = False
            if self.trusted(caller.co_filename) and caller.co_name not in _FRAME_HANDING:
                return
        elif event in _DENIED_EVENTS or event.startswith(_DENIED_PREFIXES):
            what = f"`{event}`"
        else:
            what = None
        if what is None:
            return
        if self.learner_on_stack():
            self.refuse(what)

    def install(self) -> None:
        """Add the audit hook (irrevocably) and refuse Python signal handlers set by learner code,
        since a handler is handed whatever frame is running when its signal arrives."""
        sys.addaudithook(self.hook)
        import _signal
        original = _signal.signal

        def guarded_signal(signum: int, handler: Any) -> Any:
            if self.learner_on_stack():
                self.refuse("setting a signal handler")
            return original(signum, handler)
        _signal.signal = signal.signal = guarded_signal  # type: ignore[assignment]


# ---------------------------------------------------------------- what a verdict rests on


def _watched_modules() -> list[tuple[str, Any]]:
    import builtins
    import functools
    import math
    import operator
    import random
    import time

    import numpy
    import torch
    import torch.nn.functional
    watched: list[tuple[str, Any]] = [
        ("torch", torch), ("torch.nn.functional", torch.nn.functional), ("torch.nn", torch.nn),
        ("torch.Tensor", torch.Tensor), ("torch.nn.Module", torch.nn.Module), ("time", time),
        ("builtins", builtins), ("math", math), ("operator", operator), ("functools", functools),
        ("random", random), ("numpy", numpy), ("os", os), ("sys", sys), ("signal", signal),
        ("torch.utils.benchmark", sys.modules.get("torch.utils.benchmark")),
        ("torch.overrides", sys.modules.get("torch.overrides")),
    ]
    watched += [(name, mod) for name, mod in sorted(sys.modules.items())
                if name.startswith("autograder") and isinstance(mod, ModuleType)]
    return [(n, m) for n, m in watched if m is not None]


# Attributes that legitimately change while code runs (torch.Storage follows the default dtype).
_VOLATILE = frozenset({"Storage", "stdout", "stderr", "stdin", "modules", "path_importer_cache", "last_value", "last_type",
                       "last_traceback", "last_exc", "ps1", "ps2", "_home", "exc_info", "environ"})


class Snapshot:
    """The identity of every attribute of the modules and classes a verdict rests on.

    Compared in every exercise process, forked from the loader, where reading an object copies its
    page (reference counts are written): the watched list is made once, and a dictionary whose
    version tag (PEP 509, which changes on every write) is unchanged is not read at all.
    """

    def __init__(self) -> None:
        self.watched = _watched_modules()
        self.ids = {(name, attr): id(value) for name, obj in self.watched
                    for attr, value in list(vars(obj).items()) if attr not in _VOLATILE}
        self.class_keys = {name: set(vars(obj)) for name, obj in self.watched if isinstance(obj, type)}
        self.modules = {name: obj for name, obj in self.watched if isinstance(obj, ModuleType)}
        self.versions = {name: _dict_version(obj) for name, obj in self.watched}
        self.handlers = {s: signal.getsignal(s) for s in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT,
                                                           signal.SIGXCPU, signal.SIGCHLD)}
        self.hooks = (sys.excepthook, sys.displayhook, sys.breakpointhook, sys.unraisablehook)

    def changes(self) -> list[str]:
        """What was replaced, added to a watched class, or re-hooked since the snapshot."""
        changed = [f"the module {name}" for name, module in self.modules.items() if sys.modules.get(name) is not module]
        for name, obj in self.watched:
            version = self.versions[name]
            if version is not None and _dict_version(obj) == version:
                continue
            items = list(vars(obj).items())
            for attr, value in items:
                old = self.ids.get((name, attr))
                if old is not None and old != id(value):
                    changed.append(f"{name}.{attr}")
            if name in self.class_keys:
                changed += [f"{name}.{attr}" for attr, _ in items if attr not in self.class_keys[name]]
        changed += [f"the handler of signal {s.name}" for s, h in self.handlers.items() if signal.getsignal(s) != h]
        if (sys.excepthook, sys.displayhook, sys.breakpointhook, sys.unraisablehook) != self.hooks:
            changed.append("a sys hook")
        return changed


def _version_reader() -> Any:
    """How to read a dict's version tag (CPython 3.11: after the header and the item count), or None
    where this interpreter's layout is not the one checked here."""
    if sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11):
        return None
    import ctypes

    def read(d: dict) -> int:
        return ctypes.c_uint64.from_address(id(d) + 3 * ctypes.sizeof(ctypes.c_ssize_t)).value
    probe: dict = {}
    before = read(probe)
    probe["x"] = 1
    middle = read(probe)
    probe["x"] = 2
    after = read(probe)
    return read if before != middle != after and read(probe) == after else None


_READ_VERSION = _version_reader()


def _dict_version(obj: Any) -> int | None:
    """The version tag of a module's or class's attribute dict; None if it cannot be read."""
    if _READ_VERSION is None:
        return None
    namespace = obj.__dict__
    if not isinstance(namespace, dict):  # a class's mappingproxy: the dict it wraps
        import gc
        referents = gc.get_referents(namespace)
        if len(referents) != 1 or not isinstance(referents[0], dict):
            return None
        namespace = referents[0]
    return _READ_VERSION(namespace)


def python_threads() -> list[str]:
    """Names of the Python threads other than this one that are running now."""
    me = threading.get_ident()
    names = {t.ident: t.name for t in threading.enumerate()}
    return [names.get(ident, f"thread {ident}") for ident in sys._current_frames() if ident != me]


def tamper_report(snapshot: Snapshot, guard: Guard) -> str | None:
    """The message for a notebook that tampered with the grader, or None."""
    problems = []
    changed = snapshot.changes()
    if changed:
        shown = ", ".join(changed[:4]) + (f" and {len(changed) - 4} more" if len(changed) > 4 else "")
        problems.append(f"the notebook replaced {shown}")
    threads = python_threads()
    if threads:
        problems.append(f"the notebook left a thread running ({', '.join(threads[:3])})")
    if guard.violations:
        problems.append("the notebook tried " + "; ".join(guard.violations[:4]))
    if not problems:
        return None
    return ("; ".join(problems) + ". Graded code must compute its answer without changing or inspecting "
            "the grader, torch or the interpreter: remove that code and grade again.")


class BoundedSink(io.TextIOBase):
    """A text stream that keeps at most `limit` characters and drops the rest (a print flood costs nothing)."""

    def __init__(self, limit: int = 1 << 20) -> None:
        self.limit, self.size, self.parts = limit, 0, []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.size < self.limit:
            self.parts.append(text[: self.limit - self.size])
            self.size += len(self.parts[-1])
        return len(text)

    def getvalue(self) -> str:
        return "".join(self.parts)
