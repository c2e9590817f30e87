"""Fuzzing the readers: mutated model files, IDX files and CSV tables, plus the seeded corpus.

Hypothesis draws the mutations (a bounded number of examples, no deadline: nothing here is
timed). Each mutated file must either load to exactly the original values or raise the
reader's one documented exception, allocating a bounded amount of memory and leaving no file
behind. ``corpus/`` keeps files that once broke a reader (``make_corpus.py`` writes them).
"""

import gzip
import pathlib
import struct
import tracemalloc

import numpy as np
import pytest
from hostile import model_values, trained_model_bytes
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import bpnn

CORPUS = pathlib.Path(__file__).parent / "corpus"
MB = 1 << 20
FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.bpnn")), ids=lambda p: p.name)
def test_corpus_model_files_are_refused_cheaply(path):
    tracemalloc.start()
    try:
        with pytest.raises(bpnn.SerializationError):
            bpnn.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * MB
    assert peak < 20 * path.stat().st_size + 5 * MB  # bounded by a multiple of the file


def test_corpus_idx_file_is_refused_without_inflating():
    tracemalloc.start()
    try:
        with pytest.raises(ValueError):
            bpnn.datasets.load_idx(CORPUS / "idx_bad_magic-idx3-ubyte.gz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * MB


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    path, data = trained_model_bytes(folder)
    return data, model_values(bpnn.load(path))


def _mutations():
    flips = st.lists(st.tuples(st.integers(0, 10**9), st.integers(1, 255)), min_size=1,
                     max_size=4).map(lambda f: ("flip", f))
    truncate = st.integers(0, 10**9).map(lambda n: ("truncate", n))
    insert = st.tuples(st.integers(0, 10**9), st.binary(min_size=1, max_size=8)).map(
        lambda t: ("insert", t))
    header = st.tuples(st.integers(0, 10**9), st.sampled_from(
        [b"0", b"9", b"-", b"[", b"]", b"{", b"}", b'"', b",", b":", b"e", b"1e400", b"null",
         b"true", b"NaN", b"[[[[", b"9999999999"])).map(lambda t: ("header", t))
    return st.one_of(flips, truncate, insert, header)


def _apply(data, mutation):
    kind, argument = mutation
    data = bytearray(data)
    if kind == "flip":
        for position, mask in argument:
            data[position % len(data)] ^= mask
    elif kind == "truncate":
        del data[argument % len(data):]
    elif kind == "insert":
        position, chunk = argument
        data[position % len(data):position % len(data)] = chunk
    else:  # replace a byte inside the JSON header with a JSON-ish token
        position, token = argument
        (length,) = struct.unpack("<Q", bytes(data[:8]))
        at = 8 + position % max(length, 1)
        data[at:at + 1] = token
        data[:8] = struct.pack("<Q", length + len(token) - 1)
    return bytes(data)


@seed(16)
@FUZZ
@given(mutation=_mutations())
def test_mutated_model_files(tmp_path, original, mutation):
    data, values = original
    mutated = _apply(data, mutation)
    path = tmp_path / "mutated.bpnn"
    path.write_bytes(mutated)
    tracemalloc.start()
    try:
        try:
            loaded = bpnn.load(path)
        except bpnn.SerializationError:
            loaded = None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * MB
    if loaded is not None:  # only changes that mean nothing (JSON whitespace) may load
        assert model_values(loaded) == values
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mutated.bpnn"]


def _idx_bytes(shape=(3, 4, 2)):
    values = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
    return b"\x00\x00\x08" + bytes([len(shape)]) + struct.pack(f">{len(shape)}I", *shape) \
        + values.tobytes(), values


@seed(16)
@FUZZ
@given(mutation=_mutations(), compress=st.booleans())
def test_mutated_idx_files(tmp_path, mutation, compress):
    raw, values = _idx_bytes()
    data = gzip.compress(raw) if compress else raw
    if mutation[0] == "header":  # IDX has no JSON header: flip the same position instead
        mutation = ("flip", [(mutation[1][0], 0x5A)])
    path = tmp_path / ("m-idx3-ubyte.gz" if compress else "m-idx3-ubyte")
    path.write_bytes(_apply(data, mutation))
    try:
        loaded = bpnn.datasets.load_idx(path)
    except ValueError:
        return
    assert loaded.dtype.kind in "uif" and loaded.size <= 8 * len(data) * 1100


CSV = "a,b,c,label\n" + "".join(
    f"{i % 7},{(i * 3) % 5}.5,{'xyz'[i % 3]},{'no' if i % 2 else 'yes'}\n" for i in range(40))


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    from bpnn.cli import main

    folder = tmp_path_factory.mktemp("csvfuzz")
    (folder / "train.csv").write_text(CSV)
    code = main(["train", str(folder / "train.csv"), "--target", "label", "--epochs", "2",
                 "--out", str(folder / "model"), "--quiet"])
    assert code == 0
    return folder / "model"


@seed(16)
@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutation=_mutations())
def test_mutated_csv_gives_exit_0_or_2(tmp_path, model_folder, mutation, capsys):
    from bpnn.cli import main

    if mutation[0] == "header":
        mutation = ("insert", (mutation[1][0], mutation[1][1]))
    path = tmp_path / "data.csv"
    path.write_bytes(_apply(CSV.encode(), mutation))
    out = tmp_path / "predictions.csv"
    code = main(["predict", str(model_folder), str(path), "-o", str(out)])
    captured = capsys.readouterr()
    assert code in (0, 2), captured.err
    assert "internal error" not in captured.err
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []
