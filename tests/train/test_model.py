"""Model.fit / evaluate / predict: learning, reproducibility, resume, splits, weights, checks."""

import numpy as np
import pytest
from train_support import make_classifier, make_model

import bpnn
from bpnn import nn
from bpnn.callbacks import EarlyStopping
from bpnn.train.validation import split_validation


def _same_weights(a, b):
    return all(np.array_equal(a[k], b[k]) for k in a) and a.keys() == b.keys()


def test_fit_learns_and_reports_history(blobs):
    x, y = blobs
    model = make_model(metrics=["accuracy", "f1"])
    history = model.fit(x, y, batch_size=16, epochs=8, validation_split=0.25, verbose=0)
    assert history is model.history
    assert set(history.history) == {"loss", "accuracy", "f1", "val_loss", "val_accuracy",
                                    "val_f1", "lr"}
    assert all(len(v) == 8 for v in history.history.values())
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.9
    assert history.history["lr"] == [0.01] * 8
    assert model.epoch == 8 and history.epoch == list(range(8))
    scores = model.evaluate(x, y)
    assert set(scores) == {"loss", "accuracy", "f1"} and scores["accuracy"] > 0.9
    predicted = model.predict(x)
    assert predicted.shape == (120, 3) and predicted.dtype == np.float32
    assert (predicted.argmax(1) == y).mean() == pytest.approx(scores["accuracy"])


def test_epoch_loss_is_the_sample_weighted_mean_of_batch_losses(blobs):
    x, y = blobs
    batch_losses = []

    class Record(bpnn.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            batch_losses.append((logs["loss"], logs["size"]))

    history = make_model().fit(x[:50], y[:50], batch_size=16, verbose=0, callbacks=[Record()])
    assert [s for _, s in batch_losses] == [16, 16, 16, 2]
    expected = sum(loss * size for loss, size in batch_losses) / 50
    assert history.history["loss"][0] == pytest.approx(expected)


def test_same_seed_gives_bit_identical_weights(blobs):
    x, y = blobs
    results = []
    for _ in range(2):
        bpnn.manual_seed(42)
        model = make_model(dropout=0.3)
        model.fit(x, y, batch_size=8, epochs=3, validation_split=0.2, verbose=0)
        results.append(model.get_weights())
    assert _same_weights(*results)
    bpnn.manual_seed(43)
    other = make_model(dropout=0.3)
    other.fit(x, y, batch_size=8, epochs=3, validation_split=0.2, verbose=0)
    assert not _same_weights(results[0], other.get_weights())


def _copy_checkpoint(model):
    meta, arrays = model.to_checkpoint()
    import json

    meta = json.loads(json.dumps(meta, allow_nan=False))  # must survive strict JSON
    return meta, {k: np.array(v, copy=True) for k, v in arrays.items()}


def test_resume_from_checkpoint_is_bit_identical(blobs):
    x, y = blobs
    fit_args = dict(batch_size=8, validation_split=0.2, verbose=0)

    bpnn.manual_seed(5)
    straight = make_model(dropout=0.25, metrics=["accuracy"])
    stop = EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
    straight.fit(x, y, epochs=6, callbacks=[stop], **fit_args)

    bpnn.manual_seed(5)
    first = make_model(dropout=0.25, metrics=["accuracy"])
    first.fit(x, y, epochs=3, callbacks=[EarlyStopping(monitor="val_loss", patience=10,
                                                       restore_best_weights=True)], **fit_args)
    meta, arrays = _copy_checkpoint(first)
    bpnn.manual_seed(999)  # whatever happens in between; the checkpoint restores the stream
    resumed = bpnn.Model.from_checkpoint(meta, arrays)
    assert resumed.epoch == 3 and len(resumed.history.history["loss"]) == 3
    resumed_stop = EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
    resumed.fit(x, y, epochs=6, initial_epoch=3, callbacks=[resumed_stop], **fit_args)

    assert _same_weights(straight.get_weights(), resumed.get_weights())
    assert straight.history.history == resumed.history.history
    assert resumed.epoch == 6 and resumed.history.epoch == list(range(6))
    assert resumed_stop.best == stop.best and resumed_stop.best_epoch == stop.best_epoch


def test_checkpoint_keys_follow_the_contract(blobs):
    x, y = blobs
    model = make_model()
    model.fit(x, y, epochs=1, verbose=0, validation_split=0.2,
              callbacks=[EarlyStopping(restore_best_weights=True)])
    meta, arrays = model.to_checkpoint()
    assert {"network.0.weight", "network.2.bias", "optimizer.state.0.exp_avg",
            "callbacks.EarlyStopping.best_weights.0.weight"} <= set(arrays)
    assert meta["network"] == nn.module_to_config(model.network)
    assert meta["loss"]["class"] == "CrossEntropyLoss"
    assert meta["optimizer"]["name"] == "Adam" and meta["optimizer"]["defaults"]["lr"] == 0.01
    assert meta["rng_state"] == bpnn.get_rng_state()
    assert meta["epoch"] == 1 and meta["metrics"] == [{"name": "accuracy"}]


def test_save_and_load_through_bpnn_io(blobs, tmp_path):
    x, y = blobs
    model = make_model(metrics=["top_k_accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    bpnn.save(model, tmp_path / "model.bpnn")
    loaded = bpnn.load(tmp_path / "model.bpnn")
    assert isinstance(loaded, bpnn.Model) and loaded.epoch == 2
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.evaluate(x, y) == model.evaluate(x, y)


def test_stratified_validation_split_keeps_class_shares_and_spares_the_global_rng():
    y = np.array([0] * 90 + [1] * 10)  # the tail holds only class 1 (keras#8346)
    x = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    seen = {}

    class Spy(bpnn.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["rng"] = bpnn.get_rng_state()

    model = bpnn.Model(nn.Linear(4, 2), nn.CrossEntropyLoss(), "sgd", lr=0.0)
    before = bpnn.get_rng_state()
    model.fit(x, y, epochs=0, validation_split=0.2, callbacks=[Spy()], verbose=0)
    assert seen["rng"] == before  # the split drew from its own generator

    (_, y_train, _), (_, y_val, _) = split_validation(model, (x, y, None), 0.2, "auto", 0)
    np.testing.assert_array_equal(np.bincount(y_val), [18, 2])
    np.testing.assert_array_equal(np.bincount(y_train), [72, 8])
    (_, _, _), (_, y_tail, _) = split_validation(model, (x, y, None), 0.2, "tail", 0)
    np.testing.assert_array_equal(y_tail, y[80:])


def test_tail_mode_validates_on_the_last_rows(blobs):
    x, y = blobs
    model = make_model(optimizer="sgd", lr=0.0)
    history = model.fit(x, y, epochs=1, validation_split=0.25, validation_split_mode="tail",
                        verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(x[90:], y[90:])["loss"])


def test_sample_and_class_weights_change_the_loss_as_documented(blobs, torch):
    x, y = blobs
    model = make_model(optimizer="sgd", lr=0.0)  # lr 0: the epoch loss is the loss at start
    logits = model.predict(x)
    per_sample = torch.nn.functional.cross_entropy(
        torch.tensor(logits), torch.tensor(y), reduction="none").numpy()
    weights = np.random.default_rng(1).uniform(0, 3, size=120).astype(np.float32)
    history = model.fit(x, y, batch_size=120, shuffle=False, sample_weight=weights, verbose=0)
    assert history.history["loss"][0] == pytest.approx((weights * per_sample).mean(), rel=1e-5)

    class_weight = {0: 1.0, 1: 4.0, 2: 0.5}
    history = model.fit(x, y, batch_size=120, class_weight=class_weight, verbose=0)
    expected = (np.array([1.0, 4.0, 0.5])[y] * per_sample).mean()
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)
    unweighted = model.fit(x, y, batch_size=120, verbose=0).history["loss"][0]
    assert unweighted == pytest.approx(per_sample.mean(), rel=1e-5)


def test_regularization_penalty_is_part_of_the_training_loss(blobs, torch):
    x, y = blobs
    network = make_classifier(regularizer=bpnn.regularizers.l2(0.01))
    model = bpnn.Model(network, nn.CrossEntropyLoss(), "sgd", lr=0.0)
    penalty = 0.01 * float((network[0].weight.data.astype(np.float64) ** 2).sum())
    base = torch.nn.functional.cross_entropy(torch.tensor(model.predict(x)), torch.tensor(y))
    history = model.fit(x, y, batch_size=120, verbose=0)
    assert history.history["loss"][0] == pytest.approx(float(base) + penalty, rel=1e-5)
    grad_model = bpnn.Model(make_classifier(regularizer=bpnn.regularizers.l2(0.0)),
                            nn.CrossEntropyLoss(), "sgd", lr=0.0)
    grad_model.network.load_state_dict(network.state_dict())
    for m in (model, grad_model):
        m.fit(x, y, batch_size=120, verbose=0)
    extra = network[0].weight.grad - grad_model.network[0].weight.grad
    np.testing.assert_allclose(extra, 0.02 * network[0].weight.data, rtol=1e-4, atol=1e-6)


def test_regression_with_one_dimensional_targets(rng):
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.3
    model = bpnn.Model(nn.Linear(3, 1), "mse", "adam", metrics=["mae", "r2"], lr=0.05)
    history = model.fit(x, y, epochs=30, batch_size=20, verbose=0)
    assert history.history["r2"][-1] > 0.99
    np.testing.assert_allclose(model.network.weight.data.ravel(), [1.0, -2.0, 0.5], atol=0.05)


def test_one_hot_targets_and_validation_data(blobs):
    x, y = blobs
    model = make_model()
    targets = bpnn.preprocessing.one_hot(y, 3)
    history = model.fit(x[:90], targets[:90], epochs=3, verbose=0,
                        validation_data=(x[90:], targets[90:]))
    assert len(history.history["val_accuracy"]) == 3


@pytest.mark.parametrize("change, message", [
    (lambda x, y: (x, y[:-1]), "different numbers of samples: 120 and 119"),
    (lambda x, y: (np.where(np.arange(120)[:, None] == 7, np.nan, x), y),
     "x contains NaN or infinity \\(first in sample 7\\)"),
    (lambda x, y: (np.where(np.arange(120)[:, None] == 3, np.inf, x), y), "NaN or infinity"),
    (lambda x, y: (x, np.where(np.arange(120) == 0, 3, y)),
     "label 3, but the network's output layer has 3 units"),
    (lambda x, y: (x, np.where(np.arange(120) == 0, -1, y)), "label -1"),
    (lambda x, y: (x[:, :3], y), "expected input with 4 features, got 3"),
    (lambda x, y: (x[:0], y[:0]), "x is empty"),
])
def test_bad_input_raises_before_any_training_step(blobs, change, message):
    x, y = blobs
    model = make_model()
    before = model.get_weights()
    with pytest.raises(ValueError, match=message):
        model.fit(*change(x, y), epochs=1, verbose=0)
    assert _same_weights(before, model.get_weights()) and not model.optimizer.state
    assert model.epoch == 0


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"validation_split": 1.0}, "validation_split must be in"),
    ({"sample_weight": np.ones(5)}, "one weight per sample"),
    ({"sample_weight": -np.ones(120)}, "non-negative"),
    ({"validation_data": (np.zeros((3, 5)), np.zeros(3, int))},
     r"x_val: expected samples shaped \(4,\)"),
])
def test_bad_options_raise_before_training(blobs, kwargs, message):
    x, y = blobs
    model = make_model()
    with pytest.raises(ValueError, match=message):
        model.fit(x, y, verbose=0, **kwargs)
    assert not model.optimizer.state


def test_predict_checks_features_and_runs_in_eval_mode(blobs):
    x, y = blobs
    model = make_model(dropout=0.5)
    model.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"expected samples shaped \(4,\).*got \(5,\)"):
        model.predict(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        model.predict(x, batch_size=0)
    np.testing.assert_array_equal(model.predict(x), model.predict(x))  # no dropout mask
    np.testing.assert_allclose(model.predict(x, batch_size=7), model.predict(x), rtol=1e-5,
                               atol=1e-6)
    assert model.network.training


def test_train_step_can_be_overridden(blobs):
    x, y = blobs
    calls = []

    class Counting(bpnn.Model):
        def train_step(self, x, y, sample_weight=None):
            calls.append(len(x))
            return super().train_step(x, y, sample_weight)

    model = Counting(make_classifier(), nn.CrossEntropyLoss(), "adam")
    model.fit(x, y, batch_size=50, epochs=2, verbose=0)
    assert calls == [50, 50, 20] * 2


class _RecordingClosureOptimizer(bpnn.optim.SGD):
    """A stand-in for L-BFGS: full-batch, calls closure() and closure.residuals()."""

    requires_closure = True

    def step(self, closure=None):
        self.batch_sizes = getattr(self, "batch_sizes", [])
        loss = closure()
        self.residual_norms = getattr(self, "residual_norms", [])
        self.residual_norms.append(float((closure.residuals().data ** 2).sum()))
        self.batch_sizes.append(len(closure.y))
        super().step()
        return loss


def test_closure_optimizers_get_full_batch_closures(rng):
    x = rng.normal(size=(40, 2)).astype(np.float32)
    y = (x @ np.array([2.0, -1.0])).astype(np.float32)
    network = nn.Linear(2, 1)
    optimizer = _RecordingClosureOptimizer(network.parameters(), lr=0.1)
    model = bpnn.Model(network, "mse", optimizer)
    history = model.fit(x, y, epochs=4, verbose=0)
    assert optimizer.batch_sizes == [40] * 4  # one step per epoch on the whole set
    losses = history.history["loss"]
    # closure's loss is the mean squared residual: the residuals are prediction - target
    np.testing.assert_allclose(np.array(optimizer.residual_norms) / 40, losses, rtol=1e-5)
    assert losses[-1] < losses[0]
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert optimizer.batch_sizes[4:] == [16, 16, 8]


def test_line_per_epoch_when_output_is_not_a_terminal(blobs, capsys):
    x, y = blobs
    make_model().fit(x[:20], y[:20], epochs=100, batch_size=4, validation_split=0.2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 100
    assert lines[0].startswith("Epoch 1/100 - ") and " - val_loss: " in lines[0]
    make_model().fit(x[:20], y[:20], epochs=3, verbose=0)
    assert capsys.readouterr().out == ""


def test_history_persists_across_fits_and_appends_when_resuming(blobs):
    x, y = blobs
    model = make_model()
    model.fit(x, y, epochs=2, verbose=0)
    model.fit(x, y, epochs=5, initial_epoch=2, verbose=0)
    assert len(model.history.history["loss"]) == 5 and model.history.epoch == [0, 1, 2, 3, 4]
    model.fit(x, y, epochs=1, verbose=0)
    assert len(model.history.history["loss"]) == 1


def test_optimizer_by_name_and_unknown_loss():
    model = bpnn.Model(nn.Linear(2, 2), "cross_entropy", "sgd", lr=0.5, momentum=0.9)
    assert type(model.optimizer).__name__ == "SGD" and model.optimizer.defaults["momentum"] == 0.9
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        bpnn.Model(nn.Linear(2, 2), "hinge", "sgd")
    with pytest.raises(ValueError, match="not in the network"):
        bpnn.Model(nn.Linear(2, 2), "mse", bpnn.optim.SGD(nn.Linear(2, 2).parameters(), lr=1))
