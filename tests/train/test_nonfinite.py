"""Non-finite values never pass silently: inputs refused by name, divergence stops ``fit``."""

import numpy as np
import pytest

import bpnn
from bpnn import nn
from bpnn.callbacks import TerminateOnNaN
from bpnn.train.nonfinite import TrainingDivergedError


def _regression(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(64, 4))
    return x, x @ np.array([1.0, -2.0, 0.5, 3.0])


def _model(lr, dtype="float32"):
    bpnn.manual_seed(0)
    return bpnn.Model(nn.Sequential(nn.Linear(4, 1, dtype=dtype)), "mse", "sgd", lr=lr)


def test_float64_values_that_overflow_float32_are_refused_by_position():
    x, y = _regression()
    x[9, 3] = 1e300
    model = _model(0.01)
    with pytest.raises(ValueError, match=r"x holds 1e\+300 \(first in sample 9\) in column 3, "
                                         r"which overflows to infinity in the model's float32"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="sample 9"):
        model.predict(x)
    # In float64 the same value is finite and accepted.
    _model(0.0, "float64").predict(x)


def test_regression_target_that_overflows_is_refused():
    x, y = _regression()
    y[5] = -1e300
    with pytest.raises(ValueError, match=r"y holds -1e\+300 \(first in sample 5\)"):
        _model(0.01).fit(x, y, verbose=0)


def test_nan_input_names_sample_and_column():
    x, y = _regression()
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"x contains NaN or infinity \(first in sample 2\) "
                                         r"in column 1"):
        _model(0.01).fit(x, y, verbose=0)


def _last_good_weights(x, y, lr, batch_size, epochs):
    """Replay SGD in float32 NumPy until a loss or gradient would be non-finite."""
    model = _model(lr)
    w = model.network[0].weight.data.copy()
    b = model.network[0].bias.data.copy()
    lr = np.float32(lr)
    with np.errstate(all="ignore"):
        for epoch in range(epochs):
            for start in range(0, len(x), batch_size):
                xb, yb = x[start:start + batch_size], y[start:start + batch_size, None]
                residual = xb @ w.T + b - yb
                loss = np.mean(residual ** 2)
                grad_w = 2 * residual.T @ xb / np.float32(len(xb))
                grad_b = 2 * residual.sum(axis=0) / np.float32(len(xb))
                if not (np.isfinite(loss) and np.isfinite(grad_w).all()
                        and np.isfinite(grad_b).all()):
                    return w, (epoch, start // batch_size)
                w, b = w - lr * grad_w, b - lr * grad_b
    return w, None


def test_divergence_stops_fit_before_the_bad_update():
    x, y = _regression()
    x = (x * 100).astype(np.float32)
    y = (y * 100).astype(np.float32)
    w, where = _last_good_weights(x, y, 1e6, 16, 5)
    assert where is not None
    model = _model(1e6)
    with pytest.raises(TrainingDivergedError,
                       match=f"training diverged at epoch {where[0] + 1}, batch {where[1]}"), \
            np.errstate(all="ignore"):
        model.fit(x, y, batch_size=16, epochs=5, shuffle=False, verbose=0)
    weights = model.network[0].weight.data
    assert np.isfinite(weights).all()
    np.testing.assert_allclose(weights, w, rtol=1e-3)


def test_the_guard_can_be_turned_off_and_then_save_refuses(tmp_path):
    x, y = _regression()
    model = _model(1e6)
    with np.errstate(all="ignore"):
        model.fit((x * 100), y * 100, batch_size=16, epochs=3, verbose=0,
                  terminate_on_nan=False)
    assert not np.isfinite(model.network[0].weight.data).all()
    with pytest.raises(bpnn.SerializationError, match="NaN or infinite"):
        bpnn.save(model, tmp_path / "diverged.bpnn")
    assert list(tmp_path.iterdir()) == []


def test_a_user_terminate_on_nan_keeps_keras_behaviour(capsys):
    x, y = _regression()
    model = _model(1e6)
    guard = TerminateOnNaN()
    with np.errstate(all="ignore"):
        model.fit(x * 100, y * 100, batch_size=16, epochs=5, verbose=0, callbacks=[guard])
    assert guard.terminated_at is not None
    assert "TerminateOnNaN" in capsys.readouterr().out


def test_cli_divergence_exits_2(tmp_path, capsys):
    from bpnn.cli import main

    x, y = _regression()
    path = tmp_path / "t.csv"
    lines = ["a,b,c,d,y"] + [",".join(f"{v:.4f}" for v in (*row, t))
                             for row, t in zip(x, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    code = main(["train", str(path), "--target", "y", "--lr", "1e12", "--optimizer", "sgd",
                 "--epochs", "5", "--quiet", "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2 and "training diverged" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


@pytest.mark.parametrize("value, finite", [(1e30, True), (np.inf, False), (-np.inf, False),
                                           (np.nan, False), (0.5, True)])
def test_gradient_check_is_exact_when_the_fast_dot_product_overflows(value, finite):
    from bpnn.train.nonfinite import _all_finite

    grad = np.ones((4, 3), dtype=np.float32)
    grad[2, 1] = value
    with np.errstate(over="ignore", invalid="ignore"):
        assert _all_finite(grad) is finite
