"""Optimizer steps flush subnormal floats to zero, and leave the caller's FP environment alone."""

import subprocess
import sys

import numpy as np
import pytest

import bpnn
from bpnn import backend
from bpnn.nn import Parameter

TINY = {np.dtype(np.float32): np.finfo(np.float32).tiny, np.dtype(np.float64): np.finfo(
    np.float64).tiny}

#: 1 / (1 - beta) of each state's running average: Adam's beta1, beta2, RMSprop's alpha=0.9
DECAY_BOUND = {"exp_avg": 10.0, "exp_avg_sq": 1000.0, "square_avg": 10.0}


def _subnormal(array) -> np.ndarray:
    return (array != 0) & (np.abs(array) < TINY[array.dtype])


def _decay_into_subnormals(name, dtype, steps=30):
    """Moments from 1e-37 to 1e-30 (float32) decaying under zero gradients, as dead units do."""
    low, high = (-37, -30) if dtype == np.float32 else (-307, -300)
    params = [Parameter(np.ones(200, dtype)), Parameter(np.ones(56, dtype))]
    extra = {"alpha": 0.9} if name == "RMSprop" else {}
    opt = getattr(bpnn.optim, name)(params, lr=0.01, **extra)
    for p in params:
        p.grad = np.full(p.data.shape, 1e-3, dtype)
    opt.step()
    for p in params:
        state = opt.state[p]
        key = "exp_avg" if "exp_avg" in state else "square_avg"
        state[key][...] = np.logspace(low, high, p.data.size).astype(dtype)
    for _ in range(steps):
        for p in params:
            p.grad = np.zeros(p.data.shape, dtype)
        opt.step()
    return params, opt


def _state_arrays(opt, params):
    return [(key, value) for p in params for key, value in opt.state[p].items()
            if isinstance(value, np.ndarray)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["Adam", "RMSprop"])
@pytest.mark.parametrize("by_cpu", [True, False], ids=["cpu-mode", "explicit-zeroing"])
def test_state_is_flushed_and_equals_the_unflushed_run_to_the_flushed_size(
        monkeypatch, name, dtype, by_cpu):
    if by_cpu and not backend.hardware_flush_available():
        pytest.skip("no flush-to-zero mode reachable on this platform (the other case runs)")
    if not by_cpu:
        monkeypatch.setattr(backend, "_fenv", False)  # as on a platform without fenv
    backend.set_flush_subnormals(False)
    try:
        plain_params, plain = _decay_into_subnormals(name, dtype)
    finally:
        backend.set_flush_subnormals(True)
    params, opt = _decay_into_subnormals(name, dtype)

    plain_states = _state_arrays(plain, plain_params)
    assert any(_subnormal(value).any() for _, value in plain_states)  # the case is real
    for (key, value), (_, expected) in zip(_state_arrays(opt, params), plain_states,
                                           strict=True):
        assert not _subnormal(value).any(), key
        # each step may drop an increment below tiny; an average decaying by beta sums those
        # losses to at most tiny / (1 - beta) (explicit zeroing: at most tiny)
        tolerance = TINY[np.dtype(dtype)] * (DECAY_BOUND[key] if by_cpu else 1.0)
        np.testing.assert_allclose(value, expected, rtol=0, atol=tolerance, err_msg=key)
        # values away from the subnormal range are exactly the unflushed ones
        normal = np.abs(expected) > tolerance
        np.testing.assert_array_equal(value[normal], expected[normal], err_msg=key)
    for p, q in zip(params, plain_params, strict=True):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-6 if dtype == np.float32 else 1e-12)


def test_switched_off_the_state_keeps_its_subnormals_exactly():
    backend.set_flush_subnormals(False)
    try:
        params, opt = _decay_into_subnormals("Adam", np.float32)
    finally:
        backend.set_flush_subnormals(True)
    exp_avg = opt.state[params[0]]["exp_avg"]
    assert _subnormal(exp_avg).any()
    with pytest.raises(TypeError, match="expects True or False"):
        backend.set_flush_subnormals("yes")


def _subnormals_survive() -> bool:
    return bool(np.float32(1e-39) * np.float32(1.0) != 0)


def test_the_callers_floating_point_mode_is_restored_even_after_an_error():
    assert _subnormals_survive()
    params, _ = _decay_into_subnormals("Adam", np.float32, steps=2)
    assert _subnormals_survive()

    class Failing(bpnn.optim.SGD):
        def update(self, data, grad, state, group):
            inside.append(_subnormals_survive())
            raise RuntimeError("boom")

    inside = []
    w = Parameter(np.ones(2, np.float32))
    w.grad = np.ones(2, np.float32)
    with pytest.raises(RuntimeError, match="boom"):
        Failing([w]).step()
    assert inside == [not backend.hardware_flush_available()]
    assert _subnormals_survive()


def test_import_bpnn_changes_nothing_in_the_process():
    code = ("import numpy as np; before = np.float32(1e-39) * np.float32(1.0); import bpnn; "
            "after = np.float32(1e-39) * np.float32(1.0); assert before == after != 0, after")
    subprocess.run([sys.executable, "-c", code], check=True)
