"""The audit hook's decisions: which code is the learner's, what it may open, and that the hook refuses."""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from autograder.guard import Guard

SITE = Path(sysconfig.get_paths()["purelib"]).resolve()
ENVIRONMENT = Path(sys.prefix).resolve()


def test_installed_code_is_trusted_and_notebook_code_is_not(tmp_path):
    guard = Guard([], [tmp_path])
    assert guard.trusted(str(SITE / "torch" / "__init__.py"))
    assert guard.trusted("<frozen importlib._bootstrap>")
    assert not guard.trusted("<notebook cell 3>")
    assert not guard.trusted(str(tmp_path / "written_by_the_notebook.py"))
    assert not guard.trusted("/tmp/ipykernel_1234/5678.py")  # where ipykernel compiles a cell


def test_installed_code_below_a_writable_folder_stays_trusted():
    """A course checked out under /tmp, with its environment, while the kernel may write in /tmp: before
    the most specific folder decided, all of ipykernel counted as notebook code and the kernel died."""
    guard = Guard([], [ENVIRONMENT.parent])
    assert guard.trusted(str(SITE / "ipykernel" / "kernelapp.py"))
    assert not guard.trusted(str(ENVIRONMENT.parent / "notebook_wrote_this.py"))
    assert guard._path_allowed(str(ENVIRONMENT.parent / "notes.txt"), "w", None) is None
    refused = guard._path_allowed(str(SITE / "sitecustomize.py"), "w", None)  # it would be trusted code
    assert refused and refused.startswith("writing ")


def test_a_working_folder_inside_installed_code_holds_learner_code():
    workdir = SITE / "some_package" / "work"
    guard = Guard([], [workdir])
    assert not guard.trusted(str(workdir / "helper.py"))
    assert guard.trusted(str(SITE / "some_package" / "module.py"))
    assert guard._path_allowed(str(workdir / "out.txt"), "w", None) is None


def test_secret_paths_are_refused_even_inside_a_writable_folder(tmp_path):
    secret = tmp_path / "course" / "solutions"
    guard = Guard([secret], [tmp_path])
    for mode in ("r", "w"):
        refused = guard._path_allowed(str(secret / "forward.py"), mode, None)
        assert refused and "the grader's files are off limits" in refused
    assert guard._path_allowed(str(tmp_path / "course" / "notes.txt"), "w", None) is None
    refused = guard._path_allowed("/etc/hostname", "w", None)
    assert refused and "may write only in its working directory" in refused
    assert guard._path_allowed("/etc/hostname", "r", None) is None
    assert guard._path_allowed(str(tmp_path / "x"), None, os.O_WRONLY | os.O_CREAT) is None


PROGRAM = r"""
import sys
from pathlib import Path
from autograder.guard import Guard
guard = Guard([Path(sys.argv[1]) / "solutions"], [Path(sys.prefix).resolve().parent])
guard.install()
import socket
socket.socket().close()  # the grader's own code may
from IPython.utils.frame import extract_module_locals
x = 1
assert extract_module_locals()[1]["x"] == 1  # so may installed code, though its folder lies in a writable one
for source in ("import socket; socket.socket()", "import solutions",
               "open(sys.argv[1] + '/solutions/forward.py')", "import os; os.fork()",
               "sys._getframe(0)", "import inspect; inspect.stack()", "id(sys); import os; os.fork()",
               "import json; json.dumps.__code__ = (lambda *a, **k: '').__code__",
               "mine = lambda: 0; mine.__code__ = (lambda: 1).__code__; mine.__defaults__ = ()"):
    try:
        exec(compile(source, "<notebook cell 1>", "exec"), {"sys": sys})
    except (PermissionError, ImportError) as err:
        print(type(err).__name__, err)
    else:
        print("allowed", source)
"""


def test_the_installed_hook_refuses_notebook_code_only(tmp_path):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "forward.py").write_text("x = 1\n")
    proc = subprocess.run([sys.executable, "-c", PROGRAM, str(tmp_path)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 9 and not any(line.startswith("allowed") for line in lines[:8]), proc.stdout
    assert "`socket.__new__`" in lines[0]
    assert "importing the reference solutions" in lines[1]
    assert "the grader's files are off limits" in lines[2]
    assert "os.fork" in lines[3]
    assert "`sys._getframe`" in lines[4] and "`sys._getframe`" in lines[5]
    assert "os.fork" in lines[6]  # an event dismissed before (builtins.id) does not dismiss the next one
    assert "changing json.dumps.__code__" in lines[7]  # installed code's behaviour is not the notebook's to change
    assert lines[8].startswith("allowed")  # its own functions are


@pytest.mark.parametrize("mode", ["r", "rb", "w"])
def test_proc_memory_and_descriptors_are_refused(mode):
    guard = Guard([], [])
    assert guard._path_allowed(f"/proc/{os.getpid()}/mem", mode, None) == f"opening /proc/{os.getpid()}/mem"
