"""bpnn train / evaluate / predict on tables it has never seen, and every bad input."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from bpnn.cli import CLIError, commands, main, pipeline, report

FAST = ["--epochs", "40", "--quiet", "--seed", "1"]
FILES = ("model.bpnn", "preprocessing.json", "bpnn-model.json", "metrics.json", "history.csv",
         "curves.png", "report.md")


def _leftovers(folder) -> list:
    return [name for name in os.listdir(folder) if ".tmp-" in name]


@pytest.fixture(scope="module")
def cars_model(messy_classification_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "cars_model"
    code = main(["train", str(messy_classification_csv), "--target", "price class",
                 "--out", str(out), "--lr", "0.01", *FAST])
    assert code == 0
    return out


def test_train_on_a_messy_table_writes_the_model_folder(messy_classification_csv, tmp_path,
                                                        capsys):
    out = tmp_path / "model"
    assert main(["train", str(messy_classification_csv), "--target", "price class",
                 "--out", str(out), "--lr", "0.01", *FAST]) == 0
    captured = capsys.readouterr()
    assert ("bpnn: warning: column(s) 'customer id' hold a different value in every row: "
            "taken as identifiers") in captured.err
    assert "column 'engine size':" in captured.err and "filled with the median" in captured.err
    assert "column 'color':" in captured.err and "most frequent value" in captured.err
    for name in (*FILES, "confusion.png"):
        assert (out / name).stat().st_size > 0, name
    assert _leftovers(tmp_path) == []
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "classification"
    # by default every non-test row trains (no validation split), as in scikit-learn and Keras
    assert metrics["split"] == {"train": 192, "validation": 0, "test": 48}
    assert metrics["test"]["accuracy"] > 0.7  # three classes: chance is about 0.33
    labels = [row["label"] for row in metrics["test"]["per_class"]]
    assert labels == ["cheap", "dear", "mid"]
    history = pd.read_csv(out / "history.csv")
    assert list(history.columns) == ["epoch", "loss", "accuracy"]
    assert len(history) == metrics["epochs_run"]
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    # the summary: accuracy, macro F1 and the per-class table with the original names
    assert "accuracy" in captured.out and "macro F1" in captured.out
    assert "| dear |" in captured.out
    prep = json.loads((out / "preprocessing.json").read_text())
    assert prep["ids"] == ["customer id"] and prep["drop"] == []
    assert prep["classes"] == ["cheap", "dear", "mid"]


def test_predict_writes_original_labels_and_ignores_the_target(cars_model,
                                                               messy_classification_csv,
                                                               tmp_path, capsys):
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(cars_model), str(messy_classification_csv), "-o", str(out),
                 "--proba"]) == 0
    predictions = pd.read_csv(out)
    source = pd.read_csv(messy_classification_csv)
    assert len(predictions) == len(source)
    assert list(predictions.columns) == ["customer id", "price class", "proba_cheap",
                                         "proba_dear", "proba_mid"]
    assert (predictions["customer id"] == source["customer id"]).all()
    assert set(predictions["price class"]) <= {"cheap", "mid", "dear"}
    probabilities = predictions[["proba_cheap", "proba_dear", "proba_mid"]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    best = np.array(["cheap", "dear", "mid"])[probabilities.argmax(axis=1)]
    assert (best == predictions["price class"]).all()
    assert "wrote 240 predictions" in capsys.readouterr().err


def test_evaluate_agrees_with_predict(cars_model, messy_classification_csv, tmp_path, capsys):
    results = commands.evaluate_model(str(cars_model), str(messy_classification_csv))
    predictions = commands.predict_frame(str(cars_model), str(messy_classification_csv))
    truth = pd.read_csv(messy_classification_csv)["price class"]
    assert results["accuracy"] == pytest.approx((predictions["price class"] == truth).mean())
    assert sum(row["support"] for row in results["per_class"]) == len(truth)
    assert main(["evaluate", str(cars_model), str(messy_classification_csv), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["accuracy"] == pytest.approx(results["accuracy"])


def test_unseen_category_at_predict_time_warns_and_still_predicts(cars_model,
                                                                  messy_classification_csv,
                                                                  tmp_path, capsys):
    frame = pd.read_csv(messy_classification_csv).drop(columns=["price class"]).head(5)
    frame.loc[0, "color"] = "purple"
    path = tmp_path / "new.csv"
    frame.to_csv(path, index=False)
    assert main(["predict", str(cars_model), str(path), "-o", "-"]) == 0
    captured = capsys.readouterr()
    assert "categories not seen in training ('purple')" in captured.err
    assert len(captured.out.strip().splitlines()) == 6  # header + 5 rows


def test_regression_on_a_numeric_target(regression_csv, tmp_path, capsys):
    out = tmp_path / "flats_model"
    assert main(["train", str(regression_csv), "--target", "price", "--out", str(out),
                 "--epochs", "60", "--lr", "0.01", "--val-split", "0.2", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "regression of 'price'" in captured.err
    assert "RMSE" in captured.out and "R^2" in captured.out
    metrics = json.loads((out / "metrics.json").read_text())["test"]
    assert metrics["r2"] > 0.9
    # in the target's units: the noise has sd 5, prices range over about 300
    assert 2 < metrics["rmse"] < 25 and metrics["mae"] <= metrics["rmse"]
    assert not (out / "confusion.png").exists() and (out / "curves.png").exists()
    history = pd.read_csv(out / "history.csv")
    assert list(history.columns) == ["epoch", "loss", "r2", "val_loss", "val_r2"]
    predictions = commands.predict_frame(str(out), str(regression_csv))
    truth = pd.read_csv(regression_csv)["price"]
    assert abs(predictions["price"].mean() - truth.mean()) < 0.1 * truth.std()
    assert main(["predict", str(out), str(regression_csv), "--proba", "-o", "-"]) == 2
    assert "--proba needs a classification model" in capsys.readouterr().err


def test_failed_run_leaves_no_half_written_folder(messy_classification_csv, tmp_path,
                                                  monkeypatch, capsys):
    out = tmp_path / "model"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "fit_model", interrupted)
    code = main(["train", str(messy_classification_csv), "--target", "price class",
                 "--out", str(out), *FAST])
    assert code == 130
    assert "bpnn: interrupted" in capsys.readouterr().err
    assert not out.exists() and _leftovers(tmp_path) == []


def test_retraining_replaces_a_model_folder_atomically(messy_classification_csv, tmp_path,
                                                       monkeypatch):
    out = tmp_path / "model"
    args = ["train", str(messy_classification_csv), "--target", "price class",
            "--out", str(out), "--epochs", "2", "--quiet"]
    assert main(args) == 0
    first = (out / "bpnn-model.json").read_text()

    def broken(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(report, "plot_curves", broken)
    assert main(args) == 1  # an unexpected error: the old model survives untouched
    assert (out / "bpnn-model.json").read_text() == first
    assert _leftovers(tmp_path) == []
    monkeypatch.undo()
    assert main([*args, "--seed", "3"]) == 0
    assert json.loads((out / "bpnn-model.json").read_text())["training"]["seed"] == 3


def _write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return str(path)


BAD_TRAIN = [
    ("missing file", None, "price class", "file not found:"),
    ("empty file", "", "price class", "is empty"),
    ("header only", "a,b,price class\n", "price class", "has a header but no data rows"),
    ("target absent", "a,b,price_class\n1,2,x\n3,4,y\n", "price class",
     "has no column 'price class'; did you mean 'price_class'?"),
    ("single class", "a,b,y\n1,2,x\n3,4,x\n5,6,x\n", "y", "single class ('x')"),
    ("text target regressed", "a,b,y\n1,2,x\n3,4,z\n", "y",
     "target 'y' is not numeric (values like 'x', 'z'); regression needs numbers"),
    ("all-missing column", "a,b,y\n1,,x\n3,,z\n5,,x\n", "y",
     "column(s) 'b' in"),
    ("not CSV", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "y",
     "is not a CSV file (it looks binary)"),
    ("one column", "just some words\nand more words\n", "y", "has a single column"),
]


@pytest.mark.parametrize("case, content, target, message", BAD_TRAIN,
                         ids=[case[0] for case in BAD_TRAIN])
def test_bad_train_input_is_one_line_and_exit_2(tmp_path, capsys, case, content, target,
                                                message):
    data = str(tmp_path / "data.csv") if content is None else _write(tmp_path / "data.csv",
                                                                     content)
    extra = ["--task", "regression"] if case == "text target regressed" else []
    code = main(["train", data, "--target", target, "--out", str(tmp_path / "model"),
                 "--epochs", "1", "--quiet", *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("bpnn: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "model").exists() and _leftovers(tmp_path) == []


def test_unwritable_out(messy_classification_csv, tmp_path, capsys):
    blocker = tmp_path / "a file"
    blocker.write_text("x")
    for out, message in ((tmp_path / "no" / "such" / "dir", "does not exist"),
                         (blocker / "model", "does not exist"),
                         (blocker, "exists and is a file")):
        code = main(["train", str(messy_classification_csv), "--target", "price class",
                     "--out", str(out), "--epochs", "1", "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and message in err and err.count("\n") == 1, err
    keep = tmp_path / "my documents"
    keep.mkdir()
    (keep / "thesis.txt").write_text("precious")
    assert main(["train", str(messy_classification_csv), "--target", "price class",
                 "--out", str(keep), "--epochs", "1", "--quiet"]) == 2
    assert "is not a bpnn model folder; refusing to replace it" in capsys.readouterr().err
    assert (keep / "thesis.txt").read_text() == "precious"


def test_predict_and_evaluate_bad_input(cars_model, messy_classification_csv, tmp_path,
                                        capsys):
    frame = pd.read_csv(messy_classification_csv)
    renamed = _write(tmp_path / "renamed.csv",
                     frame.rename(columns={"engine size": "engine"}).to_csv(index=False))
    no_target = _write(tmp_path / "no_target.csv",
                       frame.drop(columns=["price class"]).to_csv(index=False))
    not_model = tmp_path / "not_a_model"
    not_model.mkdir()
    cases = [
        (["predict", str(cars_model), renamed, "-o", "-"],
         "does not match the model: it lacks 1 column(s) the model was trained on: "
         "'engine size'; did you mean 'engine'?"),
        (["evaluate", str(cars_model), no_target], "has no column 'price class'"),
        (["predict", str(not_model), no_target], "is not a bpnn model folder"),
        (["evaluate", str(tmp_path / "nowhere"), no_target], "model folder not found"),
        (["predict", str(cars_model), str(tmp_path / "missing.csv")], "file not found"),
        (["predict", str(cars_model), no_target, "-o", str(tmp_path / "x" / "p.csv")],
         "does not exist"),
    ]
    for argv, message in cases:
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2 and message in err, (argv, err)
        assert err.strip().count("\n") == 0 or "warning" in err.splitlines()[0]


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(CLIError, match="file not found"):
        main(["train", str(tmp_path / "none.csv"), "--target", "y", "--debug"])


def test_usage_errors_exit_2(capsys):
    assert main(["train"]) == 2
    assert "the following arguments are required" in capsys.readouterr().err
    assert main(["train", "x.csv", "--target", "y", "--hidden", "64,abc"]) == 2
    assert "expected comma-separated layer widths" in capsys.readouterr().err
    assert main(["train", "x.csv", "--target", "y", "--optimizer", "adamm", "--epochs", "1"]) \
        == 2


def test_a_class_with_one_row_still_gets_an_output(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    labels = np.where(x > 0, "up", "down").astype(object)
    labels[0] = "rare"
    path = _write(tmp_path / "rare.csv", pd.DataFrame({"x": x, "z": x ** 2, "y": labels})
                  .to_csv(index=False))
    assert main(["train", path, "--target", "y", "--out", str(tmp_path / "m"), "--epochs", "5",
                 "--quiet"]) == 0
    assert "class(es) 'rare' have a single row" in capsys.readouterr().err
    prep = json.loads((tmp_path / "m" / "preprocessing.json").read_text())
    assert prep["classes"] == ["down", "rare", "up"]
    assert main(["evaluate", str(tmp_path / "m"), path]) == 0


def test_early_stopping_without_a_validation_split_watches_the_training_loss(regression_csv,
                                                                              tmp_path):
    """scikit-learn's rule (tol, n_iter_no_change): stop after N epochs of < 1e-4 progress."""
    out = tmp_path / "m"
    assert main(["train", str(regression_csv), "--target", "price", "--out", str(out),
                 "--early-stopping", "3", "--epochs", "3000", "--lr", "0.01", "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    loss = pd.read_csv(out / "history.csv")["loss"].to_numpy()
    run = metrics["epochs_run"]
    assert metrics["split"]["validation"] == 0 and metrics["best_epoch"] is None
    assert 3 < run < 3000 and len(loss) == run
    assert (loss[-3:] > loss[:-3].min() - pipeline.TRAINING_LOSS_TOL).all()
    assert metrics["test"]["r2"] > 0.9
    assert ("stops once the training loss improves by less than 0.0001 for 3 epochs, stopped "
            "early") in (out / "report.md").read_text()
