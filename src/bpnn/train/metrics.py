"""Metrics accumulated over an epoch (Keras' stateful metrics): ``update`` per batch, ``result``.

Each metric works on raw arrays: ``y_true`` as given to ``fit`` (class indices, one-hot rows
or values) and ``y_pred`` the network's output (logits or probabilities). Counts and sums are
accumulated, so precision, recall, F1 and R^2 are those of the whole epoch, not an average of
per-batch values.
"""

from __future__ import annotations

from bpnn.backend import xp
from bpnn.nn.registry import NameRegistry

METRICS = NameRegistry("unknown metric {name!r}; known metrics: {names} "
                       "(or pass a bpnn.metrics.Metric)")


def register_metric(*names: str):
    """Class decorator: ``Model(metrics=[name])`` and :func:`get` accept each of ``names``.

    Parameters
    ----------
    *names : str
        Lower-case names; the first is also the checkpoint's name for the class.

    Example
    -------
    >>> import bpnn
    >>> @bpnn.metrics.register_metric("max_error")
    ... class MaxError(bpnn.metrics.Metric):
    ...     name = "max_error"
    ...     def reset(self):
    ...         self.value = 0.0
    ...     def update(self, y_true, y_pred):
    ...         self.value = max(self.value, float(abs(y_true - y_pred).max()))
    ...     def result(self):
    ...         return self.value
    >>> bpnn.metrics.get("max_error")
    MaxError()
    """
    return METRICS.register(*names)


def get_metric_class(name: str) -> type:
    """The metric class registered as ``name``; ``ValueError`` listing the known names."""
    return METRICS.get_class(name)


def confusion_matrix(true, predicted, num_classes: int):
    """Counts of (true class, predicted class) pairs: rows true, columns predicted.

    Parameters
    ----------
    true, predicted : ndarray of int, shape (n,)
    num_classes : int

    Returns
    -------
    ndarray of int, shape (num_classes, num_classes)
    """
    return xp.bincount(true.astype(xp.int64) * num_classes + predicted,
                       minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def precision_recall_f1(matrix):
    """Per-class precision, recall and F1 of a confusion matrix (0 where undefined).

    Parameters
    ----------
    matrix : ndarray, shape (k, k)
        Rows true, columns predicted (:func:`confusion_matrix`).

    Returns
    -------
    precision, recall, f1 : ndarray of float64, shape (k,)
    """
    matrix = xp.asarray(matrix).astype(xp.float64)
    hits = xp.diag(matrix)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = xp.divide(hits, predicted, out=xp.zeros_like(hits), where=predicted > 0)
    recall = xp.divide(hits, actual, out=xp.zeros_like(hits), where=actual > 0)
    both = precision + recall
    f1 = xp.divide(2 * precision * recall, both, out=xp.zeros_like(hits), where=both > 0)
    return precision, recall, f1


class Metric:
    """Base class: ``reset()``, ``update(y_true, y_pred)``, ``result() -> float``.

    Attributes
    ----------
    name : str
        The key in ``fit``'s logs (``val_`` + name for validation).
    from_logits : bool
        For single-column classification outputs: threshold 0 (logits) instead of 0.5.
    """

    name = "metric"
    from_logits = False

    def __init__(self):
        self.reset()

    def reset(self) -> None:  # pragma: no cover - interface
        """Forget the accumulated state (at the start of each epoch)."""
        raise NotImplementedError

    def update(self, y_true, y_pred) -> None:  # pragma: no cover - interface
        """Accumulate a batch: ``y_true`` as given to ``fit``, ``y_pred`` the network's output."""
        raise NotImplementedError

    def result(self) -> float:  # pragma: no cover - interface
        """The metric over everything accumulated since :meth:`reset`."""
        raise NotImplementedError

    def get_config(self) -> dict:
        """Constructor arguments (JSON-friendly), for checkpoints."""
        return {}

    def __call__(self, y_true, y_pred) -> float:
        """Compute the metric on these arrays alone (resets the state)."""
        self.reset()
        self.update(xp.asarray(getattr(y_true, "data", y_true)),
                    xp.asarray(getattr(y_pred, "data", y_pred)))
        return self.result()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _class_labels(y_true, y_pred, from_logits: bool):
    """(true class, predicted class, number of classes) from indices, one-hot rows or scores."""
    if y_pred.ndim == 2 and y_pred.shape[1] > 1:
        predicted, num_classes = y_pred.argmax(axis=1), y_pred.shape[1]
    else:
        predicted = (y_pred.reshape(len(y_pred)) > (0.0 if from_logits else 0.5)).astype(xp.int64)
        num_classes = 2
    if y_true.ndim == 2 and y_true.shape[1] > 1:
        true = y_true.argmax(axis=1)
    else:
        true = y_true.reshape(len(y_true))
        if true.dtype.kind == "f":
            true = (true > 0.5).astype(xp.int64) if num_classes == 2 else true.astype(xp.int64)
    return true, predicted, num_classes


@register_metric("accuracy", "acc")
class Accuracy(Metric):
    """Fraction of samples whose predicted class (argmax, or threshold) equals the true one."""

    name = "accuracy"

    def reset(self):
        self.correct, self.total = 0, 0

    def update(self, y_true, y_pred):
        true, predicted, _ = _class_labels(y_true, y_pred, self.from_logits)
        self.correct += int((true == predicted).sum())
        self.total += len(true)

    def result(self):
        return self.correct / self.total if self.total else 0.0


@register_metric("top_k_accuracy")
class TopKAccuracy(Metric):
    """Fraction of samples whose true class is among the ``k`` highest scores.

    Parameters
    ----------
    k : int, default 5
    """

    name = "top_k_accuracy"

    def __init__(self, k: int = 5):
        if k < 1:
            raise ValueError(f"TopKAccuracy: k must be at least 1, got {k}")
        self.k = int(k)
        super().__init__()

    def get_config(self) -> dict:
        return {"k": self.k}

    def reset(self):
        self.correct, self.total = 0, 0

    def update(self, y_true, y_pred):
        if y_pred.ndim != 2:
            raise ValueError(f"top_k_accuracy needs scores shaped (N, classes), got {y_pred.shape}")
        true = y_true.argmax(axis=1) if y_true.ndim == 2 else y_true.reshape(-1)
        k = min(self.k, y_pred.shape[1])
        # Strictly-higher count < k, so ties resolve in the sample's favour (Keras does the same).
        true_score = y_pred[xp.arange(len(true)), true.astype(xp.int64)]
        higher = (y_pred > true_score[:, None]).sum(axis=1)
        self.correct += int((higher < k).sum())
        self.total += len(true)

    def result(self):
        return self.correct / self.total if self.total else 0.0


class _ConfusionMetric(Metric):
    """Macro averages from a confusion matrix accumulated over batches.

    Classes count when they occur in the true or the predicted labels (scikit-learn's
    ``average="macro"``); a class with no predicted (or true) sample scores 0.
    """

    def reset(self):
        self.matrix = None

    def update(self, y_true, y_pred):
        true, predicted, num_classes = _class_labels(y_true, y_pred, self.from_logits)
        num_classes = max(num_classes, int(true.max()) + 1 if len(true) else 0)
        counts = confusion_matrix(true, predicted, num_classes)
        if self.matrix is None:
            self.matrix = counts
        else:
            if counts.shape[0] > self.matrix.shape[0]:
                grown = xp.zeros_like(counts)
                grown[:self.matrix.shape[0], :self.matrix.shape[0]] = self.matrix
                self.matrix = grown
            self.matrix[:counts.shape[0], :counts.shape[0]] += counts

    def _scores(self):
        present = (self.matrix.sum(axis=0) + self.matrix.sum(axis=1)) > 0
        return tuple(score[present] for score in precision_recall_f1(self.matrix))

    def result(self):
        if self.matrix is None:
            return 0.0
        return float(self._scores()[self._index].mean())


@register_metric("precision")
class Precision(_ConfusionMetric):
    """Macro-averaged precision (for two classes too, unlike Keras' binary precision)."""

    name, _index = "precision", 0


@register_metric("recall")
class Recall(_ConfusionMetric):
    """Macro-averaged recall."""

    name, _index = "recall", 1


@register_metric("f1", "f1_score")
class F1(_ConfusionMetric):
    """Macro-averaged F1 score (mean over classes of 2PR / (P + R))."""

    name, _index = "f1", 2


class _RegressionMetric(Metric):
    """Sums in float64 over the epoch; outputs of any shape, compared element by element."""

    def reset(self):
        self.count = 0
        self.abs_error = self.sq_error = self.sum_true = self.sum_true_sq = 0.0

    def update(self, y_true, y_pred):
        y_pred = y_pred.reshape(len(y_pred), -1).astype(xp.float64)
        y_true = y_true.reshape(len(y_true), -1).astype(xp.float64)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{self.name}: targets shaped {y_true.shape} do not match "
                             f"predictions shaped {y_pred.shape}")
        error = y_pred - y_true
        self.count += len(y_true)
        self.abs_error = self.abs_error + xp.abs(error).sum(axis=0)
        self.sq_error = self.sq_error + (error * error).sum(axis=0)
        self.sum_true = self.sum_true + y_true.sum(axis=0)
        self.sum_true_sq = self.sum_true_sq + (y_true * y_true).sum(axis=0)


@register_metric("mae", "mean_absolute_error")
class MeanAbsoluteError(_RegressionMetric):
    """Mean of ``|y_true - y_pred|`` over every output of every sample."""

    name = "mae"

    def result(self):
        return float(xp.mean(self.abs_error) / self.count) if self.count else 0.0


@register_metric("mse", "mean_squared_error")
class MeanSquaredError(_RegressionMetric):
    """Mean of ``(y_true - y_pred)**2`` over every output of every sample."""

    name = "mse"

    def result(self):
        return float(xp.mean(self.sq_error) / self.count) if self.count else 0.0


@register_metric("rmse")
class RootMeanSquaredError(MeanSquaredError):
    """Square root of each output's mean squared error, averaged over outputs (scikit-learn)."""

    name = "rmse"

    def result(self):
        if not self.count:
            return 0.0
        return float(xp.mean(xp.sqrt(xp.asarray(self.sq_error) / self.count)))


@register_metric("r2", "r2_score")
class R2Score(_RegressionMetric):
    """Coefficient of determination, averaged uniformly over outputs (scikit-learn's default).

    A constant target gives 1.0 for a perfect fit and 0.0 otherwise, as scikit-learn.
    """

    name = "r2"

    def result(self):
        if not self.count:
            return 0.0
        total = self.sum_true_sq - self.sum_true * self.sum_true / self.count
        sq_error = xp.asarray(self.sq_error, dtype=xp.float64)
        total = xp.asarray(total, dtype=xp.float64)
        constant = total <= 1e-12 * xp.maximum(1.0, self.sum_true_sq)
        score = xp.where(constant, xp.where(sq_error == 0, 1.0, 0.0),
                         1.0 - sq_error / xp.where(constant, 1.0, total))
        return float(score.mean())


def get(identifier) -> Metric:
    """Return a fresh metric for a name (``"accuracy"``, ``"f1"``, ``"r2"``...) or an instance.

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.

    Example
    -------
    >>> import numpy as np, bpnn
    >>> f1 = bpnn.metrics.get("f1")
    >>> f1.update(np.array([0, 1, 1]), np.array([[2.0, 0.1], [0.3, 0.9], [1.5, 0.2]]))
    >>> round(f1.result(), 4)
    0.6667
    >>> bpnn.metrics.accuracy(np.array([0, 1]), np.array([[0.9, 0.1], [0.8, 0.2]]))
    0.5
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    return get_metric_class(identifier)()


def _functional(cls, doc):
    def compute(y_true, y_pred, **options) -> float:
        return cls(**options)(y_true, y_pred)

    compute.__name__ = cls.name
    compute.__doc__ = doc
    return compute


accuracy = _functional(Accuracy, "Accuracy of class scores ``y_pred`` against ``y_true``.")
top_k_accuracy = _functional(TopKAccuracy, "Top-k accuracy (``k=5`` by default).")
precision = _functional(Precision, "Macro-averaged precision.")
recall = _functional(Recall, "Macro-averaged recall.")
f1 = _functional(F1, "Macro-averaged F1 score.")
mae = _functional(MeanAbsoluteError, "Mean absolute error.")
mse = _functional(MeanSquaredError, "Mean squared error.")
rmse = _functional(RootMeanSquaredError, "Root mean squared error.")
r2 = _functional(R2Score, "Coefficient of determination R^2.")

__all__ = [
    "F1", "Accuracy", "MeanAbsoluteError", "MeanSquaredError", "Metric", "Precision",
    "R2Score", "Recall", "RootMeanSquaredError", "TopKAccuracy", "accuracy", "confusion_matrix",
    "f1", "get", "get_metric_class", "mae", "mse", "precision", "precision_recall_f1", "r2",
    "recall", "register_metric", "rmse", "top_k_accuracy",
]
