from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch

from autograder.cli import main
from autograder.lessons import LESSONS


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_check_solutions_json_is_full_marks_and_exits_zero():
    proc = _run("check", "--solutions", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert list(data) == ["lessons"]
    lessons = {lesson["lesson"]: lesson for lesson in data["lessons"]}
    assert list(lessons) == list(LESSONS)
    for lesson in lessons.values():
        assert list(lesson) == ["lesson", "notebook", "score", "max_score", "exercises"]
        assert lesson["score"] == lesson["max_score"] > 0
        assert all(list(e) == ["name", "points", "max_points", "status", "message"] for e in lesson["exercises"])
        assert {e["status"] for e in lesson["exercises"]} == {"passed"}
    assert [e["name"] for e in lessons["01_matmul"]["exercises"]] == [
        "matmul_loops", "matmul_elementwise", "broadcast_shape", "matmul_broadcast", "matmul_einsum"]


def test_check_of_the_released_stub_is_not_attempted_and_exits_one(matmul_lesson, tmp_path):
    notebook = tmp_path / "01_matmul.ipynb"
    shutil.copyfile(matmul_lesson.release_notebook, notebook)
    proc = _run("check", str(notebook))
    assert proc.returncode == 1
    assert proc.stdout.count("TODO") == 5 and "Traceback" not in proc.stdout + proc.stderr
    assert "total: 0/14 points" in proc.stdout


def test_check_of_an_unknown_lesson_is_a_usage_error(capsys):
    assert main(["check", "02_nonsense"]) == 2
    assert "is not a lesson of this course" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_check_on_cuda_without_a_gpu_is_a_clear_error(capsys):
    assert main(["check", "--solutions", "--device", "cuda"]) == 2
    assert "no GPU is available" in capsys.readouterr().err
