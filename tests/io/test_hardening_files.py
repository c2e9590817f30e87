"""Hostile and damaged model files: refused with SerializationError, cheaply, before allocating.

Every case listed in issue 16 ("memory bombs", "wrong exception types", "files that load and
break later") has a test here; memory is measured with tracemalloc (NumPy reports its
allocations to it), never time.
"""

import json
import tracemalloc

import numpy as np
import pytest
from hostile import (
    edit_meta,
    header_only,
    join,
    model_values,
    split,
    trained_model_bytes,
    without_checksum,
)

import bpnn
from bpnn import nn

MB = 1 << 20


def _refused(path, match=None, limit=100 * MB):
    """Load ``path``; assert SerializationError and a traced peak below ``limit``."""
    tracemalloc.start()
    try:
        with pytest.raises(bpnn.SerializationError, match=match) as caught:
            bpnn.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit, f"rejecting {path} allocated {peak / MB:.1f} MB"
    return str(caught.value)


def _write(tmp_path, data, name="bad.bpnn"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------- memory bombs
def test_architecture_bigger_than_the_file_is_refused_before_building(tmp_path):
    data = header_only({"architecture": {"class": "Linear",
                                         "config": {"in_features": 20000,
                                                    "out_features": 20000}}})
    assert len(data) < 300
    message = _refused(_write(tmp_path, data), "about 4e\\+08 numbers", limit=5 * MB)
    assert "holds 0" in message


def test_a_model_file_claiming_a_huge_network_is_refused(tmp_path):
    path, data = trained_model_bytes(tmp_path)

    def enlarge(meta):
        meta["network"]["children"]["0"]["config"]["out_features"] = 10**7
    _refused(_write(tmp_path, edit_meta(data, enlarge)), "refusing to build", limit=20 * MB)


def test_a_real_convolutional_network_is_within_the_budget(tmp_path):
    # Strides, padding and dilation do not count as storage: a real net loads.
    net = nn.Sequential(nn.Conv2d(3, 16, 3, stride=4, padding=5, dilation=3), nn.ReLU(),
                        nn.Flatten(), nn.Linear(16, 2))
    path = bpnn.save(net, tmp_path / "conv.bpnn")
    loaded = bpnn.load(path)
    np.testing.assert_array_equal(loaded[0].weight.data, net[0].weight.data)


def test_gzipped_idx_with_a_bad_magic_is_not_inflated(tmp_path):
    import gzip

    path = tmp_path / "bomb-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x01\x00\x08\x03" + bytes(64 * MB)))
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="not an IDX file"):
            bpnn.datasets.load_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * MB


def test_gzipped_idx_promising_more_than_deflate_can_hold_is_refused(tmp_path):
    import gzip
    import struct

    path = tmp_path / "huge-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + struct.pack(">III", 2**31, 2**31, 2)))
    with pytest.raises(ValueError, match="more than a file of this size can hold"):
        bpnn.datasets.load_idx(path)


def test_damaged_gzip_stream_raises_value_error(tmp_path):
    import gzip

    data = bytearray(gzip.compress(b"\x00\x00\x08\x01" + (1000).to_bytes(4, "big")
                                   + bytes(range(256)) * 4))
    data[20:30] = b"\xff" * 10
    path = tmp_path / "broken-idx1-ubyte.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError):
        bpnn.datasets.load_idx(path)


def test_class_weight_with_a_huge_key_allocates_nothing_big():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 4)), rng.integers(0, 3, 60)
    model = bpnn.Model(nn.Sequential(nn.Linear(4, 3)), "cross_entropy", "sgd", lr=0.1)
    tracemalloc.start()
    try:
        model.fit(x, y, class_weight={10**9: 1.0, 1: 2.0}, epochs=1, verbose=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * MB
    with pytest.raises(ValueError, match="finite non-negative"):
        model.fit(x, y, class_weight={1: float("nan")}, verbose=0)


def test_class_weight_still_weights_the_listed_class():
    # Oracle: the weighted loss equals the mean of per-sample losses times their weights.
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(12, 3)).astype("float32"), rng.integers(0, 2, 12)
    bpnn.manual_seed(0)
    model = bpnn.Model(nn.Sequential(nn.Linear(3, 2)), "cross_entropy", "sgd", lr=0.0)
    logits = model.predict(x)
    shifted = logits - logits.max(axis=1, keepdims=True)
    per_sample = -(shifted[np.arange(12), y] - np.log(np.exp(shifted).sum(axis=1)))
    weights = np.where(y == 1, 3.0, 1.0)
    history = model.fit(x, y, class_weight={1: 3.0, 7: 5.0}, batch_size=12, epochs=1,
                        shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(float(np.mean(per_sample * weights)),
                                                       rel=1e-5)


# ---------------------------------------------------------------------------- exception types
@pytest.mark.parametrize("metadata", [
    {"meta": "[1, 2]"},                                   # metadata of the wrong JSON type
    {"kind": ["Module"]},                                 # a list where a string belongs
    {"format_version": "\u00b2"},                         # a digit, but not an ASCII integer
    {"format_version": "1e400"},
    {"format_version": "0"},
    {"checksum": 5},
    {"mystery": "x"},                                     # unknown entry, no checksum
])
def test_metadata_of_the_wrong_type(tmp_path, metadata):
    data = header_only({"architecture": {"class": "ReLU", "config": {}}}, metadata=metadata)
    _refused(_write(tmp_path, data))


@pytest.mark.parametrize("entry", [
    {"dtype": "F32", "shape": [1] * 65, "data_offsets": [0, 4]},
    {"dtype": "F32", "shape": [2**70, 0], "data_offsets": [0, 0]},
    {"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]},
    {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]},
    {"dtype": "F32", "shape": [1], "data_offsets": [0, 4.0]},
    {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]},
])
def test_absurd_tensor_entries(tmp_path, entry):
    header = {"__metadata__": {"format": "bpnn", "format_version": "1", "kind": "Module",
                               "bpnn_version": "t", "meta": json.dumps(
                                   {"architecture": {"class": "ReLU", "config": {}}})},
              "x": entry}
    _refused(_write(tmp_path, join(header, b"\0" * 4)))


def test_deeply_nested_json_header(tmp_path):
    header = '{"__metadata__": {"format": "bpnn"}, "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    text = header.encode()
    import struct
    _refused(_write(tmp_path, struct.pack("<Q", len(text)) + text), "nests")


def test_deeply_nested_metadata_and_architecture(tmp_path):
    nested = {"class": "ReLU", "config": {}}
    for _ in range(150):
        nested = {"class": "Sequential", "config": {}, "children": {"0": nested}}
    _refused(_write(tmp_path, header_only({"architecture": nested}, kind="Module")))
    deep_meta = '{"architecture": ' + "[" * 5000 + "]" * 5000 + "}"
    data = header_only({}, metadata={"meta": deep_meta})
    _refused(_write(tmp_path, data, "deep.bpnn"), "nests")


def test_epoch_that_overflows(tmp_path):
    path, data = trained_model_bytes(tmp_path)
    header, body = split(without_checksum(data))
    meta = header["__metadata__"]["meta"]
    assert '"epoch": 2' in meta
    header["__metadata__"]["meta"] = meta.replace('"epoch": 2', '"epoch": 1e400')
    _refused(_write(tmp_path, join(header, body)), "1e400 is out of range")
    header["__metadata__"]["meta"] = meta.replace('"epoch": 2', '"epoch": 2.5')
    _refused(_write(tmp_path, join(header, body)), "'epoch' must be a non-negative integer")


def test_a_folder_raises_is_a_directory_error(tmp_path):
    with pytest.raises(IsADirectoryError):
        bpnn.load(tmp_path)
    with pytest.raises(IsADirectoryError):
        bpnn.io.load_weights(nn.Linear(1, 1), tmp_path)


# ---------------------------------------------------------------------- state that broke later
def _optimizer_edit(change):
    def edit(meta):
        change(meta["optimizer"])
    return edit


@pytest.mark.parametrize("change, match", [
    (lambda o: o["state_dict"]["state"]["0"].update(
        exp_avgg=o["state_dict"]["state"]["0"].pop("exp_avg")), "does not write"),
    (lambda o: o["state_dict"]["state"]["0"].update(step="6"), "step"),
    (lambda o: o["state_dict"]["state"]["0"].update(step={"__float__": "nan"}), "step"),
    (lambda o: o["state_dict"]["state"]["0"].update(step=-3), "step"),
    (lambda o: o["state_dict"]["param_groups"][0].update(lr="0.01"), "'lr'"),
    (lambda o: o["state_dict"]["param_groups"][0].update(lr={"__float__": "nan"}), "'lr'"),
    (lambda o: o["state_dict"]["param_groups"][0].update(lr=-0.5), "'lr'"),
    (lambda o: o["state_dict"]["param_groups"][0].update(betas=[0.9]), "'betas'"),
    (lambda o: o["state_dict"]["param_groups"][0].pop("eps"), "lacks"),
    (lambda o: o["defaults"].update(weight_decay={"__float__": "nan"}), "weight_decay"),
    (lambda o: o.update(param_positions=[0, 1, 2, 9]), "param_positions"),
    (lambda o: o["state_dict"]["state"].update({"7": {}}), "does not have"),
])
def test_optimizer_state_is_checked_at_load(tmp_path, change, match):
    path, data = trained_model_bytes(tmp_path)
    bad = without_checksum(edit_meta(data, _optimizer_edit(change)))
    _refused(_write(tmp_path, bad), match)


def test_int32_optimizer_state_is_refused(tmp_path):
    path, data = trained_model_bytes(tmp_path)
    header, body = split(without_checksum(data))
    header["optimizer.state.0.exp_avg"]["dtype"] = "I32"  # same size: the layout still fits
    _refused(_write(tmp_path, join(header, body)), "int32")


@pytest.mark.parametrize("factor, match", [("NaN", "NaN is not strict JSON"),
                                           ("1e400", "out of range"),
                                           ('{"__float__": "nan"}', "regulari")])
def test_nan_regularizer_factor_is_refused(tmp_path, factor, match):
    from bpnn.regularizers import l2

    net = nn.Sequential(nn.Linear(3, 2, weight_regularizer=l2(0.0125)))
    path = tmp_path / "reg.bpnn"
    bpnn.save(net, path)
    header, body = split(without_checksum(path.read_bytes()))
    meta = header["__metadata__"]["meta"]
    assert "0.0125" in meta
    header["__metadata__"]["meta"] = meta.replace("0.0125", factor)
    _refused(_write(tmp_path, join(header, body)), match)


def test_a_file_that_loads_can_train(tmp_path):
    path, data = trained_model_bytes(tmp_path, optimizer="sgd", momentum=0.9)
    model = bpnn.load(path)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 4)).astype("float32")
    model.fit(x, (x[:, 0] > 0).astype("int64"), epochs=3, verbose=0, initial_epoch=2)
    assert np.isfinite(model.network[0].weight.data).all()


# ---------------------------------------------------------------------------- checksum
def test_a_flipped_weight_byte_is_detected(tmp_path):
    path, data = trained_model_bytes(tmp_path)
    flipped = bytearray(data)
    flipped[-3] ^= 0x01  # inside the last tensor's bytes: the layout stays valid
    _refused(_write(tmp_path, bytes(flipped)), "checksum does not match")


def test_files_without_a_checksum_still_load(tmp_path):
    path, data = trained_model_bytes(tmp_path)
    reference = model_values(bpnn.load(path))
    old = _write(tmp_path, without_checksum(data), "old.bpnn")
    assert model_values(bpnn.load(old)) == reference


def test_a_damaged_checksum_entry_is_detected(tmp_path):
    path, data = trained_model_bytes(tmp_path)
    renamed = data.replace(b'"checksum"', b'"checksun"', 1)
    assert renamed != data
    _refused(_write(tmp_path, renamed), "no checksum")


# ---------------------------------------------------------------------------- non-finite writes
def test_save_refuses_non_finite_weights(tmp_path):
    net = nn.Linear(2, 2)
    net.weight.data[0, 1] = np.inf
    with pytest.raises(bpnn.SerializationError, match="'weight' holds 1 NaN or infinite"):
        bpnn.save(net, tmp_path / "inf.bpnn")
    assert list(tmp_path.iterdir()) == []


def _early_stopping_file(tmp_path):
    from bpnn.callbacks import EarlyStopping

    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = bpnn.Model(nn.Sequential(nn.Linear(4, 2)), "cross_entropy", "adam")
    model.fit(x, y, epochs=3, verbose=0, validation_split=0.25,
              callbacks=[EarlyStopping(patience=5, restore_best_weights=True)])
    path = tmp_path / "es.bpnn"
    bpnn.save(model, path)
    return path.read_bytes()


@pytest.mark.parametrize("change, match", [
    (lambda s: s.update(wait="2"), "'wait'"),
    (lambda s: s.update(wait=-1), "'wait'"),
    (lambda s: s.update(best="low"), "'best'"),
    (lambda s: s.update(best={"__float__": "nan"}), "NaN"),
    (lambda s: s["best_weights"].pop("0.bias"), "best weights"),
])
def test_callback_state_is_checked_at_load(tmp_path, change, match):
    data = _early_stopping_file(tmp_path)

    def edit(meta):
        change(meta["callbacks"]["EarlyStopping"])
    _refused(_write(tmp_path, without_checksum(edit_meta(data, edit))), match)


def test_early_stopping_best_weights_of_the_wrong_shape_are_refused(tmp_path):
    data = _early_stopping_file(tmp_path)
    header, body = split(without_checksum(data))
    name = "callbacks.EarlyStopping.best_weights.0.bias"
    assert header[name]["shape"] == [2]
    header[name]["shape"] = [1, 2]  # same bytes, another shape
    _refused(_write(tmp_path, join(header, body)), "does not fit the network")
