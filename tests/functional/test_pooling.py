"""Max, average and adaptive pooling against PyTorch: overlapping windows, ties, bad input."""

import json

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from oracle import FAST, compare

import bpnn
import bpnn.nn.functional as F
from bpnn import nn


@st.composite
def pool_cases(draw, dilation: bool):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    window = [dil[a] * (kernel[a] - 1) + 1 for a in range(2)]
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    spatial = [max(1, window[a] - 2 * padding[a]) + draw(st.integers(0, 6)) for a in range(2)]
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 4)), *spatial)
    return dict(shape=shape, kernel=kernel, stride=stride, padding=padding, dilation=dil,
                dtype=draw(st.sampled_from(["float32", "float64"])),
                ties=draw(st.booleans()), seed=draw(st.integers(0, 2**16)))


def _every_window_touches_the_input(case) -> bool:
    for axis in range(2):
        size, pad = case["shape"][2 + axis], case["padding"][axis]
        kernel, stride = case["kernel"][axis], case["stride"][axis]
        dilation = case["dilation"][axis]
        count = (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
        for out in range(count):
            if not any(pad <= out * stride + j * dilation < pad + size for j in range(kernel)):
                return False
    return True


def _input(case):
    rng = np.random.default_rng(case["seed"])
    if case["ties"]:  # few distinct values: many windows hold their maximum twice
        return rng.integers(0, 3, case["shape"]).astype(np.float64)
    return rng.standard_normal(case["shape"])


@FAST
@given(case=pool_cases(dilation=True))
def test_max_pool2d_matches_torch(torch, case):
    # a dilated window can fall wholly in the padding: see the test below for that case
    assume(_every_window_touches_the_input(case))
    options = dict(kernel_size=case["kernel"], stride=case["stride"], padding=case["padding"],
                   dilation=case["dilation"])
    compare(torch, lambda x: F.max_pool2d(x, **options),
            lambda x: torch.nn.functional.max_pool2d(x, **options), [_input(case)], case["dtype"])


@FAST
@given(case=pool_cases(dilation=False), count_include_pad=st.booleans())
def test_avg_pool2d_matches_torch(torch, case, count_include_pad):
    options = dict(kernel_size=case["kernel"], stride=case["stride"], padding=case["padding"],
                   count_include_pad=count_include_pad)
    compare(torch, lambda x: F.avg_pool2d(x, **options),
            lambda x: torch.nn.functional.avg_pool2d(x, **options), [_input(case)], case["dtype"])


def test_avg_pool2d_divisor_override(torch):
    x = np.random.default_rng(2).standard_normal((2, 3, 7, 6))
    compare(torch, lambda t: F.avg_pool2d(t, 3, 2, 1, divisor_override=4),
            lambda t: torch.nn.functional.avg_pool2d(t, 3, 2, 1, divisor_override=4),
            [x], "float64")


def test_a_window_wholly_in_the_padding_gives_minus_infinity_and_no_gradient(torch):
    values = np.array([[[[0.3], [0.5]]]])
    options = dict(kernel_size=2, stride=1, padding=(0, 1), dilation=(1, 2))
    x = bpnn.Tensor(values, requires_grad=True)
    out = F.max_pool2d(x, **options)
    reference = torch.nn.functional.max_pool2d(torch.tensor(values), **options)
    np.testing.assert_array_equal(out.numpy(), reference.numpy())  # -inf, as in PyTorch
    out.backward(np.ones(out.shape))
    # PyTorch sends this gradient to an input element outside the window; bpnn sends none
    np.testing.assert_array_equal(x.grad, np.zeros_like(values))


def test_overlapping_max_pool_sums_gradients_of_shared_winners():
    # one large value inside all four 2x2 windows of a 3x3 input (stride 1): it wins them all
    x = bpnn.Tensor(np.array([[[[0.0, 1.0, 0.0], [2.0, 9.0, 3.0], [0.0, 4.0, 0.0]]]]),
                    requires_grad=True)
    out = F.max_pool2d(x, 2, stride=1)
    np.testing.assert_array_equal(out.numpy(), np.full((1, 1, 2, 2), 9.0))
    out.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 1, 1] = 10.0
    np.testing.assert_array_equal(x.grad, expected)


def test_max_pool_tie_sends_the_gradient_to_the_first_maximum_only(torch):
    values = np.array([[[[5.0, 5.0, 1.0, 7.0], [5.0, 5.0, 7.0, 7.0]]]])
    x = bpnn.Tensor(values, requires_grad=True)
    F.max_pool2d(x, 2).backward(np.array([[[[1.0, 1.0]]]]))
    expected = np.array([[[[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]]]])
    np.testing.assert_array_equal(x.grad, expected)
    reference = torch.tensor(values, requires_grad=True)
    torch.nn.functional.max_pool2d(reference, 2).sum().backward()
    np.testing.assert_array_equal(x.grad, reference.grad.numpy())


def test_overlapping_windows_with_ties_match_torch(torch):
    x = np.zeros((1, 2, 5, 5))
    x[0, 0, 1:4, 1:4] = 1.0  # a plateau: every overlapping window ties
    compare(torch, lambda t: F.max_pool2d(t, 3, stride=1, padding=1),
            lambda t: torch.nn.functional.max_pool2d(t, 3, stride=1, padding=1), [x], "float64")


def test_pooling_of_a_convolution_output_matches_torch(torch):
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((3, 2, 9, 9)), rng.standard_normal((4, 2, 3, 3))
    compare(torch, lambda t, k: F.avg_pool2d(F.max_pool2d(F.conv2d(t, k), 2), 2, 1),
            lambda t, k: torch.nn.functional.avg_pool2d(
                torch.nn.functional.max_pool2d(torch.nn.functional.conv2d(t, k), 2), 2, 1),
            [x, w], "float64")


@pytest.mark.parametrize("output_size", [1, (2, 3), (3, 2), (5, None), (4, 4)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adaptive_avg_pool2d_matches_torch(torch, output_size, dtype):
    x = np.random.default_rng(5).standard_normal((2, 3, 7, 8))
    compare(torch, lambda t: F.adaptive_avg_pool2d(t, output_size),
            lambda t: torch.nn.functional.adaptive_avg_pool2d(t, output_size), [x], dtype)


def test_pooling_gradcheck():
    rng = np.random.default_rng(6)
    x = bpnn.Tensor(rng.standard_normal((2, 2, 5, 4)), requires_grad=True)
    assert bpnn.gradcheck(lambda t: F.max_pool2d(t, (3, 2), stride=(1, 2), padding=1), [x])
    assert bpnn.gradcheck(lambda t: F.avg_pool2d(t, 3, 2, 1, count_include_pad=False), [x])
    assert bpnn.gradcheck(lambda t: F.adaptive_avg_pool2d(t, (3, 3)), [x])


def test_pooling_layers_and_configs():
    x = bpnn.randn(2, 3, 8, 8)
    for layer, shape in [(nn.MaxPool2d(2), (2, 3, 4, 4)),
                         (nn.MaxPool2d(3, stride=1, padding=1), (2, 3, 8, 8)),
                         (nn.AvgPool2d(3, 2, 1, count_include_pad=False), (2, 3, 4, 4)),
                         (nn.AdaptiveAvgPool2d(1), (2, 3, 1, 1)),
                         (nn.AdaptiveAvgPool2d((2, None)), (2, 3, 2, 8))]:
        out = layer(x)
        assert out.shape == shape and out.dtype == np.float32
        rebuilt = nn.module_from_config(json.loads(json.dumps(nn.module_to_config(layer))))
        np.testing.assert_array_equal(rebuilt(x).numpy(), out.numpy())


def test_pooling_bad_input_names_the_shapes():
    with pytest.raises(ValueError, match=r"4-D input \(N, C, H, W\), got shape \(3, 8\)"):
        F.max_pool2d(bpnn.randn(3, 8), 2)
    with pytest.raises(ValueError, match=r"\(2, 2\).*smaller than the kernel.*\(3, 3\)"):
        nn.MaxPool2d(3)(bpnn.randn(1, 1, 2, 2))
    with pytest.raises(ValueError, match="at most half"):
        nn.AvgPool2d(2, padding=2)(bpnn.randn(1, 1, 6, 6))
    with pytest.raises(ValueError, match="output_size"):
        F.adaptive_avg_pool2d(bpnn.randn(1, 1, 4, 4), 0)


@pytest.mark.parametrize("kernel, stride, padding, dilation", [
    (2, 2, 0, 1), (3, 2, 1, 1), (3, 1, 0, 1), (2, 1, 1, 2)])
def test_sequential_pools_before_relu_with_identical_values_and_gradients(
        torch, kernel, stride, padding, dilation):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 2, 9, 9))
    x[0, 0, :4, :4] = 0.0  # ties at zero and windows whose maximum is 0 or negative
    x[1, 1] = -np.abs(x[1, 1])
    weight = rng.standard_normal((4, 2, 1, 1))
    layers = [nn.ReLU(), nn.MaxPool2d(kernel, stride, padding, dilation)]
    net = nn.Sequential(nn.Conv2d(2, 4, 1, bias=False), *layers).double()
    net[0].weight.data[...] = weight
    upstream = rng.standard_normal(net(bpnn.Tensor(x)).shape)

    def run(forward):
        inputs = bpnn.Tensor(x, requires_grad=True)
        net.zero_grad()
        out = forward(inputs)
        out.backward(upstream)
        return out, inputs.grad.copy(), net[0].weight.grad.copy()

    chained = run(net)
    one_by_one = run(lambda t: layers[1](layers[0](net[0](t))))
    fused = dilation == 1  # a dilated window can lie wholly in the padding: not reordered
    assert type(chained[0]._ctx).__name__ == ("_ReLU" if fused else "_MaxPool2d")
    for ours, reference in zip(chained, one_by_one, strict=True):
        np.testing.assert_array_equal(np.asarray(getattr(ours, "data", ours)),
                                      np.asarray(getattr(reference, "data", reference)))
    # and both equal PyTorch's relu -> max_pool2d
    x_t = torch.tensor(x, requires_grad=True)
    w_t = torch.tensor(weight, requires_grad=True)
    out_t = torch.nn.functional.max_pool2d(
        torch.relu(torch.nn.functional.conv2d(x_t, w_t)), kernel, stride, padding, dilation)
    out_t.backward(torch.tensor(upstream))
    np.testing.assert_allclose(chained[0].numpy(), out_t.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(chained[1], x_t.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(chained[2], w_t.grad.numpy(), rtol=1e-12, atol=1e-12)
