"""Outcomes of grading: per exercise, per lesson, and their JSON and scoreboard forms."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum


class Status(str, Enum):
    """What happened to one exercise."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_ATTEMPTED = "not_attempted"
    ERROR = "error"
    TIMEOUT = "timeout"


class CheckFailed(AssertionError):
    """A check found a wrong answer; the message says what and why."""


class NotAttempted(NotImplementedError):
    """The learner's function is still the stub."""


class ExerciseTimeout(BaseException):
    """The learner's code ran past its time budget.

    A BaseException, so that a learner's `except Exception:` cannot swallow it.
    """


@dataclass
class ExerciseResult:
    """The grade of one exercise."""

    name: str
    points: float
    max_points: float
    status: Status
    message: str = ""

    def to_json(self) -> dict:
        """The exercise as the CLI's --json prints it."""
        data = asdict(self)
        data["status"] = self.status.value
        return data


@dataclass
class LessonResult:
    """The grades of all exercises of one lesson's notebook."""

    lesson: str
    notebook: str
    exercises: list[ExerciseResult] = field(default_factory=list)
    isolation: dict = field(default_factory=dict, compare=False, repr=False)  # how the worker was isolated

    @property
    def score(self) -> float:
        """Points earned."""
        return sum(e.points for e in self.exercises)

    @property
    def max_score(self) -> float:
        """Points available."""
        return sum(e.max_points for e in self.exercises)

    def to_json(self) -> dict:
        """The lesson as the CLI's --json prints it."""
        return {
            "lesson": self.lesson,
            "notebook": self.notebook,
            "score": self.score,
            "max_score": self.max_score,
            "exercises": [e.to_json() for e in self.exercises],
        }


_MARKS = {
    Status.PASSED: "PASS",
    Status.FAILED: "FAIL",
    Status.NOT_ATTEMPTED: "TODO",
    Status.ERROR: "ERR ",
    Status.TIMEOUT: "TIME",
}


def _points(value: float) -> str:
    return f"{value:g}"


def scoreboard(results: list[LessonResult]) -> str:
    """A human-readable table of lessons and exercises with their messages."""
    lines = []
    for lesson in results:
        lines.append(f"{lesson.lesson}  ({lesson.notebook})  "
                     f"{_points(lesson.score)}/{_points(lesson.max_score)} points")
        width = max((len(e.name) for e in lesson.exercises), default=0)
        for e in lesson.exercises:
            lines.append(f"  {_MARKS[e.status]}  {e.name:<{width}}  "
                         f"{_points(e.points):>2}/{_points(e.max_points)}")
            for text in e.message.splitlines() if e.status != Status.PASSED else []:
                lines.append(f"        {text}")
        lines.append("")
    total = sum(r.score for r in results)
    max_total = sum(r.max_score for r in results)
    lines.append(f"total: {_points(total)}/{_points(max_total)} points")
    return "\n".join(lines)
