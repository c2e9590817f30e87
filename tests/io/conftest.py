"""Helpers for the io tests: an independent, strict reader of the bpnn file layout."""

import json
import math
import pathlib
import struct

import numpy as np
import pytest

_NUMERIC = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
            "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}


def _refuse_non_standard(name):
    raise AssertionError(f"the metadata holds {name}, which strict JSON does not allow")


def parse_whole_file(path):
    """Account for every byte of ``path`` as safetensors + JSON, or fail the test.

    Written apart from ``bpnn.io`` on purpose, so that the test does not trust the code it
    checks. Returns ``(metadata, meta, arrays)``.
    """
    data = pathlib.Path(path).read_bytes()
    assert len(data) >= 8, f"{path}: shorter than a safetensors header"
    (header_length,) = struct.unpack("<Q", data[:8])
    assert 8 + header_length <= len(data), f"{path}: header runs past the end"
    header_bytes = data[8:8 + header_length]
    # Pure ASCII JSON: no byte >= 0x80, so no pickle PROTO opcode (0x80) can hide in it.
    assert all(b < 0x80 for b in header_bytes), f"{path}: header is not ASCII"
    header = json.loads(header_bytes.decode("ascii"))
    metadata = header.pop("__metadata__")
    assert set(metadata) == {"format", "format_version", "kind", "bpnn_version", "meta",
                            "checksum"}
    assert all(isinstance(v, str) for v in metadata.values())
    assert metadata["format"] == "bpnn"
    meta = json.loads(metadata["meta"], parse_constant=_refuse_non_standard)
    body = data[8 + header_length:]
    arrays, covered = {}, []
    for name, entry in header.items():
        assert entry["dtype"] in _NUMERIC, f"{path}: tensor {name} has dtype {entry['dtype']}"
        start, end = entry["data_offsets"]
        dtype = np.dtype(_NUMERIC[entry["dtype"]])
        assert end - start == math.prod(entry["shape"]) * dtype.itemsize
        arrays[name] = np.frombuffer(body[start:end], dtype=dtype).reshape(entry["shape"])
        covered.append((start, end))
    position = 0
    for start, end in sorted(covered):
        assert start == position, f"{path}: gap or overlap in the tensor data at byte {start}"
        position = end
    assert position == len(body), f"{path}: {len(body) - position} bytes not accounted for"
    return metadata, meta, arrays


@pytest.fixture
def parse_file():
    return parse_whole_file
