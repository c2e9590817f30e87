"""Scalers, label encoding and splits with scikit-learn's names and semantics.

Fitted state is kept in plain arrays (``mean_``, ``scale_``, ``classes_``...), so it can be
saved next to the weights without pickling.
"""

from __future__ import annotations

import math
import numbers

from bpnn import backend
from bpnn.autograd.tensor import Tensor
from bpnn.backend import xp


def _as_2d_float(x, who: str):
    x = xp.asarray(x.data if isinstance(x, Tensor) else x)
    if x.dtype.kind not in "fiub":
        raise ValueError(f"{who}: expected numeric data, got dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"{who}: expected a 2-D array (samples, features), got shape {x.shape}")
    if x.dtype.kind != "f":
        x = x.astype(backend.get_default_dtype())
    if not xp.isfinite(x).all():
        raise ValueError(f"{who}: input contains NaN or infinity")
    return x


def mean_and_scale(x, axis: int = 0):
    """Mean and population standard deviation for standardising, with constants kept finite.

    Sums run in float64 (float32 sums drift on large data). A standard deviation below
    ``10 * eps * max(1, |mean|)`` (``eps`` of ``x``'s float dtype; a constant column up to
    rounding) or not finite becomes 1, so the column maps to 0 instead of NaN (as in
    scikit-learn). The one rule for :class:`StandardScaler` and the CLI's tables.

    Parameters
    ----------
    x : ndarray
        Floating point values.
    axis : int, default 0

    Returns
    -------
    mean, scale : ndarray of float64

    Example
    -------
    >>> import numpy as np
    >>> from bpnn.preprocessing import mean_and_scale
    >>> mean_and_scale(np.array([[1.0, 5.0], [3.0, 5.0]]))
    (array([2., 5.]), array([1., 1.]))
    """
    x = xp.asarray(x)
    wide = x.astype(xp.float64)
    mean = wide.mean(axis=axis)
    scale = xp.sqrt(wide.var(axis=axis))
    eps = xp.finfo(x.dtype if x.dtype.kind == "f" else xp.float64).eps
    constant = (scale < 10 * eps * xp.maximum(1.0, xp.abs(mean))) | ~xp.isfinite(scale)
    return mean, xp.where(constant, 1.0, scale)


class _Scaler:
    """Shared checks: fitted or not, and the number of features."""

    _fitted_attribute = "scale_"

    def _check_fitted(self, x, who: str):
        if getattr(self, self._fitted_attribute, None) is None:
            raise ValueError(f"{type(self).__name__} is not fitted yet; call fit(x) first")
        x = _as_2d_float(x, f"{type(self).__name__}.{who}")
        if x.shape[1] != self.n_features_in_:
            raise ValueError(f"{type(self).__name__}.{who}: expected {self.n_features_in_} "
                             f"features, got {x.shape[1]}")
        return x

    def fit_transform(self, x):
        """Fit to ``x`` and return it transformed."""
        return self.fit(x).transform(x)


class StandardScaler(_Scaler):
    """Standardise features: ``(x - mean_) / scale_`` (population standard deviation).

    Constant features get ``scale_ = 1`` so they map to 0 instead of NaN (as scikit-learn).

    Parameters
    ----------
    with_mean, with_std : bool, default True

    Attributes
    ----------
    mean_, var_, scale_ : ndarray, shape (n_features,)
    n_features_in_ : int

    Example
    -------
    >>> import numpy as np, bpnn
    >>> bpnn.preprocessing.StandardScaler().fit_transform(np.array([[0.0], [2.0]]))
    array([[-1.],
           [ 1.]])
    """

    def __init__(self, with_mean: bool = True, with_std: bool = True):
        self.with_mean, self.with_std = with_mean, with_std
        self.mean_ = self.var_ = self.scale_ = None

    def fit(self, x):
        """Compute the mean and standard deviation of each feature; returns ``self``."""
        x = _as_2d_float(x, "StandardScaler.fit")
        if len(x) == 0:
            raise ValueError("StandardScaler.fit: got 0 samples")
        self.n_features_in_ = x.shape[1]
        mean, scale = mean_and_scale(x)
        self.mean_ = mean.astype(x.dtype)
        self.var_ = x.astype(xp.float64).var(axis=0).astype(x.dtype)
        self.scale_ = scale.astype(x.dtype)
        return self

    def transform(self, x):
        """Return standardised ``x`` (a new array in ``x``'s float dtype)."""
        x = self._check_fitted(x, "transform")
        out = x - self.mean_.astype(x.dtype) if self.with_mean else x.copy()
        if self.with_std:
            out /= self.scale_.astype(x.dtype)
        return out

    def inverse_transform(self, x):
        """Undo :meth:`transform`."""
        x = self._check_fitted(x, "inverse_transform")
        out = x * self.scale_.astype(x.dtype) if self.with_std else x.copy()
        if self.with_mean:
            out += self.mean_.astype(x.dtype)
        return out


class MinMaxScaler(_Scaler):
    """Scale each feature to ``feature_range``: ``x * scale_ + min_``.

    Parameters
    ----------
    feature_range : tuple (min, max), default (0, 1)

    Attributes
    ----------
    data_min_, data_max_, data_range_, scale_, min_ : ndarray, shape (n_features,)

    Example
    -------
    >>> import numpy as np, bpnn
    >>> bpnn.preprocessing.MinMaxScaler().fit_transform(np.array([[1.0], [3.0], [5.0]])).ravel()
    array([0. , 0.5, 1. ])
    """

    def __init__(self, feature_range=(0, 1)):
        low, high = feature_range
        if not low < high:
            raise ValueError(f"MinMaxScaler: feature_range must be (min, max) with min < max, "
                             f"got {feature_range}")
        self.feature_range = (float(low), float(high))
        self.data_min_ = self.data_max_ = self.data_range_ = self.scale_ = self.min_ = None

    def fit(self, x):
        """Record each feature's minimum and maximum; returns ``self``."""
        x = _as_2d_float(x, "MinMaxScaler.fit")
        if len(x) == 0:
            raise ValueError("MinMaxScaler.fit: got 0 samples")
        low, high = self.feature_range
        self.n_features_in_ = x.shape[1]
        self.data_min_, self.data_max_ = x.min(axis=0), x.max(axis=0)
        self.data_range_ = self.data_max_ - self.data_min_
        # A constant feature maps to the low end instead of dividing by zero.
        safe_range = xp.where(self.data_range_ == 0, 1, self.data_range_)
        self.scale_ = ((high - low) / safe_range).astype(x.dtype)
        self.min_ = (low - self.data_min_ * self.scale_).astype(x.dtype)
        return self

    def transform(self, x):
        """Return ``x * scale_ + min_``."""
        x = self._check_fitted(x, "transform")
        return x * self.scale_.astype(x.dtype) + self.min_.astype(x.dtype)

    def inverse_transform(self, x):
        """Undo :meth:`transform`."""
        x = self._check_fitted(x, "inverse_transform")
        return (x - self.min_.astype(x.dtype)) / self.scale_.astype(x.dtype)


class LabelEncoder:
    """Map labels (strings or numbers) to ``0 .. n_classes - 1`` in sorted order.

    Attributes
    ----------
    classes_ : ndarray
        The sorted distinct labels; ``classes_[i]`` is encoded as ``i``.

    Example
    -------
    >>> import bpnn
    >>> enc = bpnn.preprocessing.LabelEncoder().fit(["cat", "dog", "cat"])
    >>> enc.transform(["dog", "cat"]), enc.inverse_transform([1])
    (array([1, 0]), array(['dog'], dtype='<U3'))
    """

    def __init__(self):
        self.classes_ = None

    def fit(self, labels):
        """Learn the distinct labels; returns ``self``."""
        labels = xp.asarray(labels)
        if labels.ndim != 1:
            raise ValueError(
                f"LabelEncoder expects a 1-D array of labels, got shape {labels.shape}")
        self.classes_ = xp.unique(labels)
        return self

    def fit_transform(self, labels):
        """``fit(y)`` then ``transform(y)``."""
        return self.fit(labels).transform(labels)

    def _check_fitted(self):
        if self.classes_ is None:
            raise ValueError("LabelEncoder is not fitted yet; call fit(labels) first")

    def transform(self, labels):
        """Return the codes (int64) of ``labels``.

        Raises
        ------
        ValueError
            Naming labels that were not seen in :meth:`fit`.
        """
        self._check_fitted()
        labels = xp.asarray(labels)
        codes = xp.searchsorted(self.classes_, labels)
        known = (codes < len(self.classes_)) & (
            self.classes_[xp.minimum(codes, len(self.classes_) - 1)] == labels)
        if not known.all():
            unseen = xp.unique(labels[~known])[:5].tolist()
            raise ValueError(f"LabelEncoder: labels {unseen} were not seen in fit; "
                             f"known labels: {self.classes_[:10].tolist()}")
        return codes.astype(xp.int64)

    def inverse_transform(self, codes):
        """Return the labels of ``codes``."""
        self._check_fitted()
        codes = xp.asarray(codes)
        if codes.size and (codes.min() < 0 or codes.max() >= len(self.classes_)):
            raise ValueError(f"LabelEncoder: codes must lie in [0, {len(self.classes_) - 1}]")
        return self.classes_[codes]


def one_hot(labels, num_classes: int | None = None, dtype=None):
    """One row per label with a 1 in the label's column (``keras.utils.to_categorical``).

    Parameters
    ----------
    labels : array_like of int
        Class indices ``0 .. num_classes - 1``.
    num_classes : int, optional
        Defaults to ``max(labels) + 1``.
    dtype : float dtype, optional
        Defaults to :func:`bpnn.get_default_dtype`.

    Returns
    -------
    ndarray, shape ``labels.shape + (num_classes,)``

    Raises
    ------
    ValueError
        If a label is negative, not an integer, or ``>= num_classes``.

    Example
    -------
    >>> import bpnn
    >>> bpnn.preprocessing.one_hot([0, 2], 3)
    array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    labels = xp.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if labels.dtype.kind == "f":
        if not (xp.isfinite(labels).all() and (labels == xp.round(labels)).all()):
            raise ValueError("one_hot: labels must be integers")
        labels = labels.astype(xp.int64)
    if labels.dtype.kind not in "iub":
        raise ValueError(f"one_hot: labels must be integers, got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"one_hot: labels must be non-negative, got {int(labels.min())}")
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and labels.max() >= num_classes:
        raise ValueError(f"one_hot: label {int(labels.max())} is outside "
                         f"[0, {num_classes - 1}] for num_classes={num_classes}")
    dtype = backend.get_default_dtype() if dtype is None else backend.as_float_dtype(dtype)
    out = xp.zeros(labels.shape + (num_classes,), dtype=dtype)
    xp.put_along_axis(out, labels[..., None].astype(xp.int64), 1, axis=-1)
    return out


to_categorical = one_hot


def _resolve_rng(random_state):
    if random_state is None:
        return backend.get_rng()
    if isinstance(random_state, xp.random.Generator):
        return random_state
    return xp.random.default_rng(random_state)


def stratified_holdout(labels, n_holdout: int, rng):
    """Return sorted ``(kept, held_out)`` indices with each class's share held out.

    Each class ``c`` of size ``n_c`` gives ``floor`` or ``ceil`` of ``n_holdout * n_c / n``
    samples (largest remainders get the extra ones), so proportions hold to within one sample.
    """
    labels = xp.asarray(labels)
    if labels.ndim > 1:
        # Rows as labels (e.g. one-hot): identical rows form a class.
        labels = xp.unique(labels.reshape(len(labels), -1), axis=0, return_inverse=True)[1]
    classes, inverse, counts = xp.unique(labels, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    n = len(labels)
    exact = counts * (n_holdout / n)
    take = xp.floor(exact).astype(xp.int64)
    remainder = n_holdout - int(take.sum())
    if remainder:
        # Ties broken at random so no class is always favoured.
        order = xp.lexsort((rng.random(len(classes)), -(exact - take)))
        take[order[:remainder]] += 1
    held = []
    members = xp.argsort(inverse, kind="stable")
    starts = xp.concatenate(([0], xp.cumsum(counts)))
    for c in range(len(classes)):
        group = members[starts[c]:starts[c + 1]]
        held.append(rng.permutation(group)[:take[c]])
    held = xp.sort(xp.concatenate(held)) if held else xp.zeros(0, xp.int64)
    mask = xp.ones(n, dtype=bool)
    mask[held] = False
    return xp.flatnonzero(mask), held


def _split_sizes(n: int, test_size, train_size) -> tuple:
    def check(value, name):
        if value is None:
            return
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            if not 0 < value < n:
                raise ValueError(f"train_test_split: {name}={value} must be between 1 and "
                                 f"{n - 1} for {n} samples")
        elif isinstance(value, numbers.Real):
            if not 0.0 < value < 1.0:
                raise ValueError(f"train_test_split: {name}={value} must be in (0, 1)")
        else:
            raise ValueError(f"train_test_split: {name} must be an int or float, got {value!r}")

    check(test_size, "test_size")
    check(train_size, "train_size")
    if test_size is None and train_size is None:
        test_size = 0.25

    def count(value, rounding):
        return value if isinstance(value, numbers.Integral) else int(rounding(value * n))

    n_test = count(test_size, math.ceil) if test_size is not None else None
    n_train = count(train_size, math.floor) if train_size is not None else None
    if n_test is None:
        n_test = n - n_train
    if n_train is None:
        n_train = n - n_test
    if n_train + n_test > n:
        raise ValueError(f"train_test_split: train ({n_train}) + test ({n_test}) samples "
                         f"exceed the {n} available")
    if n_train == 0 or n_test == 0:
        raise ValueError(f"train_test_split: with {n} samples this split leaves "
                         f"{n_train} for training and {n_test} for testing")
    return n_train, n_test


def train_test_split(*arrays, test_size=None, train_size=None, stratify=None, shuffle=True,
                     random_state=None):
    """Split arrays into random train and test subsets (scikit-learn's function).

    Parameters
    ----------
    *arrays : array_like
        Same first dimension.
    test_size, train_size : float or int, optional
        Fraction (0-1) or count; ``test_size`` defaults to 0.25 when neither is given.
        A fractional test size is rounded up, a fractional train size down.
    stratify : array_like, optional
        Class labels: each class keeps its share in both parts to within one sample.
    shuffle : bool, default True
        ``False`` takes the first rows for training and the next ones for testing.
    random_state : int or numpy.random.Generator, optional
        By default the global generator (:func:`bpnn.manual_seed`).

    Returns
    -------
    list
        ``[a_train, a_test, b_train, b_test, ...]``.

    Raises
    ------
    ValueError
        If the arrays differ in length, are empty, the sizes do not fit, or ``stratify``
        is given with ``shuffle=False``.

    Example
    -------
    >>> import numpy as np, bpnn
    >>> x_tr, x_te = bpnn.preprocessing.train_test_split(np.arange(10), test_size=0.2,
    ...                                                  random_state=0)
    >>> len(x_tr), len(x_te)
    (8, 2)
    """
    if not arrays:
        raise ValueError("train_test_split needs at least one array")
    arrays = [a.data if isinstance(a, Tensor) else xp.asarray(a) for a in arrays]
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) != 1:
        raise ValueError(f"train_test_split: arrays have different numbers of samples {lengths}")
    n = lengths[0]
    if n == 0:
        raise ValueError("train_test_split: the arrays are empty")
    n_train, n_test = _split_sizes(n, test_size, train_size)
    if not shuffle:
        if stratify is not None:
            raise ValueError("train_test_split: stratify needs shuffle=True")
        train_index, test_index = xp.arange(n_train), xp.arange(n_train, n_train + n_test)
    else:
        rng = _resolve_rng(random_state)
        if stratify is not None:
            labels = xp.asarray(getattr(stratify, "data", stratify))
            if len(labels) != n:
                raise ValueError(f"train_test_split: stratify has {len(labels)} labels for "
                                 f"{n} samples")
            kept, test_index = stratified_holdout(labels, n_test, rng)
            train_index = rng.permutation(kept)[:n_train]
            test_index = rng.permutation(test_index)
        else:
            order = rng.permutation(n)
            test_index, train_index = order[:n_test], order[n_test:n_test + n_train]
    result = []
    for array in arrays:
        result += [array[train_index], array[test_index]]
    return result
