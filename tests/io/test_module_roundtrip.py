"""bpnn.save / bpnn.load of modules: every registered layer, both dtypes, exact predictions."""

import importlib

import numpy as np
import pytest

import bpnn
from bpnn import nn
from bpnn.nn.loss import Loss

# Constructor and input shape for layers that need arguments or a particular input; a layer
# missing here is built with no arguments on a (5, 6) input, so a new layer is never skipped:
# it passes, or fails asking to be added here.
LAYER_EXAMPLES = {
    "Linear": (lambda: nn.Linear(6, 4), (5, 6)),
    "Dropout2d": (lambda: nn.Dropout2d(0.3), (2, 3, 4, 4)),
    "Flatten": (lambda: nn.Flatten(), (2, 3, 4)),
    "Conv2d": (lambda: nn.Conv2d(2, 4, 3, stride=2, padding=1, groups=2), (2, 2, 7, 7)),
    "MaxPool2d": (lambda: nn.MaxPool2d(3, stride=2, padding=1), (2, 3, 6, 6)),
    "AvgPool2d": (lambda: nn.AvgPool2d(2, count_include_pad=False, padding=1), (2, 3, 6, 6)),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 7, 8)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(6, momentum=0.3), (8, 6)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3, eps=1e-3), (4, 3, 5, 5)),
}
# Containers have no forward of their own on a plain input (ModuleList) or only chain others
# (Sequential); both are covered by test_containers_keep_order_and_nesting below.
CONTAINERS = {"Sequential", "ModuleList"}
# Losses take (input, target): regression pairs unless listed here.
LOSS_TARGETS = {
    "CrossEntropyLoss": "classes", "NLLLoss": "log_probs", "BCELoss": "probabilities",
    "BCEWithLogitsLoss": "binary",
}
LOSS_EXAMPLES = {
    "CrossEntropyLoss": lambda: nn.CrossEntropyLoss(weight=[1.0, 2.0, 0.5], label_smoothing=0.1),
    "NLLLoss": lambda: nn.NLLLoss(weight=[0.5, 1.0, 2.0]),
    "BCELoss": lambda: nn.BCELoss(reduction="sum"),
    "BCEWithLogitsLoss": lambda: nn.BCEWithLogitsLoss(pos_weight=[2.0, 1.0, 0.5]),
    "HuberLoss": lambda: nn.HuberLoss(delta=0.5),
}


def _registered(kind):
    names = []
    for name, cls in sorted(nn.registered_layers().items()):
        is_loss = issubclass(cls, Loss)
        if name in CONTAINERS:
            continue
        if (kind == "loss") == is_loss:
            names.append(name)
    return names


def _save_load(obj, tmp_path, name="model.bpnn"):
    path = tmp_path / name
    bpnn.save(obj, path)
    return bpnn.load(path)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", _registered("layer"))
def test_every_layer_round_trips_exactly(name, dtype, tmp_path, rng):
    bpnn.set_default_dtype(dtype)
    build, shape = LAYER_EXAMPLES.get(name, (nn.registered_layers()[name], (5, 6)))
    try:
        layer = build()
    except TypeError as error:
        pytest.fail(f"{name}() needs arguments: add it to LAYER_EXAMPLES ({error})")
    x = bpnn.tensor(rng.standard_normal(shape).astype(dtype))
    with bpnn.no_grad():
        layer(x)  # training-mode pass: batch norm's running statistics move off their start
    for parameter in layer.parameters():  # weights unlike any fresh initialisation
        parameter.data[...] = rng.standard_normal(parameter.shape).astype(dtype)
    layer.eval()
    with bpnn.no_grad():
        expected = layer(x).numpy()

    loaded = _save_load(layer, tmp_path)

    assert type(loaded) is type(layer)
    assert loaded.training is False
    assert loaded.get_config() == layer.get_config()
    with bpnn.no_grad():
        got = loaded(x).numpy()
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, expected)
    saved_state, loaded_state = layer.state_dict(), loaded.state_dict()
    assert list(loaded_state) == list(saved_state)
    for key, value in saved_state.items():
        assert loaded_state[key].dtype == value.dtype, key
        np.testing.assert_array_equal(loaded_state[key], value)


def _loss_inputs(name, rng, dtype):
    kind = LOSS_TARGETS.get(name, "regression")
    logits = rng.standard_normal((6, 3)).astype(dtype)
    if kind == "classes":
        return logits, rng.integers(0, 3, 6)
    if kind == "log_probs":
        log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        return log_probs, rng.integers(0, 3, 6)
    if kind == "probabilities":
        return 1 / (1 + np.exp(-logits)), rng.integers(0, 2, (6, 3)).astype(dtype)
    if kind == "binary":
        return logits, rng.integers(0, 2, (6, 3)).astype(dtype)
    return logits, rng.standard_normal((6, 3)).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", _registered("loss"))
def test_every_loss_round_trips_exactly(name, dtype, tmp_path, rng):
    bpnn.set_default_dtype(dtype)
    loss = LOSS_EXAMPLES.get(name, nn.registered_layers()[name])()
    prediction, target = _loss_inputs(name, rng, dtype)
    expected = loss(bpnn.tensor(prediction), bpnn.tensor(target)).numpy()

    loaded = _save_load(loss, tmp_path)

    assert type(loaded) is type(loss)
    assert loaded.get_config() == loss.get_config()
    got = loaded(bpnn.tensor(prediction), bpnn.tensor(target)).numpy()
    assert got.dtype == expected.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, expected)


def test_containers_keep_order_and_nesting(tmp_path, rng):
    # 12 children: a JSON writer that sorted keys would put "10" before "2".
    blocks = [nn.Linear(5, 5) if i % 2 == 0 else nn.Tanh() for i in range(12)]
    net = nn.Sequential(nn.Sequential(*blocks), nn.Dropout(0.2), nn.Linear(5, 2))
    heads = nn.ModuleList([nn.Linear(2, 3), nn.Linear(2, 1)])
    x = bpnn.tensor(rng.standard_normal((4, 5)).astype("float32"))
    net.eval()

    loaded_net = _save_load(net, tmp_path, "net.bpnn")
    loaded_heads = _save_load(heads, tmp_path, "heads.bpnn")

    assert repr(loaded_net) == repr(net)
    np.testing.assert_array_equal(loaded_net(x).numpy(), net(x).numpy())
    assert isinstance(loaded_heads, nn.ModuleList) and len(loaded_heads) == 2
    for mine, theirs in zip(loaded_heads, heads, strict=True):
        np.testing.assert_array_equal(mine.weight.numpy(), theirs.weight.numpy())


def test_frozen_parameters_and_regularizers_survive(tmp_path):
    net = nn.Sequential(nn.Linear(3, 4, weight_regularizer=bpnn.regularizers.l2(1e-3)),
                        nn.ReLU(), nn.Linear(4, 2))
    net.freeze("0")
    loaded = _save_load(net, tmp_path)
    assert [p.requires_grad for p in loaded.parameters()] == [False, False, True, True]
    assert loaded[0].weight_regularizer.l2 == pytest.approx(1e-3)
    np.testing.assert_array_equal(loaded.regularization_loss().numpy(),
                                  net.regularization_loss().numpy())


def test_loading_does_not_move_the_global_generator(tmp_path):
    path = tmp_path / "net.bpnn"
    bpnn.save(nn.Sequential(nn.Linear(50, 50), nn.Linear(50, 3)), path)
    bpnn.manual_seed(3)
    undisturbed = bpnn.rand(4).numpy()
    bpnn.manual_seed(3)
    bpnn.load(path)  # builds two Linear layers, whose initialisation draws random numbers
    np.testing.assert_array_equal(bpnn.rand(4).numpy(), undisturbed)


def test_user_defined_layer_registers_and_round_trips(tmp_path):
    @nn.register_layer(name="test_io.Scale")
    class Scale(nn.Module):
        def __init__(self, features=3, factor=2.0):
            super().__init__()
            self.factor = factor
            self.gain = nn.Parameter(np.full(features, factor, dtype="float32"))

        def forward(self, x):
            return x * self.gain

        def get_config(self):
            return {"features": int(self.gain.shape[0]), "factor": self.factor}

    net = nn.Sequential(nn.Linear(2, 3), Scale(3, 1.5))
    net[1].gain.data[...] = [1.0, -2.0, 0.25]
    loaded = _save_load(net, tmp_path)
    assert isinstance(loaded[1], Scale) and loaded[1].factor == 1.5
    np.testing.assert_array_equal(loaded[1].gain.numpy(), [1.0, -2.0, 0.25])


def test_file_is_standard_safetensors(tmp_path, parse_file):
    safetensors_numpy = importlib.import_module("safetensors.numpy")
    net = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 2))
    path = tmp_path / "net.safetensors"
    bpnn.save(net, path)
    # Any safetensors reader sees the weights under the state_dict names.
    read_by_library = safetensors_numpy.load_file(str(path))
    assert set(read_by_library) == set(net.state_dict())
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(read_by_library[key], value)
    metadata, meta, _ = parse_file(path)
    assert metadata["kind"] == "Module" and metadata["format_version"] == "1"
    assert meta["architecture"]["class"] == "Sequential"
    assert bpnn.io.read_metadata(path)["tensors"]["0.weight"] == ("float32", (4, 3))


def test_save_refuses_unregistered_layers_and_other_objects(tmp_path):
    class Unregistered(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(bpnn.SerializationError, match="Unregistered is not a registered layer"):
        bpnn.save(nn.Sequential(nn.Linear(2, 2), Unregistered()), tmp_path / "x.bpnn")
    with pytest.raises(bpnn.SerializationError, match="cannot save a dict"):
        bpnn.save({"weights": np.zeros(3)}, tmp_path / "y.bpnn")
    assert list(tmp_path.iterdir()) == []
