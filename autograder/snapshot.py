"""The tamper check: what learner code must not have changed, verified after every learner call.

`Snapshot(guard).report` is built before the notebook's code runs and held only in the worker's
locals (learner code may read neither frames nor the garbage collector: guard.py). It captures every
function and object it calls when it is built, so a notebook that replaces `id`, `ctypes`, a method
of this module or anything else cannot change what the check does. Two kinds of things are watched:

- The modules and classes a verdict rests on (torch, time, builtins, json, ...) and the Python classes
  they hold, with their base classes: an attribute replaced by another object, or added to a class,
  is reported. Setting the same object again is not (torch and the interpreter do so).
- Everything the grader holds (the `autograder` package): its modules' and classes' dictionaries, the
  dictionaries of its objects (an exercise's check), the closure cells of its functions, its lists.
  Any write is reported, even one undone before the check ends.

Dictionaries are compared by their version tag (PEP 509, changed by every write) where this
interpreter's layout is the one checked at import (CPython 3.11), else by the identity of every value.
"""
from __future__ import annotations

import functools
import gc
import signal
import sys
import threading
from types import FunctionType, ModuleType
from typing import Any, Callable

# Modules whose attributes (and whose classes' attributes) a verdict rests on.
WATCHED_MODULES = (
    "torch", "torch.nn", "torch.nn.functional", "torch.autograd", "torch.autograd.function", "torch.optim",
    "torch.utils.data", "torch.utils.benchmark", "torch.utils.benchmark.utils.timer",
    "torch.utils.benchmark.utils.common", "torch.overrides", "numpy", "time", "timeit", "builtins", "math",
    "operator", "functools", "random", "os", "sys", "signal", "json", "json.encoder", "json.decoder", "enum",
)
GRADER = "autograder"
# Attributes that legitimately change while code runs (torch.Storage follows the default dtype).
_VOLATILE = frozenset({"Storage", "stdout", "stderr", "stdin", "modules", "path_importer_cache", "last_value",
                       "last_type", "last_traceback", "last_exc", "ps1", "ps2", "_home", "exc_info", "environ"})
# Keys the interpreter itself adds to a module's dict (a warning issued there).
_INTERPRETER_KEYS = frozenset({"__warningregistry__"})
# Parts of the grader that change by design while it grades: caches filled on first use.
_GRADER_CACHES: frozenset[str] = frozenset()
_IMMUTABLE_TYPE = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE: no attribute of such a class can be set


def _version_tagger() -> Callable[[dict], Any] | None:
    """`tag(d)`: an object whose `.value` is the dict's version tag now (CPython 3.11: after the header
    and the item count), or None where this interpreter's layout is not the one checked here. Each
    tag is made once, when the snapshot is built: making one is a ctypes event the audit hook has to
    look at, reading it is not. The ctypes class is private: a notebook cannot give it a lying `value`."""
    if sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11):
        return None
    import ctypes

    class Tag(ctypes._SimpleCData):  # type: ignore[name-defined]
        _type_ = "Q"
    at, offset = Tag.from_address, 3 * ctypes.sizeof(ctypes.c_ssize_t)

    def tag(d: dict) -> Any:
        return at(id(d) + offset)
    probe: dict = {}
    probe_tag = tag(probe)
    before = probe_tag.value
    probe["x"] = 1
    middle = probe_tag.value
    probe["x"] = 2
    after = probe_tag.value
    return tag if before != middle != after and probe_tag.value == after else None


def _class_dict(cls: type) -> dict | None:
    """The dict a class's mappingproxy wraps (a class's __dict__ object never changes)."""
    referents = gc.get_referents(vars(cls))
    return referents[0] if len(referents) == 1 and isinstance(referents[0], dict) else None


def _mutable_classes(objects: list[Any]) -> list[type]:
    """The classes among `objects` whose attributes can be set, with their base classes."""
    found: dict[int, type] = {}
    for obj in objects:
        if isinstance(obj, type):
            for cls in obj.__mro__:
                if not cls.__flags__ & _IMMUTABLE_TYPE:
                    found.setdefault(id(cls), cls)
    return list(found.values())


def _ours(module: Any) -> bool:
    return isinstance(module, str) and (module == GRADER or module.startswith(GRADER + "."))


def _grader_graph() -> tuple[list[tuple[str, dict]], list[tuple[str, Any]], list[tuple[str, Any]]]:
    """Every dict, list/set and closure cell the grader's modules hold, each with a name to report:
    modules, classes, functions (closures, defaults, attributes) and objects of the grader's classes,
    through containers. Objects of other libraries are not entered (their modules are watched above)."""
    dicts: list[tuple[str, dict]] = []
    sequences: list[tuple[str, Any]] = []
    cells: list[tuple[str, Any]] = []
    seen: set[int] = set()
    stack: list[tuple[str, Any]] = [(name, vars(module)) for name, module in sorted(sys.modules.items())
                                    if _ours(name) and isinstance(module, ModuleType)]
    while stack:
        label, obj = stack.pop()
        if id(obj) in seen or label in _GRADER_CACHES:
            continue
        seen.add(id(obj))
        kind = type(obj)
        if kind is dict:
            dicts.append((label, obj))
            stack += [(f"{label}.{k}" if isinstance(k, str) else f"{label}[{k!r}]", v) for k, v in obj.items()]
        elif kind in (list, set):
            sequences.append((label, obj))
            stack += [(f"{label}[{i}]", v) for i, v in enumerate(obj)]
        elif kind in (tuple, frozenset):
            stack += [(f"{label}[{i}]", v) for i, v in enumerate(obj)]
        elif kind in (staticmethod, classmethod):
            stack.append((label, obj.__func__))
        elif kind is property:
            stack += [(label, f) for f in (obj.fget, obj.fset, obj.fdel) if f is not None]
        elif kind is functools.partial:
            stack += [(label, obj.func), (label, obj.args), (label, obj.keywords)]
        elif isinstance(obj, FunctionType):
            if not _ours(obj.__module__):
                continue
            name = f"{obj.__module__}.{obj.__qualname__}"
            for cell in obj.__closure__ or ():
                cells.append((f"{name} (a variable of its closure)", cell))
                try:
                    stack.append((name, cell.cell_contents))
                except ValueError:  # an empty cell
                    pass
            stack += [(name, vars(obj)), (name, obj.__defaults__), (name, obj.__kwdefaults__)]
        elif isinstance(obj, type):
            if _ours(obj.__module__) and not obj.__flags__ & _IMMUTABLE_TYPE:
                namespace = _class_dict(obj)
                if namespace is not None:
                    stack.append((f"{obj.__module__}.{obj.__qualname__}", namespace))
        elif _ours(type(obj).__module__) and isinstance(getattr(obj, "__dict__", None), dict):
            stack.append((label, vars(obj)))
    return dicts, sequences, cells


class Snapshot:
    """The state learner code must leave alone, and `report()`: what it changed, or None."""

    def __init__(self, guard: Any) -> None:
        self.report = _build_report(guard)


def _build_report(guard: Any) -> Callable[[], str | None]:
    """The verifier: a closure over what it compares and everything it calls, captured now."""
    tag = _version_tagger()
    id_, len_, sorted_, set_, str_, enumerate_ = id, len, sorted, set, str, enumerate
    getsignal = signal.getsignal
    enumerate_threads, get_ident, current_frames = threading.enumerate, threading.get_ident, sys._current_frames
    modules, sys_module = sys.modules, sys

    # The libraries a verdict rests on: their modules and classes, by the identity of each attribute.
    watched = [(name, modules[name]) for name in WATCHED_MODULES if name in modules]
    watched += [(name, m) for name, m in sorted(modules.items()) if _ours(name) and isinstance(m, ModuleType)]
    classes = _mutable_classes([v for _, m in watched for v in list(vars(m).values())])
    foreign = [(name, vars(m), m) for name, m in watched if not _ours(name)]
    foreign += [(f"{c.__module__}.{c.__qualname__}", d, c) for c in classes
                if not _ours(c.__module__) and (d := _class_dict(c)) is not None]
    foreign_ids = [{k: id_(v) for k, v in d.items() if k not in _VOLATILE} for _, d, _ in foreign]
    foreign_keys = [set(d) if isinstance(owner, type) else None for _, d, owner in foreign]
    foreign_tags = [tag(d) if tag else None for _, d, _ in foreign]
    foreign_versions = [t.value if t is not None else None for t in foreign_tags]
    # The grader itself: any write at all.
    dicts, sequences, cells = _grader_graph()
    dict_ids = [{k: id_(v) for k, v in d.items()} for _, d in dicts]
    dict_tags = [tag(d) if tag else None for _, d in dicts]
    dict_versions = [t.value if t is not None else None for t in dict_tags]
    sequence_ids = [[id_(v) for v in s] for _, s in sequences]
    cell_ids = [id_(_cell_value(c)) for _, c in cells]
    handlers = {s: getsignal(s) for s in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGXCPU,
                                           signal.SIGCHLD)}
    hooks = (sys.excepthook, sys.displayhook, sys.breakpointhook, sys.unraisablehook)
    cell_value, interpreter_keys = _cell_value, _INTERPRETER_KEYS

    def differences(label: str, now: dict, before: dict, keys: set | None) -> list[str]:
        found = [f"{label}.{k}" for k, v in now.items() if k in before and before[k] != id_(v)]
        if keys is not None:
            found += [f"{label}.{k}" for k in now if k not in keys]
        return found

    def changes() -> list[str]:
        changed = [f"the module {name}" for name, m in watched if modules.get(name) is not m]
        for i, (label, d, _owner) in enumerate_(foreign):
            if tag is None or foreign_tags[i].value != foreign_versions[i]:
                changed += differences(label, d, foreign_ids[i], foreign_keys[i])
        for i, (label, d) in enumerate_(dicts):
            if tag is None or dict_tags[i].value != dict_versions[i]:
                now = {k: id_(v) for k, v in d.items()}
                if tag is None and now == dict_ids[i]:
                    continue
                keys = [k for k in sorted_(set_(now) | set_(dict_ids[i]), key=str_) if now.get(k) != dict_ids[i].get(k)]
                found = [f"{label}.{k}" for k in keys if k not in interpreter_keys]
                changed += found or ([] if keys else [f"{label} (changed, then restored)"])
        for i, (label, s) in enumerate_(sequences):
            if [id_(v) for v in s] != sequence_ids[i]:
                changed.append(label)
        for i, (label, c) in enumerate_(cells):
            if id_(cell_value(c)) != cell_ids[i]:
                changed.append(label)
        changed += [f"the handler of signal {s.name}" for s, h in handlers.items() if getsignal(s) != h]
        if (sys_module.excepthook, sys_module.displayhook, sys_module.breakpointhook,
                sys_module.unraisablehook) != hooks:
            changed.append("a sys hook")
        return changed

    def threads() -> list[str]:
        me = get_ident()
        names = {t.ident: t.name for t in enumerate_threads()}
        return [names.get(ident, f"thread {ident}") for ident in current_frames() if ident != me]

    def report() -> str | None:
        problems = []
        changed = changes()
        if changed:
            shown = ", ".join(changed[:4]) + (f" and {len_(changed) - 4} more" if len_(changed) > 4 else "")
            problems.append(f"the notebook replaced {shown}")
        running = threads()
        if running:
            problems.append(f"the notebook left a thread running ({', '.join(running[:3])})")
        if guard.violations:
            problems.append("the notebook tried " + "; ".join(guard.violations[:4]))
        if not problems:
            return None
        return ("; ".join(problems) + ". Graded code must compute its answer without changing or inspecting "
                "the grader, torch or the interpreter: remove that code and grade again.")
    return report


_EMPTY = object()


def _cell_value(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:
        return _EMPTY
