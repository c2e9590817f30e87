"""Shared fixtures: the PyTorch oracle and a clean global state per test."""

import os

import numpy as np
import pytest

import bpnn


def _import_torch():
    try:
        import torch
    except ImportError:
        if os.environ.get("BPNN_REQUIRE_TORCH") == "1":
            pytest.fail("the PyTorch oracle is required (BPNN_REQUIRE_TORCH=1) but torch is "
                        "missing")
        pytest.skip("PyTorch (the reference oracle) is not installed")
    torch.set_num_threads(1)
    return torch


@pytest.fixture(scope="session")
def torch():
    """The PyTorch module; a skip without it, a failure when BPNN_REQUIRE_TORCH=1 (CI)."""
    return _import_torch()


@pytest.fixture(autouse=True)
def _clean_global_state():
    bpnn.set_default_dtype("float32")
    bpnn.manual_seed(0)
    yield
    bpnn.set_default_dtype("float32")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def blobs():
    """120 samples, 4 features, 3 separable-ish classes (40 each)."""
    rng = np.random.default_rng(7)
    y = np.repeat(np.arange(3), 40)
    centres = rng.normal(scale=3.0, size=(3, 4))
    x = (centres[y] + rng.normal(size=(120, 4))).astype(np.float32)
    order = rng.permutation(120)
    return x[order], y[order]
