"""The check harness: a failure's replay line runs as pasted and reproduces the failure."""
from __future__ import annotations

import re

import pytest
import torch

from autograder.checks.matmul import check_matmul_loops
from autograder.results import CheckFailed


def test_replay_line_runs_when_pasted_into_a_notebook_and_fails_the_same_way():
    def matmul_loops(a, b):
        return torch.zeros(a.shape[0], b.shape[1], dtype=a.dtype) + a.sum()

    with pytest.raises(CheckFailed) as first:
        check_matmul_loops(matmul_loops)
    line = re.search(r"\[replay these inputs in your notebook: (.*)\]$", str(first.value)).group(1)
    assert line.startswith("from autograder.checks.matmul import check_matmul_loops; ")
    namespace = {"matmul_loops": matmul_loops}
    with pytest.raises(CheckFailed) as again:
        exec(line, namespace)  # what the learner's notebook cell does
    assert str(again.value) == str(first.value)
