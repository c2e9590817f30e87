"""Callbacks, each on a 2-10 epoch fit of small data."""

import sys
import types

import numpy as np
import pytest
from train_support import Scripted, WeightRecorder, make_model

import bpnn
from bpnn import nn
from bpnn.callbacks import (
    CSVLogger,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
)


def _fit(model, blobs, callbacks, epochs, **kwargs):
    x, y = blobs
    kwargs.setdefault("verbose", 0)
    return model.fit(x, y, batch_size=30, epochs=epochs, callbacks=callbacks, **kwargs)


def test_early_stopping_stops_after_patience(blobs):
    model = make_model()
    scores = [5.0, 4.0, 4.5, 4.6, 4.7, 4.8, 4.9]
    stop = EarlyStopping(monitor="score", patience=2)
    history = _fit(model, blobs, [Scripted("score", scores), stop], epochs=7)
    assert len(history.history["loss"]) == 4 and stop.stopped_epoch == 3
    assert stop.best == 4.0 and stop.best_epoch == 1 and model.epoch == 4


def test_early_stopping_restores_best_weights_when_epochs_run_out(blobs):
    """keras#12511: Keras 2 restored only after an early stop, not when the epochs ran out."""
    model = make_model()
    recorder = WeightRecorder()
    scores = [3.0, 1.0, 2.0, 2.5]  # best at epoch 1, never patient enough to stop
    stop = EarlyStopping(monitor="score", patience=5, restore_best_weights=True)
    _fit(model, blobs, [Scripted("score", scores), recorder, stop], epochs=4)
    assert stop.stopped_epoch == 0
    final = model.get_weights()
    assert all(np.array_equal(final[k], recorder.weights[1][k]) for k in final)
    assert not np.array_equal(final["0.weight"], recorder.weights[3]["0.weight"])


def test_early_stopping_mode_min_delta_and_start_from_epoch(blobs):
    stop = EarlyStopping(monitor="val_accuracy", patience=1, min_delta=0.05)
    assert stop.mode == "max"
    scores = [0.5, 0.52, 0.53, 0.9, 0.91]
    _fit(make_model(), blobs, [Scripted("val_accuracy", scores), stop], epochs=5)
    assert stop.stopped_epoch == 1  # +0.02 is not an improvement of more than 0.05
    late = EarlyStopping(monitor="score", patience=0, start_from_epoch=2)
    history = _fit(make_model(), blobs, [Scripted("score", [1, 2, 3, 4, 5]), late], epochs=5)
    assert len(history.history["loss"]) == 4  # watching begins at epoch 2, stops at 3


def test_missing_monitor_warns(blobs):
    with pytest.warns(RuntimeWarning, match="'val_loss' is not in the logs"):
        _fit(make_model(), blobs, [EarlyStopping()], epochs=1)


@pytest.fixture
def fake_io(monkeypatch):
    saved = []
    module = types.ModuleType("bpnn.io")
    module.save = lambda obj, path: saved.append((obj, path))
    monkeypatch.setitem(sys.modules, "bpnn.io", module)
    monkeypatch.setattr(bpnn, "io", module)
    monkeypatch.setattr(bpnn.callbacks.model_checkpoint, "io", module)
    return saved


def test_model_checkpoint_best_only_and_path_formatting(blobs, fake_io):
    model = make_model()
    scores = [3.0, 2.0, 2.5, 1.0]
    checkpoint = ModelCheckpoint("ckpt-{epoch:02d}-{score:.1f}", monitor="score",
                                 save_best_only=True)
    _fit(model, blobs, [Scripted("score", scores), checkpoint], epochs=4)
    assert [path for _, path in fake_io] == ["ckpt-01-3.0", "ckpt-02-2.0", "ckpt-04-1.0"]
    assert all(obj is model for obj, _ in fake_io) and checkpoint.best == 1.0


def test_model_checkpoint_every_epoch_weights_only(blobs, fake_io):
    model = make_model()
    _fit(model, blobs, [ModelCheckpoint("w.bpnn", save_weights_only=True)], epochs=2)
    assert [(obj is model.network, path) for obj, path in fake_io] == [(True, "w.bpnn")] * 2
    with pytest.raises(KeyError, match="'nope'"):
        _fit(make_model(), blobs, [ModelCheckpoint("{nope}")], epochs=1)


def test_model_checkpoint_writes_a_loadable_model(blobs, tmp_path):
    model = make_model()
    path = tmp_path / "best.bpnn"
    _fit(model, blobs, [ModelCheckpoint(path, monitor="loss", save_best_only=True)], epochs=3)
    loaded = bpnn.load(path)
    assert isinstance(loaded, bpnn.Model) and loaded.epoch == 3
    assert loaded.callback_states["ModelCheckpoint"]["best"] == model.history.history["loss"][-1]


def _torch_epoch_rates(torch, make_scheduler, epochs):
    """The rate torch's SGD uses in each epoch under a scheduler stepped after each epoch."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = make_scheduler(opt)
    rates = []
    for _ in range(epochs):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


def test_learning_rate_scheduler_function_equals_torch_multiplicative_lr(blobs, torch):
    model = make_model(optimizer="sgd", lr=0.1)
    schedule = LearningRateScheduler(lambda epoch, lr: lr if epoch == 0 else lr * 0.5)
    history = _fit(model, blobs, [schedule], epochs=5)
    expected = _torch_epoch_rates(
        torch, lambda opt: torch.optim.lr_scheduler.MultiplicativeLR(opt, lambda epoch: 0.5), 5)
    np.testing.assert_allclose(history.history["lr"], expected, rtol=1e-12)


def test_learning_rate_scheduler_object_equals_torch_and_is_saved(blobs, torch):
    model = make_model(optimizer="sgd", lr=0.1)
    step_lr = bpnn.optim.lr_scheduler.StepLR(model.optimizer, step_size=2, gamma=0.3)
    callback = LearningRateScheduler(step_lr)
    history = _fit(model, blobs, [callback], epochs=5)
    expected = _torch_epoch_rates(
        torch, lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.3), 5)
    np.testing.assert_allclose(history.history["lr"], expected, rtol=1e-12)
    meta, _ = model.to_checkpoint()
    assert meta["callbacks"]["LearningRateScheduler"]["scheduler"]["last_epoch"] == 5


def _plateau_rates(blobs, torch, scores, keras_options, torch_options):
    """The callback's logged rates and torch's scheduler's on the same scripted scores."""
    model = make_model(optimizer="sgd", lr=0.1)
    plateau = ReduceLROnPlateau(monitor="score", factor=0.5, patience=2, min_delta=0.01,
                                **keras_options)
    history = _fit(model, blobs, [Scripted("score", scores), plateau], epochs=len(scores))
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=0.5, patience=1, threshold=0.01, threshold_mode="abs", **torch_options)
    expected = []
    for score in scores:  # the logs hold the rate used during each epoch
        expected.append(opt.param_groups[0]["lr"])
        sched.step(score)
    return history.history["lr"], expected


def test_reduce_lr_on_plateau_equals_torch(blobs, torch):
    scores = [1.0, 0.9, 0.95, 0.96, 0.97, 0.8, 0.85, 0.86, 0.87, 0.88, 0.89, 0.9]
    rates, expected = _plateau_rates(blobs, torch, scores, {"min_lr": 0.02}, {"min_lr": 0.02})
    np.testing.assert_allclose(rates, expected, rtol=1e-12)
    assert min(expected) == 0.02 and expected[3] == 0.1 and expected[4] == 0.05


def test_csv_logger(blobs, tmp_path):
    path = tmp_path / "log.csv"
    history = _fit(make_model(), blobs, [CSVLogger(path)], epochs=3, validation_split=0.2)
    header, *rows = path.read_text().splitlines()
    assert header == "epoch,accuracy,loss,lr,val_accuracy,val_loss"
    assert len(rows) == 3 and rows[2].startswith("2,")
    assert float(rows[1].split(",")[2]) == history.history["loss"][1]
    _fit(make_model(), blobs, [CSVLogger(path, append=True)], epochs=2, validation_split=0.2)
    assert len(path.read_text().splitlines()) == 6


@bpnn.nn.register_layer
class _BreaksAtCall(nn.Module):
    """Identity that returns NaN from its ``at``-th forward call on."""

    def __init__(self, at=5):
        super().__init__()
        self.at, self.calls = at, 0

    def forward(self, x):
        self.calls += 1
        return x * float("nan") if self.calls >= self.at else x

    def get_config(self):
        return {"at": self.at}


def test_terminate_on_nan_keeps_the_last_good_weights(blobs, capsys):
    network = nn.Sequential(nn.Linear(4, 3), _BreaksAtCall(at=7))
    model = bpnn.Model(network, nn.CrossEntropyLoss(), "adam", lr=0.01)
    weights_after_batch = []

    class Record(bpnn.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            weights_after_batch.append(model.get_weights())

    guard = TerminateOnNaN()
    x, y = blobs
    history = model.fit(x, y, batch_size=30, epochs=3, callbacks=[guard, Record()], verbose=0)
    # Call 1 is fit's one-sample shape check; 4 batches per epoch: calls 2-5 in epoch 0,
    # call 6 = epoch 1 batch 0, call 7 (epoch 1 batch 1) breaks.
    assert guard.terminated_at == (1, 1)
    assert "epoch 2, batch 1: loss is nan" in capsys.readouterr().out
    final = model.get_weights()
    assert all(np.isfinite(v).all() for v in final.values())
    assert all(np.array_equal(final[k], weights_after_batch[-1][k]) for k in final)
    assert len(weights_after_batch) == 5 and len(history.history["loss"]) == 1
    assert model.epoch == 1


def test_terminate_on_nan_checks_gradients(blobs):
    model = make_model()
    guard = TerminateOnNaN()

    class PoisonGradient(bpnn.callbacks.Callback):
        def on_before_update(self, batch, logs=None):
            if batch == 2:
                model.network[2].bias.grad[0] = np.inf
            return True

    before = []

    class Record(bpnn.callbacks.Callback):
        def on_batch_begin(self, batch, logs=None):
            before.append(model.get_weights())

    _fit(model, blobs, [Record(), PoisonGradient(), guard], epochs=2)
    assert guard.terminated_at == (0, 2)
    final = model.get_weights()
    assert all(np.array_equal(final[k], before[2][k]) for k in final)


def test_callback_states_resume_with_matching_callbacks(blobs):
    model = make_model()
    scores = [3.0, 1.0, 2.0, 2.5, 2.6]
    _fit(model, blobs, [Scripted("score", scores), EarlyStopping("score", patience=3)],
         epochs=3)
    assert model.callback_states["EarlyStopping"]["wait"] == 1
    resumed = EarlyStopping("score", patience=3)
    _fit(model, blobs, [Scripted("score", scores), resumed], epochs=5, initial_epoch=3)
    assert resumed.best == 1.0 and resumed.wait == 3 and resumed.stopped_epoch == 4


def test_resume_from_a_model_checkpoint_file_is_bit_identical(blobs, tmp_path):
    x, y = blobs

    def callbacks(path):
        # The checkpoint is listed first: it must still save EarlyStopping's state of the epoch.
        return [ModelCheckpoint(path), EarlyStopping("val_loss", patience=10,
                                                     restore_best_weights=True)]

    fit_args = dict(batch_size=16, validation_split=0.25, verbose=0)
    bpnn.manual_seed(3)
    straight = make_model(dropout=0.2)
    straight.fit(x, y, epochs=5, callbacks=callbacks(tmp_path / "a-{epoch}.bpnn"), **fit_args)

    bpnn.manual_seed(3)
    interrupted = make_model(dropout=0.2)
    interrupted.fit(x, y, epochs=2, callbacks=callbacks(tmp_path / "b-{epoch}.bpnn"), **fit_args)
    bpnn.manual_seed(123)
    resumed = bpnn.load(tmp_path / "b-2.bpnn")
    resumed.fit(x, y, epochs=5, initial_epoch=resumed.epoch,
                callbacks=callbacks(tmp_path / "c-{epoch}.bpnn"), **fit_args)
    final, expected = resumed.get_weights(), straight.get_weights()
    assert all(np.array_equal(final[k], expected[k]) for k in expected)
    assert resumed.history.history == straight.history.history


def test_progress_bar_on_a_terminal(blobs):
    import io

    from bpnn.train.progress import EpochLogger, ProgressBar, make_progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal, pipe = Terminal(), io.StringIO()
    assert type(make_progress("auto", 3, 4, stream=terminal)) is ProgressBar
    assert type(make_progress(1, 3, 4, stream=pipe)) is EpochLogger
    assert make_progress(0, 3, 4) is None
    with pytest.raises(ValueError, match="verbose must be"):
        make_progress(3, 3, 4)
    x, y = blobs
    make_model().fit(x, y, epochs=2, batch_size=30, verbose=0,
                     callbacks=[ProgressBar(2, 4, stream=terminal)])
    shown = terminal.getvalue()
    assert "Epoch 2/2" in shown and "4/4" in shown and "loss: " in shown


def test_two_callbacks_of_one_class_keep_their_own_state_on_resume(blobs):
    model = make_model()
    loss_scores = [3.0, 1.0, 2.0, 2.5, 2.6]
    other_scores = [5.0, 4.0, 3.0, 3.5, 3.6]
    _fit(model, blobs, [Scripted("score", loss_scores), Scripted("other", other_scores),
                        EarlyStopping("score", patience=9), EarlyStopping("other", patience=9)],
         epochs=3)
    assert model.callback_states["EarlyStopping"]["best"] == 1.0
    assert model.callback_states["EarlyStopping:2"]["best"] == 3.0
    first, second = EarlyStopping("score", patience=9), EarlyStopping("other", patience=9)
    _fit(model, blobs, [Scripted("score", loss_scores), Scripted("other", other_scores), first,
                        second], epochs=4, initial_epoch=3)
    assert (first.best, first.wait) == (1.0, 2) and (second.best, second.wait) == (3.0, 1)


def test_reduce_lr_on_plateau_cooldown_is_keras_one_more_than_torchs(blobs, torch):
    # Keras counts the last cooldown epoch, torch does not: cooldown=2 here is torch's 1.
    scores = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    rates, expected = _plateau_rates(blobs, torch, scores, {"cooldown": 2}, {"cooldown": 1})
    np.testing.assert_allclose(rates, expected, rtol=1e-12)
    # Keras' rule by hand: reductions after epochs 3 and 6 (0-based 2 and 5), then 0.5 is new
    assert expected[:7] == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]
