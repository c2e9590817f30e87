"""``bpnn.summary`` / ``Model.summary`` against torchinfo on PyTorch networks built alike."""

import io

import numpy as np
import pytest

import bpnn
from bpnn import nn


def _mlp():  # examples/fashion_mnist_mlp.py
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def _cnn():  # examples/fashion_mnist_cnn.py, plain_cnn
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))


def _batch_norm_cnn():  # examples/fashion_mnist_cnn.py, batch_norm_cnn, with a dropout
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, bias=False, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 6 * 6, 128, bias=False),
        nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10))


def _to_torch(torch, network):
    """The same architecture in PyTorch, layer by layer."""
    layers = []
    for layer in network:
        if isinstance(layer, nn.Linear):
            layers.append(torch.nn.Linear(layer.in_features, layer.out_features,
                                          bias=layer.bias is not None))
        elif isinstance(layer, nn.Conv2d):
            layers.append(torch.nn.Conv2d(layer.in_channels, layer.out_channels,
                                          layer.kernel_size, stride=layer.stride,
                                          padding=layer.padding, bias=layer.bias is not None))
        elif isinstance(layer, nn.BatchNorm2d):
            layers.append(torch.nn.BatchNorm2d(layer.num_features))
        elif isinstance(layer, nn.BatchNorm1d):
            layers.append(torch.nn.BatchNorm1d(layer.num_features))
        elif isinstance(layer, nn.MaxPool2d):
            layers.append(torch.nn.MaxPool2d(layer.kernel_size))
        elif isinstance(layer, nn.Dropout):
            layers.append(torch.nn.Dropout(layer.p))
        else:
            layers.append(getattr(torch.nn, type(layer).__name__)())
    for mine, theirs in zip(network, layers, strict=True):
        for (_, p), (_, q) in zip(mine.named_parameters(), theirs.named_parameters(),
                                  strict=True):
            q.requires_grad_(p.requires_grad)
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("build, input_shape", [
    (_mlp, (1, 28, 28)), (_cnn, (1, 28, 28)), (_batch_norm_cnn, (1, 28, 28)),
])
@pytest.mark.parametrize("frozen", [False, True])
def test_totals_equal_torchinfo(torch, build, input_shape, frozen):
    torchinfo = pytest.importorskip("torchinfo")
    network = build()
    if frozen:
        first = next(network.named_parameters())[0]
        network.freeze(first.split(".")[0])  # the first layer with parameters
    theirs = torchinfo.summary(_to_torch(torch, network), input_size=(1, *input_shape),
                               verbose=0)
    mine = bpnn.summary(network, input_shape, file=False)
    assert mine.total_params == theirs.total_params == network.count_parameters()
    assert mine.trainable_params == theirs.trainable_params
    assert mine.non_trainable_params == theirs.total_params - theirs.trainable_params
    assert mine.mult_adds == theirs.total_mult_adds
    assert mine.param_bytes == theirs.total_param_bytes
    assert mine.forward_backward_bytes == theirs.total_output_bytes
    leaves = [info for info in theirs.summary_list if info.depth == 1]
    rows = mine.rows[1:]
    assert [r.kind for r in rows] == [info.class_name for info in leaves]
    assert [list(r.output_shape) for r in rows] == [info.output_size for info in leaves]
    assert [r.params for r in rows] == [info.num_params for info in leaves]
    assert [r.mult_adds for r in rows] == [info.macs for info in leaves]


def test_mult_adds_by_hand_for_the_cnn():
    # conv: (9 weights + 1 bias) x 32 channels at 26 x 26 positions; then 18,496 x 11 x 11;
    # dense layers: one multiply-add per weight and bias
    counted = bpnn.summary(_cnn(), (1, 28, 28), file=False).mult_adds
    assert counted == 320 * 26 * 26 + 18_496 * 11 * 11 + 204_928 + 1_290


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 5), nn.Tanh())
        self.scale = nn.Parameter(bpnn.ones(5).data)

    def forward(self, x):
        return self.body(x) * self.scale


def test_nesting_is_shown_and_every_parameter_counted_once(torch):
    network = nn.Sequential(nn.Linear(3, 6), _Block(), nn.Linear(5, 2))
    result = bpnn.summary(network, (3,), file=False)
    assert [(r.name, r.depth) for r in result.rows] == [
        ("", 0), ("0", 1), ("1", 1), ("1.body", 2), ("1.body.0", 3), ("1.body.1", 3),
        ("2", 1)]
    block = result.rows[2]
    assert (block.kind, block.params, block.is_leaf, block.output_shape) == (
        "_Block", 5, False, (1, 5))
    torch_count = (3 * 6 + 6) + (6 * 5 + 5) + 5 + (5 * 2 + 2)
    assert result.total_params == torch_count == network.count_parameters()
    text = str(result)
    assert "    Linear (1.body.0)" in text and "Total params: 76" in text


def test_without_an_input_shape_only_parameters_are_counted():
    result = bpnn.summary(_mlp(), file=False)
    assert result.total_params == 101_770
    assert result.mult_adds is None and all(r.output_shape is None for r in result.rows)
    assert "give an input shape" in str(result)


def test_dry_run_touches_nothing():
    network = _batch_norm_cnn()
    network.train()
    network[0].eval()  # a mixed state must come back as it was
    before = network.state_dict()
    state = bpnn.get_rng_state()
    bpnn.summary(network, (1, 28, 28), file=False)
    drawn = bpnn.rand(4).data
    after = network.state_dict()
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)
    assert [m.training for m in network.modules()] == [
        True, False, *[True] * (len(list(network.modules())) - 2)]
    bpnn.set_rng_state(state)
    np.testing.assert_array_equal(drawn, bpnn.rand(4).data)  # the generator did not move
    assert "forward" not in vars(network[0])


@pytest.mark.parametrize("shape, message", [
    ((0, 28), "positive integers"), ((1.5,), "positive integers"), ((783,), "does not fit"),
])
def test_bad_input_shape_is_named(shape, message):
    with pytest.raises(ValueError, match=message):
        bpnn.summary(_mlp()[1:], shape, file=False)


def test_not_a_module():
    with pytest.raises(TypeError, match="bpnn.nn.Module"):
        bpnn.summary("net")


def test_model_summary_uses_the_shape_fit_saw(blobs):
    x, y = blobs
    model = bpnn.Model(nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)),
                       "cross_entropy")
    model.fit(x, y, epochs=1, verbose=0)
    out = io.StringIO()
    result = model.summary(file=out)
    assert result.input_shape == (4,)
    assert result.mult_adds == 4 * 16 + 16 + 16 * 3 + 3
    assert out.getvalue().strip() == str(result)
    assert "Linear (2)" in out.getvalue() and "[1, 3]" in out.getvalue()
