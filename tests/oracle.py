"""The PyTorch oracle shared by every op test: one comparison helper, one tolerance table.

Imported by name (``from oracle import compare``): pytest puts ``tests/`` on ``sys.path``
because ``tests/conftest.py`` lives there.
"""

import numpy as np
from hypothesis import HealthCheck, settings

import bpnn

# float32 allows a few ulps of the output's scale; float64 agrees to rounding.
TOLERANCE = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=1e-5, atol=1e-5)}

# few examples and no deadline keep the directory fast on a loaded two-core machine
FAST = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def compare(torch, bpnn_fn, torch_fn, arrays, dtype, wants_grad=None, seed=7):
    """Run bpnn and PyTorch on the same inputs and upstream gradient; compare outputs and grads.

    Parameters
    ----------
    torch : module
        The ``torch`` fixture.
    bpnn_fn, torch_fn : callable
        The op under test and its PyTorch definition, each taking one tensor per array.
    arrays : list of ndarray
        Inputs, cast to ``dtype``.
    dtype : {"float32", "float64"}
    wants_grad : list of bool, optional
        Which inputs need (and get compared) gradients; all by default.
    seed : int, default 7
        Seed of the random upstream gradient.

    Returns
    -------
    bpnn.Tensor
        bpnn's output.
    """
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
