"""A hostile corpus: submissions that cheat, crash, bomb, break or change the interpreter, each with the
only outcome a trustworthy grader may give it. Every case is a lesson notebook (03_forward, whose
checks are quick; 01_matmul for a timing cheat) whose honest exercises hold the reference answers,
so a correct exercise losing points shows up as clearly as a cheat earning them."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

import nbformat

from autograder.lessons import COURSE_ROOT, LESSONS
from notebooks import STUB, submission

KEY = "03_forward"
EXERCISES = tuple(e.name for e in LESSONS[KEY].exercises())
ALL = frozenset(EXERCISES)
SOLUTIONS = COURSE_ROOT / "solutions" / "forward.py"
GRADEBOOK = COURSE_ROOT / "gradebook.db"
OUTSIDE = COURSE_ROOT / "hostile-note.txt"   # a file no graded code may create
VICTIM = "relu"   # the exercise a single-exercise cheat or crash replaces
SIG = "def relu(x):\n"
ZEROS = "    return torch.zeros_like(x)\n"


@dataclass(frozen=True)
class Case:
    """One hostile submission and the exercises that must score 0 (every other one must pass)."""

    name: str
    category: str
    zero: frozenset[str]
    replace: dict = field(default_factory=dict)
    extra: tuple[str, ...] = ()
    first: tuple[str, ...] = ()
    raw: Callable[[], bytes] | None = None            # the file's bytes, for broken notebooks
    mutate: Callable[[nbformat.NotebookNode], None] | None = None
    nbgrader: bool = True                              # may run through nbgrader autograde
    key: str = KEY

    def notebook_bytes(self) -> bytes:
        if self.raw is not None:
            return self.raw()
        nb = submission(self.key, self.replace, list(self.extra), list(self.first), lean=True)
        if self.mutate is not None:
            self.mutate(nb)
        return nbformat.writes(nb).encode("utf-8")


def _victim(body: str) -> dict:
    """The victim exercise replaced by a function with this body (indented by the caller)."""
    return {VICTIM: SIG + body}


def _drop_test_cell(grade_id: str) -> Callable[[nbformat.NotebookNode], None]:
    def mutate(nb: nbformat.NotebookNode) -> None:
        nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return mutate


def _edit_test_cell(grade_id: str, points: float | None = None) -> Callable[[nbformat.NotebookNode], None]:
    def mutate(nb: nbformat.NotebookNode) -> None:
        for c in nb.cells:
            if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
                if points is None:
                    c.source = "pass  # the asserts were in my way"
                else:
                    c.metadata["nbgrader"]["points"] = points
    return mutate


def _at_load(name: str, code: str) -> Case:
    """A cheat in a cell of its own: every exercise must score 0 (the victim answers zeros)."""
    return Case(name, "cheat", ALL, {VICTIM: SIG + ZEROS}, extra=(code,))


def _in_check(name: str, body: str) -> Case:
    """A cheat inside the victim's function, which then answers zeros: only the victim must score 0."""
    return Case(name, "cheat", {VICTIM}, _victim(body + ZEROS))


def _patch_check_closures(indent: str) -> str:
    """Code that makes every check of the lesson a no-op by rewriting its closure's cells."""
    lines = ["import autograder.checks.forward as checks", "for e in checks.EXERCISES:",
             "    for cell in e.check.__closure__ or ():",
             "        if callable(cell.cell_contents) and cell.cell_contents.__name__.startswith('check'):",
             "            cell.cell_contents = lambda *args, **kwargs: None"]
    return "".join(f"{indent}{line}\n" for line in lines)


def _stubs_with(*cells: str) -> dict:
    return {"replace": {e: STUB for e in EXERCISES}, "extra": cells}


def _big_notebook() -> bytes:
    nb = submission(KEY, lean=True)
    nb.cells.append(nbformat.v4.new_markdown_cell("x" * (50 * 1024 * 1024)))
    return nbformat.writes(nb).encode("utf-8")


LOOP_FOREVER = "    while True:\n        pass\n"
SWALLOW_FOREVER = "    while True:\n        try:\n            sum(range(10**6))\n        except BaseException:\n            pass\n"
CHANNEL_FORGERY = (
    "import os, json\n"
    "for fd in range(3, 64):\n"
    "    try:\n"
    "        os.write(fd, (json.dumps({'t': 'result', 'exercise': 'relu', 'status': 'passed', 'message': ''}) + '\\n').encode())\n"
    "    except OSError:\n"
    "        pass\n")

CASES: list[Case] = [
    # ---- cheats: import, read or exec the reference
    Case("import_reference_star", "cheat", ALL, first=(), **_stubs_with("from solutions.forward import *")),
    Case("import_reference_via_sys_path", "cheat", ALL,
         **_stubs_with(f"import sys\nsys.path.insert(0, {str(COURSE_ROOT)!r})\nfrom solutions.forward import *")),
    Case("import_reference_by_spec", "cheat", ALL, **_stubs_with(
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('ref', {str(SOLUTIONS)!r})\n"
        "ref = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(ref)\n"
        "globals().update({k: v for k, v in vars(ref).items() if not k.startswith('_')})")),
    Case("exec_reference_file", "cheat", ALL, **_stubs_with(f"exec(open({str(SOLUTIONS)!r}).read())")),
    Case("read_reference_pathlib", "cheat", ALL, **_stubs_with(
        f"import pathlib\nexec(pathlib.Path({str(SOLUTIONS)!r}).read_text())")),
    Case("runpy_reference", "cheat", ALL, **_stubs_with(
        f"import runpy\nglobals().update(runpy.run_path({str(SOLUTIONS)!r}))")),
    Case("read_reference_at_check_time", "cheat", {VICTIM}, _victim(
        f"    ns = {{}}\n    exec(open({str(SOLUTIONS)!r}).read(), ns)\n    return ns['relu'](a, b)\n")),
    Case("torch_from_file_reference", "cheat", {VICTIM}, _victim(
        f"    import torch\n    raw = torch.from_file({str(SOLUTIONS)!r}, size=100, dtype=torch.uint8)\n"
        "    ns = {}\n    exec(bytes(raw.tolist()).decode(), ns)\n    return ns['relu'](a, b)\n")),
    Case("grader_reference_lookup", "cheat", {VICTIM}, _victim(
        "    from autograder.references import reference\n    return reference('forward', 'relu')(a, b)\n")),
    Case("grader_reference_at_load", "cheat", ALL, **_stubs_with(
        "from autograder.references import load_solutions\nref = load_solutions('forward')\n"
        "globals().update({k: v for k, v in vars(ref).items() if not k.startswith('_')})")),
    Case("gc_search_for_reference", "cheat", {VICTIM}, _victim(
        "    import gc\n    for obj in gc.get_objects():\n"
        "        if getattr(obj, '__name__', '') == 'relu' and 'solutions' in getattr(obj, '__module__', ''):\n"
        "            return obj(a, b)\n" + ZEROS)),
    Case("inspect_stack_sniffing", "cheat", {VICTIM}, _victim(
        "    import inspect\n    for info in inspect.stack():\n"
        "        for value in info.frame.f_locals.values():\n"
        "            if hasattr(value, 'get') and callable(value.get):\n                pass\n" + ZEROS)),
    Case("getframe_sniffing", "cheat", {VICTIM}, _victim(
        "    import sys\n    frame = sys._getframe(1)\n    while frame:\n        frame = frame.f_back\n" + ZEROS)),
    Case("traceback_frame_sniffing", "cheat", {VICTIM}, _victim(
        "    try:\n        raise RuntimeError\n    except RuntimeError as err:\n"
        "        frame = err.__traceback__.tb_frame.f_back\n" + ZEROS)),
    Case("walk_stack_sniffing", "cheat", {VICTIM}, _victim(
        "    import traceback\n    frames = [f for f, _ in traceback.walk_stack(None)]\n" + ZEROS)),
    Case("signal_handler_frame_theft", "cheat", {VICTIM}, _victim(
        "    import signal\n    signal.signal(signal.SIGALRM, lambda s, f: None)\n" + ZEROS)),
    Case("settrace_spy", "cheat", {VICTIM}, _victim(
        "    import sys\n    sys.settrace(lambda *args: None)\n" + ZEROS)),
    Case("patch_allclose_at_load", "cheat", ALL, {VICTIM: SIG + ZEROS},
         extra=("import torch\ntorch.allclose = lambda *args, **kwargs: True\ntorch.equal = lambda *args: True",)),
    Case("patch_tensor_eq_at_load", "cheat", ALL, {VICTIM: SIG + ZEROS},
         extra=("import torch\ntorch.Tensor.__eq__ = lambda self, other: torch.ones((), dtype=torch.bool)",)),
    Case("patch_perf_counter", "cheat", ALL, {VICTIM: SIG + ZEROS},
         extra=("import time\n_real = time.perf_counter\ntime.perf_counter = lambda: _real() / 1000",)),
    Case("patch_autograder_compare", "cheat", ALL, {VICTIM: SIG + ZEROS},
         extra=("import autograder.compare\nautograder.compare.is_close = lambda *args, **kwargs: True",)),
    Case("patch_autograder_results", "cheat", ALL, {VICTIM: SIG + ZEROS},
         extra=("import autograder.results\nclass Never(Exception):\n    pass\nautograder.results.CheckFailed = Never",)),
    # The grader's own objects, reached through its modules: a class's method, a check's closure, a
    # frozen Exercise, a function's code, a module swapped in sys.modules, json that rewrites results.
    _at_load("patch_grader_class_method",
             "import autograder.snapshot, autograder.compare\n"
             "autograder.snapshot.Snapshot.__init__ = lambda self, guard: setattr(self, 'report', lambda: None)\n"
             "autograder.compare.is_close = lambda *args, **kwargs: True"),
    _at_load("patch_check_closure", _patch_check_closures("")),
    _at_load("patch_frozen_exercise", "import autograder.checks.forward as checks\nfor e in checks.EXERCISES:\n"
                                      "    object.__setattr__(e, 'check', lambda *args, **kwargs: None)"),
    _at_load("patch_function_code", "import autograder.compare\n"
                                    "autograder.compare.is_close.__code__ = (lambda *args, **kwargs: True).__code__"),
    _at_load("swap_grader_module", "import sys, types, autograder.grade\nfake = types.ModuleType('autograder.grade')\n"
                                   "fake.__dict__.update(vars(autograder.grade))\n"
                                   "fake.grade_exercise = lambda exercise, *args, **kwargs: None\n"
                                   "sys.modules['autograder.grade'] = fake"),
    _at_load("json_rewrites_results", "import json\n_dumps = json.dumps\njson.dumps = lambda obj, **kw: "
                                      "_dumps({**obj, 'status': 'passed'} if 'status' in obj else obj, **kw)"),
    _at_load("patch_json_encoder_class", "import json\n_encode = json.JSONEncoder.encode\njson.JSONEncoder.encode = "
                                         "lambda self, o: _encode(self, {**o, 'status': 'passed'} if 'status' in o else o)"),
    _in_check("patch_check_closure_at_check_time", _patch_check_closures("    ")),
    _in_check("patch_enum_value_at_check_time", "    import enum\n    enum.Enum.value = property(lambda self: 'passed')\n"),
    _in_check("json_rewrites_results_at_check_time", "    import json\n    _dumps = json.dumps\n    json.dumps = lambda obj, **kw: "
                                                     "_dumps({**obj, 'status': 'passed'} if 'status' in obj else obj, **kw)\n"),
    _in_check("patch_function_code_at_check_time", "    import autograder.compare\n"
              "    autograder.compare.is_close.__code__ = (lambda *args, **kwargs: True).__code__\n"),
    Case("patch_builtins_isinstance", "cheat", ALL, {VICTIM: SIG + ZEROS},
         extra=("import builtins\nbuiltins.isinstance = lambda obj, cls: True",)),
    Case("patch_allclose_at_check_time", "cheat", {VICTIM}, _victim(
        "    import torch\n    torch.allclose = lambda *args, **kwargs: True\n" + ZEROS)),
    Case("patch_and_restore_between_calls", "cheat", {VICTIM}, _victim(
        "    import torch, autograder.compare as c\n    c.is_close = lambda *args, **kwargs: True\n" + ZEROS)),
    Case("lying_eq_object", "cheat", {VICTIM}, _victim(
        "    class Anything:\n        shape = x.shape\n        dtype = x.dtype\n        device = x.device\n"
        "        def __eq__(self, other):\n            return True\n    return Anything()\n")),
    Case("lying_torch_function", "cheat", {VICTIM}, _victim(
        "    class Liar(torch.Tensor):\n        @classmethod\n"
        "        def __torch_function__(cls, func, types, args=(), kwargs=None):\n            return True\n"
        "    return torch.zeros_like(x).as_subclass(Liar)\n")),
    Case("cache_keyed_on_input_id", "cheat", {"matmul_elementwise"}, key="01_matmul", replace={"matmul_elementwise": (
        "_cache = {}\n\ndef matmul_elementwise(a, b):\n"
        "    key = (id(a), id(b))\n    if key not in _cache:\n"
        "        if a.shape[1] != b.shape[0]:\n            raise ValueError('inner dimensions differ')\n"
        "        c = torch.zeros(a.shape[0], b.shape[1], dtype=a.dtype, device=a.device)\n"
        "        for i in range(a.shape[0]):\n            for j in range(b.shape[1]):\n"
        "                for p in range(a.shape[1]):\n                    c[i, j] += a[i, p] * b[p, j]\n"
        "        _cache[key] = c\n    return _cache[key].clone()\n")}, nbgrader=False),
    Case("write_the_gradebook", "cheat", ALL, extra=(f"open({str(GRADEBOOK)!r}, 'w').write('all A')",)),
    # nbgrader=False: writing into (or closing) every descriptor also cuts nbgrader's own kernel
    # connection, and jupyter_client then waits forever (README, "Not guaranteed").
    Case("forge_the_result_channel", "cheat", ALL, extra=(CHANNEL_FORGERY,), nbgrader=False),
    Case("network_access", "cheat", {VICTIM}, _victim(
        "    import socket\n    socket.create_connection(('127.0.0.1', 8786), timeout=1)\n" + ZEROS)),
    # ---- crashes
    Case("sys_exit_at_load", "crash", frozenset(), extra=("import sys\nsys.exit(3)",)),
    Case("os_exit_at_load", "crash", frozenset(), extra=("import os\nos._exit(3)",)),
    Case("os_exit_in_check", "crash", {VICTIM}, _victim("    import os\n    os._exit(0)\n")),
    Case("segfault_at_load", "crash", frozenset(), extra=("import faulthandler\nfaulthandler._sigsegv()",)),
    Case("segfault_in_check", "crash", {VICTIM}, _victim("    import faulthandler\n    faulthandler._sigsegv()\n")),
    Case("infinite_recursion", "crash", {VICTIM}, _victim("    return relu(x)\n")),
    Case("c_stack_overflow", "crash", {VICTIM}, _victim(
        "    import sys\n    sys.setrecursionlimit(10**7)\n    def deeper(n):\n        return deeper(n + 1) + 1\n"
        "    return deeper(0)\n")),
    Case("keyboard_interrupt", "crash", {VICTIM}, _victim("    raise KeyboardInterrupt\n")),
    Case("closed_stdout", "crash", frozenset(), extra=("import sys, os\nsys.stdout.close()\nos.close(1)\nos.close(2)",)),
    Case("closed_descriptors", "crash", frozenset(), extra=(
        "import os\nfor fd in range(3, 256):\n    try:\n        os.close(fd)\n    except OSError:\n        pass",),
         nbgrader=False),
    # ---- bombs
    Case("memory_bomb_at_load", "bomb", frozenset(), extra=("hog = bytearray(64 * 2**30)",)),
    Case("memory_bomb_growing", "bomb", frozenset(), extra=("hog = []\nwhile True:\n    hog.append(bytearray(2**26))",)),
    Case("memory_bomb_in_check", "bomb", {VICTIM}, _victim("    return torch.empty(10**11)\n")),
    Case("stdout_flood_at_load", "bomb", frozenset(), extra=("for i in range(300_000):\n    print('spam' * 20)",)),
    Case("stdout_flood_in_check", "bomb", frozenset(), {"mse": (
        "def mse(pred, target):\n    print('spam ' * 1000)\n"
        "    if pred.numel() != target.numel():\n        raise ValueError(f'{pred.numel()} vs {target.numel()} values')\n"
        "    return ((pred.reshape(-1) - target.reshape(-1)) ** 2).mean()\n")}),
    Case("thread_left_running_at_load", "bomb", ALL, extra=(
        "import threading, time\nfor _ in range(50):\n    threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()",)),
    Case("thread_left_running_in_check", "bomb", {VICTIM}, _victim(
        "    import threading, time\n    threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n" + ZEROS)),
    Case("fork_bomb", "bomb", ALL, extra=("import os\nwhile True:\n    os.fork()",)),
    Case("multiprocessing_pool", "bomb", ALL, extra=("import multiprocessing\nmultiprocessing.Pool(64)",)),
    Case("subprocess_shell", "bomb", ALL, extra=("import subprocess\nsubprocess.run(['sh', '-c', 'yes > /dev/null'])",)),
    Case("disk_bomb_in_workdir", "bomb", frozenset(), extra=(
        "with open('big.bin', 'wb') as f:\n    for _ in range(1024):\n        f.write(b'x' * 2**20)",)),
    Case("disk_write_outside", "bomb", ALL, extra=(f"open({str(OUTSIDE)!r}, 'w').write('x')",)),
    Case("infinite_loop_at_load", "bomb", frozenset(), extra=("while True:\n    pass",)),
    Case("swallowing_loop_at_load", "bomb", frozenset(), extra=(
        "while True:\n    try:\n        sum(range(10**6))\n    except BaseException:\n        pass",)),
    Case("infinite_loop_in_check", "bomb", {VICTIM}, _victim(LOOP_FOREVER)),
    Case("swallowing_loop_in_check", "bomb", {VICTIM}, _victim(SWALLOW_FOREVER)),
    Case("sleep_forever_in_check", "bomb", {VICTIM}, _victim("    import time\n    time.sleep(10**6)\n")),
    # ---- broken notebooks
    Case("invalid_json", "broken", ALL, raw=lambda: b'{"cells": [', nbgrader=False),
    Case("empty_file", "broken", ALL, raw=lambda: b"", nbgrader=False),
    Case("wrong_nbformat", "broken", ALL, raw=lambda: json.dumps(
        {"nbformat": 5, "nbformat_minor": 0, "metadata": {}, "cells": []}).encode(), nbgrader=False),
    Case("not_utf8", "broken", ALL, raw=lambda: nbformat.writes(submission(KEY, lean=True)).encode("utf-16"), nbgrader=False),
    Case("renamed_function", "broken", {VICTIM}, {VICTIM: lambda s: s.replace("def relu(", "def rellu(")}),
    Case("syntax_error", "broken", {VICTIM}, {VICTIM: lambda s: s.replace("-> Tensor:", "-> Tensor", 1)}),
    Case("fifty_megabytes", "broken", frozenset(), raw=_big_notebook, nbgrader=False),
    Case("deleted_test_cell", "broken", {VICTIM}, mutate=_drop_test_cell(f"test_{VICTIM}")),
    Case("edited_test_cell", "broken", {VICTIM}, mutate=_edit_test_cell(f"test_{VICTIM}")),
    Case("changed_points", "broken", {VICTIM}, mutate=_edit_test_cell(f"test_{VICTIM}", 100)),
    # ---- side effects that must cost nothing
    Case("chdir", "side effect", frozenset(), extra=("import os\nos.chdir('/')",)),
    Case("environment", "side effect", frozenset(), extra=(
        "import os\nos.environ['AUTOGRADER_DEVICE'] = 'cuda'\nos.environ['PATH'] = ''\nos.environ.pop('HOME', None)",)),
    Case("default_dtype", "side effect", frozenset(), extra=("import torch\ntorch.set_default_dtype(torch.float64)",)),
    Case("default_dtype_in_check", "side effect", frozenset(), {"lin": lambda s: s.replace(
        "def lin(x: Tensor, w: Tensor, b: Tensor) -> Tensor:\n",
        "def lin(x: Tensor, w: Tensor, b: Tensor) -> Tensor:\n    torch.set_default_dtype(torch.float64)\n")}),
    Case("global_seeds", "side effect", frozenset(), extra=(
        "import random, numpy, torch\nrandom.seed(0)\nnumpy.random.seed(0)\ntorch.manual_seed(0)",)),
    Case("num_threads", "side effect", frozenset(), extra=("import torch\ntorch.set_num_threads(2)\n(torch.ones(512, 512) @ torch.ones(512, 512)).sum()",)),
    Case("recursion_limit", "side effect", frozenset(), extra=("import sys\nsys.setrecursionlimit(60)",)),
    Case("warnings_as_errors", "side effect", frozenset(), extra=("import warnings\nwarnings.simplefilter('error')",)),
    Case("grad_disabled", "side effect", frozenset(), extra=("import torch\ntorch.set_grad_enabled(False)",)),
]


def expected_points(case: Case) -> dict[str, float]:
    """The only grade a trustworthy grader may give: 0 for the case's `zero` exercises, full for the rest."""
    return {e.name: 0 if e.name in case.zero else e.points for e in LESSONS[case.key].exercises()}


# nbgrader autograde takes seconds per notebook (a kernel each): CI runs it on a subset that covers
# every category and every case that is dangerous inside nbgrader's own (unisolated) kernel;
# AUTOGRADER_FULL_CORPUS=1 runs every case that nbgrader can survive.
NBGRADER_SUBSET = frozenset({
    "import_reference_star", "import_reference_via_sys_path", "exec_reference_file", "grader_reference_lookup",
    "patch_allclose_at_load", "patch_allclose_at_check_time", "inspect_stack_sniffing", "write_the_gradebook",
    "sys_exit_at_load", "os_exit_at_load", "segfault_at_load", "os_exit_in_check", "memory_bomb_growing",
    "memory_bomb_at_load", "fork_bomb", "multiprocessing_pool", "subprocess_shell", "thread_left_running_at_load",
    "stdout_flood_at_load", "disk_bomb_in_workdir", "disk_write_outside", "infinite_loop_in_check",
    "renamed_function", "syntax_error", "deleted_test_cell", "edited_test_cell", "changed_points",
    "chdir", "environment", "default_dtype", "num_threads"})
