"""The nbgrader grading kernel: what it hides from the submission it runs, tried in a real kernel."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from autograder.kernel import kernel_secret_paths
from autograder.supervisor import hidden_paths
from autograder.references import COURSE_ROOT


@pytest.fixture
def course(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    for student in ("alice", "bob"):
        (root / "autograded" / student / "03_forward").mkdir(parents=True)
        (root / "autograded" / student / "03_forward" / "data.txt").write_text(f"{student}'s data\n")
    (root / "nbgrader_config.py").write_text("c = get_config()\n")
    (root / "gradebook.db").write_bytes(b"")
    (root / "source").mkdir()
    return root


def test_the_graded_course_is_hidden_but_the_kernels_own_folder_is_not(course):
    cwd = course / "autograded" / "alice" / "03_forward"
    secret = set(kernel_secret_paths(cwd, hidden_paths))
    assert {course / "gradebook.db", course / "source", course / "submitted", course / "nbgrader_config.py",
            course / "autograded" / "bob", COURSE_ROOT.resolve() / "solutions"} <= secret
    assert not any(cwd == p or p in cwd.parents for p in secret)


def test_outside_a_course_only_this_course_is_hidden(tmp_path):
    secret = kernel_secret_paths(tmp_path, hidden_paths)
    assert set(secret) == set(hidden_paths())


CELLS = {
    "own": "print(open('data.txt').read().strip())",
    "other_student": "open('../../bob/03_forward/data.txt').read()",
    "gradebook": "open('../../../gradebook.db', 'rb').read()",
    "reference": "from solutions.forward import *",
    "network": "import socket; socket.socket()",
    "fork": "import os; os.fork()",
    "temporary": "import tempfile; print(tempfile.NamedTemporaryFile('w').name.startswith(tempfile.gettempdir()))",
    "beside_the_course": "open('../../../../beside.txt', 'w')",
}


def test_a_real_grading_kernel_refuses_what_the_submission_must_not_do(course):
    from jupyter_client.manager import start_new_kernel

    cwd = course / "autograded" / "alice" / "03_forward"
    env = {**os.environ, "NBGRADER_EXECUTION": "autograde",
           # as under xdist or a checkout on PYTHONPATH: the references would be importable by name
           "PYTHONPATH": os.pathsep.join([str(COURSE_ROOT), os.environ.get("PYTHONPATH", "")])}
    manager, client = start_new_kernel(
        kernel_name="python3", cwd=str(cwd), env=env,
        extra_arguments=["--IPKernelApp.exec_lines=['from autograder.kernel import configure_grading_kernel', "
                         "'configure_grading_kernel()']"])
    try:
        got = {}
        for name, code in CELLS.items():
            outputs = []
            reply = client.execute_interactive(code, timeout=60, output_hook=outputs.append)
            error = reply["content"].get("ename")
            text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
            got[name] = (error, text, reply["content"].get("evalue", ""))
    finally:
        client.stop_channels()
        manager.shutdown_kernel()
    assert got["own"][:2] == (None, "alice's data\n")
    assert got["temporary"][:2] == (None, "True\n")
    assert got["beside_the_course"][0] == "PermissionError" and "may write only" in got["beside_the_course"][2]
    assert not (course.parent / "beside.txt").exists()
    for name in ("other_student", "gradebook", "reference"):
        assert got[name][0] == "PermissionError", (name, got[name])
    assert "the grader's files are off limits" in got["other_student"][2]
    assert "importing the reference solutions" in got["reference"][2]
    assert got["network"][0] == "PermissionError" and "socket" in got["network"][2]
    assert got["fork"][0] == "PermissionError" and "os.fork" in got["fork"][2]
