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
from pathlib import Path
from types import FunctionType
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
_WATCHED_EVENTS = _DENIED_EVENTS | _FRAME_EVENTS | {"compile", "open", "import", "object.__getattr__",
                                                    "object.__setattr__", "object.__delattr__"}
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
        elif event in ("object.__setattr__", "object.__delattr__"):
            # Python audits setting a function's __code__, __defaults__ or __kwdefaults__ (and a class's
            # __module__, __name__, __bases__...). Refused: new code for installed functions, and any of
            # these for the grader's own. The notebook's functions stay its own to change. (Classes are
            # left to the tamper check: the library sets these on classes it creates for the notebook.)
            target = args[0] if args else None
            code = getattr(target, "__code__", None) if isinstance(target, FunctionType) else None
            if code is not None and self.trusted(code.co_filename) and (
                    args[1] == "__code__" or str(target.__module__).split(".")[0] == "autograder"):
                what = f"changing {target.__module__}.{target.__qualname__}.{args[1]}"
            else:
                what = None
        elif event in _DENIED_EVENTS or event.startswith(_DENIED_PREFIXES):
            what = f"`{event}`"
        else:
            what = None
        if what is None:
            return
        if self.learner_on_stack():
            self.refuse(what)

    def install(self) -> None:
        """Refuse Python signal handlers set by learner code, and add the audit hook (irrevocably)."""
        self.guard_signals()
        self.add_hook()

    def add_hook(self) -> None:
        """Add the audit hook: irrevocable, and from here on called for every audited event."""
        sys.addaudithook(self.hook)

    def guard_signals(self) -> None:
        """Refuse Python signal handlers set by learner code, since a handler is handed whatever frame
        is running when its signal arrives."""
        import _signal
        original = _signal.signal

        def guarded_signal(signum: int, handler: Any) -> Any:
            if self.learner_on_stack():
                self.refuse("setting a signal handler")
            return original(signum, handler)
        _signal.signal = signal.signal = guarded_signal  # type: ignore[assignment]


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
