"""The nbgrader route: release/ generated from source/, and a real autograde + export round trip."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import nbformat
import pytest

from autograder.lessons import COURSE_ROOT, LESSONS

pytestmark = pytest.mark.slow
NBGRADER = [sys.executable, "-m", "nbgrader"]


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    # nbgrader runs helper programs (alembic) found on PATH: the environment's own bin comes first.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([*NBGRADER, *args], cwd=course, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A fresh course directory with this repo's config and sources, assignments generated."""
    root = tmp_path_factory.mktemp("course")
    shutil.copyfile(COURSE_ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(COURSE_ROOT / "source", root / "source")
    for key in LESSONS:
        _nbgrader(root, "generate_assignment", key, "--force")
    return root


def _content(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("key", list(LESSONS))
def test_committed_release_matches_a_fresh_generate_assignment(course, key):
    fresh = course / "release" / key / f"{key}.ipynb"
    committed = COURSE_ROOT / "release" / key / f"{key}.ipynb"
    assert _content(committed) == _content(fresh), (
        f"release/{key} is out of date with source/: run `nbgrader generate_assignment {key} --force`")


@pytest.mark.parametrize("key", list(LESSONS))
def test_release_has_named_stubs_and_no_hidden_tests_or_solutions(key):
    text = (COURSE_ROOT / "release" / key / f"{key}.ipynb").read_text(encoding="utf-8")
    assert "BEGIN HIDDEN TESTS" not in text and "check_" not in text and "BEGIN SOLUTION" not in text
    for exercise in LESSONS[key].exercises():
        assert f'raise NotImplementedError(\\"{exercise.name}: not attempted yet' in text


def _submission(key: str, replace: dict[str, Any]) -> nbformat.NotebookNode:
    """The released notebook with every solution cell filled in from source/, or from `replace`: a
    whole answer, or an edit of the source's answer."""
    source = nbformat.read(COURSE_ROOT / "source" / key / f"{key}.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.read(COURSE_ROOT / "release" / key / f"{key}.ipynb", as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in answers:
            answer = replace.get(grade_id, answers[grade_id])
            if callable(answer):
                answer = answer(answers[grade_id])
            cell.source = "\n".join(l for l in answer.splitlines() if "### BEGIN SOLUTION" not in l and "### END SOLUTION" not in l)
    return nb


def _submit(course: Path, student: str, key: str, nb: nbformat.NotebookNode) -> None:
    folder = course / "submitted" / student / key
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{key}.ipynb")


EINSUM_WITH_AT = '''def matmul_einsum(a: Tensor, b: Tensor) -> Tensor:
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"inner dimensions differ: {a.shape} vs {b.shape}")
    return a @ b
'''
LOOPS_THAT_WARN = '''import warnings

def matmul_loops(a: Tensor, b: Tensor) -> Tensor:
    warnings.warn("a harmless warning from correct code", UserWarning)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"inner dimensions differ: {a.shape} vs {b.shape}")
    c = torch.zeros(a.shape[0], b.shape[1], dtype=a.dtype, device=a.device)
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            for p in range(a.shape[1]):
                c[i, j] += a[i, p] * b[p, j]
    return c
'''
GAIN_WITHOUT_SQRT = '''def gain(a: float) -> float:
    return 2 / (1 + a**2)
'''
NORMALIZE_THAT_WARNS = '''import warnings

def normalize(x: Tensor, mean: float | Tensor, std: float | Tensor) -> Tensor:
    warnings.warn("a harmless warning from correct code", UserWarning)
    return (x - mean) / std
'''
NLL_SUMMED = '''def nll(log_probs: Tensor, target: Tensor) -> Tensor:
    return -log_probs[torch.arange(target.shape[0]), target].sum()
'''
RELU_THAT_WARNS = '''import warnings

def relu(x: Tensor) -> Tensor:
    warnings.warn("a harmless warning from correct code", UserWarning)
    return x.clamp_min(0.0)
'''
RELU_GRAD_THAT_WARNS = '''import warnings

def relu_grad(inp: Tensor, out: Tensor) -> None:
    warnings.warn("a harmless warning from correct code", UserWarning)
    inp.g = (inp > 0).to(inp.dtype) * out.g
'''
MAXPOOL2D_THAT_WARNS = '''import warnings

def maxpool2d(x: Tensor, kernel_size: int, stride: int | None = None, padding: int = 0) -> Tensor:
    warnings.warn("a harmless warning from correct code", UserWarning)
    stride = kernel_size if stride is None else stride
    n, c, h, wd = x.shape
    xp = F.pad(x, (padding, padding, padding, padding), value=float("-inf"))
    cols = F.unfold(xp.reshape(n * c, 1, h + 2 * padding, wd + 2 * padding), kernel_size, stride=stride)
    h_out, w_out = output_size(h, kernel_size, stride, padding), output_size(wd, kernel_size, stride, padding)
    return cols.max(dim=1).values.reshape(n, c, h_out, w_out)
'''
COLLATE_THAT_WARNS = '''import warnings

def collate(items: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    warnings.warn("a harmless warning from correct code", UserWarning)
    xs, ys = zip(*items)
    return torch.stack(xs), torch.stack(ys)
'''
def _edit(old: str, new: str) -> Callable[[str], str]:
    """One line of the reference answer changed: a wrong answer that differs from it only there."""
    def apply(answer: str) -> str:
        assert old in answer, f"{old!r} is not in the reference answer any more"
        return answer.replace(old, new)
    return apply


# Per lesson: carol's one wrong exercise and the points it costs, dave's correct answer that warns.
STUDENTS = {
    "01_matmul": {"carol": ({"matmul_einsum": EINSUM_WITH_AT}, 2), "dave": {"matmul_loops": LOOPS_THAT_WARN}},
    "02_init": {"carol": ({"gain": GAIN_WITHOUT_SQRT}, 1), "dave": {"normalize": NORMALIZE_THAT_WARNS}},
    "03_forward": {"carol": ({"nll": NLL_SUMMED}, 2), "dave": {"relu": RELU_THAT_WARNS}},
    "04_backward": {"carol": ({"lin_grad": _edit("b.g = out.g.sum(0)", "b.g = out.g.clone()")}, 3),
                    "dave": {"relu_grad": RELU_GRAD_THAT_WARNS}},
    "05_internals": {"carol": ({"BatchSampler": _edit("if batch and not self.drop_last:", "if batch and self.drop_last:")}, 2),
                     "dave": {"collate": COLLATE_THAT_WARNS}},
    "07_conv": {"carol": ({"conv2d_loops": _edit("out[i, o, r, q] = (window * w[o]).sum()",
                                                 "out[i, o, r, q] = (window * w[o].flip(-2, -1)).sum()")}, 3),
                "dave": {"maxpool2d": MAXPOOL2D_THAT_WARNS}},
}


def test_autograde_and_export_give_full_zero_and_partial_scores(course):
    expected = {}
    for key, lesson in LESSONS.items():
        full = sum(e.points for e in lesson.exercises())
        carol, lost = STUDENTS[key]["carol"]
        _submit(course, "alice", key, _submission(key, {}))
        _submit(course, "bob", key, nbformat.read(course / "release" / key / f"{key}.ipynb", as_version=4))
        _submit(course, "carol", key, _submission(key, carol))
        _submit(course, "dave", key, _submission(key, STUDENTS[key]["dave"]))
        expected |= {(s, key): (score, full) for s, score in
                     (("alice", full), ("bob", 0), ("carol", full - lost), ("dave", full))}
        _nbgrader(course, "autograde", key, "--force")
    _nbgrader(course, "export", "--to", "grades.csv")
    with open(course / "grades.csv", newline="") as f:
        scores = {(row["student_id"], row["assignment"]): (float(row["score"]), float(row["max_score"]))
                  for row in csv.DictReader(f)}
    assert scores == expected
    _nbgrader(course, "generate_feedback", "01_matmul", "--force")
    feedback = (course / "feedback" / "carol" / "01_matmul" / "01_matmul.html").read_text(encoding="utf-8")
    assert "calls <code>matmul</code>" in feedback or "calls `matmul`" in feedback
    assert "from autograder.checks.matmul import" not in feedback and "HIDDEN TESTS" not in feedback
