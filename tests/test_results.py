from __future__ import annotations

from autograder.results import ExerciseResult, LessonResult, Status, scoreboard


def _lesson():
    return LessonResult("01_matmul", "assignments/01_matmul.ipynb", [
        ExerciseResult("matmul_loops", 3, 3, Status.PASSED),
        ExerciseResult("matmul_einsum", 0, 2, Status.NOT_ATTEMPTED, "matmul_einsum is not attempted yet."),
    ])


def test_lesson_result_json_has_exactly_the_documented_keys():
    data = _lesson().to_json()
    assert list(data) == ["lesson", "notebook", "score", "max_score", "exercises"]
    assert data["score"] == 3 and data["max_score"] == 5
    assert data["exercises"][1] == {"name": "matmul_einsum", "points": 0, "max_points": 2,
                                    "status": "not_attempted", "message": "matmul_einsum is not attempted yet."}


def test_scoreboard_shows_points_and_the_messages_of_what_did_not_pass():
    text = scoreboard([_lesson()])
    assert "01_matmul  (assignments/01_matmul.ipynb)  3/5 points" in text
    assert "TODO  matmul_einsum" in text and "not attempted yet" in text
    assert text.endswith("total: 3/5 points")
