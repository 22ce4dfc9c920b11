"""Grading: run each exercise's check on a notebook's (or the solutions') definitions."""
from __future__ import annotations

import difflib
import importlib
import inspect
import shutil
from pathlib import Path
from typing import Any

from autograder.exercise import Exercise
from autograder.lessons import Lesson, lesson_for
from autograder.limits import time_limit, time_scale
from autograder.loader import LoadedNotebook, describe_exception
from autograder.references import reference
from autograder.results import (CheckFailed, ExerciseResult, ExerciseTimeout, LessonResult, NotAttempted,
                                Status)
from autograder.supervisor import Job, Supervisor, grade_one


def _parameters(obj: Any) -> tuple[str, ...] | None:
    """The parameter names of a function, or of a class's __init__ (without self)."""
    try:
        names = tuple(inspect.signature(obj.__init__ if isinstance(obj, type) else obj).parameters)
    except (TypeError, ValueError):
        return None
    return names[1:] if isinstance(obj, type) and names[:1] == ("self",) else names


def _renamed(exercise: Exercise, defined: dict[str, Any], exercise_names: set[str]) -> str | None:
    """A definition that is probably the exercise under another name: the only one, among the notebook's
    own definitions, whose parameters are the reference's."""
    module = exercise.check.__module__.rsplit(".", 1)[-1]
    try:
        wanted = _parameters(reference(module, exercise.name))
    except Exception:  # no reference to compare with: say nothing rather than guess
        return None
    matches = [k for k, v in defined.items() if k not in exercise_names and wanted and _parameters(v) == wanted
               and getattr(v, "__module__", None) in (None, "__notebook__", "__main__")]
    return matches[0] if len(matches) == 1 else None


def _missing(name: str, loaded: LoadedNotebook, exercise: Exercise | None = None,
             exercise_names: set[str] = frozenset()) -> str:
    """Why a name is absent: a similar name, or a cell that failed before defining it."""
    message = f"`{name}` is not defined in the notebook."
    defined = {k: v for k, v in loaded.namespace.items() if callable(v) and not k.startswith("_")}
    close = difflib.get_close_matches(name, list(defined), n=1, cutoff=0.6)
    if not close and exercise is not None:
        close = [c for c in [_renamed(exercise, defined, set(exercise_names))] if c]
    if close:
        message += f" Did you rename it? `{close[0]}` is defined; keep the exercise's name."
    if loaded.problems:
        first = loaded.problems[0]
        message += f"\nCode cell {first.cell} failed while the notebook was loaded, which may be why: {first.message}"
    return message


# Hints for torch errors a learner's code commonly raises, keyed by a phrase of torch's message.
_ERROR_HINTS = {
    "leaf Variable that requires grad": "update parameters inside `with torch.no_grad():`, so the update is not "
                                        "itself recorded for autograd.",
    "same device": "create new tensors with device=a.device, so they live where the inputs do.",
    "must match the size": "print the shapes of the tensors you combine; broadcasting aligns them from the right.",
    "out of bounds": "check each loop's range against the dimension it indexes (a.shape[0], a.shape[1], b.shape[1]).",
    "cannot be multiplied": "print the shapes: weights are (in_features, out_features) and a layer is x @ w.",
}


def _with_hint(message: str) -> str:
    for phrase, hint in _ERROR_HINTS.items():
        if phrase in message:
            return f"{message}\nHint: {hint}"
    return message


def lesson_exercises(exercise: Exercise) -> tuple[Exercise, ...]:
    """Every exercise of the lesson an exercise belongs to (its checks module lists them)."""
    return importlib.import_module(exercise.check.__module__).EXERCISES


def grade_exercise(exercise: Exercise, namespace: dict[str, Any], device: str | None,
                   loaded: LoadedNotebook | None = None) -> ExerciseResult:
    """Grade one exercise; every outcome of the learner's code becomes a result, never an exception."""
    def result(status: Status, message: str = "") -> ExerciseResult:
        points = exercise.points if status == Status.PASSED else 0
        return ExerciseResult(exercise.name, points, exercise.points, status, message)

    if exercise.name not in namespace:
        lesson_names = {e.name for e in lesson_exercises(exercise)}
        return result(Status.ERROR, _missing(exercise.name, loaded or LoadedNotebook(Path("?"), namespace),
                                             exercise, lesson_names))
    try:
        with time_limit(exercise.time_budget_s * time_scale(), f"your {exercise.name}"):
            exercise.check(namespace[exercise.name], device)
    except NotAttempted as err:
        return result(Status.NOT_ATTEMPTED, f"{err} Replace the `raise NotImplementedError` line with your code.")
    except CheckFailed as err:
        return result(Status.FAILED, str(err))
    except ExerciseTimeout as err:
        return result(Status.TIMEOUT, str(err))
    except (Exception, SystemExit) as err:  # the learner's code crashed inside the check
        return result(Status.ERROR, _with_hint(f"{exercise.name} raised {describe_exception(err)}"))
    return result(Status.PASSED)


def grade_loaded(lesson: Lesson, loaded: LoadedNotebook, device: str | None = None, label: str | None = None) -> LessonResult:
    """Grade every exercise of a lesson against a loaded notebook."""
    graded = LessonResult(lesson.key, label or str(loaded.path))
    for exercise in lesson.exercises():
        if loaded.error:
            graded.exercises.append(ExerciseResult(exercise.name, 0, exercise.points, Status.ERROR, loaded.error))
        else:
            graded.exercises.append(grade_exercise(exercise, loaded.namespace, device, loaded))
    return graded


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def notebook_job(path: str | Path, device: str | None = None, key: object = None) -> Job:
    """A job for the supervisor: the notebook's bytes (only read), its lesson from its file name."""
    path = Path(path)
    lesson = lesson_for(path.name)
    try:
        data = path.read_bytes()
    except OSError as err:
        data = f"cannot read {path}: {err.strerror}".encode()  # graded as a malformed notebook
    release = lesson.release_notebook.read_bytes() if lesson.release_notebook.exists() else None
    return Job(lesson, data, _display(path), device, release, key)


def grade_notebook(path: str | Path, device: str | None = None) -> LessonResult:
    """Grade a learner's notebook in an isolated worker; its lesson comes from its file name."""
    return grade_one(notebook_job(path, device))


def grade_notebooks(paths: list[Path], device: str | None = None, workers: int = 1) -> list[LessonResult]:
    """Grade several notebooks, `workers` at a time, in the order given."""
    jobs = [notebook_job(p, device, key=i) for i, p in enumerate(paths)]
    done = {job.key: result for job, result in Supervisor(workers=workers).grade(jobs)}
    return [done[i] for i in range(len(paths))]


def solutions_job(key: str, device: str | None = None, key_: object = None) -> Job:
    """A job that grades a lesson's reference solutions as if they were a notebook."""
    lesson = lesson_for(key)
    return Job(lesson, None, _display(lesson.solutions_file), device, key=key_)


def grade_solutions(key: str, device: str | None = None) -> LessonResult:
    """Grade the reference solutions of a lesson in a worker, as a notebook is (they must get full marks)."""
    return grade_one(solutions_job(key, device))


def ensure_assignment(lesson: Lesson) -> tuple[Path, bool]:
    """The learner's notebook of a lesson, copied from release/ on first use; never overwritten."""
    target = lesson.assignment_notebook
    if target.exists():
        return target, False
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(lesson.release_notebook, target)
    return target, True

