"""conv2d / Conv2d against torch.nn.functional.conv2d, finite differences and bad input."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracle import FAST, compare

import bpnn
import bpnn.functional.conv as conv_module
import bpnn.nn.functional as F
from bpnn import nn


@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 3))
    in_channels = groups * draw(st.integers(1, 3))
    out_channels = groups * draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["int", "pair", "same", "valid"]))
    stride = (1, 1) if padding == "same" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if padding == "int":
        padding = draw(st.integers(0, 2))
    elif padding == "pair":
        padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    pads = (padding, padding) if isinstance(padding, int) else (
        padding if isinstance(padding, tuple) else (0, 0))
    spatial = [max(1, dilation[a] * (kernel[a] - 1) + 1 - 2 * pads[a]) + draw(st.integers(0, 5))
               for a in range(2)]
    batch = draw(st.integers(1, 3))
    return dict(shape=(batch, in_channels, *spatial),
                weight_shape=(out_channels, in_channels // groups, *kernel),
                stride=stride, padding=padding, dilation=dilation, groups=groups,
                bias=draw(st.booleans()), dtype=draw(st.sampled_from(["float32", "float64"])),
                seed=draw(st.integers(0, 2**16)))


@FAST
@given(case=conv_cases())
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_conv2d_matches_torch(torch, case):
    rng = np.random.default_rng(case["seed"])
    arrays = [rng.standard_normal(case["shape"]), rng.standard_normal(case["weight_shape"])]
    if case["bias"]:
        arrays.append(rng.standard_normal(case["weight_shape"][0]))
    options = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}

    def ours(x, w, b=None):
        return F.conv2d(x, w, b, **options)

    def theirs(x, w, b=None):
        return torch.nn.functional.conv2d(x, w, b, **options)

    compare(torch, ours, theirs, arrays, case["dtype"])


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("limit", ["CHUNK_BYTES", "MAX_COLUMN_BYTES"])
def test_chunked_columns_give_the_same_result(torch, monkeypatch, groups, limit):
    # a limit below one sample's column matrix forces one chunk per sample; with
    # MAX_COLUMN_BYTES the backward pass also rebuilds the columns instead of keeping them
    monkeypatch.setattr(conv_module, limit, 64)
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((5, 4, 7, 6)), rng.standard_normal((6, 4 // groups, 3, 2)),
              rng.standard_normal(6)]
    compare(torch, lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, groups=groups),
            lambda x, w, b: torch.nn.functional.conv2d(x, w, b, stride=(2, 1), padding=1,
                                                       groups=groups),
            arrays, "float64")


def test_conv2d_gradcheck():
    rng = np.random.default_rng(0)
    x = bpnn.Tensor(rng.standard_normal((2, 2, 5, 4)), requires_grad=True)
    w = bpnn.Tensor(rng.standard_normal((4, 1, 3, 2)), requires_grad=True)
    b = bpnn.Tensor(rng.standard_normal(4), requires_grad=True)
    assert bpnn.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=(1, 2), padding=(1, 0),
                                                   dilation=(1, 1), groups=2), [x, w, b])
    assert bpnn.gradcheck(lambda x, w: F.conv2d(x, w[:, :1].reshape(4, 1, 3, 2).relu(),
                                                padding="same", dilation=2, groups=2), [x, w])


def test_conv2d_keeps_float32_and_skips_the_input_gradient_when_not_needed():
    conv = nn.Conv2d(1, 4, 3)
    out = conv(bpnn.randn(2, 1, 6, 6))
    assert out.dtype == np.float32 and conv.weight.dtype == np.float32
    out.sum().backward()
    assert conv.weight.grad.dtype == np.float32 and conv.bias.grad.shape == (4,)


def test_conv2d_output_is_nchw_shaped_and_its_values_are_laid_out_as_torch_reads_them(torch):
    conv = nn.Conv2d(3, 5, 3, padding="same", dtype="float64")
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 7))
    out = conv(bpnn.Tensor(x)).numpy()
    reference = torch.nn.functional.conv2d(
        torch.tensor(x), torch.tensor(conv.weight.data), torch.tensor(conv.bias.data),
        padding="same").numpy()
    assert out.shape == (2, 5, 6, 7)
    np.testing.assert_allclose(out, reference, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.ascontiguousarray(out).reshape(2, -1),
                               reference.reshape(2, -1), rtol=1e-10, atol=1e-10)


def test_conv2d_module_initialisation_matches_torch_bounds():
    conv = nn.Conv2d(6, 8, (3, 5), groups=2)
    fan_in = 3 * 3 * 5
    assert conv.weight.shape == (8, 3, 3, 5)
    assert np.abs(conv.weight.data).max() <= 1 / np.sqrt(fan_in)
    assert np.abs(conv.bias.data).max() <= 1 / np.sqrt(fan_in)
    assert conv.weight.data.std() > 0.5 / np.sqrt(3 * fan_in)


def test_conv2d_config_round_trips_through_json():
    conv = nn.Conv2d(4, 6, (3, 2), stride=2, padding=(1, 0), dilation=(2, 1), groups=2,
                     bias=False)
    rebuilt = nn.module_from_config(json.loads(json.dumps(nn.module_to_config(conv))))
    assert isinstance(rebuilt, nn.Conv2d)
    assert rebuilt.get_config() == conv.get_config()
    assert rebuilt.bias is None and rebuilt.weight.shape == conv.weight.shape
    same = nn.module_from_config(nn.module_to_config(nn.Conv2d(1, 2, 3, padding="same")))
    assert same.padding == "same"


def test_wrong_channel_count_names_the_shapes():
    conv = nn.Conv2d(3, 8, 3)
    with pytest.raises(ValueError, match=r"expected input with 3 channels, got 4 .*\(2, 4, 8, 8\)"):
        conv(bpnn.randn(2, 4, 8, 8))
    with pytest.raises(ValueError, match=r"expected input with 4 channels .*groups=2.*got 3"):
        F.conv2d(bpnn.randn(1, 3, 5, 5), bpnn.randn(4, 2, 3, 3), groups=2)


def test_input_smaller_than_the_kernel_names_the_shapes():
    with pytest.raises(ValueError, match=r"\(2, 2\).*smaller than the kernel.*\(5, 5\)"):
        nn.Conv2d(1, 1, 3, dilation=2)(bpnn.randn(1, 1, 2, 2))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        F.conv2d(bpnn.randn(1, 1, 4, 4), bpnn.randn(1, 1, 5, 5), padding=0)


def test_non_4d_input_is_refused():
    with pytest.raises(ValueError, match=r"4-D input \(N, C, H, W\), got shape \(1, 8, 8\)"):
        nn.Conv2d(1, 2, 3)(bpnn.randn(1, 8, 8))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="stride 1"):
        nn.Conv2d(1, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding must be"):
        nn.Conv2d(1, 2, 3, padding="full")
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv2d(1, 2, 0)
    with pytest.raises(TypeError, match="float32 but weight is float64"):
        F.conv2d(bpnn.randn(1, 1, 4, 4), bpnn.randn(1, 1, 3, 3, dtype="float64"))
