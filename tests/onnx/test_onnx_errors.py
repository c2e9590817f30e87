"""Layers with no ONNX form, bad arguments and bad paths: a clear error, nothing written."""

import subprocess
import sys

import numpy as np
import pytest

import bpnn
import bpnn.onnx
from bpnn import nn
from bpnn.onnx import ExportError


class Doubler(nn.Module):
    def forward(self, x):
        return x * 2


class ScaledReLU(nn.ReLU):
    def forward(self, x):
        return super().forward(x) * 3


def _folder_listing(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("network, input_shape, names", [
    (nn.Sequential(nn.Linear(4, 4), Doubler()), None, ["'1' (Doubler)", "no converter"]),
    (nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.ReLU(), ScaledReLU())), None,
     ["'1.1' (ScaledReLU)", "overrides forward"]),
    (nn.Sequential(nn.Linear(4, 4), nn.ModuleList([nn.ReLU()])), None,
     ["'1' (ModuleList)", "has none"]),
    (nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4, track_running_stats=False)), None,
     ["'1' (BatchNorm1d)", "track_running_stats=False"]),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(3)), (1, 9, 9),
     ["'1' (AdaptiveAvgPool2d)", "7x7", "different sizes"]),
])
def test_unsupported_layer_is_named_with_the_reason_and_nothing_is_written(
        tmp_path, network, input_shape, names):
    target = tmp_path / "net.onnx"
    target.write_bytes(b"previous")
    with pytest.raises(ExportError) as caught:
        bpnn.onnx.export(network, target, input_shape=input_shape)
    for name in names:
        assert name in str(caught.value)
    assert target.read_bytes() == b"previous"
    assert _folder_listing(tmp_path) == ["net.onnx"]


def test_the_reason_lists_the_supported_layers():
    with pytest.raises(ExportError, match="supported layers: .*Conv2d.*Linear"):
        bpnn.onnx.to_onnx(Doubler(), input_shape=(3,))


@pytest.mark.parametrize("kwargs, message", [
    ({}, "pass input_shape .* starts with Conv2d"),
    ({"input_shape": (2, 8, 8)}, r"input shape \(2, 8, 8\) does not fit layer '0' \(Conv2d\)"),
    ({"input_shape": (1, 2, 2)}, "does not fit layer '0'"),
    ({"input_shape": (1, -8, 8)}, "positive integers"),
    ({"input_shape": "abc"}, "positive integers"),
    ({"input_shape": (1, 8, 8), "opset": 12}, "opset must be an integer from 13"),
    ({"input_shape": (1, 8, 8), "opset": 99}, "opset must be an integer from 13"),
])
def test_bad_arguments(kwargs, message):
    network = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    with pytest.raises(ExportError, match=message):
        bpnn.onnx.to_onnx(network, **kwargs)


def test_bad_paths(tmp_path):
    network = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(ExportError, match="folder .*missing.* does not exist"):
        bpnn.onnx.export(network, tmp_path / "missing" / "net.onnx")
    with pytest.raises(ExportError, match="it is a folder"):
        bpnn.onnx.export(network, tmp_path)
    with pytest.raises(ExportError, match="expected a bpnn Module or Model"):
        bpnn.onnx.export("not a network", tmp_path / "net.onnx")
    assert _folder_listing(tmp_path) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "net.onnx"
    target.write_bytes(b"previous")

    def refuse(source, destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("bpnn.onnx.convert.os.replace", refuse)
    with pytest.raises(OSError, match="No space left"):
        bpnn.onnx.export(nn.Sequential(nn.Linear(3, 2)), target)
    assert target.read_bytes() == b"previous"
    assert _folder_listing(tmp_path) == ["net.onnx"]


def test_verify_catches_a_wrong_graph_before_writing(tmp_path, monkeypatch):
    from bpnn.onnx import layers

    # a deliberately wrong converter: ReLU written as Sigmoid
    monkeypatch.setitem(layers._CONVERTERS, nn.ReLU, layers._simple("Sigmoid"))
    network = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    with pytest.raises(ExportError, match="onnxruntime disagrees with bpnn"):
        bpnn.onnx.export(network, tmp_path / "net.onnx", verify=True)
    assert _folder_listing(tmp_path) == []


def test_mixed_dtypes_are_refused():
    network = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2, dtype="float64"))
    with pytest.raises(ExportError, match="mixes dtypes"):
        bpnn.onnx.to_onnx(network)


def test_float64_network_exports_in_float64(rng):
    import onnxruntime

    network = nn.Sequential(nn.Linear(3, 4, dtype="float64"), nn.Tanh(),
                            nn.Linear(4, 2, dtype="float64"))
    model = bpnn.onnx.to_onnx(network)
    x = rng.standard_normal((7, 3))
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    network.eval()
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, network(bpnn.Tensor(x)).data, rtol=1e-12, atol=1e-12)


def test_import_bpnn_imports_neither_onnx_nor_onnxruntime():
    code = ("import sys, bpnn, bpnn.nn, bpnn.train; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('onnx', 'onnxruntime') or m == 'bpnn.onnx'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
