"""pack_arrays / unpack_arrays: nested optimizer and callback state through JSON + tensors."""

import json

import numpy as np
import pytest

import bpnn
from bpnn.io import decode, encode, pack_arrays, unpack_arrays


def test_nested_state_survives_a_file_exactly():
    state = {
        "state": {
            0: {"step": np.int64(7), "exp_avg": np.arange(6.0, dtype=np.float32).reshape(2, 3)},
            1: {"step": 7, "exp_avg": np.zeros((), np.float64)},
        },
        "param_groups": [{"lr": np.float32(0.1).item(), "betas": (0.9, 0.999), "params": [0, 1]}],
        "best": float("inf"),
        "history": {"loss": [np.float32(0.5), 0.25]},
    }
    tree, arrays = pack_arrays(state, "optimizer")
    assert sorted(arrays) == ["optimizer/state/0/exp_avg", "optimizer/state/1/exp_avg"]
    json.dumps(tree)  # nothing left that JSON cannot hold

    def loader(meta, tensors):
        return unpack_arrays(meta["tree"], tensors)

    bpnn.io.register_kind("test_io.State", loader)
    restored = decode(encode("test_io.State", {"tree": tree}, arrays))

    first = restored["state"]["0"]["exp_avg"]
    assert first.dtype == np.float32 and first.shape == (2, 3)
    np.testing.assert_array_equal(first, state["state"][0]["exp_avg"])
    zero_d = restored["state"]["1"]["exp_avg"]
    assert zero_d.shape == () and zero_d.dtype == np.float64
    assert restored["state"]["0"]["step"] == 7
    assert restored["param_groups"][0]["betas"] == [0.9, 0.999]
    assert restored["best"] == float("inf")
    assert restored["history"]["loss"] == [0.5, 0.25]


def test_reference_to_a_missing_tensor_is_an_error():
    with pytest.raises(bpnn.SerializationError, match="missing tensor 'opt/m'"):
        unpack_arrays({"m": {"__ndarray__": "opt/m"}}, {})
