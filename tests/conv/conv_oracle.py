"""Shared oracle comparison for the convolution, pooling and batch-norm tests (imported by name)."""

import numpy as np
from hypothesis import HealthCheck, settings

import bpnn

TOLERANCE = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=1e-4, atol=1e-4)}

# few examples and no deadline keep the directory fast on a loaded two-core machine
FAST = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def compare(torch, bpnn_fn, torch_fn, arrays, dtype, wants_grad=None, seed=7):
    """Run bpnn and PyTorch on the same inputs and upstream gradient; compare outputs and grads."""
    tolerance = TOLERANCE[dtype]
    wants_grad = wants_grad or [True] * len(arrays)
    pairs = list(zip(arrays, wants_grad, strict=True))
    ours = [bpnn.Tensor(a.astype(dtype), requires_grad=g) for a, g in pairs]
    theirs = [torch.tensor(a.astype(dtype), requires_grad=g) for a, g in pairs]
    out = bpnn_fn(*ours)
    reference = torch_fn(*theirs)
    assert out.dtype == np.dtype(dtype)
    assert out.shape == tuple(reference.shape)
    np.testing.assert_allclose(out.numpy(), reference.detach().numpy(), **tolerance)
    upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    out.backward(upstream)
    reference.backward(torch.tensor(upstream))
    for mine, theirs_tensor, wanted in zip(ours, theirs, wants_grad, strict=True):
        if wanted:
            assert mine.grad.dtype == np.dtype(dtype)
            np.testing.assert_allclose(mine.grad, theirs_tensor.grad.numpy(), **tolerance)
    return out
