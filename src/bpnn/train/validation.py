"""Checks on what the user passes to ``fit`` / ``evaluate`` / ``predict``, and the validation split.

Every check runs before the first training step, so a mistake costs no epoch. The functions
take the :class:`bpnn.Model` whose network, loss and dtype the data must fit.
"""

from __future__ import annotations

import numbers

from bpnn import nn
from bpnn.autograd.tensor import Tensor, no_grad, wrap_array
from bpnn.backend import xp
from bpnn.preprocessing import stratified_holdout
from bpnn.train.nonfinite import class_weight_table, refuse_non_finite

CLASS_INDEX_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss)
BINARY_LOSSES = (nn.BCELoss, nn.BCEWithLogitsLoss)
SPLIT_MODES = ("auto", "stratified", "random", "tail")


def positive_int(name: str, value) -> int:
    """``value`` as an int, or ``ValueError`` naming ``name`` if it is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def non_negative_int(name: str, value) -> int:
    """``value`` as an int, or ``ValueError`` naming ``name`` if it is not an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def numeric_array(value, name: str):
    """The array behind ``value`` (a Tensor or array_like); ``ValueError`` if not numeric."""
    array = value.data if isinstance(value, Tensor) else xp.asarray(value)
    if array.dtype == object or array.dtype.kind not in "fiub":
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    return array


def dry_run(model, x_sample, name: str):
    """Forward one sample in eval mode: checks the feature count, gives the output shape.

    Eval mode draws no dropout mask, so the global generator is untouched.
    """
    try:
        with model.network.evaluating(), no_grad():
            return model.network(wrap_array(x_sample)).data
    except ValueError as error:
        raise ValueError(f"{name} does not fit the network (samples shaped "
                         f"{tuple(x_sample.shape[1:])}): {error}") from None


def check_x(model, x, name: str = "x"):
    """``x`` in the model's dtype and one output row for it; records ``model.input_shape``."""
    x = numeric_array(x, name)
    if x.ndim == 0:
        raise ValueError(f"{name} must have one row per sample, got a scalar")
    if len(x) == 0:
        raise ValueError(f"{name} is empty (0 samples)")
    refuse_non_finite(x, name, model.dtype)
    if model.input_shape is not None and tuple(x.shape[1:]) != model.input_shape:
        raise ValueError(f"{name}: expected samples shaped {model.input_shape} (e.g. "
                         f"{model.input_shape[-1]} features), got {tuple(x.shape[1:])}")
    output_sample = dry_run(model, x[:1].astype(model.dtype, copy=False), name)
    model.input_shape = tuple(x.shape[1:])
    return x.astype(model.dtype, copy=False), output_sample


def check_y(model, y, output_sample, n: int, name: str = "y"):
    """Targets checked against the loss and the network's output, in the right dtype."""
    y = numeric_array(y, name)
    if y.ndim == 0 or len(y) != n:
        raise ValueError(f"x and {name} have different numbers of samples: {n} and "
                         f"{1 if y.ndim == 0 else len(y)}")
    refuse_non_finite(y, name, model.dtype)
    out_shape = output_sample.shape[1:]
    if isinstance(model.loss, CLASS_INDEX_LOSSES) and y.ndim == 1:
        if y.dtype.kind == "f" and not (y == xp.round(y)).all():
            raise ValueError(f"{name} holds class labels but some are not integers")
        y = y.astype(xp.int64)
        classes = out_shape[0] if out_shape else 0
        ignore = getattr(model.loss, "ignore_index", None)
        valid = y[y != ignore] if ignore is not None else y
        if valid.size:
            low, high = int(valid.min()), int(valid.max())
            if low < 0 or high >= classes:
                raise ValueError(
                    f"{name} holds label {low if low < 0 else high}, but the network's "
                    f"output layer has {classes} units (labels must be 0..{classes - 1})")
        return y
    if isinstance(model.loss, BINARY_LOSSES) and y.size and (y.min() < 0 or y.max() > 1):
        raise ValueError(f"{name} must hold 0/1 (or probability) targets for "
                         f"{type(model.loss).__name__}, got values in "
                         f"[{y.min()}, {y.max()}]")
    y = y.astype(model.dtype, copy=False)
    if y.ndim == 1 and out_shape == (1,):
        y = y.reshape(-1, 1)
    if tuple(y.shape[1:]) != tuple(out_shape):
        raise ValueError(f"{name} has targets shaped {tuple(y.shape[1:])} per sample but the "
                         f"network outputs {tuple(out_shape)}")
    return y


def check_weights(model, sample_weight, class_weight, y, n: int):
    """Per-sample weights from ``sample_weight`` times ``class_weight`` (None if neither)."""
    weights = None
    if sample_weight is not None:
        weights = numeric_array(sample_weight, "sample_weight").astype(model.dtype)
        if weights.shape != (n,):
            raise ValueError(f"sample_weight must hold one weight per sample ({n},), "
                             f"got shape {weights.shape}")
    if class_weight is not None:
        if not isinstance(class_weight, dict):
            raise ValueError("class_weight must be a dict {class index: weight}")
        labels = y.argmax(axis=1) if y.ndim == 2 and y.shape[1] > 1 else (
            xp.round(y.reshape(n)).astype(xp.int64))
        table = class_weight_table(class_weight, labels, model.dtype)
        per_class = table[labels]
        weights = per_class if weights is None else weights * per_class
    if weights is not None and (not xp.isfinite(weights).all() or (weights < 0).any()):
        raise ValueError("sample_weight / class_weight must be finite and non-negative")
    return weights


def prepare(model, x, y, sample_weight=None, class_weight=None, name: str = ""):
    """``(x, y, weights)`` checked and converted; ``name`` suffixes messages (``"_val"``)."""
    x, output_sample = check_x(model, x, f"x{name}")
    y = check_y(model, y, output_sample, len(x), f"y{name}")
    weights = check_weights(model, sample_weight, class_weight, y, len(x))
    return x, y, weights


def stratify_labels(model, y):
    """Class labels to stratify by for classification losses, None otherwise."""
    if isinstance(model.loss, CLASS_INDEX_LOSSES + BINARY_LOSSES):
        if y.ndim == 2 and y.shape[1] > 1:
            return y.argmax(axis=1)
        return xp.round(y.reshape(len(y))).astype(xp.int64)
    return None


def split_validation(model, arrays, fraction, mode, seed):
    """Split ``arrays`` (x, y, weights) into training and validation tuples.

    Parameters
    ----------
    model : bpnn.Model
    arrays : tuple
        ``(x, y, weights)``; ``weights`` may be None.
    fraction : float in [0, 1)
    mode : {"auto", "stratified", "random", "tail"}
    seed : int
        Seed of the split's own generator.

    Returns
    -------
    train, validation : tuple
    """
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not (
            0.0 <= fraction < 1.0):
        raise ValueError(f"validation_split must be in [0, 1), got {fraction!r}")
    if mode not in SPLIT_MODES:
        raise ValueError(f"validation_split_mode must be one of {SPLIT_MODES}, got {mode!r}")
    n = len(arrays[0])
    n_val = n - int(n * (1.0 - fraction))
    if n_val == 0 or n_val == n:
        raise ValueError(f"validation_split={fraction} of {n} samples leaves "
                         f"{n - n_val} for training and {n_val} for validation")
    if mode == "tail":
        train_index, val_index = slice(0, n - n_val), slice(n - n_val, n)
    else:
        # Its own generator: the split must not shift the global stream (exact resume).
        rng = xp.random.default_rng(seed)
        labels = stratify_labels(model, arrays[1]) if mode != "random" else None
        if mode == "stratified" and labels is None:
            raise ValueError("validation_split_mode='stratified' needs a classification "
                             f"loss, the model's loss is {type(model.loss).__name__}")
        if labels is not None:
            train_index, val_index = stratified_holdout(labels, n_val, rng)
        else:
            val_index = xp.sort(rng.permutation(n)[:n_val])
            mask = xp.ones(n, dtype=bool)
            mask[val_index] = False
            train_index = xp.flatnonzero(mask)
    split = [tuple(None if a is None else a[index] for a in arrays)
             for index in (train_index, val_index)]
    return split[0], split[1]


def prepare_fit_data(model, data, validation_data, fraction, mode, seed):
    """Checked training arrays and the validation set (given, split off, or None).

    Parameters
    ----------
    model : bpnn.Model
    data : tuple
        ``(x, y, sample_weight, class_weight)`` as passed to ``fit``.
    validation_data : tuple or None
        ``(x_val, y_val[, sample_weight_val])``; overrides ``fraction``.
    fraction, mode, seed
        ``fit``'s ``validation_split``, ``validation_split_mode`` and ``validation_seed``.

    Returns
    -------
    train : tuple
        ``(x, y, weights)``.
    validation : tuple or None
        ``(x_val, y_val, weights_val)``.
    """
    arrays = prepare(model, *data)
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be (x_val, y_val) or "
                             "(x_val, y_val, sample_weight_val)")
        return arrays, prepare(model, *validation_data[:2], *validation_data[2:3], name="_val")
    if fraction:
        return split_validation(model, arrays, fraction, mode, seed)
    return arrays, None
