"""Model checkpoints: exact resume (bit-identical on CPU), optimizer / callback / RNG state."""

import json
import struct

import numpy as np
import pytest

import bpnn
from bpnn import nn
from bpnn.callbacks import EarlyStopping, LearningRateScheduler, ModelCheckpoint
from bpnn.optim.lr_scheduler import StepLR

FIT = dict(batch_size=16, verbose=0, validation_split=0.2, shuffle=True)


def _data(dtype="float32"):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(160, 8)).astype(dtype)
    y = ((x[:, 0] + x[:, 1] > 0).astype("int64") + (x[:, 2] > 0.8)).astype("int64")
    return x, y


def _build(dtype="float32"):
    net = nn.Sequential(nn.Linear(8, 24, dtype=dtype), nn.ReLU(), nn.Dropout(0.3),
                        nn.Linear(24, 3, dtype=dtype))
    return bpnn.Model(net, "cross_entropy", "adam", metrics=["accuracy"], lr=0.01)


def _callbacks(model, folder):
    # ModelCheckpoint last: it saves after the other callbacks took the epoch into account.
    return [EarlyStopping(monitor="val_loss", patience=50),
            LearningRateScheduler(StepLR(model.optimizer, step_size=2, gamma=0.5)),
            ModelCheckpoint(str(folder / "epoch{epoch}.bpnn"), monitor="val_loss")]


def _assert_same_training_state(resumed, reference):
    for key, value in reference.get_weights().items():
        got = resumed.get_weights()[key]
        assert got.dtype == value.dtype
        np.testing.assert_array_equal(got, value, err_msg=key)
    mine, theirs = resumed.optimizer.state_dict(), reference.optimizer.state_dict()
    # JSON has no tuples: Adam's betas come back as a list of the same two floats.
    assert json.loads(json.dumps(mine["param_groups"])) == json.loads(
        json.dumps(theirs["param_groups"]))
    for index, state in theirs["state"].items():
        for key, value in state.items():
            np.testing.assert_array_equal(mine["state"][index][key], value, err_msg=key)
    assert resumed.history.history == reference.history.history
    assert resumed.epoch == reference.epoch


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_resume_from_a_checkpoint_is_bit_identical(tmp_path, dtype):
    x, y = _data(dtype)
    bpnn.manual_seed(7)
    reference = _build(dtype)
    reference_callbacks = _callbacks(reference, tmp_path)
    reference.fit(x, y, epochs=6, callbacks=reference_callbacks, **FIT)

    bpnn.manual_seed(12345)  # whatever happened since: the checkpoint's generator state wins
    bpnn.rand(10)
    resumed = bpnn.load(tmp_path / "epoch3.bpnn")
    assert resumed.epoch == 3 and len(resumed.history.history["loss"]) == 3
    resumed_callbacks = _callbacks(resumed, tmp_path / "resumed")
    (tmp_path / "resumed").mkdir()
    resumed.fit(x, y, epochs=6, initial_epoch=3, callbacks=resumed_callbacks, **FIT)

    _assert_same_training_state(resumed, reference)
    for mine, theirs in zip(resumed_callbacks, reference_callbacks, strict=True):
        assert mine.state_dict().keys() == theirs.state_dict().keys()
    stop, schedule = resumed_callbacks[0], resumed_callbacks[1]
    assert (stop.wait, stop.best) == (reference_callbacks[0].wait, reference_callbacks[0].best)
    assert schedule.schedule.last_epoch == reference_callbacks[1].schedule.last_epoch == 6
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(0.01 * 0.5 ** 3)
    # The final checkpoints of both runs hold the same numbers too.
    final_reference = bpnn.load(tmp_path / "epoch6.bpnn")
    final_resumed = bpnn.load(tmp_path / "resumed" / "epoch6.bpnn")
    _assert_same_training_state(final_resumed, final_reference)


def test_save_after_fit_and_resume_matches_one_long_fit(tmp_path):
    x, y = _data()
    bpnn.manual_seed(3)
    long_run = _build()
    long_run.fit(x, y, epochs=5, **FIT)

    bpnn.manual_seed(3)
    first_part = _build()
    first_part.fit(x, y, epochs=2, **FIT)
    bpnn.save(first_part, tmp_path / "model.bpnn")
    bpnn.manual_seed(99)
    second_part = bpnn.load(tmp_path / "model.bpnn")
    second_part.fit(x, y, epochs=5, initial_epoch=2, **FIT)
    _assert_same_training_state(second_part, long_run)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_loaded_model_predicts_and_evaluates_exactly(tmp_path, dtype):
    x, y = _data(dtype)
    model = _build(dtype)
    model.fit(x, y, epochs=2, **FIT)
    bpnn.save(model, tmp_path / "model.bpnn")
    loaded = bpnn.load(tmp_path / "model.bpnn")
    assert loaded.predict(x).dtype == np.dtype(dtype)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.evaluate(x, y) == model.evaluate(x, y)
    assert type(loaded.optimizer) is type(model.optimizer)
    assert [m.name for m in loaded.metrics] == ["accuracy"]


def test_checkpoint_holds_optimizer_moments_and_rng(tmp_path, parse_file):
    x, y = _data()
    model = _build()
    model.fit(x, y, epochs=1, **FIT)
    bpnn.save(model, tmp_path / "model.bpnn")
    metadata, meta, arrays = parse_file(tmp_path / "model.bpnn")
    assert metadata["kind"] == "Model"
    moments = sorted(name for name in arrays if name.startswith("optimizer."))
    assert len(moments) == 8 and all(n.endswith(("exp_avg", "exp_avg_sq")) for n in moments)
    assert meta["epoch"] == 1
    assert meta["rng_state"]["bit_generator"] == "PCG64"
    np.testing.assert_array_equal(arrays["network.0.weight"], model.network[0].weight.numpy())


def test_best_scores_survive_in_the_checkpoint(tmp_path):
    x, y = _data()
    model = _build()
    checkpoint = ModelCheckpoint(str(tmp_path / "best.bpnn"), save_best_only=True)
    model.fit(x, y, epochs=4, callbacks=[checkpoint], **FIT)
    best = min(model.history.history["val_loss"])
    assert checkpoint.best == best
    saved = bpnn.load(tmp_path / "best.bpnn")
    # The file was written at the best epoch, holding the best value as it was then.
    best_epoch = model.history.history["val_loss"].index(best) + 1
    assert saved.epoch == best_epoch
    assert saved.callback_states["ModelCheckpoint"]["best"] == best
    assert saved.history.history["val_loss"][-1] == best


def test_optimizer_param_groups_survive(tmp_path):
    x, y = _data()
    net = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
    optimizer = bpnn.optim.SGD([{"params": net[0].parameters(), "lr": 1e-3},
                                {"params": net[2].parameters()}], lr=0.05, momentum=0.9)
    model = bpnn.Model(net, "cross_entropy", optimizer)
    model.fit(x, y, epochs=1, **FIT)
    loaded = bpnn.load(bpnn.save(model, tmp_path / "model.bpnn"))
    assert [g["lr"] for g in loaded.optimizer.param_groups] == [1e-3, 0.05]
    assert [len(g["params"]) for g in loaded.optimizer.param_groups] == [2, 2]
    assert loaded.optimizer.param_groups[0]["params"][0] is loaded.network[0].weight
    np.testing.assert_array_equal(
        loaded.optimizer.state[loaded.network[2].weight]["momentum_buffer"],
        model.optimizer.state[model.network[2].weight]["momentum_buffer"])


def test_weights_only_checkpoint_is_a_module_file(tmp_path):
    x, y = _data()
    model = _build()
    model.fit(x, y, epochs=1, callbacks=[ModelCheckpoint(str(tmp_path / "w.bpnn"),
                                                          save_weights_only=True)], **FIT)
    network = bpnn.load(tmp_path / "w.bpnn")
    assert isinstance(network, nn.Sequential)
    fresh = _build()
    bpnn.io.load_weights(fresh.network, tmp_path / "w.bpnn")
    np.testing.assert_array_equal(fresh.predict(x), model.predict(x))


def _saved_with_edited_architecture(folder, edit):
    """A fitted model's file whose JSON architecture ``edit(meta)`` changed; the tensors are
    left as saved."""
    x, y = _data()
    model = _build()
    model.fit(x, y, epochs=1, **FIT)
    path = folder / "model.bpnn"
    bpnn.save(model, path)
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    meta = json.loads(header["__metadata__"]["meta"])
    edit(meta)
    header["__metadata__"]["meta"] = json.dumps(meta)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + length:])
    return path


def test_tampered_model_checkpoint_is_refused(tmp_path):
    def widen_output(meta):
        meta["network"]["children"]["3"]["config"]["out_features"] = 4

    path = _saved_with_edited_architecture(tmp_path, widen_output)
    state = bpnn.get_rng_state()
    with pytest.raises(bpnn.SerializationError, match=r"3.weight.*\(3, 24\).*\(4, 24\)"):
        bpnn.load(path)
    assert bpnn.get_rng_state() == state  # a refused file changes nothing, not even the RNG


def test_model_file_with_tensors_of_another_dtype_is_refused(tmp_path):
    def declare_float64(meta):
        meta["network"]["children"]["0"]["config"]["dtype"] = "float64"

    path = _saved_with_edited_architecture(tmp_path, declare_float64)
    with pytest.raises(bpnn.SerializationError,
                       match=r"tensor '0.(weight|bias)' is float32 but the architecture expects "
                             r"float64"):
        bpnn.load(path)


@pytest.mark.parametrize("optimizer, loss", [
    ("lbfgs", "cross_entropy"), ("bfgs", "cross_entropy"), ("dfp", "cross_entropy"),
    ("conjugate_gradient", "cross_entropy"), ("newton", "cross_entropy"),
    ("levenberg_marquardt", "mse")])
def test_second_order_fit_resumes_bit_identically(tmp_path, optimizer, loss):
    """Full-batch iterations of a curvature optimizer: its history (directions, inverse
    Hessian, damping) survives the file, so 5 + 7 iterations equal 12."""
    x, y = _data("float64")
    target = np.eye(3)[y] if loss == "mse" else y

    def build():
        bpnn.manual_seed(4)
        net = nn.Sequential(nn.Linear(8, 6, dtype="float64"), nn.Tanh(),
                            nn.Linear(6, 3, dtype="float64"))
        return bpnn.Model(net, loss, optimizer)

    straight = build()
    straight.fit(x, target, epochs=12, verbose=0)
    first = build()
    first.fit(x, target, epochs=5, verbose=0)
    bpnn.save(first, tmp_path / "model.bpnn")
    resumed = bpnn.load(tmp_path / "model.bpnn")
    resumed.fit(x, target, epochs=12, initial_epoch=5, verbose=0)
    _assert_same_training_state(resumed, straight)
