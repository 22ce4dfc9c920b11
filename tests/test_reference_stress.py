"""The references keep full marks through the isolated worker, run after run, with a core kept busy
(`pytest -m stress tests/test_reference_stress.py`; AUTOGRADER_STRESS_RUNS sets the runs, default 100)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from autograder.grade import solutions_job
from autograder.lessons import LESSONS
from autograder.supervisor import Supervisor

pytestmark = pytest.mark.stress
RUNS = int(os.environ.get("AUTOGRADER_STRESS_RUNS", "100"))


@pytest.fixture
def busy_core():
    """Another process spinning on one core for the duration of the test."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield
    spinner.kill()
    spinner.wait()


@pytest.mark.parametrize("key", list(LESSONS))
def test_reference_gets_full_marks_in_every_loaded_run(key, busy_core):
    start = time.perf_counter()
    results = [r for _, r in Supervisor().grade(solutions_job(key, "cpu", i) for i in range(RUNS))]
    failures = [(e.name, e.message[:300]) for r in results for e in r.exercises if e.points != e.max_points]
    seconds = (time.perf_counter() - start) / RUNS
    print(f"{key}: {RUNS} runs, {len(failures)} false failures, {seconds:.2f} s per run")
    assert len(results) == RUNS and not failures
