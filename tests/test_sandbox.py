"""The worker's process settings (the isolation itself is exercised by the hostile corpus)."""
from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# Page faults of the last rounds of 12 that each allocate and free two 8 MB tensors, in a fresh
# interpreter (a forked test process inherits a heap that earlier tests shaped).
ROUNDS = """
import resource, sys, torch
from autograder.sandbox import keep_freed_memory
if sys.argv[1] == "tuned":
    keep_freed_memory()
counts = []
for _ in range(12):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a, b = torch.ones(2 << 20), torch.ones(2 << 20)
    del a, b
    counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(max(counts[-4:]))
"""


def _faults_in_steady_state(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", ROUNDS, mode], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's settings are glibc's")
def test_a_worker_reuses_the_memory_a_notebook_frees() -> None:
    # By default glibc hands the freed heap back to the kernel, and the next tensors' 4,096 pages
    # fault in again; a worker keeps it.
    assert _faults_in_steady_state("default") > 2000
    assert _faults_in_steady_state("tuned") < 200
