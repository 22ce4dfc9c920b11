"""Which device a check runs on: cpu, cuda, or auto (cuda when present)."""
from __future__ import annotations

import os

import torch

DEVICE_ENV = "AUTOGRADER_DEVICE"
CHOICES = ("cpu", "cuda", "auto")


class DeviceUnavailable(RuntimeError):
    """CUDA was asked for on a machine without a usable GPU."""


def resolve_device(spec: str | torch.device | None = None) -> torch.device:
    """Turn 'cpu', 'cuda', 'auto' or None (the AUTOGRADER_DEVICE variable, else cpu) into a device."""
    if isinstance(spec, torch.device):
        spec = spec.type
    spec = (spec or os.environ.get(DEVICE_ENV) or "cpu").lower()
    if spec not in CHOICES:
        raise ValueError(f"unknown device {spec!r}: choose one of {', '.join(CHOICES)}")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable("CUDA was requested but no GPU is available here; use --device cpu or auto")
    return torch.device(spec)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work so that a timer or a comparison sees it finished."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
