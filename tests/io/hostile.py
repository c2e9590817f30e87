"""Helpers for the hardening tests: hand-made bpnn files and a small trained model file."""

import json
import struct

import numpy as np

import bpnn
from bpnn import nn


def header_only(meta, kind="Module", metadata=None, tensors=None):
    """Bytes of a bpnn file with the given description and no tensor data."""
    header = {"__metadata__": {"format": "bpnn", "format_version": "1", "kind": kind,
                               "bpnn_version": "test", "meta": json.dumps(meta),
                               **(metadata or {})}}
    header.update(tensors or {})
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text


def split(data):
    """``(header dict, tensor bytes)`` of a bpnn file."""
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + length]), data[8 + length:]


def join(header, body):
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def edit_meta(data, change):
    """A copy of a file with ``change(meta)`` applied to its JSON description."""
    header, body = split(data)
    meta = json.loads(header["__metadata__"]["meta"])
    change(meta)
    header["__metadata__"]["meta"] = json.dumps(meta)
    return join(header, body)


def trained_model_bytes(tmp_path, optimizer="adam", **options):
    """A small classifier trained two epochs, saved; returns ``(path, bytes)``."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    bpnn.manual_seed(0)
    model = bpnn.Model(nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2)),
                       "cross_entropy", optimizer, **options)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "model.bpnn"
    bpnn.save(model, path)
    return path, path.read_bytes()


def model_values(model):
    """Everything a loaded model holds that a flipped byte could change, as comparable data."""
    weights = {k: np.asarray(v).tobytes() for k, v in model.get_weights().items()}
    state = model.optimizer.state_dict()
    arrays = {f"{i}.{k}": np.asarray(v).tobytes() for i, s in state["state"].items()
              for k, v in s.items()}
    return (weights, arrays, json.dumps(state["param_groups"], default=str),
            json.dumps(model.history.history), model.epoch, model.input_shape)


def without_checksum(data):
    """The file as bpnn wrote it before checksums existed (hand-edits then reach the checks)."""
    header, body = split(data)
    header["__metadata__"].pop("checksum", None)
    return join(header, body)
