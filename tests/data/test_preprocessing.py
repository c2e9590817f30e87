"""Scalers, LabelEncoder, one_hot and train_test_split against scikit-learn."""

import numpy as np
import pytest
from sklearn import preprocessing as skp
from sklearn.model_selection import train_test_split as sk_split

from bpnn.preprocessing import (
    LabelEncoder,
    MinMaxScaler,
    StandardScaler,
    one_hot,
    to_categorical,
    train_test_split,
)


@pytest.fixture
def table(rng):
    x = rng.normal(3.0, 2.0, size=(40, 4))
    x[:, 2] = 7.0  # a constant feature
    return x


def test_standard_scaler_matches_sklearn(table):
    ours, theirs = StandardScaler().fit(table), skp.StandardScaler().fit(table)
    np.testing.assert_allclose(ours.mean_, theirs.mean_, rtol=1e-12)
    np.testing.assert_allclose(ours.scale_, theirs.scale_, rtol=1e-12)
    np.testing.assert_allclose(ours.transform(table), theirs.transform(table), atol=1e-12)
    np.testing.assert_allclose(ours.inverse_transform(ours.transform(table)), table, atol=1e-12)


def test_standard_scaler_keeps_float32_and_checks_features(table):
    scaler = StandardScaler().fit(table.astype(np.float32))
    assert scaler.transform(table.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="expected 4 features, got 3"):
        scaler.transform(table[:, :3])
    with pytest.raises(ValueError, match="not fitted"):
        StandardScaler().transform(table)
    with pytest.raises(ValueError, match="NaN"):
        StandardScaler().fit(np.array([[np.nan, 1.0]]))


@pytest.mark.parametrize("feature_range", [(0, 1), (-1, 1)])
def test_min_max_scaler_matches_sklearn(table, feature_range):
    ours = MinMaxScaler(feature_range).fit(table)
    theirs = skp.MinMaxScaler(feature_range=feature_range).fit(table)
    np.testing.assert_allclose(ours.transform(table), theirs.transform(table), atol=1e-12)
    np.testing.assert_allclose(ours.scale_, theirs.scale_)
    np.testing.assert_allclose(ours.inverse_transform(ours.transform(table)), table, atol=1e-12)


def test_label_encoder_matches_sklearn():
    labels = np.array(["cat", "dog", "bird", "dog", "cat"])
    ours, theirs = LabelEncoder().fit(labels), skp.LabelEncoder().fit(labels)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    np.testing.assert_array_equal(ours.transform(labels), theirs.transform(labels))
    np.testing.assert_array_equal(ours.inverse_transform([2, 0]), ["dog", "bird"])
    with pytest.raises(ValueError, match=r"\['fish'\] were not seen"):
        ours.transform(["cat", "fish"])


def test_one_hot():
    out = one_hot([2, 0, 1], 4)
    np.testing.assert_array_equal(out, np.eye(4, dtype=np.float32)[[2, 0, 1]])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(to_categorical(np.array([[1], [0]])).shape, (2, 1, 2))
    with pytest.raises(ValueError, match="label 5 is outside"):
        one_hot([5], 3)
    with pytest.raises(ValueError, match="non-negative"):
        one_hot([-1])


@pytest.mark.parametrize("test_size, train_size", [(None, None), (0.2, None), (0.33, None),
                                                   (7, None), (None, 0.6), (0.2, 0.5)])
def test_split_sizes_match_sklearn(test_size, train_size):
    x = np.arange(50)
    ours = train_test_split(x, test_size=test_size, train_size=train_size, random_state=0)
    theirs = sk_split(x, test_size=test_size, train_size=train_size, random_state=0)
    assert [len(a) for a in ours] == [len(a) for a in theirs]
    assert not set(ours[0].tolist()) & set(ours[1].tolist())


def test_stratified_split_keeps_proportions_within_one_sample(rng):
    for case in range(30):
        counts = rng.integers(1, 40, size=rng.integers(2, 6))
        y = np.repeat(np.arange(len(counts)), counts)
        rng.shuffle(y)
        test_size = float(rng.uniform(0.1, 0.5))
        if int(np.ceil(test_size * len(y))) in (0, len(y)):
            continue
        x = np.arange(len(y))
        x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, stratify=y,
                                                  random_state=case)
        np.testing.assert_array_equal(y[x_tr], y_tr)
        assert len(x_te) == int(np.ceil(test_size * len(y)))
        share = counts * len(y_te) / len(y)
        got = np.bincount(y_te, minlength=len(counts))
        assert np.all(np.abs(got - share) < 1.0 + 1e-9), (counts, got, share)
        assert sorted(np.concatenate([x_tr, x_te]).tolist()) == list(range(len(y)))


def test_split_is_reproducible_and_unshuffled_takes_the_head():
    x, y = np.arange(20), np.arange(20) % 2
    a = train_test_split(x, y, random_state=3, stratify=y)
    b = train_test_split(x, y, random_state=3, stratify=y)
    for left, right in zip(a, b, strict=True):
        np.testing.assert_array_equal(left, right)
    head = train_test_split(x, test_size=0.25, shuffle=False)
    np.testing.assert_array_equal(head[0], np.arange(15))
    np.testing.assert_array_equal(head[1], np.arange(15, 20))


def test_split_errors():
    with pytest.raises(ValueError, match="different numbers of samples"):
        train_test_split(np.zeros(5), np.zeros(6))
    with pytest.raises(ValueError, match="empty"):
        train_test_split(np.zeros(0))
    with pytest.raises(ValueError, match="stratify needs shuffle=True"):
        train_test_split(np.zeros(10), stratify=np.zeros(10), shuffle=False)
    with pytest.raises(ValueError, match="test_size=1.5"):
        train_test_split(np.zeros(10), test_size=1.5)


def test_mean_and_scale_matches_sklearn_and_maps_constant_columns_to_one(rng):
    from bpnn.preprocessing import mean_and_scale

    x = np.column_stack([rng.normal(3.0, 2.0, 50), np.full(50, 7.0), np.full(50, 0.1) + 1e-17])
    mean, scale = mean_and_scale(x)
    reference = skp.StandardScaler().fit(x)
    np.testing.assert_allclose(mean, reference.mean_, rtol=1e-12)
    np.testing.assert_allclose(scale, reference.scale_, rtol=1e-12)
    np.testing.assert_array_equal(scale[1:], [1.0, 1.0])
