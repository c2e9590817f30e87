"""Every exportable layer, and the examples' networks, give onnxruntime's output = bpnn's."""

import importlib.util
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

import bpnn
import bpnn.onnx
from bpnn import nn

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-5


def run_onnx(model, x):
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def bpnn_eval(network, x):
    network.eval()
    with bpnn.no_grad():
        return network(bpnn.Tensor(x)).data


def randomise_statistics(network, rng):
    """Running statistics and affine weights away from their 1 / 0 starting values."""
    for module in network.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if module.running_mean is not None:
                module.running_mean[...] = rng.normal(0, 0.5, module.num_features)
                module.running_var[...] = rng.uniform(0.5, 2.0, module.num_features)
            if module.weight is not None:
                module.weight.data[...] = rng.uniform(0.5, 1.5, module.num_features)
                module.bias.data[...] = rng.normal(0, 0.3, module.num_features)
    return network


def assert_matches(network, input_shape, rng, expected_ops=None, scale=1.0):
    model = bpnn.onnx.to_onnx(network, input_shape)
    ops = [node.op_type for node in model.graph.node]
    if expected_ops is not None:
        assert ops == expected_ops
    for batch in (1, 7):
        x = (scale * rng.standard_normal((batch, *input_shape))).astype(np.float32)
        expected = bpnn_eval(network, x)
        got = run_onnx(model, x)
        assert got.dtype == np.float32 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOLERANCE)
        assert np.abs(expected).max() > 1e-3  # not a comparison of zeros
    return model


LAYERS = {
    "linear": (lambda: nn.Linear(6, 4), (6,), ["Gemm"]),
    "linear_no_bias": (lambda: nn.Linear(6, 4, bias=False), (6,), ["Gemm"]),
    "linear_3d": (lambda: nn.Linear(6, 4), (5, 6), ["MatMul", "Add"]),
    "linear_3d_no_bias": (lambda: nn.Linear(6, 4, bias=False), (5, 6), ["MatMul"]),
    "conv": (lambda: nn.Conv2d(3, 4, 3), (3, 8, 8), ["Conv"]),
    "conv_stride_padding": (lambda: nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 2)),
                            (3, 9, 8), ["Conv"]),
    "conv_same_even_kernel": (lambda: nn.Conv2d(2, 3, (4, 2), padding="same"), (2, 9, 9),
                              ["Conv"]),
    "conv_same_dilated": (lambda: nn.Conv2d(2, 3, 3, padding="same", dilation=2), (2, 9, 9),
                          ["Conv"]),
    "conv_valid": (lambda: nn.Conv2d(2, 3, 3, padding="valid"), (2, 6, 6), ["Conv"]),
    "conv_groups_no_bias": (lambda: nn.Conv2d(4, 6, 3, padding=1, groups=2, bias=False),
                            (4, 7, 7), ["Conv"]),
    "conv_depthwise": (lambda: nn.Conv2d(3, 3, 3, groups=3), (3, 6, 6), ["Conv"]),
    "maxpool": (lambda: nn.MaxPool2d(2), (3, 7, 7), ["MaxPool"]),
    "maxpool_overlapping_padded": (lambda: nn.MaxPool2d(3, stride=2, padding=1), (2, 9, 8),
                                   ["MaxPool"]),
    "maxpool_dilated": (lambda: nn.MaxPool2d(2, stride=1, dilation=2), (2, 7, 7), ["MaxPool"]),
    "avgpool": (lambda: nn.AvgPool2d(2), (3, 7, 7), ["AveragePool"]),
    "avgpool_padding_counted": (lambda: nn.AvgPool2d(3, stride=2, padding=1), (2, 9, 8),
                                ["AveragePool"]),
    "avgpool_padding_not_counted": (
        lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (2, 9, 8),
        ["AveragePool"]),
    "avgpool_divisor_override": (lambda: nn.AvgPool2d(2, padding=1, divisor_override=3),
                                 (2, 6, 6), ["AveragePool", "Mul"]),
    "adaptive_global": (lambda: nn.AdaptiveAvgPool2d(1), (3, 5, 7), ["GlobalAveragePool"]),
    "adaptive_dividing": (lambda: nn.AdaptiveAvgPool2d((2, None)), (3, 6, 5), ["AveragePool"]),
    "batchnorm1d": (lambda: nn.BatchNorm1d(5), (5,), ["BatchNormalization"]),
    "batchnorm1d_3d": (lambda: nn.BatchNorm1d(5, eps=1e-3), (5, 4), ["BatchNormalization"]),
    "batchnorm2d": (lambda: nn.BatchNorm2d(3), (3, 4, 4), ["BatchNormalization"]),
    "batchnorm2d_no_affine": (lambda: nn.BatchNorm2d(3, affine=False), (3, 4, 4),
                              ["BatchNormalization"]),
    "dropout": (lambda: nn.Sequential(nn.Dropout(0.5), nn.Tanh()), (6,), ["Tanh"]),
    "dropout2d": (lambda: nn.Sequential(nn.Dropout2d(0.5), nn.Tanh()), (2, 3, 3), ["Tanh"]),
    "identity": (lambda: nn.Identity(), (6,), ["Identity"]),
    "flatten": (lambda: nn.Flatten(), (2, 3, 4), ["Flatten"]),
    "flatten_middle": (lambda: nn.Flatten(1, 2), (2, 3, 4), ["Reshape"]),
    "flatten_last": (lambda: nn.Flatten(2, 3), (2, 3, 4), ["Reshape"]),
    "relu": (lambda: nn.ReLU(), (6,), ["Relu"]),
    "sigmoid": (lambda: nn.Sigmoid(), (6,), ["Sigmoid"]),
    "tanh": (lambda: nn.Tanh(), (6,), ["Tanh"]),
    "leaky_relu": (lambda: nn.LeakyReLU(0.2), (6,), ["LeakyRelu"]),
    "elu": (lambda: nn.ELU(0.7), (6,), ["Elu"]),
    "gelu": (lambda: nn.GELU(), (6,), ["Mul", "Erf", "Add", "Mul", "Mul"]),
    "gelu_tanh": (lambda: nn.GELU(approximate="tanh"), (6,),
                  ["Mul", "Mul", "Mul", "Add", "Mul", "Tanh", "Add", "Mul", "Mul"]),
    "softmax": (lambda: nn.Softmax(), (6,), ["Softmax"]),
    "softmax_channels": (lambda: nn.Softmax(dim=1), (3, 4, 4), ["Softmax"]),
    "log_softmax": (lambda: nn.LogSoftmax(dim=-1), (6,), ["LogSoftmax"]),
    "log_softmax_3d": (lambda: nn.LogSoftmax(dim=1), (3, 5), ["LogSoftmax"]),
    "nested_sequential": (
        lambda: nn.Sequential(nn.Linear(6, 5), nn.Sequential(nn.ReLU(), nn.Sequential(
            nn.Linear(5, 3), nn.Identity())), nn.Sigmoid()),
        (6,), ["Gemm", "Relu", "Gemm", "Sigmoid"]),
}


@pytest.mark.parametrize("case", list(LAYERS))
def test_layer_matches_onnxruntime(case, rng):
    factory, input_shape, ops = LAYERS[case]
    network = randomise_statistics(factory(), rng)
    assert_matches(network, input_shape, rng, ops, scale=2.0)


def test_every_layer_and_activation_bpnn_has_is_covered():
    """A new layer class must come with a converter (and a case above) or be refused by name."""
    covered = {type(LAYERS[case][0]()).__name__ for case in LAYERS}
    covered |= {"Dropout", "Dropout2d", "Sequential"}
    exportable = set(bpnn.onnx.supported_layers())
    assert covered == exportable
    not_layers = {"ModuleList"}  # a container without forward
    bpnn_layers = {name for name in nn.registered_layers()  # not those other tests register
                   if getattr(nn, name, None) is nn.get_layer_class(name)}
    losses = {name for name in bpnn_layers if name.endswith("Loss")}
    assert "Conv2d" in bpnn_layers and "CrossEntropyLoss" in losses
    assert bpnn_layers - losses - not_layers <= exportable


def test_training_mode_network_is_exported_as_in_evaluation_and_left_in_training(rng):
    network = randomise_statistics(nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8),
                                                 nn.Dropout(0.5), nn.ReLU()), rng)
    network.train()
    model = bpnn.onnx.to_onnx(network)
    assert all(module.training for module in network.modules())
    x = rng.standard_normal((7, 6)).astype(np.float32)
    np.testing.assert_allclose(run_onnx(model, x), bpnn_eval(network, x), atol=TOLERANCE)


def test_a_model_is_exported_through_its_network_and_written_file_loads(tmp_path, rng):
    network = nn.Sequential(nn.Linear(4, 8), nn.ELU(), nn.Linear(8, 3))
    model = bpnn.Model(network, nn.CrossEntropyLoss(), "adam")
    path = tmp_path / "net.onnx"
    bpnn.onnx.export(model, path, verify=True)
    x = rng.standard_normal((7, 4)).astype(np.float32)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"input": x})[0], bpnn_eval(network, x),
                               atol=TOLERANCE)
    assert [p.name for p in tmp_path.iterdir()] == ["net.onnx"]  # no temporary file left


def test_fixed_batch_and_opset_are_what_was_asked(rng):
    model = bpnn.onnx.to_onnx(nn.Sequential(nn.Linear(4, 2), nn.Softmax()), opset=13,
                              dynamic_batch=False)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 13)]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [1, 4]
    x = rng.standard_normal((1, 4)).astype(np.float32)
    assert run_onnx(model, x).shape == (1, 2)


# ---------------------------------------------------------------------------- examples
def _example_module(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}",
                                                  ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # only defines functions; main() runs under __main__
    return module


EXAMPLES = {
    # examples/fashion_mnist_mlp.py and examples/phone_price.py build these at top level
    "fashion_mnist_mlp": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(),
                                                nn.Linear(128, 10)), (28, 28)),
    "fashion_mnist_mlp_dropout": (lambda: nn.Sequential(
        nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10)),
        (28, 28)),
    "fashion_mnist_cnn": (lambda: _example_module("fashion_mnist_cnn").plain_cnn(), (1, 28, 28)),
    "fashion_mnist_batch_norm_cnn": (lambda: _example_module("fashion_mnist_cnn")
                                     .batch_norm_cnn(), (1, 28, 28)),
    "phone_price_mlp": (lambda: nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Dropout(0.2),
                                              nn.Linear(32, 4)), (20,)),
}


@pytest.mark.parametrize("case", list(EXAMPLES))
def test_example_network_matches_onnxruntime(case, rng):
    factory, input_shape = EXAMPLES[case]
    network = randomise_statistics(factory(), rng)
    assert_matches(network, input_shape, rng)


def test_readme_onnx_example_runs_and_matches_bpnn(tmp_path, monkeypatch, capsys):
    import re

    section = (ROOT / "README.md").read_text().split("## ONNX export", 1)[1].split("\n## ", 1)[0]
    code = re.findall(r"```python\n(.+?)\n```", section, flags=re.S)[0]
    assert len(code.splitlines()) == 5
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(code, namespace)  # noqa: S102 - the README's own example
    session = onnxruntime.InferenceSession(str(tmp_path / "net.onnx"),
                                           providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": namespace["x"]})[0]
    np.testing.assert_allclose(got, bpnn_eval(namespace["net"], namespace["x"]), atol=TOLERANCE)
    assert capsys.readouterr().out.strip() == str(got)


@pytest.mark.parametrize("opset", [13, 17, "newest"])
def test_every_opset_from_13_to_the_newest_runs_in_onnxruntime(opset, rng):
    import onnx

    opset = onnx.defs.onnx_opset_version() if opset == "newest" else opset
    network = randomise_statistics(_example_module("fashion_mnist_cnn").batch_norm_cnn(), rng)
    model = bpnn.onnx.to_onnx(network, (1, 28, 28), opset=opset)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", opset)]
    x = rng.random((7, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(run_onnx(model, x), bpnn_eval(network, x), rtol=0,
                               atol=TOLERANCE)
