from __future__ import annotations

import torch

from autograder.data import load_mnist


def test_load_mnist_gives_5000_real_digits_500_per_class():
    x, y = load_mnist()
    assert x.shape == (5000, 784) and x.dtype == torch.float32
    assert y.shape == (5000,) and y.dtype == torch.int64
    assert torch.equal(y.bincount(), torch.full((10,), 500))
    assert 0.0 <= float(x.min()) and float(x.max()) == 1.0
    # Real digits: mostly background, about a fifth of the pixels inked.
    assert 0.1 < float((x > 0.5).float().mean()) < 0.3
