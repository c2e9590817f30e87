"""batch_norm, BatchNorm1d, BatchNorm2d against PyTorch: outputs, gradients, running stats."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracle import FAST, TOLERANCE, compare

import bpnn
import bpnn.nn.functional as F
from bpnn import nn


@FAST
@given(shape=st.sampled_from([(6, 3), (4, 3, 5), (3, 3, 4, 5), (2, 3, 1, 1), (5, 3, 2, 3)]),
       training=st.booleans(), affine=st.booleans(), momentum=st.floats(0.0, 1.0),
       dtype=st.sampled_from(["float32", "float64"]), seed=st.integers(0, 2**16))
def test_batch_norm_matches_torch(torch, shape, training, affine, momentum, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 3 + 1
    mean, var = rng.standard_normal(3), rng.random(3) + 0.5
    ours_stats = [mean.astype(dtype), var.astype(dtype)]
    theirs_stats = [torch.tensor(mean.astype(dtype)), torch.tensor(var.astype(dtype))]
    arrays = [x] + ([rng.standard_normal(3), rng.standard_normal(3)] if affine else [])

    def ours(t, w=None, b=None):
        return F.batch_norm(t, *ours_stats, w, b, training, momentum, 1e-5)

    def theirs(t, w=None, b=None):
        return torch.nn.functional.batch_norm(t, *theirs_stats, w, b, training, momentum, 1e-5)

    compare(torch, ours, theirs, arrays, dtype)
    for mine, reference in zip(ours_stats, theirs_stats, strict=True):
        np.testing.assert_allclose(mine, reference.numpy(), **TOLERANCE[dtype])


def test_batch_norm_without_running_statistics_and_bias_only(torch):
    x = np.random.default_rng(1).standard_normal((4, 2, 3, 3))
    bias = np.array([0.5, -1.0])
    compare(torch, lambda t, b: F.batch_norm(t, None, None, None, b, training=True),
            lambda t, b: torch.nn.functional.batch_norm(t, None, None, None, b, training=True),
            [x, bias], "float64")


@pytest.mark.parametrize("layer_shape", [("BatchNorm2d", (8, 4, 5, 5)), ("BatchNorm1d", (8, 4)),
                                         ("BatchNorm1d", (8, 4, 6))])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_running_statistics_follow_torch_over_training_steps(torch, layer_shape, momentum):
    name, shape = layer_shape
    ours = getattr(nn, name)(4, momentum=momentum, dtype="float64")
    theirs = getattr(torch.nn, name)(4, momentum=momentum, dtype=torch.float64)
    rng = np.random.default_rng(2)
    for step in range(5):
        x = rng.standard_normal(shape) * (step + 1) + step
        upstream = rng.standard_normal(shape)
        ours.zero_grad()
        ours(bpnn.Tensor(x)).backward(upstream)
        theirs.zero_grad()
        theirs(torch.tensor(x)).backward(torch.tensor(upstream))
        ours.weight.data -= 0.1 * ours.weight.grad  # move the affine part as an optimizer would
        ours.bias.data -= 0.1 * ours.bias.grad
        with torch.no_grad():
            theirs.weight -= 0.1 * theirs.weight.grad
            theirs.bias -= 0.1 * theirs.bias.grad
    state = ours.state_dict()
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(state[key], value.numpy(), rtol=1e-10, atol=1e-10)
    assert int(state["num_batches_tracked"]) == 5
    # evaluation uses the running statistics, not the batch's
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape)
    out = ours(bpnn.Tensor(x)).numpy()
    np.testing.assert_allclose(out, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10,
                               atol=1e-10)
    expected_first = (x[:, 0] - state["running_mean"][0]) / np.sqrt(
        state["running_var"][0] + 1e-5) * state["weight"][0] + state["bias"][0]
    np.testing.assert_allclose(out[:, 0], expected_first, rtol=1e-10)


def test_eval_mode_gradients_match_torch(torch):
    layer = nn.BatchNorm2d(3, dtype="float64")
    layer.running_mean[...] = [0.5, -0.5, 1.0]
    layer.running_var[...] = [2.0, 0.5, 1.5]
    reference = torch.nn.BatchNorm2d(3, dtype=torch.float64)
    reference.load_state_dict({k: torch.tensor(v) for k, v in layer.state_dict().items()})
    layer.eval()
    reference.eval()
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 4))
    compare(torch, layer, reference, [x], "float64")
    assert int(layer.num_batches_tracked) == 0


def test_batch_norm_after_a_convolution_matches_torch(torch):
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((4, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3))
    compare(torch, lambda t, k: F.batch_norm(F.conv2d(t, k), None, None, training=True),
            lambda t, k: torch.nn.functional.batch_norm(torch.nn.functional.conv2d(t, k), None,
                                                        None, training=True),
            [x, w], "float32")


def test_batch_norm_gradcheck():
    rng = np.random.default_rng(5)
    x = bpnn.Tensor(rng.standard_normal((3, 2, 2, 3)), requires_grad=True)
    w = bpnn.Tensor(rng.random(2) + 0.5, requires_grad=True)
    b = bpnn.Tensor(rng.standard_normal(2), requires_grad=True)
    assert bpnn.gradcheck(lambda t, w, b: F.batch_norm(t, None, None, w, b, training=True),
                          [x, w, b])


def test_state_dict_round_trip_and_config():
    layer = nn.BatchNorm2d(3, eps=1e-3, momentum=None, affine=False)
    layer(bpnn.randn(4, 3, 2, 2))
    assert set(layer.state_dict()) == {"running_mean", "running_var", "num_batches_tracked"}
    rebuilt = nn.module_from_config(json.loads(json.dumps(nn.module_to_config(layer))))
    rebuilt.load_state_dict(layer.state_dict())
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(rebuilt.state_dict()[key], value)
    assert rebuilt.get_config() == layer.get_config()


def test_without_running_statistics_eval_uses_the_batch():
    layer = nn.BatchNorm1d(2, track_running_stats=False).eval()
    out = layer(bpnn.Tensor(np.array([[1.0, 2.0], [3.0, 6.0]], dtype=np.float32))).numpy()
    np.testing.assert_allclose(out, [[-1.0, -1.0], [1.0, 1.0]], atol=1e-3)


def test_batch_norm_bad_input_names_the_shapes():
    with pytest.raises(ValueError, match=r"expected input with 3 channels, got 4 .*\(2, 4, 5, 5\)"):
        nn.BatchNorm2d(3)(bpnn.randn(2, 4, 5, 5))
    with pytest.raises(ValueError, match=r"4-D \(N, C, H, W\) input, got shape \(2, 3\)"):
        nn.BatchNorm2d(3)(bpnn.randn(2, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(bpnn.randn(1, 3))
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm1d(3, momentum=1.5)
