"""IDX reader, Fashion-MNIST / MNIST loaders and the bundled phone-price table."""

import gzip
import os
import struct

import numpy as np
import pytest

import bpnn
from bpnn.datasets import load_idx

FASHION = "/usr/share/datasets/fashion-mnist"


def _idx_bytes(array, code):
    header = struct.pack(">BBBB", 0, 0, code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("dtype, code", [(np.uint8, 0x08), (np.int16, 0x0B), (np.float32, 0x0D),
                                         (np.float64, 0x0E)])
@pytest.mark.parametrize("compressed", [False, True])
def test_load_idx_round_trip(tmp_path, rng, dtype, code, compressed):
    array = (rng.random((3, 4, 5)) * 100).astype(dtype)
    raw = _idx_bytes(array, code)
    path = tmp_path / ("a.idx.gz" if compressed else "a.idx")
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    loaded = load_idx(path)
    assert loaded.dtype == np.dtype(dtype) and loaded.dtype.isnative
    np.testing.assert_array_equal(loaded, array)


@pytest.mark.parametrize("raw, message", [
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x07", "first two bytes must be zero"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x07", "unknown IDX data type code 0x07"),
    (b"\x00\x00\x08\x02\x00\x00", "ends after 6 bytes"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x03\x07", r"shape \(3,\) \(3 bytes of data\) but the file "
                                              "holds 1"),
    (b"", "not an IDX file"),
])
def test_load_idx_rejects_malformed_files(tmp_path, raw, message):
    path = tmp_path / "bad"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match=message):
        load_idx(path)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01")[:-6] + b"junk!!")
    with pytest.raises(ValueError, match="corrupt gzip"):
        load_idx(path)


def _fake_mnist_folder(folder, n_train=6, n_test=4):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    parts = {"train": n_train, "t10k": n_test}
    for part, n in parts.items():
        images = rng.integers(0, 256, size=(n, 28, 28)).astype(np.uint8)
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        with open(os.path.join(folder, f"{part}-images-idx3-ubyte.gz"), "wb") as f:
            f.write(gzip.compress(_idx_bytes(images, 0x08)))
        with open(os.path.join(folder, f"{part}-labels-idx1-ubyte"), "wb") as f:
            f.write(_idx_bytes(labels, 0x08))


def test_fashion_mnist_from_path_and_environment(tmp_path, monkeypatch):
    _fake_mnist_folder(tmp_path / "direct")
    (x_train, y_train), (x_test, y_test) = bpnn.datasets.fashion_mnist(tmp_path / "direct")
    assert x_train.shape == (6, 28, 28) and x_test.shape == (4, 28, 28)
    assert y_train.shape == (6,) and x_train.dtype == y_train.dtype == np.uint8
    _fake_mnist_folder(tmp_path / "env" / "mnist", n_train=3)
    monkeypatch.setenv("BPNN_DATA", str(tmp_path / "env"))
    assert bpnn.datasets.mnist()[0][0].shape == (3, 28, 28)


def test_missing_files_explain_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.delenv("BPNN_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="apt install dataset-fashion-mnist") as info:
        bpnn.datasets.fashion_mnist(tmp_path)
    assert "train-images-idx3-ubyte[.gz]" in str(info.value)
    assert "never downloads" in str(info.value)


def test_images_and_labels_must_pair(tmp_path):
    _fake_mnist_folder(tmp_path)
    labels = np.zeros(5, np.uint8)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(labels, 0x08))
    with pytest.raises(ValueError, match="train set has 6 images but 5 labels"):
        bpnn.datasets.fashion_mnist(tmp_path)


@pytest.mark.skipif(
    not os.path.isdir(FASHION) and os.environ.get("BPNN_REQUIRE_DATA") != "1",
    reason="dataset-fashion-mnist not installed (CI sets BPNN_REQUIRE_DATA=1: then this fails)",
)
def test_real_fashion_mnist_has_keras_shapes():
    (x_train, y_train), (x_test, y_test) = bpnn.datasets.fashion_mnist()
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert x_train.dtype == np.uint8 and y_test.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)
    assert y_train[:5].tolist() == [9, 0, 0, 3, 0]  # the published first labels


def test_phone_price_table():
    x, y, names = bpnn.datasets.phone_price(return_feature_names=True)
    assert x.shape == (2000, 20) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [500, 500, 500, 500])
    assert names[0] == "battery_power" and names[13] == "ram" and len(names) == 20
    np.testing.assert_allclose(x[0, :4], [842, 0, 2.2, 0], rtol=1e-6)  # first CSV row
    assert y[0] == 1
