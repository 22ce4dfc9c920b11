"""`python -m autograder autograde`: grade a whole class into nbgrader's gradebook, fast.

Every submission is graded by the isolated worker (forked warm from this process, or on a Dask
cluster); this process alone writes `autograded/` and the gradebook, through nbgrader's own
preprocessors, so `nbgrader generate_feedback`, `nbgrader export` and formgrader work unchanged and
the points are those `nbgrader autograde` gives with this course's configuration.
"""
from __future__ import annotations

import hashlib
import json
import os
import statistics
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import nbformat

from autograder.grade import notebook_job
from autograder.lessons import Lesson, lesson_for
from autograder.results import ExerciseResult, LessonResult, Status
from autograder.supervisor import Job, Supervisor

STATE_FILE = ".autograder.json"
GRADER_VERSION = "2"  # bump to re-grade everything after the checks change


@dataclass
class Submission:
    """One student's notebook of the lesson."""

    student: str
    path: Path
    digest: str


@dataclass
class ClassReport:
    """What a run did: the results it produced and the submissions it skipped as already graded."""

    lesson: str
    results: dict[str, LessonResult] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    interrupted: bool = False


def course_config(root: Path) -> Any:
    """nbgrader's configuration of the course at `root` (its nbgrader_config.py), as nbgrader loads it."""
    from traitlets.config import Config, PyFileConfigLoader

    config = Config()
    if (root / "nbgrader_config.py").exists():
        config.merge(PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config())
    config.CourseDirectory.root = str(root)
    return config


class Course:
    """An nbgrader course directory: where submissions are, where results go, its gradebook."""

    def __init__(self, root: Path) -> None:
        from nbgrader.coursedir import CourseDirectory

        self.root = root.resolve()
        self.config = course_config(self.root)
        self.dirs = CourseDirectory(config=self.config)

    @property
    def db_url(self) -> str:
        """The gradebook's URL; a relative sqlite path is taken from the course root, not the working directory."""
        url = self.dirs.db_url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url[len(prefix):].startswith("/"):
            url = prefix + str(self.root / url[len(prefix):])
        return url

    def submissions(self, lesson: Lesson, students: list[str] | None) -> list[Submission]:
        """The lesson's submitted notebooks, one per student, in student order."""
        found = []
        base = Path(self.dirs.format_path(self.dirs.submitted_directory, ".", ".")).resolve()
        for folder in sorted(p for p in base.iterdir() if p.is_dir()) if base.exists() else []:
            if students and folder.name not in students:
                continue
            path = folder / lesson.key / f"{lesson.key}.ipynb"
            if path.exists():
                found.append(Submission(folder.name, path, hashlib.sha256(path.read_bytes()).hexdigest()))
        return found

    def autograded_folder(self, lesson: Lesson, student: str) -> Path:
        return Path(self.dirs.format_path(self.dirs.autograded_directory, student, lesson.key))

    def already_graded(self, lesson: Lesson, sub: Submission) -> bool:
        """Graded before from the same file by the same grader (a run that was interrupted resumes)."""
        state = self.autograded_folder(lesson, sub.student) / STATE_FILE
        try:
            data = json.loads(state.read_text())
        except (OSError, ValueError):
            return False
        return data == {"sha256": sub.digest, "grader": GRADER_VERSION} and \
            (self.autograded_folder(lesson, sub.student) / f"{lesson.key}.ipynb").exists()

    def release(self, lesson: Lesson) -> bytes | None:
        path = Path(self.dirs.format_path(self.dirs.release_directory, ".", lesson.key)) / f"{lesson.key}.ipynb"
        return path.read_bytes() if path.exists() else None

    def check_gradebook(self, lesson: Lesson) -> None:
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(self.db_url) as gb:
            try:
                gb.find_assignment(lesson.key)
            except MissingEntry:
                raise SystemExit(f"error: {lesson.key} is not in the gradebook {self.db_url}: run "
                                 f"`nbgrader generate_assignment {lesson.key}` in {self.root} first") from None

    def record(self, lesson: Lesson, sub: Submission, graded: LessonResult) -> None:
        """Write autograded/<student>/<lesson>/ and the gradebook, as nbgrader autograde would."""
        from nbgrader.api import Gradebook
        from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds,
                                            OverwriteKernelspec, SaveAutoGrades)

        from autograder.nbgrader_pipelines import QuietOverwriteCells, apply_verdicts

        with Gradebook(self.db_url) as gb:
            gb.update_or_create_student(sub.student)
            timestamp = self.dirs.get_existing_timestamp(str(sub.path.parent))
            gb.update_or_create_submission(lesson.key, sub.student, **({"timestamp": timestamp} if timestamp else {}))
        resources = {"nbgrader": {"student": sub.student, "assignment": lesson.key, "notebook": lesson.key,
                                  "db_url": self.db_url}, "unique_key": lesson.key}
        try:
            nb = nbformat.reads(sub.path.read_text(encoding="utf-8"), as_version=4)
        except Exception:  # an unreadable notebook: every grade of it is 0, as for a missing one
            self._zero(lesson, sub)
            return
        for step in (ClearOutput, DeduplicateIds, OverwriteKernelspec, QuietOverwriteCells, CheckCellMetadata):
            nb, resources = step(config=self.config).preprocess(nb, resources)
        apply_verdicts(nb, graded)
        for step in (SaveAutoGrades, AssignLatePenalties):
            nb, resources = step(config=self.config).preprocess(nb, resources)
        folder = self.autograded_folder(lesson, sub.student)
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / f"{lesson.key}.ipynb")
        if (sub.path.parent / "timestamp.txt").exists():
            (folder / "timestamp.txt").write_bytes((sub.path.parent / "timestamp.txt").read_bytes())
        (folder / STATE_FILE).write_text(json.dumps({"sha256": sub.digest, "grader": GRADER_VERSION}))

    def _zero(self, lesson: Lesson, sub: Submission) -> None:
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url) as gb:
            for grade in gb.find_submission_notebook(lesson.key, lesson.key, sub.student).grades:
                grade.auto_score, grade.needs_manual_grade = 0, False
            gb.db.commit()
        folder = self.autograded_folder(lesson, sub.student)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{lesson.key}.ipynb").write_bytes(sub.path.read_bytes())
        (folder / STATE_FILE).write_text(json.dumps({"sha256": sub.digest, "grader": GRADER_VERSION}))


# ---------------------------------------------------------------- where the grading runs


def result_to_dict(result: LessonResult) -> dict:
    return result.to_json()


def result_from_dict(data: dict) -> LessonResult:
    graded = LessonResult(data["lesson"], data["notebook"])
    graded.exercises = [ExerciseResult(e["name"], e["points"], e["max_points"], Status(e["status"]), e["message"])
                        for e in data["exercises"]]
    return graded


_REMOTE: dict[str, Supervisor] = {}


def grade_payload(payload: dict) -> dict:
    """A Dask task: grade one notebook in an isolated worker on this machine (warm after the first).
    Where the course folder exists on this machine too (a cluster on the instructor's machine, or a
    shared file system), its gradebook and other students' files are hidden from the notebook as well."""
    course = payload.get("course") or ""
    if course not in _REMOTE:
        _REMOTE[course] = Supervisor(extra_hidden=[Path(course)] if course and Path(course).is_dir() else [])
    lesson = lesson_for(payload["lesson"])
    job = Job(lesson, payload["notebook"], payload["label"], payload.get("device"), payload.get("release"))
    for _, result in _REMOTE[course].grade([job]):
        return result_to_dict(result)
    raise RuntimeError("no result")


def _graded_locally(jobs: list[Job], workers: int, hidden_root: Path) -> Iterator[tuple[Job, LessonResult]]:
    yield from Supervisor(workers=workers, extra_hidden=[hidden_root]).grade(jobs)


def _graded_on_dask(jobs: list[Job], scheduler: Any, course_root: Path) -> Iterator[tuple[Job, LessonResult]]:
    from distributed import Client, as_completed

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    course = str(course_root.resolve())
    try:
        futures = {client.submit(grade_payload, {"lesson": j.lesson.key, "notebook": j.notebook, "label": j.label,
                                                 "device": j.device, "release": j.release, "course": course},
                                 pure=False): j
                   for j in jobs}
        for future in as_completed(futures):
            job = futures[future]
            try:
                yield job, result_from_dict(future.result())
            except Exception as err:  # the Dask worker died: only this notebook is affected
                graded = LessonResult(job.lesson.key, job.label)
                graded.exercises = [ExerciseResult(e.name, 0, e.points, Status.ERROR,
                                                   f"the grading machine failed ({type(err).__name__}); grade again")
                                    for e in job.lesson.exercises()]
                yield job, graded
    finally:
        if not isinstance(scheduler, Client):
            client.close()


# ---------------------------------------------------------------- the command


def autograde(lesson_key: str, root: Path | str = ".", students: list[str] | None = None, workers: int | None = None,
              scheduler: Any = None, force: bool = False, progress: bool = True) -> ClassReport:
    """Grade every (or the named) student's submission of a lesson into the course's gradebook."""
    from tqdm import tqdm

    course, lesson = Course(Path(root)), lesson_for(lesson_key)
    course.check_gradebook(lesson)
    report = ClassReport(lesson.key)
    todo = []
    for sub in course.submissions(lesson, students):
        if not force and course.already_graded(lesson, sub):
            report.skipped.append(sub.student)
        else:
            todo.append(sub)
    release = course.release(lesson) or (lesson.release_notebook.read_bytes() if lesson.release_notebook.exists() else None)
    jobs = []
    for sub in todo:
        job = notebook_job(sub.path, None, key=sub.student)
        jobs.append(Job(lesson, job.notebook, f"{sub.student}/{lesson.key}", None, release, sub.student))
    by_student = {sub.student: sub for sub in todo}
    if not jobs:
        return report
    source = (_graded_on_dask(jobs, scheduler, course.root) if scheduler is not None
              else _graded_locally(jobs, workers or os.cpu_count() or 1, course.root))
    bar = tqdm(total=len(jobs), unit="notebook", desc=f"autograde {lesson.key}", disable=not progress, file=sys.stderr)
    try:
        for job, graded in source:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy and nbformat warnings
                course.record(lesson, by_student[job.key], graded)
            report.results[job.key] = graded
            bar.update(1)
            bar.set_postfix(students=f"{len(report.results)}/{len(jobs)}")
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        bar.close()
    return report


def distribution_table(report: ClassReport) -> str:
    """Per exercise: how many passed, failed, were not attempted, errored or timed out, and the total's spread."""
    results = list(report.results.values())
    if not results:
        return f"{report.lesson}: nothing graded ({len(report.skipped)} already graded and unchanged)"
    names = [e.name for e in results[0].exercises]
    width = max(len(n) for n in names + ["exercise"])
    lines = [f"{'exercise':<{width}}  points  passed  failed  todo  error  timeout"]
    for i, name in enumerate(names):
        counts = Counter(r.exercises[i].status for r in results)
        lines.append(f"{name:<{width}}  {results[0].exercises[i].max_points:>6g}  {counts[Status.PASSED]:>6}  "
                     f"{counts[Status.FAILED]:>6}  {counts[Status.NOT_ATTEMPTED]:>4}  {counts[Status.ERROR]:>5}  "
                     f"{counts[Status.TIMEOUT]:>7}")
    scores = sorted(r.score for r in results)
    quartiles = statistics.quantiles(scores, n=4) if len(scores) > 1 else [scores[0]] * 3
    lines.append(f"total /{results[0].max_score:g}: n={len(scores)}  min={scores[0]:g}  q1={quartiles[0]:g}  "
                 f"median={quartiles[1]:g}  q3={quartiles[2]:g}  max={scores[-1]:g}  "
                 f"mean={statistics.fmean(scores):.1f}")
    if report.skipped:
        lines.append(f"({len(report.skipped)} submissions already graded and unchanged were skipped; --force re-grades)")
    return "\n".join(lines)
