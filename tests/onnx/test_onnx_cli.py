"""``bpnn export``: onnxruntime on the raw CSV columns gives ``bpnn predict``'s answers."""

import numpy as np
import onnxruntime
import pandas as pd
import pytest

from bpnn.cli import main
from bpnn.cli.info import bundled_csv
from bpnn.cli.tabular import read_csv


def onnx_feeds(session, frame):
    """The table's columns as the graph's inputs: double with NaN, or string with ''."""
    feeds = {}
    for value in session.get_inputs():
        column = frame[value.name]
        if value.type == "tensor(double)":
            data = pd.to_numeric(column, errors="coerce").to_numpy(np.float64)
        else:
            data = column.astype(object).where(column.notna(), "").astype(str).to_numpy()
        feeds[value.name] = data.reshape(-1, 1)
    return feeds


def train(data, target, out, *extra):
    assert main(["train", str(data), "--target", target, "--out", str(out), "--quiet",
                 "--epochs", "4", "--early-stopping", "0", *extra]) == 0


def export_and_predict(model_dir, data, tmp_path):
    onnx_path, predictions = tmp_path / "model.onnx", tmp_path / "predictions.csv"
    assert main(["export", str(model_dir), str(onnx_path), "--with-preprocessing"]) == 0
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, onnx_feeds(session, read_csv(str(data))))
    return session, dict(zip([o.name for o in session.get_outputs()], outputs, strict=True)), \
        predictions


def assert_same_as_predict(model_dir, data, target, tmp_path):
    session, got, predictions = export_and_predict(model_dir, data, tmp_path)
    assert main(["predict", str(model_dir), str(data), "--proba", "-o", str(predictions)]) == 0
    expected = pd.read_csv(predictions, keep_default_na=False)
    assert len(got["label"]) == len(expected) > 0
    assert list(got["label"].astype(str)) == list(expected[target].astype(str))
    probabilities = expected[[c for c in expected.columns if c.startswith("proba_")]]
    assert probabilities.shape == got["probabilities"].shape
    # bpnn predict writes 6 decimals: the two agree to 5e-7 plus float32 rounding
    np.testing.assert_allclose(got["probabilities"], probabilities.to_numpy(), rtol=0, atol=1e-5)
    return session, got


@pytest.fixture(scope="module")
def shop_csv(tmp_path_factory):
    """String categories and labels, missing numbers and categories, an id, '?' for missing."""
    rng = np.random.default_rng(3)
    n = 150
    weight = rng.normal(5.0, 2.0, n)
    colour = rng.choice(["red", "blue", "green", "dark grey"], n)
    size = rng.choice(["S", "M", "L"], n)
    score = weight + 2.0 * (colour == "red") - (size == "S")
    frame = pd.DataFrame({"order id": [f"A{i:05d}" for i in range(n)],
                          "weight kg": weight.round(2), "colour": colour, "size": size,
                          "stock": rng.integers(0, 40, n),
                          "segment": np.where(score < 4.5, "budget",
                                              np.where(score < 6.5, "standard", "premium"))})
    frame["weight kg"] = frame["weight kg"].astype(object)
    frame.loc[rng.choice(n, 15, replace=False), "weight kg"] = np.nan
    frame.loc[rng.choice(n, 5, replace=False), "weight kg"] = "?"
    frame.loc[rng.choice(n, 12, replace=False), "colour"] = np.nan
    frame.loc[rng.choice(n, 8, replace=False), "size"] = np.nan
    path = tmp_path_factory.mktemp("data") / "shop.csv"
    frame.to_csv(path, index=False)
    return path


def test_phone_price_model_with_preprocessing_agrees_with_predict_on_every_row(tmp_path):
    data = bundled_csv("phone_price")
    train(data, "price_range", tmp_path / "model")
    session, got = assert_same_as_predict(tmp_path / "model", data, "price_range", tmp_path)
    assert len(session.get_inputs()) == 20
    assert got["label"].dtype == np.int64
    assert set(np.unique(got["label"])) <= {0, 1, 2, 3}


def test_string_categories_and_missing_values_agree_with_predict(shop_csv, tmp_path, capsys):
    train(shop_csv, "segment", tmp_path / "model")
    session, got = assert_same_as_predict(tmp_path / "model", shop_csv, "segment", tmp_path)
    inputs = {value.name: value.type for value in session.get_inputs()}
    # the id column is dropped by bpnn train; the target is not an input
    assert inputs == {"weight kg": "tensor(double)", "colour": "tensor(string)",
                      "size": "tensor(string)", "stock": "tensor(double)"}
    assert set(got["label"]) <= {"budget", "standard", "premium"}
    assert "wrote" in capsys.readouterr().err


def test_unseen_categories_at_prediction_time_agree_with_predict(shop_csv, tmp_path, capsys):
    train(shop_csv, "segment", tmp_path / "model")
    frame = pd.read_csv(shop_csv)
    frame.loc[:9, "colour"] = "purple"  # never seen in training: all-zero one-hot
    frame.loc[10:14, "size"] = "XL"
    unseen = tmp_path / "unseen.csv"
    frame.to_csv(unseen, index=False)
    assert_same_as_predict(tmp_path / "model", unseen, "segment", tmp_path)
    assert "categories not seen in training" in capsys.readouterr().err


def test_regression_prediction_is_in_the_target_units(tmp_path):
    rng = np.random.default_rng(5)
    n = 120
    area = rng.uniform(40, 160, n)
    district = rng.choice(["north", "south"], n)
    frame = pd.DataFrame({"area": area.round(1), "district": district,
                          "price": (2.0 * area + 30 * (district == "north")).round(2)})
    frame.loc[:4, "district"] = np.nan
    data = tmp_path / "flats.csv"
    frame.to_csv(data, index=False)
    train(data, "price", tmp_path / "model")
    _, got, predictions = export_and_predict(tmp_path / "model", data, tmp_path)
    assert main(["predict", str(tmp_path / "model"), str(data), "-o", str(predictions)]) == 0
    expected = pd.read_csv(predictions)["price"].to_numpy()
    assert got["prediction"].dtype == np.float64 and got["prediction"].shape == (n,)
    np.testing.assert_allclose(got["prediction"], expected, rtol=1e-6)


def test_export_without_preprocessing_takes_the_feature_matrix(shop_csv, tmp_path):
    import bpnn
    from bpnn.cli.commands import load_model_folder

    train(shop_csv, "segment", tmp_path / "model")
    assert main(["export", str(tmp_path / "model"), str(tmp_path / "net.onnx"),
                 "--opset", "13"]) == 0
    model, preprocessor, _ = load_model_folder(str(tmp_path / "model"))
    x = preprocessor.transform(read_csv(str(shop_csv)))
    session = onnxruntime.InferenceSession(str(tmp_path / "net.onnx"),
                                           providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", preprocessor.n_features]
    got = session.run(None, {"input": x})[0]
    model.network.eval()
    np.testing.assert_allclose(got, model.network(bpnn.Tensor(x)).data, rtol=0, atol=1e-5)


def test_bad_export_input_is_one_line_exit_2_and_writes_nothing(shop_csv, tmp_path, capsys):
    train(shop_csv, "segment", tmp_path / "model")
    capsys.readouterr()
    cases = [
        ([str(tmp_path / "nowhere"), str(tmp_path / "a.onnx")], "model folder not found"),
        ([str(shop_csv), str(tmp_path / "a.onnx")], "expected a model folder"),
        ([str(tmp_path / "model"), str(tmp_path / "no" / "a.onnx")], "does not exist"),
        ([str(tmp_path / "model"), str(tmp_path)], "it is a folder"),
        ([str(tmp_path / "model"), str(tmp_path / "a.onnx"), "--opset", "9"],
         "opset must be an integer from 13"),
    ]
    for arguments, message in cases:
        assert main(["export", *arguments]) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, error
    assert not (tmp_path / "a.onnx").exists()
