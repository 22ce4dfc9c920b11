"""Benchmark: grade a synthetic class with `nbgrader autograde` (serial, as nbgrader runs) and with
`python -m autograder autograde` (1 worker, N workers, a Dask LocalCluster); check that every
score agrees and print the throughput of each as notebooks per second and as a ratio to nbgrader.

    python benchmarks/class_autograde.py --students 40 --lessons 01_matmul 02_init 03_forward 04_backward 05_internals

The class mixes correct answers, wrong answers from the mutant zoos (tests/mutants_*.py) and the
round trip's students, stubs, and syntax errors; each student's mix is fixed by a seed.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the test helpers build submissions; this is a script, not the package

from autograder.lessons import COURSE_ROOT, LESSONS  # noqa: E402
from notebooks import STUB, submission  # noqa: E402

CLASS_LESSONS = ["01_matmul", "02_init", "03_forward", "04_backward", "05_internals"]


def _mutant_answer(key: str, rng: random.Random) -> dict[str, str] | None:
    """A wrong answer from the lesson's mutant zoo, as notebook source (the zoo module, then one alias)."""
    path = ROOT / "tests" / f"mutants_{LESSONS[key].module}.py"
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8")
    if "solutions" in text:  # a zoo built on the references cannot run where the references are hidden
        return None
    namespace: dict = {}
    exec(compile(text, str(path), "exec"), namespace)
    mutant = rng.choice(namespace["MUTANTS"])
    if not hasattr(mutant.fn, "__name__") or mutant.fn.__name__ == "<lambda>":
        return None
    body = text.split("\nMUTANTS")[0]
    return {mutant.exercise: f"{body}\n\n{mutant.exercise} = {mutant.fn.__name__}\n"}


def build_class(course: Path, students: int, lessons: list[str], seed: int) -> None:
    """Write submitted/<student>/<lesson>/<lesson>.ipynb for a class of `students`."""
    rng = random.Random(seed)
    for i in range(students):
        student = f"s{i:03d}"
        for key in lessons:
            exercises = LESSONS[key].exercises()
            kind = rng.choice(["correct", "correct", "mutant", "stub", "syntax"])
            answers: dict = {}
            if kind == "mutant":
                answers = _mutant_answer(key, rng) or {exercises[-1].name: STUB}
            elif kind == "stub":
                answers = {e.name: STUB for e in rng.sample(list(exercises), k=max(1, len(exercises) // 2))}
            elif kind == "syntax":
                answers = {exercises[0].name: f"def {exercises[0].name}(:\n    pass\n"}
            folder = course / "submitted" / student / key
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(submission(key, answers, lean=False), folder / f"{key}.ipynb")


def _run(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def cell_scores(course: Path, lessons: list[str]) -> dict:
    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for key in lessons:
            for sub in gb.assignment_submissions(key):
                for nb in sub.notebooks:
                    scores |= {(sub.student.id, key, g.name): g.score for g in nb.grades}
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--lessons", nargs="+", default=CLASS_LESSONS)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-nbgrader", action="store_true", help="time only this project's command")
    args = parser.parse_args()

    course = Path(tempfile.mkdtemp(prefix="class-"))
    shutil.copyfile(COURSE_ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    for key in args.lessons:
        shutil.copytree(COURSE_ROOT / "source" / key, course / "source" / key)
        _run([sys.executable, "-m", "nbgrader", "generate_assignment", key, "--force"], course)
    build_class(course, args.students, args.lessons, args.seed)
    notebooks = args.students * len(args.lessons)
    print(f"class: {args.students} students x {len(args.lessons)} lessons = {notebooks} notebooks in {course}")

    timings: dict[str, float] = {}
    scores: dict[str, dict] = {}
    ours = [sys.executable, "-m", "autograder", "autograde"]
    if not args.skip_nbgrader:
        timings["nbgrader autograde (serial)"] = sum(
            _run([sys.executable, "-m", "nbgrader", "autograde", key, "--force"], course) for key in args.lessons)
        scores["nbgrader autograde (serial)"] = cell_scores(course, args.lessons)
    for label, extra in (("autograde, 1 worker", ["--workers", "1"]),
                         (f"autograde, {args.workers} workers", ["--workers", str(args.workers)])):
        timings[label] = sum(_run([*ours, key, "--force", *extra], course) for key in args.lessons)
        scores[label] = cell_scores(course, args.lessons)

    from distributed import Client, LocalCluster

    from autograder.classgrade import autograde
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        start = time.perf_counter()
        for key in args.lessons:
            autograde(key, course, scheduler=client, force=True, progress=False)
        timings[f"Dask LocalCluster, {args.workers} workers"] = time.perf_counter() - start
    scores[f"Dask LocalCluster, {args.workers} workers"] = cell_scores(course, args.lessons)

    reference = next(iter(scores.values()))
    agree = all(s == reference for s in scores.values())
    base = timings.get("nbgrader autograde (serial)")
    print("\n| route | seconds | notebooks/s | speed-up vs nbgrader |\n|---|---|---|---|")
    for label, seconds in timings.items():
        ratio = f"{base / seconds:.1f}x" if base else "-"
        print(f"| {label} | {seconds:.1f} | {notebooks / seconds:.2f} | {ratio} |")
    print(f"\nscores agree across all routes: {agree} ({len(reference)} grade cells)")
    if not agree:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
