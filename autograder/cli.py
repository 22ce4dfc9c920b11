"""`python -m autograder`: a thin command line over the grading and export functions."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from autograder.devices import CHOICES, DeviceUnavailable, resolve_device
from autograder.grade import ensure_assignment, notebook_job, solutions_job
from autograder.lessons import LESSONS, lesson_for
from autograder.results import LessonResult, scoreboard
from autograder.supervisor import Supervisor


def check(targets: Sequence[str], solutions: bool = False, device: str = "cpu", workers: int = 1) -> list[LessonResult]:
    """Grade lessons (keys: their assignments/ notebook) or notebook paths, each in an isolated worker;
    all lessons if none given."""
    jobs = []
    for index, target in enumerate(targets or list(LESSONS)):
        lesson = lesson_for(target)
        if solutions:
            jobs.append(solutions_job(lesson.key, device, index))
        elif target.endswith(".ipynb"):
            jobs.append(notebook_job(target, device, key=index))
        else:
            path, created = ensure_assignment(lesson)
            if created:
                print(f"created {path.relative_to(path.parent.parent)} from release/ (your copy: edit it in Jupyter)",
                      file=sys.stderr)
            jobs.append(notebook_job(path, device, key=index))
    done = {job.key: result for job, result in Supervisor(workers=workers).grade(jobs)}
    return [done[i] for i in range(len(jobs))]


def export(check_only: bool = False) -> list[str]:
    """Write solutions/ from source/ (or, with check_only, list the files that are out of date)."""
    from autograder.export import export_solutions
    return export_solutions(check_only=check_only)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    p_check = verbs.add_parser("check", help="grade notebooks and print a scoreboard (exit 0 only at full marks)")
    p_check.add_argument("targets", nargs="*", metavar="LESSON_OR_NOTEBOOK",
                         help=f"lesson keys ({', '.join(LESSONS)}) or .ipynb paths; default: every lesson")
    p_check.add_argument("--solutions", action="store_true", help="grade the reference solutions instead")
    p_check.add_argument("--device", choices=CHOICES, default="cpu", help="where checks run (default: cpu)")
    p_check.add_argument("--json", action="store_true", help="print the results as JSON (and nothing else on stdout)")
    p_check.add_argument("--workers", type=int, default=1, metavar="N",
                         help="grade N notebooks at a time, each in its own isolated worker (default: 1)")
    p_auto = verbs.add_parser("autograde", help="grade a class's submissions into nbgrader's gradebook (parallel)")
    p_auto.add_argument("lesson", metavar="LESSON", help="the lesson (nbgrader assignment) to grade, e.g. 01_matmul")
    p_auto.add_argument("--student", action="append", metavar="ID", help="only this student (repeatable)")
    p_auto.add_argument("--workers", type=int, default=None, metavar="N",
                        help="notebooks graded at a time on this machine (default: the number of CPUs)")
    p_auto.add_argument("--scheduler", metavar="ADDRESS", help="grade on a Dask cluster, e.g. tcp://host:8786")
    p_auto.add_argument("--course", default=".", metavar="DIR", help="the nbgrader course directory (default: .)")
    p_auto.add_argument("--force", action="store_true", help="re-grade submissions already graded and unchanged")
    p_export = verbs.add_parser("export", help="write solutions/ from the source notebooks' solution cells")
    p_export.add_argument("--check", action="store_true", help="only report drift; exit 1 if any")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.verb == "autograde":
        from autograder.classgrade import autograde, distribution_table
        try:
            report = autograde(args.lesson, args.course, args.student, args.workers, args.scheduler, args.force)
        except KeyError as err:
            print(f"error: {err.args[0]}", file=sys.stderr)
            return 2
        print(distribution_table(report))
        if report.interrupted:
            print("interrupted: run the same command again to grade the rest", file=sys.stderr)
            return 130
        return 0
    if args.verb == "export":
        stale = export(check_only=args.check)
        for path in stale:
            print(f"{'out of date' if args.check else 'wrote'}: {path}")
        return 1 if args.check and stale else 0
    try:
        resolve_device(args.device)
        results = check(args.targets, solutions=args.solutions, device=args.device, workers=args.workers)
    except (KeyError, DeviceUnavailable) as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"lessons": [r.to_json() for r in results]}, indent=2))
    else:
        print(scoreboard(results))
    return 0 if all(r.score == r.max_score for r in results) else 1
