"""``Model.lr_find``: fastai's schedule, smoothing, stopping and suggestions; nothing changed."""

import os

import numpy as np
import pytest

import bpnn
from bpnn import nn
from bpnn.train.lr_finder import steep, valley

FASHION = "/usr/share/datasets/fashion-mnist"


def _model(optimizer="adam", dropout=True, **options):
    layers = [nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU()]
    layers += [nn.Dropout(0.2)] if dropout else []
    network = nn.Sequential(*layers, nn.Linear(16, 3))
    return bpnn.Model(network, "cross_entropy", optimizer, **({"lr": 0.01} | options))


def _snapshot(model):
    return (model.get_weights(), model.optimizer.state_dict(), bpnn.get_rng_state())


def _assert_same(a, b):
    for key, value in a[0].items():
        assert b[0][key].dtype == value.dtype
        assert b[0][key].tobytes() == value.tobytes(), key
    assert a[1]["param_groups"] == b[1]["param_groups"]
    assert a[1]["state"].keys() == b[1]["state"].keys()
    for index, state in a[1]["state"].items():
        for key, value in state.items():
            np.testing.assert_array_equal(b[1]["state"][index][key], value, err_msg=key)
    for key, value in a[2].items():
        assert np.array_equal(b[2][key], value) if isinstance(value, np.ndarray) \
            else b[2][key] == value


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_model_and_optimizer_come_back_bit_for_bit(blobs, optimizer):
    x, y = blobs
    options = {"momentum": 0.9} if optimizer == "sgd" else {}
    bpnn.manual_seed(3)
    model = _model(optimizer, **options)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)  # optimizer state is not empty
    state = bpnn.get_rng_state()
    bpnn.manual_seed(3)
    twin = _model(optimizer, **options)
    twin.fit(x, y, epochs=2, batch_size=16, verbose=0)
    bpnn.set_rng_state(state)

    before = _snapshot(model)
    result = model.lr_find(x, y, batch_size=16)
    assert len(result.lrs) > 10
    _assert_same(before, _snapshot(model))
    assert [m.training for m in model.network.modules()] == [True] * 6
    # and training goes on exactly as if lr_find had never run (both from the same stream)
    state = bpnn.get_rng_state()
    model.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0)
    bpnn.set_rng_state(state)
    twin.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0)
    _assert_same(_snapshot(twin), _snapshot(model))


def test_schedule_and_smoothing_match_a_hand_written_loop(blobs):
    """fastai's rules re-done by hand: lr_i = start (end/start)^(i/(n-1)), debiased EMA 0.98."""
    x, y = blobs
    start, end, n = 1e-4, 1.0, 30
    bpnn.manual_seed(11)
    model = _model("sgd", dropout=False)
    state = bpnn.get_rng_state()
    result = model.lr_find(x, y, start_lr=start, end_lr=end, num_iter=n, batch_size=8,
                           stop_div=False)
    np.testing.assert_allclose(result.lrs, start * (end / start) ** (np.arange(n) / (n - 1)),
                               rtol=1e-12)
    assert result.lrs[-1] == pytest.approx(end) and not result.diverged

    bpnn.set_rng_state(state)  # lr_find restored it: the same batches in the same order
    optimizer = bpnn.optim.SGD(model.network.parameters(), lr=0.0)
    loader = bpnn.data.DataLoader((x, y), batch_size=8, shuffle=True)
    raw, batches = [], (batch for _ in range(5) for batch in loader)  # epochs run on
    loss_fn = nn.CrossEntropyLoss()
    for lr in result.lrs:
        xb, yb = next(batches)
        optimizer.param_groups[0]["lr"] = lr
        optimizer.zero_grad()
        loss = loss_fn(model.network(xb), yb)
        loss.backward()
        optimizer.step()
        raw.append(float(loss.data))
    np.testing.assert_allclose(result.raw_losses, raw, rtol=1e-6)
    average, smoothed = 0.0, []
    for i, value in enumerate(raw):
        average = 0.98 * average + 0.02 * value
        smoothed.append(average / (1 - 0.98 ** (i + 1)))
    np.testing.assert_allclose(result.losses, smoothed, rtol=1e-6)


def test_stops_once_the_smoothed_loss_passes_four_times_its_best(blobs):
    x, y = blobs
    result = _model("sgd", dropout=False).lr_find(x, y, end_lr=1e4, num_iter=200,
                                                  batch_size=8)
    assert result.diverged and len(result.lrs) < 200
    losses = result.losses
    best_before = np.minimum.accumulate(losses)
    assert losses[-1] > 4 * best_before[-2]
    assert np.all(losses[:-1] <= 4 * best_before[:-1])


def test_suggestion_rules_on_known_curves():
    lrs = np.logspace(-6, 0, 13)
    # falls over indices 0..8, then rises: fastai's valley index is
    # start + int(len/3) + int(len/6) with start = 8 - 9 = -1 and len = 9: -1 + 3 + 1 = 3
    losses = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 2, 3, 4, 5], dtype=float)
    assert valley(lrs, losses) == 3
    losses = np.array([5, 5, 4.9, 4.8, 3.0, 2.9, 2.8, 2.7, 2.6, 2.6, 2.7, 3, 9])
    assert steep(lrs, losses) == 3  # the drop 4.8 -> 3.0 is the steepest
    # a bump at index 3: the longest decreasing subsequence skips it (9 points, ending at
    # index 9, so start = 9 - 9 = 0): 0 + int(9/3) + int(9/3/2) = 4
    losses = np.array([9, 8, 7, 7.5, 6, 5, 4, 3, 2, 1, 1.5, 5, 9])
    assert valley(lrs, losses) == 4


def test_result_plot_writes_a_png(blobs, tmp_path):
    x, y = blobs
    result = _model().lr_find(x, y, batch_size=8)
    path = result.plot(str(tmp_path / "lr.png"))
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(path) > 10_000
    assert set(result.suggestions) == {"valley", "steep", "minimum"}
    assert result.suggestion == result.suggestions["valley"]
    assert result.lrs[0] <= result.suggestion <= result.lrs[-1]


@pytest.mark.parametrize("kwargs, message", [
    ({"start_lr": 0.0}, "0 < start_lr < end_lr"), ({"start_lr": 1.0, "end_lr": 0.1}, "start_lr"),
    ({"num_iter": 1}, "num_iter"), ({"batch_size": 0}, "batch_size"),
])
def test_bad_arguments_are_named_before_any_step(blobs, kwargs, message):
    x, y = blobs
    model = _model()
    before = _snapshot(model)
    with pytest.raises(ValueError, match=message):
        model.lr_find(x, y, **kwargs)
    _assert_same(before, _snapshot(model))


def test_closure_optimizers_are_refused(blobs):
    x, y = blobs
    with pytest.raises(ValueError, match="mini-batch optimizers"):
        _model("lbfgs", lr=1.0).lr_find(x, y)


def test_too_early_divergence_is_explained(blobs):
    x, y = blobs
    with pytest.raises(ValueError, match="too few to suggest"):
        _model("sgd", dropout=False).lr_find(x, y, start_lr=1e3, end_lr=1e9, num_iter=100)


@pytest.mark.skipif(not os.path.isdir(FASHION) and os.environ.get("BPNN_REQUIRE_DATA") != "1",
                    reason="dataset-fashion-mnist not installed (CI sets BPNN_REQUIRE_DATA=1)")
def test_fashion_mnist_mlp_suggestion_is_a_sensible_adam_rate():
    """Cheap version of examples/lr_find_fashion_mnist.py (its full result is in the README)."""
    (x, y), _ = bpnn.datasets.fashion_mnist()
    x = x[:10_000].astype("float32") / 255.0
    bpnn.manual_seed(0)
    network = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    model = bpnn.Model(network, nn.CrossEntropyLoss(), "adam", lr=1e-3)
    result = model.lr_find(x, y[:10_000])
    assert 1e-4 <= result.suggestion <= 1e-2


@pytest.mark.skipif(not os.path.isdir(FASHION) and os.environ.get("BPNN_REQUIRE_DATA") != "1",
                    reason="dataset-fashion-mnist not installed (CI sets BPNN_REQUIRE_DATA=1)")
def test_fashion_mnist_suggestion_as_one_cycle_peak_trains_as_well_as_1e3():
    """Issue 17's bar, seed 0 of examples/lr_find_fashion_mnist.py (about 25 s): the
    suggestion, used as a one-cycle peak for 10 epochs, ends within 0.005 of lr 1e-3."""
    from bpnn.callbacks import LearningRateScheduler
    from bpnn.optim.lr_scheduler import OneCycleLR

    (x, y), (x_test, y_test) = bpnn.datasets.fashion_mnist()
    x, x_test = x.astype("float32") / 255.0, x_test.astype("float32") / 255.0

    def trained(lr=None):
        bpnn.manual_seed(0)
        network = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(),
                                nn.Linear(128, 10))
        model = bpnn.Model(network, nn.CrossEntropyLoss(), "adam", metrics=["accuracy"],
                           lr=lr or 1e-3)
        if lr is None:
            return model
        schedule = OneCycleLR(model.optimizer, max_lr=lr, epochs=10,
                              steps_per_epoch=-(-len(x) // 32))
        model.fit(x, y, batch_size=32, epochs=10, verbose=0,
                  callbacks=[LearningRateScheduler(schedule, interval="batch")])
        return model.evaluate(x_test, y_test, batch_size=1000)["accuracy"]

    suggestion = trained().lr_find(x, y).suggestion
    assert 1e-4 <= suggestion <= 1e-2
    assert trained(suggestion) >= trained(1e-3) - 0.005
