"""No pickle anywhere: not in bpnn's source, not in any file bpnn writes."""

import ast
import pathlib
import pickle
import pickletools

import numpy as np
import pytest

import bpnn
from bpnn import nn
from bpnn.callbacks import CSVLogger, EarlyStopping, ModelCheckpoint

SOURCE = pathlib.Path(bpnn.__file__).parent
UNSAFE_MODULES = {"pickle", "_pickle", "cPickle", "cloudpickle", "dill", "joblib", "marshal",
                  "shelve", "pickletools", "copyreg"}


def test_no_bpnn_source_imports_a_pickle_module_or_allows_pickle():
    offences = []
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [(node.module or "").split(".")[0]]
            else:
                names = []
            offences += [f"{path.name}:{node.lineno} imports {n}" for n in names
                         if n in UNSAFE_MODULES]
            if isinstance(node, ast.keyword) and node.arg == "allow_pickle":
                offences.append(f"{path.name}: passes allow_pickle")
    assert offences == []


@pytest.fixture
def pickle_forbidden(monkeypatch):
    """Make any use of the pickle module during the test an error."""

    def forbidden(*args, **kwargs):
        raise AssertionError("bpnn used pickle")

    for name in ("dump", "dumps", "load", "loads", "Pickler", "Unpickler"):
        monkeypatch.setattr(pickle, name, forbidden)


def _train_and_write_everything(folder):
    """Write every kind of file bpnn writes: modules, models, checkpoints, logs, ensembles."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2),
                        nn.Linear(8, 2))
    model = bpnn.Model(net, "cross_entropy", "adam", metrics=["accuracy"], lr=0.01)
    model.freeze("1")
    callbacks = [EarlyStopping(patience=3, restore_best_weights=True),
                 ModelCheckpoint(str(folder / "best.bpnn"), save_best_only=True),
                 CSVLogger(folder / "log.csv")]
    model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, callbacks=callbacks,
              verbose=0)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0,
              callbacks=[ModelCheckpoint(str(folder / "weights.bpnn"), save_weights_only=True)])
    bpnn.save(model, folder / "model.bpnn")
    bpnn.save(net, folder / "net.safetensors")
    bpnn.save(bpnn.Ensemble([model, nn.Sequential(nn.Linear(4, 2))]), folder / "ensemble.bpnn")
    return x


def test_every_file_bpnn_writes_is_safetensors_and_json_only(tmp_path, pickle_forbidden,
                                                             parse_file):
    _train_and_write_everything(tmp_path)
    written = sorted(p for p in tmp_path.iterdir())
    assert {p.name for p in written} == {"best.bpnn", "weights.bpnn", "log.csv", "model.bpnn",
                                         "net.safetensors", "ensemble.bpnn"}
    for path in written:
        data = path.read_bytes()
        # Not a pickle stream from its first byte: the pickle disassembler rejects it.
        with pytest.raises(ValueError):
            list(pickletools.genops(data))
        if path.suffix == ".csv":
            data.decode("utf-8")  # plain text
            continue
        # Every byte accounted for: ASCII JSON header plus raw numeric tensors, nothing else.
        metadata, _, arrays = parse_file(path)
        assert metadata["kind"] in {"Module", "Model", "Ensemble"}
        assert all(array.dtype.kind in "fiub" for array in arrays.values())
        bpnn.load(path)  # and bpnn reads each back, still without pickle


def test_early_stopping_best_weights_travel_as_tensors(tmp_path, parse_file):
    _train_and_write_everything(tmp_path)
    # Written by ModelCheckpoint during the fit that had EarlyStopping(restore_best_weights).
    _, meta, arrays = parse_file(tmp_path / "best.bpnn")
    best = [name for name in arrays if name.startswith("callbacks.EarlyStopping.best_weights")]
    model = bpnn.load(tmp_path / "best.bpnn")
    assert sorted(best) == sorted(f"callbacks.EarlyStopping.best_weights.{key}" for key in
                                  model.get_weights())
    restored = model.callback_states["EarlyStopping"]["best_weights"]
    for key, value in restored.items():
        np.testing.assert_array_equal(value, arrays[f"callbacks.EarlyStopping.best_weights.{key}"])
