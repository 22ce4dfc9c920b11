"""The supervisor: what it needs from the process it runs in, and the loaders it leaves behind."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from autograder import supervisor
from autograder.grade import solutions_job
from autograder.supervisor import Supervisor, reap_loaders

ROOT = Path(__file__).resolve().parent.parent

# Grading from a process that imported nothing of the grader but the supervisor (as a Dask worker
# does): the exercise processes' own imports must not look like a tamper (the package's dict changes
# when a submodule is first imported).
ONLY_THE_SUPERVISOR = """
import sys
from autograder.lessons import lesson_for
from autograder.supervisor import Job, grade_one
assert "autograder.grade" not in sys.modules, "this test needs a process that has not imported it"
lesson = lesson_for("00_primer")
result = grade_one(Job(lesson, None, "reference"))
print(result.score, result.max_score, [e.message for e in result.exercises if e.message][:1])
"""


def test_a_process_that_imported_only_the_supervisor_grades_the_reference_in_full() -> None:
    out = subprocess.run([sys.executable, "-c", ONLY_THE_SUPERVISOR], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    score, max_score, *_ = out.stdout.split()
    assert score == max_score == "10", out.stdout


def _zombie_children() -> list[int]:
    found = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as f:
            for pid in f.read().split():
                try:
                    with open(f"/proc/{pid}/stat") as stat:
                        state = stat.read().rsplit(")", 1)[1].split()[0]
                except FileNotFoundError:  # reaped since it was listed
                    continue
                if state == "Z":
                    found.append(int(pid))
    return found


def test_loaders_that_reported_are_reaped_without_being_waited_for() -> None:
    grader = Supervisor(workers=2)
    for _ in range(2):
        results = [r for _, r in grader.grade(solutions_job("00_primer", "cpu", i) for i in range(4))]
        assert [r.score for r in results] == [10] * 4
        # Each grade() collects the loaders that have exited; only those still exiting are left.
        assert len(supervisor._ENDED_LOADERS) <= 2
    reap_loaders(block=True)
    assert supervisor._ENDED_LOADERS == []
    assert _zombie_children() == []
