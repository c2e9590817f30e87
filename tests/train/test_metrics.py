"""Epoch metrics against scikit-learn, accumulated over batches."""

import numpy as np
import pytest
from sklearn import metrics as sk

from bpnn import metrics


@pytest.fixture
def classification(rng):
    y_true = rng.integers(0, 4, size=300)
    scores = rng.normal(size=(300, 4)) + 1.5 * np.eye(4)[y_true]
    return y_true, scores.astype(np.float32)


@pytest.mark.parametrize("name, reference", [
    ("accuracy", lambda t, p: sk.accuracy_score(t, p)),
    ("precision", lambda t, p: sk.precision_score(t, p, average="macro", zero_division=0)),
    ("recall", lambda t, p: sk.recall_score(t, p, average="macro", zero_division=0)),
    ("f1", lambda t, p: sk.f1_score(t, p, average="macro", zero_division=0)),
])
def test_classification_metrics_match_sklearn_over_batches(classification, name, reference):
    y_true, scores = classification
    metric = metrics.get(name)
    metric.reset()
    for start in range(0, 300, 64):  # epoch accumulation equals the whole-set value
        metric.update(y_true[start:start + 64], scores[start:start + 64])
    expected = reference(y_true, scores.argmax(axis=1))
    assert metric.result() == pytest.approx(expected, abs=1e-12)
    one_hot = np.eye(4)[y_true]
    assert metrics.get(name)(one_hot, scores) == pytest.approx(expected, abs=1e-12)


def test_macro_average_counts_classes_never_predicted():
    y_true, y_pred = np.array([0, 1, 2, 2]), np.eye(3)[[0, 0, 2, 2]]
    expected = sk.precision_score(y_true, [0, 0, 2, 2], average="macro", zero_division=0)
    assert metrics.precision(y_true, y_pred) == pytest.approx(expected)
    assert metrics.recall(y_true, y_pred) == pytest.approx(
        sk.recall_score(y_true, [0, 0, 2, 2], average="macro"))


def test_binary_outputs_threshold_probabilities_or_logits():
    y_true = np.array([1, 0, 1, 0])
    probabilities = np.array([[0.9], [0.4], [0.6], [0.7]])
    assert metrics.accuracy(y_true, probabilities) == 0.75
    logits_metric = metrics.Accuracy()
    logits_metric.from_logits = True
    assert logits_metric(y_true, np.array([[2.0], [-1.0], [-0.5], [0.3]])) == 0.5


def test_top_k_accuracy_matches_sklearn(classification):
    y_true, scores = classification
    for k in (1, 2, 3):
        assert metrics.top_k_accuracy(y_true, scores, k=k) == pytest.approx(
            sk.top_k_accuracy_score(y_true, scores, k=k))


@pytest.mark.parametrize("name, reference", [
    ("mae", sk.mean_absolute_error), ("mse", sk.mean_squared_error),
    ("rmse", sk.root_mean_squared_error), ("r2", sk.r2_score),
])
@pytest.mark.parametrize("outputs", [1, 3])
def test_regression_metrics_match_sklearn(rng, name, reference, outputs):
    y_true = rng.normal(size=(90, outputs))
    y_pred = y_true + rng.normal(scale=0.5, size=(90, outputs))
    metric = metrics.get(name)
    metric.reset()
    for start in range(0, 90, 32):
        metric.update(y_true[start:start + 32], y_pred[start:start + 32].astype(np.float32))
    assert metric.result() == pytest.approx(reference(y_true, y_pred.astype(np.float32)),
                                            rel=1e-6)


def test_r2_of_constant_target_follows_sklearn():
    assert metrics.r2(np.ones(4), np.ones(4)) == sk.r2_score(np.ones(4), np.ones(4))
    assert metrics.r2(np.ones(4), np.arange(4.0)) == sk.r2_score(np.ones(4), np.arange(4.0))


def test_unknown_metric_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown metric 'auc'.*accuracy"):
        metrics.get("auc")


def test_confusion_matrix_and_per_class_scores_match_sklearn(classification):
    y_true, scores = classification
    predicted = scores.argmax(axis=1)
    predicted[predicted == 3] = 2  # class 3 is never predicted: its precision is 0, not NaN
    matrix = metrics.confusion_matrix(y_true, predicted, 4)
    np.testing.assert_array_equal(matrix, sk.confusion_matrix(y_true, predicted, labels=range(4)))
    precision, recall, f1 = metrics.precision_recall_f1(matrix)
    expected = sk.precision_recall_fscore_support(y_true, predicted, labels=range(4),
                                                  zero_division=0)
    for ours, theirs in zip((precision, recall, f1), expected[:3], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_unknown_metric_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown metric 'auc'; known metrics: acc, accuracy"):
        metrics.get("auc")
