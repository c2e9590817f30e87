"""TabularPreprocessor and read_csv: numbers and categories in, a float32 matrix out."""

import json

import numpy as np
import pandas as pd
import pytest

from bpnn.cli.errors import DataError
from bpnn.cli.tabular import (
    TabularPreprocessor,
    find_id_columns,
    infer_task,
    read_csv,
)


@pytest.fixture
def frame():
    return pd.DataFrame({
        "engine size": [1.0, 2.0, np.nan, 4.0, 3.0],
        "color": ["red", "blue", "red", None, "green"],
        "doors": [3, 5, 5, 3, 5],
        "label": ["cheap", "dear", "cheap", "dear", "mid"],
    })


def test_fit_learns_from_the_given_rows_only(frame):
    prep = TabularPreprocessor("label", "classification").fit(frame.iloc[:4])
    size = prep.columns_[0]
    # median of 1, 2, 4 fills the gap; mean and std are of the filled training column
    assert size["fill"] == 2.0
    filled = np.array([1.0, 2.0, 2.0, 4.0])
    assert size["mean"] == pytest.approx(filled.mean())
    assert size["scale"] == pytest.approx(filled.std())
    assert prep.columns_[1]["categories"] == ["blue", "red"]  # green is only in row 5
    assert prep.classes_ == ["cheap", "dear"]
    assert any("'engine size': 1 of 4 training values missing, filled with the median 2"
               in note for note in prep.notes_)
    assert any("most frequent value 'red'" in note for note in prep.notes_)


def test_transform_standardises_and_one_hot_encodes(frame):
    prep = TabularPreprocessor("label", "classification").fit(frame)
    x = prep.transform(frame)
    assert x.dtype == np.float32
    assert prep.feature_names == ["engine size", "color=blue", "color=green", "color=red",
                                  "doors"]
    assert x.shape == (5, 5)
    np.testing.assert_allclose(x[:, 0].mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(x[:, 0].std(), 1.0, atol=1e-6)
    # row 3 has no colour: the most frequent one ("red") is filled in
    np.testing.assert_array_equal(x[3, 1:4], [0, 0, 1])
    np.testing.assert_array_equal(x[4, 1:4], [0, 1, 0])


def test_unseen_category_becomes_zeros_with_a_warning(frame):
    prep = TabularPreprocessor("label", "classification").fit(frame)
    new = frame.copy()
    new.loc[0, "color"] = "purple"
    with pytest.warns(UserWarning, match=r"'color' has 1 row\(s\) with categories not seen in "
                                         r"training \('purple'\)"):
        x = prep.transform(new)
    np.testing.assert_array_equal(x[0, 1:4], [0, 0, 0])


def test_target_encoding_keeps_original_names_and_round_trips(frame):
    prep = TabularPreprocessor("label", "classification").fit(frame)
    codes = prep.encode_target(frame["label"])
    np.testing.assert_array_equal(codes, [0, 1, 0, 1, 2])
    assert list(prep.decode_target(codes)) == list(frame["label"])
    with pytest.raises(DataError, match="label\\(s\\) the model does not know: 'luxury'"):
        prep.encode_target(pd.Series(["luxury"]))


def test_numeric_classes_stay_numbers():
    data = pd.DataFrame({"x": [0.1, 0.2, 0.3, 0.4], "y": [3, 1, 3, 1]})
    prep = TabularPreprocessor("y", "classification").fit(data)
    assert prep.classes_ == [1, 3]
    assert list(prep.decode_target([1, 0])) == [3, 1]


def test_regression_target_is_standardised_and_decoded():
    data = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "price": [10.0, 20.0, 30.0, 40.0]})
    prep = TabularPreprocessor("price", "regression").fit(data)
    encoded = prep.encode_target(data["price"])
    assert encoded.shape == (4, 1) and encoded.dtype == np.float32
    np.testing.assert_allclose(encoded.mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(prep.decode_target(encoded), data["price"], rtol=1e-6)


def test_json_round_trip_gives_the_same_matrix(frame, tmp_path):
    prep = TabularPreprocessor("label", "classification").fit(frame)
    path = tmp_path / "prep.json"
    prep.save(str(path))
    json.loads(path.read_text())  # plain JSON
    again = TabularPreprocessor.load(str(path))
    np.testing.assert_array_equal(again.transform(frame), prep.transform(frame))
    assert again.classes_ == prep.classes_
    with pytest.raises(ValueError, match="not a bpnn tabular"):
        TabularPreprocessor.from_dict({"format": "other"})


def test_missing_and_extra_columns_at_transform_time(frame):
    prep = TabularPreprocessor("label", "classification").fit(frame)
    with pytest.raises(DataError, match="lacks 1 column\\(s\\) the model was trained on: "
                                        "'engine size'; did you mean 'engine_size'"):
        prep.transform(frame.rename(columns={"engine size": "engine_size"}))
    with pytest.warns(UserWarning, match="ignoring 1 column\\(s\\) the model was not trained on"):
        prep.transform(frame.assign(extra=1))
    with pytest.raises(DataError, match="'doors' was numeric in training but holds text "
                                        "such as 'five'"):
        prep.transform(frame.assign(doors=["3", "five", "5", "3", "5"]))


def test_all_missing_training_column_is_refused(frame):
    with pytest.raises(DataError, match="column 'color' has no values in the 1 training row"):
        TabularPreprocessor("label", "classification").fit(frame.iloc[3:4])


def test_find_id_columns():
    n = 30
    data = pd.DataFrame({
        "id": np.arange(100, 100 + n)[::-1], "code": [f"C{i:03d}" for i in range(n)],
        "measure": np.linspace(0, 1, n) ** 2,  # unique floats are features, not ids
        "count": np.arange(n) * 2,  # unique but not consecutive
        "group": ["a", "b"] * (n // 2),
    })
    assert find_id_columns(data) == ["id", "code"]
    assert find_id_columns(data.iloc[:5]) == []  # too few rows to tell


@pytest.mark.parametrize("values, requested, task", [
    (["a", "b", "a"], "auto", "classification"),
    ([0, 1, 2, 3, 1], "auto", "classification"),
    ([0.5, 1.25, 2.0], "auto", "regression"),
    (list(range(50)), "auto", "regression"),
    ([0, 1, 0], "regression", "regression"),
    ([0.5, 1.5, 0.5], "classification", "classification"),
])
def test_infer_task(values, requested, task):
    assert infer_task(pd.Series(values), requested, "y")[0] == task


def test_infer_task_refusals():
    with pytest.raises(DataError, match="single class \\('a'\\)"):
        infer_task(pd.Series(["a", "a"]), "auto", "y")
    with pytest.raises(DataError, match="target 'y' is not numeric \\(values like 'b'\\); "
                                        "regression needs numbers"):
        infer_task(pd.Series(["1", "b"]), "regression", "y")


def test_read_csv_sniffs_semicolons_and_strips_names(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text(" engine size ; color;y\n1.5; red;1\n2.5; blue;0\n")
    data = read_csv(str(path))
    assert list(data.columns) == ["engine size", "color", "y"]
    assert data["color"].tolist() == ["red", "blue"]
    assert data["engine size"].tolist() == [1.5, 2.5]


def test_read_csv_question_marks_are_missing_and_latin1_is_read(tmp_path):
    path = tmp_path / "uci.csv"
    path.write_bytes("city,size,y\nK\xf6ln,?,1\nM\xfcnchen,2.5,0\n".encode("latin-1"))
    data = read_csv(str(path))
    assert data["city"].tolist() == ["K\xf6ln", "M\xfcnchen"]
    assert data["size"].isna().tolist() == [True, False]
    assert data["size"].dtype == np.float64


def test_all_labels_give_classes_missing_from_the_training_rows(frame):
    prep = TabularPreprocessor("label", "classification").fit(frame.iloc[:4],
                                                              all_labels=frame["label"])
    assert prep.classes_ == ["cheap", "dear", "mid"]
    assert TabularPreprocessor("label", "classification").fit(frame.iloc[:4]).classes_ == [
        "cheap", "dear"]
