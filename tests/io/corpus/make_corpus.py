"""Write the seeded corpus: files that once crashed or exhausted bpnn's readers (issue 16).

Run ``python tests/io/corpus/make_corpus.py`` to regenerate; ``test_fuzz.py`` loads every file
here and expects the documented exception. Add a file whenever a fuzz run finds a new failure.
"""

import gzip
import json
import pathlib
import struct

HERE = pathlib.Path(__file__).parent


def _header(meta=None, metadata=None, tensors=None, raw_meta=None):
    header = {"__metadata__": {"format": "bpnn", "format_version": "1", "kind": "Module",
                               "bpnn_version": "corpus",
                               "meta": raw_meta if raw_meta is not None else json.dumps(meta),
                               **(metadata or {})}}
    header.update(tensors or {})
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text


RELU = {"architecture": {"class": "ReLU", "config": {}}}
MODEL_FILES = {
    # 203 bytes claiming Linear(20000, 20000): built and drawn before the error (4.7 GB).
    "linear_20000x20000_no_tensors.bpnn": _header(
        {"architecture": {"class": "Linear",
                          "config": {"in_features": 20000, "out_features": 20000}}}),
    "meta_is_a_list.bpnn": _header(raw_meta="[1, 2]"),
    "kind_is_a_list.bpnn": _header(RELU, metadata={"kind": ["Module"]}),
    "version_superscript_two.bpnn": _header(RELU, metadata={"format_version": "\u00b2"}),
    "shape_65_dimensions.bpnn": _header(RELU, tensors={
        "x": {"dtype": "F32", "shape": [1] * 65, "data_offsets": [0, 4]}}) + b"\0" * 4,
    "shape_2e70.bpnn": _header(RELU, tensors={
        "x": {"dtype": "F32", "shape": [2**70, 0], "data_offsets": [0, 0]}}),
    "dtype_is_a_list.bpnn": _header(RELU, tensors={
        "x": {"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}}) + b"\0" * 4,
    "deeply_nested_meta.bpnn": _header(raw_meta="[" * 50_000 + "]" * 50_000),
    "deeply_nested_architecture.bpnn": _header(raw_meta=json.dumps(
        {"architecture": json.loads('{"class": "Sequential", "config": {}, "children": {"0": '
                                    * 300 + '{"class": "ReLU", "config": {}}' + "}}" * 300)})),
    # Found by the acceptance fuzz run: NumPy raises SyntaxError parsing this dtype string.
    "dtype_string_numpy_cannot_parse.bpnn": _header(
        {"architecture": {"class": "Linear",
                          "config": {"in_features": 2, "out_features": 2, "dtype": "f4,("}}}),
    "number_1e400.bpnn": _header(raw_meta='{"architecture": {"class": "Dropout", '
                                          '"config": {"p": 1e400}}}'),
}


def main():
    for name, data in MODEL_FILES.items():
        (HERE / name).write_bytes(data)
    # 64 MiB of zeros behind a bad magic number: inflated whole before the check (2.1 GB).
    (HERE / "idx_bad_magic-idx3-ubyte.gz").write_bytes(
        gzip.compress(b"\x01\x00\x08\x03" + bytes(64 << 20), compresslevel=9, mtime=0))


if __name__ == "__main__":
    main()
