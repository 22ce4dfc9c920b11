"""The nbgrader route: release/ generated from source/, and a real autograde + export round trip."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nbformat
import pytest

from autograder.lessons import COURSE_ROOT, LESSONS
from notebooks import STUB, submission

pytestmark = pytest.mark.slow
NBGRADER = [sys.executable, "-m", "nbgrader"]
# Infinite loops are met after seconds, not minutes: a check gets 18 s, a cell 9 s (the lessons' checks
# need a few seconds, the lean notebooks' cells well under one).
ENV = {**os.environ, "AUTOGRADER_TIME_SCALE": "0.15"}


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    # nbgrader runs helper programs (alembic) found on PATH: the environment's own bin comes first.
    env = {**ENV, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
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
COUNT_CALLS_THAT_WARNS = '''import warnings

def count_calls(fn: Callable) -> Callable:
    warnings.warn("a harmless warning from correct code", UserWarning)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        wrapper.calls += 1
        return fn(*args, **kwargs)

    wrapper.calls = 0
    return wrapper
'''

CLIP_GRAD_NORM_THAT_WARNS = '''import warnings

def clip_grad_norm(params: list[Tensor], max_norm: float) -> Tensor:
    warnings.warn("a harmless warning from correct code", UserWarning)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total = torch.stack([g.norm() for g in grads]).norm()
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g.mul_(coef)
    return total
'''

BATCHNORM_FORWARD_THAT_WARNS = '''import warnings

def batchnorm_forward(x: Tensor, gamma: Tensor, beta: Tensor, eps: float = 1e-5) -> Tensor:
    warnings.warn("a harmless warning from correct code", UserWarning)
    dims = (0,) + tuple(range(2, x.dim()))
    shape = (1, -1) + (1,) * (x.dim() - 2)
    mean, var = x.mean(dim=dims, keepdim=True), x.var(dim=dims, correction=0, keepdim=True)
    return gamma.reshape(shape) * (x - mean) / torch.sqrt(var + eps) + beta.reshape(shape)
'''


AUTOGRAD_RELU_THAT_WARNS = '''import warnings

def relu(a) -> Value:
    warnings.warn("a harmless warning from correct code", UserWarning)
    a = as_value(a)
    out = Value(a.data if a.data > 0 else 0.0, (a,), "relu")

    def _backward():
        a.grad += out.grad if a.data > 0 else 0.0
    out._backward = _backward
    return out
'''


def _edit(old: str, new: str) -> Callable[[str], str]:
    """One line of the reference answer changed: a wrong answer that differs from it only there."""
    def apply(answer: str) -> str:
        assert old in answer, f"{old!r} is not in the reference answer any more"
        return answer.replace(old, new)
    return apply


# Per lesson: carol's one wrong exercise and the points it costs, dave's correct answer that warns.
STUDENTS = {
    "00_primer": {"carol": ({"Polynomial": _edit("for c in reversed(self.coefficients):", "for c in self.coefficients:")}, 4),
                  "dave": {"count_calls": COUNT_CALLS_THAT_WARNS}},
    "01_matmul": {"carol": ({"matmul_einsum": EINSUM_WITH_AT}, 2), "dave": {"matmul_loops": LOOPS_THAT_WARN}},
    "02_init": {"carol": ({"gain": GAIN_WITHOUT_SQRT}, 1), "dave": {"normalize": NORMALIZE_THAT_WARNS}},
    "03_forward": {"carol": ({"nll": NLL_SUMMED}, 2), "dave": {"relu": RELU_THAT_WARNS}},
    "04_backward": {"carol": ({"lin_grad": _edit("b.g = out.g.sum(0)", "b.g = out.g.clone()")}, 3),
                    "dave": {"relu_grad": RELU_GRAD_THAT_WARNS}},
    "05_internals": {"carol": ({"BatchSampler": _edit("if batch and not self.drop_last:", "if batch and self.drop_last:")}, 2),
                     "dave": {"collate": COLLATE_THAT_WARNS}},
    "06_autograd": {"carol": ({"log": _edit("a.grad += out.grad / a.data", "a.grad += out.grad / a.data ** 2")}, 1),
                    "dave": {"relu": AUTOGRAD_RELU_THAT_WARNS}},
    "07_conv": {"carol": ({"conv2d_loops": _edit("out[i, o, r, q] = (window * w[o]).sum()",
                                                 "out[i, o, r, q] = (window * w[o].flip(-2, -1)).sum()")}, 3),
                "dave": {"maxpool2d": MAXPOOL2D_THAT_WARNS}},
    "08_batchnorm": {"carol": ({"BatchNorm": _edit("x.var(dim=dims, correction=1)", "x.var(dim=dims, correction=0)")}, 4),
                     "dave": {"batchnorm_forward": BATCHNORM_FORWARD_THAT_WARNS}},
    "09_rnn": {"carol": ({"bptt_backward": _edit("dh = dhs[t] + dh_next", "dh = dhs[t]")}, 4),
               "dave": {"clip_grad_norm": CLIP_GRAD_NORM_THAT_WARNS}},
}


# Four more students for lessons 01-05 (the class of 8 x 5 the scores test asks for): a syntax
# error in the first exercise, a deleted first test cell, the reference imported, and an infinite
# loop in 01's last exercise (only the first exercise done in the others). Each costs exactly the
# points named.
MORE_STUDENTS = ("erin", "frank", "heidi", "grace")
CLASS_LESSONS = ("01_matmul", "02_init", "03_forward", "04_backward", "05_internals")


def _class_submission(student: str, key: str) -> tuple[nbformat.NotebookNode, float]:
    """A student's notebook of a lesson and the points it must lose."""
    exercises = LESSONS[key].exercises()
    full, first, last = sum(e.points for e in exercises), exercises[0], exercises[-1]
    if student == "alice":
        return submission(key, lean=True), 0
    if student == "bob":
        return nbformat.read(COURSE_ROOT / "release" / key / f"{key}.ipynb", as_version=4), full
    if student == "carol":
        answers, lost = STUDENTS[key]["carol"]
        return submission(key, answers, lean=True), lost
    if student == "dave":
        return submission(key, STUDENTS[key]["dave"], lean=True), 0
    if student == "erin":
        return submission(key, {first.name: f"def {first.name}(:\n    pass\n"}, lean=True), first.points
    if student == "frank":
        nb = submission(key, lean=True)
        nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != f"test_{first.name}"]
        return nb, first.points
    if student == "heidi":
        return submission(key, {e.name: STUB for e in exercises}, extra=[
            f"import sys\nsys.path.insert(0, {str(COURSE_ROOT)!r})\nfrom solutions.{LESSONS[key].module} import *"],
            lean=True), full
    if key == "01_matmul":  # grace's infinite loop (one lesson: each costs a time budget in every route)
        loop = f"def {last.name}(*args, **kwargs):\n    while True:\n        pass\n"
        return submission(key, {last.name: loop}, lean=True), last.points
    # elsewhere she stopped after the first exercise
    return submission(key, {e.name: STUB for e in exercises[1:]}, lean=True), full - first.points


def _roster(key: str) -> tuple[str, ...]:
    base = ("alice", "bob", "carol", "dave")
    return base + MORE_STUDENTS if key in CLASS_LESSONS else base


def _cell_scores(course: Path, lessons: tuple[str, ...]) -> dict[tuple[str, str, str], float]:
    """(student, lesson, grade cell) -> score, read from the gradebook through nbgrader's API."""
    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for key in lessons:
            for student in _roster(key):
                notebook = gb.find_submission_notebook(key, key, student)
                scores |= {(student, key, g.name): g.score for g in notebook.grades}
    return scores


@dataclass(frozen=True)
class GradedCourse:
    """A course whose class `nbgrader autograde` has graded: the expected totals and nbgrader's cells."""

    root: Path
    lessons: tuple[str, ...]
    expected: dict[tuple[str, str], tuple[float, float]]
    scores: dict[tuple[str, str, str], float]


# The class in two courses, graded on two test workers side by side: the class of 8 students x 5
# lessons that the scores tests need, and the newer lessons with the round trip's four students.
CLASSES = {"class-01-05": CLASS_LESSONS, "lessons-00-06-09": tuple(k for k in LESSONS if k not in CLASS_LESSONS)}


@pytest.fixture(scope="module", params=list(CLASSES))  # the ids tests/conftest.py shares work by
def graded_course(request, tmp_path_factory) -> GradedCourse:
    """The class submitted and graded by `nbgrader autograde`."""
    lessons = CLASSES[request.param]
    root = tmp_path_factory.mktemp(request.param)
    shutil.copyfile(COURSE_ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    expected = {}
    for key in lessons:
        shutil.copytree(COURSE_ROOT / "source" / key, root / "source" / key)
        _nbgrader(root, "generate_assignment", key, "--force")
        full = sum(e.points for e in LESSONS[key].exercises())
        for student in _roster(key):
            nb, lost = _class_submission(student, key)
            _submit(root, student, key, nb)
            expected[(student, key)] = (full - lost, full)
        _nbgrader(root, "autograde", key, "--force")
    return GradedCourse(root, lessons, expected, _cell_scores(root, lessons))


def test_the_classes_cover_every_lesson_and_8_students_x_5_lessons():
    assert sorted(k for lessons in CLASSES.values() for k in lessons) == sorted(LESSONS)
    assert len(CLASSES["class-01-05"]) == 5 and all(len(_roster(k)) == 8 for k in CLASSES["class-01-05"])


def test_autograde_and_export_give_full_zero_and_partial_scores(graded_course):
    course, expected = graded_course.root, graded_course.expected
    _nbgrader(course, "export", "--to", "grades.csv")
    with open(course / "grades.csv", newline="") as f:
        scores = {(row["student_id"], row["assignment"]): (float(row["score"]), float(row["max_score"]))
                  for row in csv.DictReader(f)}
    # nbgrader exports every student for every assignment: those who submitted nothing score 0.
    assert all(score == 0 for key, (score, _) in scores.items() if key not in expected)
    assert {k: v for k, v in scores.items() if k in expected} == expected
    if "01_matmul" not in graded_course.lessons:
        return  # the feedback below is 01_matmul's
    _nbgrader(course, "generate_feedback", "01_matmul", "--force")
    feedback = (course / "feedback" / "carol" / "01_matmul" / "01_matmul.html").read_text(encoding="utf-8")
    assert "calls <code>matmul</code>" in feedback or "calls `matmul`" in feedback
    # The hidden test cell's code is not shown (the failure's replay line, with its seed, is meant to be).
    assert "HIDDEN TESTS" not in feedback and "check_matmul_einsum(matmul_einsum)" not in feedback
    assert "check_matmul_einsum(matmul_einsum, device=" in feedback
    timeout = (course / "feedback" / "grace" / "01_matmul").exists()
    if timeout:
        text = (course / "feedback" / "grace" / "01_matmul" / "01_matmul.html").read_text(encoding="utf-8")
        assert "did not finish within" in text


def test_class_autograde_command_gives_nbgrader_s_scores_cell_by_cell(graded_course):
    course, lessons = graded_course.root, graded_course.lessons
    env = {**ENV, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for key in lessons:
        proc = subprocess.run([sys.executable, "-m", "autograder", "autograde", key, "--force", "--workers", "2"],
                              cwd=course, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "passed  failed  todo" in proc.stdout
    assert _cell_scores(course, lessons) == graded_course.scores
    again = subprocess.run([sys.executable, "-m", "autograder", "autograde", lessons[0]], cwd=course, env=env,
                           capture_output=True, text=True, timeout=600)
    assert "already graded and unchanged" in again.stdout  # a second run resumes: nothing left to grade
    _nbgrader(course, "generate_feedback", lessons[-1], "--force")
    assert (course / "feedback" / "carol" / lessons[-1] / f"{lessons[-1]}.html").exists()


def test_dask_cluster_gives_the_same_gradebook(graded_course):
    from distributed import Client, LocalCluster

    from autograder.classgrade import autograde

    # One lesson per class, with every kind of student of the class (01_matmul's include the infinite loop).
    lessons = graded_course.lessons[:1]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        for key in lessons:
            report = autograde(key, graded_course.root, scheduler=client, force=True, progress=False)
            assert len(report.results) == len(_roster(key))
    assert _cell_scores(graded_course.root, lessons) == {k: v for k, v in graded_course.scores.items() if k[1] in lessons}


def test_check_pytest_and_nbgrader_agree_on_every_exercise(graded_course, tmp_path):
    """One verdict: the CLI, the pytest plugin and nbgrader give the same points per exercise."""
    import xml.etree.ElementTree as ET

    course = graded_course.root
    notebooks = sorted((course / "submitted").glob("*/*/*.ipynb"))
    assert len(notebooks) == len(graded_course.expected)
    from_nbgrader = {(s, k, cell.removeprefix("test_")): score for (s, k, cell), score in graded_course.scores.items()}
    env = {**ENV, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", *map(str, notebooks), "--json", "--workers", "2"],
                          env=env, capture_output=True, text=True, timeout=1800)
    from_cli = {}
    for lesson in json.loads(proc.stdout)["lessons"]:
        student = Path(lesson["notebook"]).parts[-3]
        from_cli |= {(student, lesson["lesson"], e["name"]): e["points"] for e in lesson["exercises"]}
    assert from_cli == from_nbgrader
    report = tmp_path / "report.xml"
    subprocess.run([sys.executable, "-m", "pytest", *map(str, notebooks), "-p", "no:cacheprovider", "-p", "no:xdist",
                    f"--junitxml={report}", "-o", "junit_family=xunit1", "-q", "--rootdir", str(tmp_path)], env=env, cwd=tmp_path,
                   capture_output=True, text=True, timeout=1800)
    points = {(key, e.name): e.points for key, lesson in LESSONS.items() for e in lesson.exercises()}
    from_pytest = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        parts = Path(case.get("file", "")).parts   # .../<student>/<lesson>/<lesson>.ipynb
        student, key = parts[-3], parts[-2]
        failed = case.find("failure") is not None or case.find("error") is not None
        from_pytest[(student, key, case.get("name"))] = 0 if failed else points[(key, case.get("name"))]
    assert from_pytest == from_nbgrader
