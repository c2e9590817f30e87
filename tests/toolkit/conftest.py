"""Small data sets and networks for fast fit tests."""

import numpy as np
import pytest


@pytest.fixture
def blobs():
    """120 samples, 4 features, 3 separable-ish classes (40 each)."""
    rng = np.random.default_rng(7)
    y = np.repeat(np.arange(3), 40)
    centres = rng.normal(scale=3.0, size=(3, 4))
    x = (centres[y] + rng.normal(size=(120, 4))).astype(np.float32)
    order = rng.permutation(120)
    return x[order], y[order]
