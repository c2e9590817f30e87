"""``bpnn.plot``: what is drawn is the data (checked on the Figure), and the files are PNGs."""

import os

import numpy as np
import pytest

import bpnn
from bpnn import nn

pytest.importorskip("matplotlib")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _is_png(path):
    with open(path, "rb") as handle:
        return handle.read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 5_000


@pytest.fixture
def history(blobs):
    x, y = blobs
    model = bpnn.Model(nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)),
                       "cross_entropy", "adam", lr=0.05)
    return model.fit(x, y, epochs=8, batch_size=16, validation_split=0.25, verbose=0)


def test_performance_draws_each_split_and_marks_the_best_epoch(history, tmp_path):
    logs = dict(history.history)
    logs["test_loss"] = [v * 1.1 for v in logs["val_loss"]]
    figure = bpnn.plot.performance(logs)
    axis = figure.axes[0]
    lines = {line.get_label(): line for line in axis.get_lines()}
    for key, label in (("loss", "train"), ("val_loss", "validation"), ("test_loss", "test")):
        np.testing.assert_allclose(lines[label].get_ydata(), logs[key])
        np.testing.assert_array_equal(lines[label].get_xdata(), np.arange(1, 9))
    best = int(np.argmin(logs["val_loss"])) + 1
    assert lines[f"best (epoch {best})"].get_xdata()[0] == best
    assert axis.get_yscale() == "log"
    assert f"at epoch {best}" in axis.get_title()
    path = bpnn.plot.performance(history, str(tmp_path / "perform.png"))
    assert _is_png(path)


def test_performance_without_validation_uses_training_loss():
    figure = bpnn.plot.performance({"loss": [3.0, 1.0, 2.0, -1.0]})
    axis = figure.axes[0]
    assert "Best training loss -1 at epoch 4" == axis.get_title()
    assert axis.get_yscale() == "linear"  # a negative value: no log scale


def test_regression_fit_matches_scipy():
    from scipy.stats import linregress

    rng = np.random.default_rng(2)
    true = rng.normal(size=(50, 2))
    predicted = 0.8 * true + 0.3 + 0.2 * rng.normal(size=(50, 2))
    fit = bpnn.plot.regression_fit(true, predicted)
    reference = linregress(true.ravel(), predicted.ravel())
    assert fit["r"] == pytest.approx(reference.rvalue, rel=1e-12)
    assert fit["slope"] == pytest.approx(reference.slope, rel=1e-10)
    assert fit["intercept"] == pytest.approx(reference.intercept, rel=1e-10, abs=1e-12)
    assert fit["n"] == 100


def test_regression_has_a_panel_per_split_and_all(tmp_path):
    rng = np.random.default_rng(3)
    true = rng.normal(size=60)
    predicted = true + 0.1 * rng.normal(size=60)
    splits = np.array(["train"] * 40 + ["validation"] * 10 + ["test"] * 10)
    figure = bpnn.plot.regression(true, predicted, splits=splits)
    titles = [axis.get_title() for axis in figure.axes if axis.get_visible()]
    expected = []
    for name, mask in (("train", splits == "train"), ("validation", splits == "validation"),
                       ("test", splits == "test"), ("all", slice(None))):
        r = np.corrcoef(true[mask], predicted[mask])[0, 1]
        expected.append(f"{name}: R = {r:.4f}")
    assert titles == expected
    data = figure.axes[1].get_lines()[0]
    np.testing.assert_array_equal(data.get_xdata(), true[40:50])
    assert _is_png(bpnn.plot.regression(true, predicted, str(tmp_path / "r.png"), splits))


def test_error_histogram_counts_every_error(tmp_path):
    rng = np.random.default_rng(4)
    true, predicted = rng.normal(size=80), rng.normal(size=80)
    splits = np.array(["train"] * 60 + ["test"] * 20)
    figure = bpnn.plot.error_histogram(true, predicted, splits=splits, bins=12)
    patches = figure.axes[0].patches
    assert len(patches) == 2 * 12
    heights = np.array([p.get_height() for p in patches]).reshape(2, 12)
    expected, _ = np.histogram(true - predicted, bins=12)
    np.testing.assert_array_equal(heights.sum(axis=0), expected)
    train_counts, _ = np.histogram((true - predicted)[:60], bins=np.histogram_bin_edges(
        true - predicted, bins=12))
    np.testing.assert_array_equal(heights[0], train_counts)
    assert _is_png(bpnn.plot.error_histogram(true, predicted, str(tmp_path / "e.png")))


@pytest.mark.parametrize("call, message", [
    (lambda: bpnn.plot.performance({"val_loss": [1.0]}), "non-empty 'loss'"),
    (lambda: bpnn.plot.performance({"loss": [1.0]}, metric="accuracy"), "no 'accuracy'"),
    (lambda: bpnn.plot.regression([1, 2, 3], [1, 2]), "different numbers of samples"),
    (lambda: bpnn.plot.regression([1, 2, 3], [1, 2, 3], splits=["a"]), "one label per sample"),
    (lambda: bpnn.plot.error_histogram([1, 2], [1, 2], bins=0), "bins"),
])
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
