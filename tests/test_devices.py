from __future__ import annotations

import pytest
import torch

from autograder.devices import DeviceUnavailable, resolve_device
from autograder.grade import grade_solutions
from autograder.results import Status

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU on this machine (CUDA checks run where one is)")


def test_resolve_device_defaults_to_cpu(monkeypatch):
    monkeypatch.delenv("AUTOGRADER_DEVICE", raising=False)
    assert resolve_device(None) == torch.device("cpu")


def test_resolve_device_reads_the_environment(monkeypatch):
    monkeypatch.setenv("AUTOGRADER_DEVICE", "auto")
    assert resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_resolve_device_refuses_an_unknown_name():
    with pytest.raises(ValueError, match="choose one of cpu, cuda, auto"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_resolve_device_cuda_without_a_gpu_says_so():
    with pytest.raises(DeviceUnavailable, match="no GPU is available"):
        resolve_device("cuda")


@pytest.mark.cuda
@needs_cuda
def test_reference_solutions_get_full_marks_on_cuda():
    graded = grade_solutions("01_matmul", "cuda")
    assert [(e.name, e.message) for e in graded.exercises if e.status != Status.PASSED] == []


@pytest.mark.cuda
@needs_cuda
def test_a_result_left_on_the_cpu_fails_on_cuda():
    from autograder.checks.matmul import check_matmul_einsum
    from autograder.results import CheckFailed

    def on_cpu(a, b):
        if a.shape[1] != b.shape[0]:
            raise ValueError(f"{a.shape} vs {b.shape}")
        return torch.einsum("ik,kj->ij", a.cpu(), b.cpu())

    with pytest.raises(CheckFailed, match="device=a.device"):
        check_matmul_einsum(on_cpu, "cuda")
