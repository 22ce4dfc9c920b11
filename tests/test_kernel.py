"""The nbgrader grading kernel: what it hides from the submission it runs, tried in a real kernel."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from autograder.hidden import hidden_paths, kernel_secret_paths
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
    secret = set(kernel_secret_paths(cwd))
    assert {course / "gradebook.db", course / "source", course / "submitted", course / "nbgrader_config.py",
            course / "autograded" / "bob", COURSE_ROOT.resolve() / "solutions"} <= secret
    assert not any(cwd == p or p in cwd.parents for p in secret)


def test_outside_a_course_only_this_course_is_hidden(tmp_path):
    secret = kernel_secret_paths(tmp_path)
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


KERNEL_ARGUMENTS = ["--IPKernelApp.exec_lines=['from autograder.kernel import configure_grading_kernel', "
                    "'configure_grading_kernel()']"]
# What the sandbox adds to the audit hook: code that writes or deletes without Python's `open` (torch's
# C++ file writer, os.remove) is stopped by the read-only file system.
OS_LEVEL_CELLS = {
    "own_file": "open('out.txt', 'w').write('kept')",
    "torch_save_beside": "import torch; torch.save(torch.zeros(1), '../../../../beside.pt')",
    "delete_the_gradebook": "import os; os.remove('../../../gradebook.db')",
    "delete_a_submission": "import shutil; shutil.rmtree('../../bob')",
}


def _kernel_env() -> dict[str, str]:
    return {**os.environ, "NBGRADER_EXECUTION": "autograde",
            # as under xdist or a checkout on PYTHONPATH: the references would be importable by name
            "PYTHONPATH": os.pathsep.join([str(COURSE_ROOT), os.environ.get("PYTHONPATH", "")])}


def _outcome(reply: dict, outputs: list[dict]) -> tuple:
    text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
    return reply["content"].get("ename"), text, reply["content"].get("evalue", "")


def _run_in_plain_kernel(cwd: Path, cells: dict[str, str]) -> dict[str, tuple]:
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", cwd=str(cwd), env=_kernel_env(),
                                       extra_arguments=KERNEL_ARGUMENTS)
    try:
        got = {}
        for name, code in cells.items():
            outputs: list[dict] = []
            got[name] = _outcome(client.execute_interactive(code, timeout=60, output_hook=outputs.append), outputs)
        return got
    finally:
        client.stop_channels()
        manager.shutdown_kernel()


def _run_in_autograde_kernel(cwd: Path, cells: dict[str, str]) -> dict[str, tuple]:
    """The kernel as autograde starts it: through the sandboxing launcher."""
    import asyncio

    from autograder.nbgrader_pipelines import SandboxedKernelManager

    async def run() -> dict[str, tuple]:
        manager = SandboxedKernelManager(kernel_name="python3")
        await manager.start_kernel(cwd=str(cwd), env=_kernel_env(), extra_arguments=KERNEL_ARGUMENTS)
        client = manager.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=60)
            got = {}
            for name, code in cells.items():
                outputs: list[dict] = []
                reply = await client.execute_interactive(code, timeout=60, output_hook=outputs.append)
                got[name] = _outcome(reply, outputs)
            return got
        finally:
            client.stop_channels()
            await manager.shutdown_kernel()
    return asyncio.run(run())


@pytest.mark.parametrize("start", [_run_in_plain_kernel, _run_in_autograde_kernel], ids=["plain", "autograde"])
def test_a_real_grading_kernel_refuses_what_the_submission_must_not_do(course, start):
    cwd = course / "autograded" / "alice" / "03_forward"
    got = start(cwd, CELLS)
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


def test_the_autograde_kernel_cannot_write_or_delete_outside_its_folder_by_any_route(course):
    cwd = course / "autograded" / "alice" / "03_forward"
    got = _run_in_autograde_kernel(cwd, OS_LEVEL_CELLS)
    assert got["own_file"][0] is None and (cwd / "out.txt").read_text() == "kept"
    for name in ("torch_save_beside", "delete_the_gradebook", "delete_a_submission"):
        assert got[name][0] is not None, (name, got[name])
    assert not (course.parent / "beside.pt").exists()
    assert (course / "gradebook.db").exists()
    assert (course / "autograded" / "bob" / "03_forward" / "data.txt").read_text() == "bob's data\n"
