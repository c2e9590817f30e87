"""What every bpnn estimator shares: input checks, seeding, prediction, safe files.

Subclasses say how to build the ``bpnn.Model`` (:meth:`_NeuralNetBase._build_model`) and how
to train it (:meth:`_NeuralNetBase._train`); classification and regression differ only in how
targets are encoded and outputs decoded (:class:`_ClassifierPart`, :class:`_RegressorPart`).
"""

from __future__ import annotations

import contextlib
import json
import numbers

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

import bpnn
from bpnn import backend
from bpnn.train.model import Model

#: Rows per forward pass in ``predict``: large enough to be fast, small enough for memory.
PREDICT_BATCH = 4096
_FORMAT = "bpnn.sklearn"


@contextlib.contextmanager
def seeded(seed: int, dtype=None):
    """Run with bpnn's global generator seeded by ``seed`` (and ``dtype`` as the default),
    then put both back: a fit is reproducible and leaves the caller's stream untouched."""
    state, old_dtype = backend.get_rng_state(), backend.get_default_dtype()
    backend.manual_seed(int(seed))
    if dtype is not None:
        backend.set_default_dtype(dtype)
    try:
        yield
    finally:
        backend.set_rng_state(state)
        backend.set_default_dtype(old_dtype)


def draw_seed(random_state) -> int:
    """An int seed from scikit-learn's ``random_state`` (None, int or RandomState)."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def check_positive_int(name: str, value) -> int:
    """``value`` as an int >= 1, or ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_fraction(name: str, value, low_open=True) -> float:
    """``value`` as a float in (0, 1) (or [0, 1) with ``low_open=False``), or ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            (0.0 < value if low_open else 0.0 <= value) and value < 1.0):
        raise ValueError(f"{name} must be in {'(0' if low_open else '[0'}, 1), got {value!r}")
    return float(value)


def store_init_params(estimator, init_locals: dict, extra=None) -> None:
    """Store each ``__init__`` parameter of ``estimator`` from that ``__init__``'s ``locals()``.

    scikit-learn's rule: ``__init__`` declares its parameters in its signature and only stores
    them, unchecked; this is that storing, written once for every estimator. ``extra`` holds
    keyword arguments beyond the signature (``**kwargs``), stored as they are.
    """
    for name in type(estimator)._get_param_names():
        setattr(estimator, name, init_locals[name])
    vars(estimator).update(extra or {})


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


class _NeuralNetBase(BaseEstimator):
    """Estimator conventions around a ``bpnn.Model`` held in ``model_`` once fitted."""

    #: "float32" / "float64"; None follows X (float32 stays float32, anything else float64).
    dtype = None

    # ---------------------------------------------------------------- checks
    def _float_dtype(self, X) -> str:
        if self.dtype is not None:
            return backend.as_float_dtype(self.dtype).name
        return "float32" if X.dtype == np.float32 else "float64"

    def _validate_X(self, X, reset: bool):
        return validate_data(self, X, reset=reset, dtype=(np.float64, np.float32))

    def _validate_X_y(self, X, y, reset: bool):
        X, y = validate_data(self, X, y, reset=reset, dtype=(np.float64, np.float32),
                             multi_output=True, y_numeric=not self._is_classifier)
        return X, y

    def _sample_weight(self, X, sample_weight):
        if sample_weight is None:
            return None
        return _check_sample_weight(sample_weight, X, dtype=X.dtype)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.target_tags.required = True
        return tags

    # ---------------------------------------------------------------- predict
    def _forward(self, X):
        """The network's outputs for validated ``X`` (evaluation mode), in ``X``'s dtype."""
        outputs = self.model_.predict(X.astype(self.model_.dtype, copy=False),
                                      batch_size=PREDICT_BATCH)
        return np.asarray(outputs, dtype=X.dtype)

    def _checked_forward(self, X):
        check_is_fitted(self)
        return self._forward(self._validate_X(X, reset=False))

    def predict(self, X):
        """Predicted class labels (a 0/1 indicator matrix for multilabel targets) or values.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
            Rows with the features seen in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        return self._predictions(self._checked_forward(X))

    # ---------------------------------------------------------------- files
    def save(self, path) -> str:
        """Write the fitted estimator to ``path`` in bpnn's safe format (no pickle).

        The file holds the parameters, the fitted attributes and the network's weights;
        :func:`bpnn.sklearn.load` reads it back. (Estimators also pickle, because joblib moves
        them between processes that way; pickle is for that transport only, never for files.)

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        str
            The path written (``bpnn.io.save`` writes it atomically).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        """
        check_is_fitted(self)
        return bpnn.io.save(self, path)

    def to_checkpoint(self):
        """``(meta, arrays)`` for :func:`bpnn.io.save` (see :meth:`save`)."""
        check_is_fitted(self)
        model_meta, model_arrays = self.model_.to_checkpoint()
        arrays = {f"model.{k}": v for k, v in model_arrays.items()}
        params = {k: v for k, v in self.get_params(deep=False).items()
                  if k not in self._params_not_saved and _jsonable(v)}
        fitted = {}
        for name, value in self._fitted_state().items():
            if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
                arrays[f"fitted.{name}"] = value
                fitted[name] = {"__array__": f"fitted.{name}"}
            elif isinstance(value, np.ndarray):
                fitted[name] = {"__list__": value.tolist(), "dtype": value.dtype.str}
            else:
                fitted[name] = value
        meta = {"format": _FORMAT, "estimator": type(self).__name__, "params": params,
                "fitted": fitted, "model": model_meta}
        return meta, arrays

    @classmethod
    def _from_checkpoint(cls, meta, arrays):
        if meta.get("format") != _FORMAT or meta.get("estimator") != cls.__name__:
            raise ValueError(f"not a bpnn.sklearn {cls.__name__} file")
        estimator = cls(**cls._params_for_loading(meta["params"], arrays))
        prefix = "model."
        with seeded(0):  # Model.from_checkpoint sets the global generator; keep the caller's
            estimator.model_ = Model.from_checkpoint(
                meta["model"], {k[len(prefix):]: v for k, v in arrays.items()
                                if k.startswith(prefix)})
        for name, value in meta["fitted"].items():
            if isinstance(value, dict) and "__array__" in value:
                value = np.asarray(arrays[value["__array__"]])
            elif isinstance(value, dict) and "__list__" in value:
                dtype = np.dtype(value["dtype"])
                value = np.asarray(value["__list__"], dtype=object if dtype.kind == "O"
                                   else dtype)
            setattr(estimator, name, value)
        estimator._restore_fitted()
        return estimator

    #: Parameters a file cannot hold (objects); loading gives them their defaults.
    _params_not_saved: tuple = ()

    @classmethod
    def _params_for_loading(cls, params: dict, arrays: dict) -> dict:
        params = dict(params)
        if isinstance(params.get("hidden_layer_sizes"), list):
            params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        return params

    def _fitted_state(self) -> dict:
        """Fitted attributes (besides ``model_``) that a file keeps, by name."""
        names = ["n_features_in_", "feature_names_in_", "n_outputs_", "out_activation_",
                 "n_iter_", "t_", "loss_", "loss_curve_", "best_loss_", "validation_scores_",
                 "best_validation_score_", "classes_", "seed_", "output_is_probability_",
                 "multilabel_"]
        state = {}
        for name in names:
            if hasattr(self, name):
                value = getattr(self, name)
                state[name] = value.item() if isinstance(value, np.generic) else value
        return state

    def _restore_fitted(self) -> None:
        if hasattr(self, "classes_"):
            self._label_binarizer = LabelBinarizer().fit(
                np.eye(len(self.classes_), dtype=int) if self.multilabel_ else self.classes_)


class _ClassifierPart:
    """Targets as class labels (or a multilabel indicator matrix) and probabilities out."""

    _is_classifier = True
    #: Whether a two-class problem gets one logistic output (scikit-learn's MLP) or two.
    _binary_single_output = True

    def _encode_classes(self, y, refit: bool, classes=None):
        """Fit ``classes_`` (when ``refit``), check ``y`` against them, return ``y``."""
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        multilabel = type_of_target(y) == "multilabel-indicator"
        if refit:
            binarizer = LabelBinarizer().fit(y if classes is None else np.asarray(classes))
            self._label_binarizer, self.classes_ = binarizer, binarizer.classes_
            self.multilabel_ = multilabel
        elif multilabel != self.multilabel_:
            raise ValueError("y is a multilabel indicator matrix but the estimator was fitted "
                             "on class labels (or the reverse)")
        if not multilabel:
            unseen = np.setdiff1d(np.unique(y), self.classes_)
            if unseen.size:
                raise ValueError(f"y holds classes {unseen.tolist()} that are not in classes_ "
                                 f"{self.classes_.tolist()}")
        return y

    def _class_sample_weight(self, y, sample_weight):
        if self.class_weight is None:
            return sample_weight
        weights = compute_sample_weight(self.class_weight, y)
        return weights if sample_weight is None else weights * sample_weight

    def _n_outputs(self) -> int:
        n = len(self.classes_)
        return 1 if n <= 2 and self._binary_single_output and not self.multilabel_ else n

    def _target_matrix(self, y):
        """0/1 targets shaped like the network's output (one-hot, a binary column...)."""
        if self.multilabel_:
            return np.asarray(y, dtype=float)
        onehot = self._label_binarizer.transform(y).astype(float)
        if len(self.classes_) <= 2 and not self._binary_single_output:
            onehot = np.hstack([1 - onehot, onehot]) if onehot.shape[1] == 1 else onehot
        return onehot

    def _class_indices(self, y):
        return np.searchsorted(self.classes_, y)

    def _probabilities(self, outputs):
        if self.output_is_probability_:
            proba = np.clip(outputs, 0.0, 1.0)
            if self.out_activation_ == "softmax":
                proba = proba / np.maximum(proba.sum(axis=1, keepdims=True), 1e-12)
            return proba
        if self.out_activation_ == "softmax":
            shifted = outputs - outputs.max(axis=1, keepdims=True)
            exp = np.exp(shifted)
            return exp / exp.sum(axis=1, keepdims=True)
        return 0.5 * (1.0 + np.tanh(0.5 * outputs))  # the logistic function, overflow-free

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``; for multilabel targets, one independent probability
            per label.
        """
        return self._class_probabilities(self._checked_forward(X))

    def _class_probabilities(self, outputs):
        proba = self._probabilities(outputs)
        if proba.shape[1] == 1 and not self.multilabel_:
            proba = np.hstack([1 - proba, proba])
        return proba

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def _predictions(self, outputs):
        """Class labels (a 0/1 indicator matrix for multilabel targets) from network outputs."""
        proba = self._class_probabilities(outputs)
        if self.multilabel_:
            return (proba > 0.5).astype(int)
        return self.classes_[np.argmax(proba, axis=1)]

    def _validation_score(self, X, y) -> float:
        """Accuracy on held-out data (early stopping's measure, as in scikit-learn)."""
        proba = self._probabilities(self._forward(X))
        if self.multilabel_:
            return float(np.mean(np.all((proba > 0.5) == (y > 0.5), axis=1)))
        if proba.shape[1] == 1:
            predicted = self.classes_[(proba[:, 0] > 0.5).astype(int)]
        else:
            predicted = self.classes_[np.argmax(proba, axis=1)]
        return float(np.mean(predicted == y))


class _RegressorPart:
    """Real-valued targets, one network output per target column."""

    _is_classifier = False
    output_is_probability_ = False

    def _class_sample_weight(self, y, sample_weight):
        return sample_weight

    def _predictions(self, outputs):
        """Predicted values from network outputs (one column per target; 1-D for one)."""
        return outputs.ravel() if outputs.shape[1] == 1 else outputs

    def _validation_score(self, X, y) -> float:
        """R^2 on held-out data (early stopping's measure, as in scikit-learn)."""
        from sklearn.metrics import r2_score

        return float(r2_score(y, self._forward(X).reshape(np.shape(y))))
