"""The class command's pieces that run without nbgrader (the command itself is tested against a real
`nbgrader autograde` in test_nbgrader.py)."""
from __future__ import annotations

import nbformat

from autograder.classgrade import grade_payload
from notebooks import submission

KEY = "03_forward"


def _payload(course, reads) -> dict:
    # relu is right only if the notebook could not read the file
    probe = (f"try:\n    open({str(reads)!r}, 'rb').read(1)\n    _read = True\nexcept Exception:\n    _read = False\n"
             "if _read:\n    def relu(x):\n        return x * 0\n")
    nb = submission(KEY, extra=[probe], lean=True)
    return {"lesson": KEY, "notebook": nbformat.writes(nb).encode(), "label": "s/03_forward", "course": course}


def _relu(result: dict) -> tuple[str, str]:
    return next((e["status"], e["message"]) for e in result["exercises"] if e["name"] == "relu")


def test_a_dask_task_hides_the_course_it_grades_for(tmp_path):
    course = tmp_path / "course"
    (course / "submitted" / "bob" / KEY).mkdir(parents=True)
    other = course / "submitted" / "bob" / KEY / f"{KEY}.ipynb"
    other.write_text("{}")
    (course / "gradebook.db").write_bytes(b"SQLite format 3\0")
    for secret in (course / "gradebook.db", other):
        status, message = _relu(grade_payload(_payload(str(course), secret)))
        assert status == "error" and "the grader's files are off limits" in message and str(secret) in message
    # the same notebook, told of no course, reads the file (the probe works): its relu is wrong
    assert _relu(grade_payload(_payload("", course / "gradebook.db")))[0] == "failed"
