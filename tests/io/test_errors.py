"""Bad files raise SerializationError naming the problem; nothing is half-loaded or executed."""

import importlib
import json
import pickle
import struct
import zipfile

import numpy as np
import pytest

import bpnn
from bpnn import nn


def _net():
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def _write_with_header(path, change):
    """Rewrite a saved file after ``change(header_dict)``, keeping the tensor bytes."""
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    change(header)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + length:])


def _change_meta(path, change):
    def rewrite(header):
        meta = json.loads(header["__metadata__"]["meta"])
        change(meta)
        header["__metadata__"]["meta"] = json.dumps(meta)

    _write_with_header(path, rewrite)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "net.bpnn"
    bpnn.save(_net(), path)
    return path


@pytest.mark.parametrize("keep", [0, 5, 8, 40, -1, -13])
def test_truncated_file(saved, keep):
    data = saved.read_bytes()
    saved.write_bytes(data[:keep] if keep >= 0 else data[:len(data) + keep])
    with pytest.raises(bpnn.SerializationError, match="truncated"):
        bpnn.load(saved)


def test_trailing_garbage(saved):
    saved.write_bytes(saved.read_bytes() + b"\x00" * 4)
    with pytest.raises(bpnn.SerializationError, match="trailing bytes"):
        bpnn.load(saved)


def test_header_that_is_not_json(saved):
    data = bytearray(saved.read_bytes())
    data[8] = ord("}")
    saved.write_bytes(bytes(data))
    with pytest.raises(bpnn.SerializationError, match="header is not valid JSON"):
        bpnn.load(saved)


def test_tensor_offsets_that_overlap(saved):
    def overlap(header):
        entry = header["0.bias"]
        start, end = entry["data_offsets"]
        entry["data_offsets"] = [start - 4, end - 4]

    _write_with_header(saved, overlap)
    with pytest.raises(bpnn.SerializationError, match="overlapping or gapped"):
        bpnn.load(saved)


def test_pickle_file_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):  # unpickling would call open(marker, "w")
            return (open, (str(marker), "w"))

    path = tmp_path / "model.pkl"
    for protocol in (2, 4, 5):
        path.write_bytes(pickle.dumps({"weights": Exploit()}, protocol=protocol))
        with pytest.raises(bpnn.SerializationError, match="pickle file; bpnn never unpickles"):
            bpnn.load(path)
    # Protocol 0 has no PROTO opcode: refused as an impossible header instead.
    path.write_bytes(pickle.dumps({"weights": Exploit()}, protocol=0))
    with pytest.raises(bpnn.SerializationError, match="not a bpnn file"):
        bpnn.load(path)
    assert not marker.exists()


def test_zip_and_npy_files_are_refused(tmp_path):
    archive = tmp_path / "model.pt"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("archive/data.pkl", b"x")
    with pytest.raises(bpnn.SerializationError, match="zip archive"):
        bpnn.load(archive)
    array = tmp_path / "w.npy"
    np.save(array, np.zeros(3))
    with pytest.raises(bpnn.SerializationError, match="NumPy .npy file"):
        bpnn.load(array)


def test_plain_safetensors_file_is_foreign(tmp_path):
    safetensors_numpy = importlib.import_module("safetensors.numpy")
    path = tmp_path / "foreign.safetensors"
    safetensors_numpy.save_file({"embedding": np.zeros((2, 2), np.float32)}, str(path))
    with pytest.raises(bpnn.SerializationError, match=r"no bpnn metadata.*'embedding'"):
        bpnn.load(path)


def test_unknown_layer(saved):
    _change_meta(saved, lambda meta: meta["architecture"]["children"]["1"].update(
        {"class": "os.system"}))
    with pytest.raises(bpnn.SerializationError, match="unknown layer 'os.system'"):
        bpnn.load(saved)


def test_bad_layer_arguments(saved):
    _change_meta(saved, lambda meta: meta["architecture"]["children"]["0"]["config"].update(
        {"in_features": -3}))
    with pytest.raises(bpnn.SerializationError, match="in_features must be a positive integer"):
        bpnn.load(saved)


def test_shapes_that_do_not_match_the_architecture(saved):
    _change_meta(saved, lambda meta: meta["architecture"]["children"]["2"]["config"].update(
        {"out_features": 5}))
    with pytest.raises(bpnn.SerializationError,
                       match=r"tensor '2.weight' has shape \(2, 4\) but the architecture "
                             r"expects \(5, 4\)"):
        bpnn.load(saved)


def test_dtype_that_does_not_match_the_architecture(saved):
    _change_meta(saved, lambda meta: meta["architecture"]["children"]["0"]["config"].update(
        {"dtype": "float64"}))
    with pytest.raises(bpnn.SerializationError,
                       match="tensor '0.(weight|bias)' is float32 but the architecture expects "
                             "float64"):
        bpnn.load(saved)


def test_missing_and_unexpected_tensors(saved):
    def rename(header):
        header["0.kernel"] = header.pop("0.weight")

    _write_with_header(saved, rename)
    with pytest.raises(bpnn.SerializationError,
                       match=r"missing \['0.weight'\], unexpected \['0.kernel'\]"):
        bpnn.load(saved)


def test_newer_format_version(saved):
    _write_with_header(saved, lambda header: header["__metadata__"].update(
        {"format_version": "2", "bpnn_version": "9.0"}))
    with pytest.raises(bpnn.SerializationError,
                       match=r"newer bpnn \(9.0, format version 2\).*up to 1"):
        bpnn.load(saved)


def test_unknown_kind(saved):
    _write_with_header(saved, lambda header: header["__metadata__"].update({"kind": "Robot"}))
    with pytest.raises(bpnn.SerializationError, match="holds a 'Robot'"):
        bpnn.load(saved)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        bpnn.load(tmp_path / "nothing.bpnn")


def test_load_weights_checks_everything_before_copying(saved, tmp_path):
    wider = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 3))
    before = wider.state_dict()
    with pytest.raises(bpnn.SerializationError,
                       match=r"tensor '2.weight' has shape \(2, 4\) but the architecture "
                             r"expects \(3, 4\)"):
        bpnn.io.load_weights(wider, saved)
    # '0.weight' comes before '2.weight' and matched: it must not have been copied either.
    for key, value in wider.state_dict().items():
        np.testing.assert_array_equal(value, before[key])

    same = _net()
    bpnn.io.load_weights(same, saved)
    for key, value in same.state_dict().items():
        np.testing.assert_array_equal(value, bpnn.load(saved).state_dict()[key])


def test_a_header_length_that_looks_like_a_pickle_opcode_is_still_read(saved):
    # 1152 = 0x480: the file starts with b"\x80\x04", pickle protocol 4's first two bytes.
    def pad(header):
        text = json.dumps(header)
        header["__metadata__"]["padding"] = ""
        header["__metadata__"]["padding"] = "x" * (1152 - len(json.dumps(header)))
        assert len(json.dumps(header)) == 1152, text

    _write_with_header(saved, pad)
    assert saved.read_bytes()[:2] == b"\x80\x04"
    loaded = bpnn.load(saved)
    assert isinstance(loaded, nn.Sequential)


def test_metadata_must_be_strict_json(tmp_path):
    @nn.register_layer(name="test_io.Clip")
    class Clip(nn.Module):
        def __init__(self, high=float("inf")):
            super().__init__()
            self.high = high

        def forward(self, x):
            return x.clamp(None, self.high)

        def get_config(self):
            return {"high": self.high}

    with pytest.raises(bpnn.SerializationError,
                       match="metadata is not JSON.*Out of range float values"):
        bpnn.save(Clip(), tmp_path / "clip.bpnn")
    assert list(tmp_path.iterdir()) == []
    bpnn.save(Clip(6.0), tmp_path / "clip.bpnn")
    assert bpnn.load(tmp_path / "clip.bpnn").high == 6.0
