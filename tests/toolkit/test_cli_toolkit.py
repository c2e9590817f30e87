"""``bpnn train --lr auto``, ``--optimizer trainbr``, the summary in report.md, regression.png."""

import json

import numpy as np
import pandas as pd
import pytest

import bpnn
from bpnn.cli import main, pipeline

pytest.importorskip("pandas")
pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def flats_csv(tmp_path_factory):
    rng = np.random.default_rng(11)
    n = 200
    area = rng.uniform(40, 160, n)
    rooms = rng.integers(1, 6, n)
    price = 2.0 * area + 15 * rooms + rng.normal(0, 5, n)
    path = tmp_path_factory.mktemp("data") / "flats.csv"
    pd.DataFrame({"area": area.round(1), "rooms": rooms, "price": price.round(2)}).to_csv(
        path, index=False)
    return path


def _is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000


def test_lr_auto_runs_lr_find_and_reports_the_rate(flats_csv, tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["train", str(flats_csv), "--target", "price", "--out", str(out),
                 "--lr", "auto", "--epochs", "20", "--quiet"]) == 0
    err = capsys.readouterr().err
    manifest = json.loads((out / "bpnn-model.json").read_text())
    chosen = manifest["training"]["lr"]
    assert f"lr_find suggests {chosen:.3g}" in err
    assert 1e-7 <= chosen <= 10
    model = bpnn.load(out / "model.bpnn")
    assert model.optimizer.param_groups[0]["lr"] <= chosen  # cosine / plateau never raise it
    report = (out / "report.md").read_text()
    assert f"Learning rate {chosen:.3g} chosen by `lr_find`" in report
    assert f"Total params: {model.network.count_parameters():,}" in report
    assert f"Total params: {model.network.count_parameters():,}" in err  # printed too
    assert "![outputs against targets](regression.png)" in report
    assert _is_png(out / "lr_find.png") and _is_png(out / "regression.png")


def test_trainbr_trains_full_batch_without_a_weight_penalty(flats_csv, tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["train", str(flats_csv), "--target", "price", "--out", str(out),
                 "--optimizer", "trainbr", "--hidden", "6", "--epochs", "15",
                 "--early-stopping", "0", "--quiet"]) == 0
    model = bpnn.load(out / "model.bpnn")
    optimizer = model.optimizer
    assert type(optimizer).__name__ == "BayesianRegularization"
    assert len(optimizer.record["gamma"]) == 15  # one iteration on all rows per epoch
    assert 0 < optimizer.gamma < model.network.count_parameters()
    assert not any(type(m).__name__ == "Dropout" for m in model.network.modules())
    assert json.loads((out / "metrics.json").read_text())["test"]["r2"] > 0.95
    assert _is_png(out / "regression.png")
    assert "full batch (all training rows per step)" in (out / "report.md").read_text()


@pytest.mark.parametrize("extra, message", [
    (["--optimizer", "trainbr", "--weight-decay", "0.1"], "drop --weight-decay"),
    (["--optimizer", "trainbr", "--task", "classification"], "needs a regression target"),
    (["--optimizer", "lbfgs", "--lr", "auto"], "full-batch steps"),
    (["--optimizer", "trainbr", "--lr", "auto"], "full-batch steps"),
    (["--optimizer", "lbfgs", "--lr-schedule", "onecycle"], "takes full-batch steps"),
    (["--optimizer", "trainbr", "--lr-schedule", "cosine"], "takes full-batch steps"),
])
def test_impossible_combinations_are_refused(flats_csv, tmp_path, capsys, extra, message):
    out = tmp_path / "model"
    assert main(["train", str(flats_csv), "--target", "price", "--out", str(out),
                 "--epochs", "2", *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_trainbr_on_a_categorical_target_is_refused(tmp_path, capsys):
    path = tmp_path / "t.csv"
    pd.DataFrame({"a": np.arange(30) % 7, "y": ["x", "y", "z"] * 10}).to_csv(path, index=False)
    assert main(["train", str(path), "--target", "y", "--optimizer", "trainbr",
                 "--out", str(tmp_path / "m")]) == 2
    assert "target is categorical" in capsys.readouterr().err


@pytest.mark.parametrize("value, message", [
    ("0", "must be positive, got 0"), ("-1", "must be positive, got -1"),
    ("fast", "a positive number or 'auto', got 'fast'"),
])
def test_bad_lr_is_a_usage_error(value, message, capsys):
    assert main(["train", "x.csv", "--target", "y", "--lr", value]) == 2
    assert message in capsys.readouterr().err


# ---------------------------------------------------------------------------- --lr-schedule
def _rates_seen_by_each_step(optimizer):
    """Wrap ``optimizer.step`` to record (lr, momentum or beta1) at every step."""
    seen, step = [], optimizer.step

    def recording_step(*args, **kwargs):
        group = optimizer.param_groups[0]
        seen.append((group["lr"], group["betas"][0] if "betas" in group
                     else group.get("momentum", 0.0)))
        return step(*args, **kwargs)

    optimizer.step = recording_step
    return seen


@pytest.mark.parametrize("optimizer, schedule", [
    ("adam", "onecycle"), ("sgd", "onecycle"), ("adam", "cosine")])
def test_lr_schedule_moves_the_rate_as_torch_does(torch, optimizer, schedule):
    """fit_model's schedules against PyTorch's schedulers driven by hand: 7 epochs of 3 steps."""
    x = np.random.default_rng(0).normal(size=(50, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    network = pipeline.build_network(3, 1, [4], "relu", 0.0)
    chosen = pipeline.make_optimizer(optimizer, list(network.parameters()), 0.05, 0.0)
    model = bpnn.Model(network, bpnn.nn.MSELoss(), chosen)
    seen = _rates_seen_by_each_step(chosen)
    pipeline.fit_model(model, (x, y), None, epochs=7, batch_size=20, patience=0,
                       verbose=False, schedule=schedule)

    reference = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)(
        [torch.zeros(1, requires_grad=True)], lr=0.05)
    if schedule == "onecycle":  # SGD without momentum: the momentum is left alone
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            reference, max_lr=0.05, epochs=7, steps_per_epoch=3,
            cycle_momentum=optimizer == "adam")
    else:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(reference, T_max=7)
    expected = []
    for _ in range(7):
        for _ in range(3):
            group = reference.param_groups[0]
            expected.append((group["lr"], group["betas"][0] if "betas" in group
                             else group["momentum"]))
            reference.step()
            if schedule == "onecycle":
                scheduler.step()
        if schedule == "cosine":
            scheduler.step()
    assert len(seen) == 21
    np.testing.assert_allclose(np.array(seen), np.array(expected), rtol=1e-12, atol=1e-15)
    assert 0.049 < max(lr for lr, _ in seen) <= 0.05


def test_lr_auto_with_onecycle_uses_the_suggestion_as_the_peak(flats_csv, tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["train", str(flats_csv), "--target", "price", "--out", str(out),
                 "--lr", "auto", "--lr-schedule", "onecycle", "--epochs", "30",
                 "--batch-size", "16", "--quiet"]) == 0
    manifest = json.loads((out / "bpnn-model.json").read_text())
    assert manifest["training"]["lr_schedule"] == "onecycle"
    chosen = manifest["training"]["lr"]
    assert f"lr_find suggests {chosen:.3g}" in capsys.readouterr().err
    assert f"(lr {chosen:g}, onecycle schedule," in (out / "report.md").read_text()
    assert json.loads((out / "metrics.json").read_text())["test"]["r2"] > 0.9
