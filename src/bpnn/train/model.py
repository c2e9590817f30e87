"""``Model``: Keras' ``fit`` / ``evaluate`` / ``predict`` around a bpnn network, loss and optimizer.

Everything the user passes is checked before the first training step (lengths, NaN / Inf,
labels against the output layer, feature counts, batch size), so a mistake costs no epoch.
Shuffling and dropout draw from bpnn's global generator; the validation split has its own
generator (``validation_seed``), so a run saved after epoch k and resumed with
``initial_epoch=k`` is bit-identical to one that never stopped.
"""

from __future__ import annotations

import copy
import math
import numbers

from bpnn import backend, nn
from bpnn.autograd.tensor import Tensor, _wrap, no_grad
from bpnn.backend import xp
from bpnn.callbacks.callback import CallbackList
from bpnn.callbacks.history import History
from bpnn.callbacks.learning_rate_scheduler import get_lr
from bpnn.data.loader import DataLoader
from bpnn.preprocessing import stratified_holdout
from bpnn.train import metrics as metrics_module
from bpnn.train.load_checks import check_model_meta
from bpnn.train.nonfinite import class_weight_table, guard_for, refuse_non_finite
from bpnn.train.progress import make_progress

_LOSSES = {
    "mse": nn.MSELoss, "mean_squared_error": nn.MSELoss,
    "mae": nn.L1Loss, "l1": nn.L1Loss, "mean_absolute_error": nn.L1Loss,
    "huber": nn.HuberLoss,
    "cross_entropy": nn.CrossEntropyLoss, "categorical_crossentropy": nn.CrossEntropyLoss,
    "sparse_categorical_crossentropy": nn.CrossEntropyLoss,
    "nll": nn.NLLLoss, "bce": nn.BCELoss, "binary_crossentropy": nn.BCELoss,
    "bce_with_logits": nn.BCEWithLogitsLoss,
}
_CLASS_INDEX_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss)
_BINARY_LOSSES = (nn.BCELoss, nn.BCEWithLogitsLoss)
_SPLIT_MODES = ("auto", "stratified", "random", "tail")
DEFAULT_BATCH_SIZE = 32


def _resolve_loss(loss):
    if isinstance(loss, nn.Module):
        return loss
    if isinstance(loss, str) and loss.lower() in _LOSSES:
        return _LOSSES[loss.lower()]()
    raise ValueError(f"unknown loss {loss!r}; pass a loss module such as "
                     f"bpnn.nn.CrossEntropyLoss() or one of: {', '.join(sorted(_LOSSES))}")


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _array(value, name: str):
    array = value.data if isinstance(value, Tensor) else xp.asarray(value)
    if array.dtype == object or array.dtype.kind not in "fiub":
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    return array


# ---------------------------------------------------------------- checkpoint helpers
def _extract_arrays(value, prefix: str, arrays: dict):
    """JSON-friendly copy of ``value``: arrays moved into ``arrays`` under dotted keys."""
    if isinstance(value, xp.ndarray):
        arrays[prefix] = value
        return {"__array__": prefix}
    if isinstance(value, dict):
        return {str(k): _extract_arrays(v, f"{prefix}.{k}", arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_extract_arrays(v, f"{prefix}.{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, xp.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}  # strict JSON has no inf / nan
    return value


def _restore_arrays(value, arrays: dict):
    """Inverse of :func:`_extract_arrays`."""
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            key = value["__array__"]
            if key not in arrays:
                raise KeyError(f"checkpoint refers to array {key!r}, which it does not hold")
            return xp.asarray(arrays[key])
        if set(value) == {"__float__"}:
            return float(value["__float__"])
        return {k: _restore_arrays(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore_arrays(v, arrays) for v in value]
    return value


class _Closure:
    """``closure()`` for optimizers that re-evaluate the loss (L-BFGS, Newton, LM...).

    Calling it zeroes the gradients, computes the batch loss (with the regularisation
    penalty), backpropagates and returns the loss Tensor. :meth:`residuals` returns
    ``(prediction - target) * sqrt(sample_weight)``, flattened, for least-squares methods.
    """

    def __init__(self, model, x, y, sample_weight):
        self.model, self.x, self.y, self.sample_weight = model, x, y, sample_weight
        self.last_output = None

    def __call__(self):
        model = self.model
        model.optimizer.zero_grad()
        output = model.network(self.x)
        loss = model.compute_loss(output, self.y, self.sample_weight)
        loss.backward()
        self.last_output = output
        return loss

    def residuals(self) -> Tensor:
        if not isinstance(self.model.loss, nn.MSELoss):
            raise ValueError(f"residuals() is for least-squares training and needs MSELoss, "
                             f"the model's loss is {type(self.model.loss).__name__}")
        output = self.model.network(self.x)
        residual = (output - self.y).reshape(-1)
        if self.sample_weight is not None:
            per_element = output.data[0].size
            scale = xp.repeat(xp.sqrt(self.sample_weight.data), per_element)
            residual = residual * _wrap(scale.astype(output.dtype))
        return residual


def _keyed(callbacks) -> list:
    """``(key, callback)`` pairs: the class name, with ``:2``, ``:3`` ... for repeats."""
    seen: dict = {}
    pairs = []
    for callback in callbacks:
        name = type(callback).__name__
        seen[name] = seen.get(name, 0) + 1
        pairs.append((name if seen[name] == 1 else f"{name}:{seen[name]}", callback))
    return pairs

class Model:
    """A network with its loss, optimizer and metrics, trained Keras-style.

    Parameters
    ----------
    network : bpnn.nn.Module
    loss : bpnn.nn.Module or str
        A loss module (``bpnn.nn.CrossEntropyLoss()``) or a name: ``"cross_entropy"``
        (also ``"sparse_categorical_crossentropy"``), ``"mse"``, ``"mae"``, ``"huber"``,
        ``"nll"``, ``"bce"``, ``"bce_with_logits"``.
    optimizer : bpnn.optim.Optimizer or str, default "adam"
        An optimizer built on ``network.parameters()``, or a name (``"adam"``, ``"sgd"``,
        ``"lbfgs"``...) completed by ``optimizer_options``.
    metrics : sequence of str or bpnn.metrics.Metric, default ()
        ``"accuracy"``, ``"top_k_accuracy"``, ``"precision"``, ``"recall"``, ``"f1"``
        (macro), ``"mae"``, ``"mse"``, ``"rmse"``, ``"r2"``.
    **optimizer_options
        Hyper-parameters when ``optimizer`` is a name, e.g. ``lr=1e-3``.

    Attributes
    ----------
    epoch : int
        Completed epochs.
    history : bpnn.callbacks.History
        Per-epoch logs, kept across ``fit`` calls (appended when resuming).
    callback_states : dict
        Saved callback states by class name (``"EarlyStopping"``; a second callback of the
        same class is ``"EarlyStopping:2"``, and so on in list order), handed to matching
        callbacks when a ``fit`` resumes (``initial_epoch > 0``).
    stop_training : bool
        Set by a callback to end training after the current epoch.

    Example
    -------
    >>> import numpy as np, bpnn
    >>> from bpnn import nn
    >>> x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    >>> y = (x[:, 0] > 0).astype("int64")
    >>> model = bpnn.Model(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)),
    ...                    nn.CrossEntropyLoss(), "adam", metrics=["accuracy"], lr=0.01)
    >>> history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    >>> sorted(history.history)
    ['accuracy', 'loss', 'lr']
    """

    def __init__(self, network, loss, optimizer="adam", metrics=(), **optimizer_options):
        if not isinstance(network, nn.Module):
            raise TypeError(f"network must be a bpnn.nn.Module, got {type(network).__name__}")
        from bpnn import optim  # optim is below train; imported here to keep startup light

        self.network = network
        self.loss = _resolve_loss(loss)
        if isinstance(optimizer, optim.Optimizer):
            if optimizer_options:
                raise ValueError(f"optimizer options {sorted(optimizer_options)} were given "
                                 "with an optimizer instance; pass them to its constructor")
            network_ids = {id(p) for p in network.parameters()}
            foreign = [p for g in optimizer.param_groups for p in g["params"]
                       if id(p) not in network_ids]
            if foreign:
                raise ValueError(f"the optimizer holds {len(foreign)} parameter(s) that are not "
                                 "in the network; build it on network.parameters()")
            self.optimizer = optimizer
        else:
            self.optimizer = optim.get(optimizer, network.parameters(), **optimizer_options)
        if isinstance(metrics, (str, metrics_module.Metric)):
            metrics = [metrics]
        self.metrics = [metrics_module.get(m) for m in metrics]
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names) or {"loss", "lr"} & set(names):
            raise ValueError(f"metric names must be distinct and not 'loss' / 'lr', got {names}")
        for metric in self.metrics:
            metric.from_logits = isinstance(self.loss, nn.BCEWithLogitsLoss)
        self.epoch = 0
        self.history = History()
        self.callback_states: dict = {}
        self.stop_training = False
        self.input_shape = None
        self._callbacks = None
        self._unreduced_loss = None
        self._batch_index = 0
        self._update_cancelled = False

    # ---------------------------------------------------------------- weights
    @property
    def dtype(self):
        """The float dtype of the network's parameters (inputs are converted to it)."""
        first = next(iter(self.network.parameters()), None)
        return first.dtype if first is not None else backend.get_default_dtype()

    def get_weights(self) -> dict:
        """A copy of the network's parameters and buffers (``network.state_dict()``)."""
        return self.network.state_dict()

    def set_weights(self, weights) -> None:
        """Load ``weights`` (from :meth:`get_weights`) into the network."""
        self.network.load_state_dict(weights)

    def freeze(self, *patterns: str) -> list:
        """Stop training the parameters whose dotted names match (transfer learning).

        Frozen parameters get no gradient and the optimizers skip them; the checkpoint
        remembers which ones are frozen.

        Parameters
        ----------
        *patterns : str
            Glob patterns or module prefixes of ``network.named_parameters()`` names, e.g.
            ``"0"`` (first layer of a Sequential), ``"0.*"``, ``"*.bias"``; none: everything.

        Returns
        -------
        list of str
            The names frozen.

        Raises
        ------
        ValueError
            If a pattern matches no parameter (the message lists the names).

        Example
        -------
        >>> import bpnn
        >>> from bpnn import nn
        >>> model = bpnn.Model(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)),
        ...                    "cross_entropy")
        >>> model.freeze("0")
        ['0.weight', '0.bias']
        """
        return self.network.freeze(*patterns)

    def unfreeze(self, *patterns: str) -> list:
        """Train again the parameters whose names match (all if none); see :meth:`freeze`."""
        return self.network.unfreeze(*patterns)

    # ---------------------------------------------------------------- loss and steps
    def compute_loss(self, output, y, sample_weight=None) -> Tensor:
        """The training objective: the loss (weighted per sample when weights are given)
        plus the network's regularisation penalty.

        With weights ``w`` the loss is ``mean_i(w_i * loss_i)`` over the batch, ``loss_i``
        being sample i's loss averaged over its outputs (Keras' "sum over batch size").

        Parameters
        ----------
        output : Tensor
            The network's output for the batch.
        y : Tensor
            Targets.
        sample_weight : Tensor, optional
            One non-negative weight per sample.

        Returns
        -------
        Tensor
            A scalar.
        """
        if sample_weight is None:
            loss = self.loss(output, y)
        else:
            if self._unreduced_loss is None:
                self._unreduced_loss = copy.copy(self.loss)
                self._unreduced_loss.reduction = "none"
            per_sample = self._unreduced_loss(output, y)
            if per_sample.ndim > 1:
                per_sample = per_sample.reshape(len(per_sample), -1).mean(axis=1)
            loss = (per_sample * sample_weight).mean()
        penalty = self.network.regularization_loss()
        return loss if penalty is None else loss + penalty

    def update_metrics(self, y, output) -> None:
        """Add a batch's targets and outputs to every metric."""
        if self.metrics:
            y_array, out_array = y.data, output.data
            for metric in self.metrics:
                metric.update(y_array, out_array)

    def train_step(self, x, y, sample_weight=None) -> float:
        """One mini-batch update: forward, loss, backward, (callbacks' check), optimizer step.

        Override in a subclass for custom training (keep calling :meth:`compute_loss` and
        :meth:`update_metrics` to get regularisation and metrics).

        Parameters
        ----------
        x, y : Tensor
        sample_weight : Tensor, optional

        Returns
        -------
        float
            The batch's loss.
        """
        self.optimizer.zero_grad()
        output = self.network(x)
        loss = self.compute_loss(output, y, sample_weight)
        loss.backward()
        value = float(loss.data)
        if self._callbacks is not None and not self._callbacks.on_before_update(
                self._batch_index, {"loss": value}):
            self._update_cancelled = True
            return value
        self.optimizer.step()
        self.update_metrics(y, output)
        return value

    def test_step(self, x, y, sample_weight=None) -> float:
        """Loss of one batch without updating (under ``no_grad``); updates the metrics."""
        output = self.network(x)
        loss = self.compute_loss(output, y, sample_weight)
        self.update_metrics(y, output)
        return float(loss.data)

    # ---------------------------------------------------------------- input checks
    def _dry_run(self, x_sample, name: str):
        """Forward one sample in eval mode: checks the feature count, gives the output shape.

        Eval mode draws no dropout mask, so the global generator is untouched.
        """
        was_training = self.network.training
        self.network.eval()
        try:
            with no_grad():
                return self.network(_wrap(x_sample)).data
        except ValueError as error:
            raise ValueError(f"{name} does not fit the network (samples shaped "
                             f"{tuple(x_sample.shape[1:])}): {error}") from None
        finally:
            self.network.train(was_training)

    def _check_x(self, x, name: str = "x"):
        x = _array(x, name)
        if x.ndim == 0:
            raise ValueError(f"{name} must have one row per sample, got a scalar")
        if len(x) == 0:
            raise ValueError(f"{name} is empty (0 samples)")
        refuse_non_finite(x, name, self.dtype)
        if self.input_shape is not None and tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"{name}: expected samples shaped {self.input_shape} (e.g. "
                             f"{self.input_shape[-1]} features), got {tuple(x.shape[1:])}")
        output_sample = self._dry_run(x[:1].astype(self.dtype, copy=False), name)
        self.input_shape = tuple(x.shape[1:])
        return x.astype(self.dtype, copy=False), output_sample

    def _check_y(self, y, output_sample, n: int, name: str = "y"):
        y = _array(y, name)
        if y.ndim == 0 or len(y) != n:
            raise ValueError(f"x and {name} have different numbers of samples: {n} and "
                             f"{1 if y.ndim == 0 else len(y)}")
        refuse_non_finite(y, name, self.dtype)
        out_shape = output_sample.shape[1:]
        if isinstance(self.loss, _CLASS_INDEX_LOSSES) and y.ndim == 1:
            if y.dtype.kind == "f" and not (y == xp.round(y)).all():
                raise ValueError(f"{name} holds class labels but some are not integers")
            y = y.astype(xp.int64)
            classes = out_shape[0] if out_shape else 0
            ignore = getattr(self.loss, "ignore_index", None)
            valid = y[y != ignore] if ignore is not None else y
            if valid.size:
                low, high = int(valid.min()), int(valid.max())
                if low < 0 or high >= classes:
                    raise ValueError(
                        f"{name} holds label {low if low < 0 else high}, but the network's "
                        f"output layer has {classes} units (labels must be 0..{classes - 1})")
            return y
        if isinstance(self.loss, _BINARY_LOSSES) and y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError(f"{name} must hold 0/1 (or probability) targets for "
                             f"{type(self.loss).__name__}, got values in "
                             f"[{y.min()}, {y.max()}]")
        y = y.astype(self.dtype, copy=False)
        if y.ndim == 1 and out_shape == (1,):
            y = y.reshape(-1, 1)
        if tuple(y.shape[1:]) != tuple(out_shape):
            raise ValueError(f"{name} has targets shaped {tuple(y.shape[1:])} per sample but the "
                             f"network outputs {tuple(out_shape)}")
        return y

    def _check_weights(self, sample_weight, class_weight, y, n: int):
        weights = None
        if sample_weight is not None:
            weights = _array(sample_weight, "sample_weight").astype(self.dtype)
            if weights.shape != (n,):
                raise ValueError(f"sample_weight must hold one weight per sample ({n},), "
                                 f"got shape {weights.shape}")
        if class_weight is not None:
            if not isinstance(class_weight, dict):
                raise ValueError("class_weight must be a dict {class index: weight}")
            labels = y.argmax(axis=1) if y.ndim == 2 and y.shape[1] > 1 else (
                xp.round(y.reshape(n)).astype(xp.int64))
            table = class_weight_table(class_weight, labels, self.dtype)
            per_class = table[labels]
            weights = per_class if weights is None else weights * per_class
        if weights is not None and (not xp.isfinite(weights).all() or (weights < 0).any()):
            raise ValueError("sample_weight / class_weight must be finite and non-negative")
        return weights

    def _prepare(self, x, y, sample_weight=None, class_weight=None, name: str = ""):
        x, output_sample = self._check_x(x, f"x{name}")
        y = self._check_y(y, output_sample, len(x), f"y{name}")
        weights = self._check_weights(sample_weight, class_weight, y, len(x))
        return x, y, weights

    def _stratify_labels(self, y):
        if isinstance(self.loss, _CLASS_INDEX_LOSSES + _BINARY_LOSSES):
            if y.ndim == 2 and y.shape[1] > 1:
                return y.argmax(axis=1)
            return xp.round(y.reshape(len(y))).astype(xp.int64)
        return None

    def _split_validation(self, arrays, fraction, mode, seed):
        if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not (
                0.0 <= fraction < 1.0):
            raise ValueError(f"validation_split must be in [0, 1), got {fraction!r}")
        if mode not in _SPLIT_MODES:
            raise ValueError(f"validation_split_mode must be one of {_SPLIT_MODES}, got {mode!r}")
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
            labels = self._stratify_labels(arrays[1]) if mode != "random" else None
            if mode == "stratified" and labels is None:
                raise ValueError("validation_split_mode='stratified' needs a classification "
                                 f"loss, the model's loss is {type(self.loss).__name__}")
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

    # ---------------------------------------------------------------- fit
    def fit(self, x, y, batch_size=None, epochs: int = 1, validation_split: float = 0.0,
            validation_data=None, shuffle: bool = True, class_weight=None, sample_weight=None,
            callbacks=None, initial_epoch: int = 0, verbose="auto",
            validation_split_mode: str = "auto", validation_seed: int = 0,
            terminate_on_nan: bool = True) -> History:
        """Train for ``epochs - initial_epoch`` epochs of mini-batch updates.

        Parameters
        ----------
        x : array_like
            Inputs, one row per sample; converted once to the network's dtype.
        y : array_like
            Class indices (``CrossEntropyLoss`` / ``NLLLoss``), one-hot rows, 0/1 targets
            (BCE) or values; a 1-D ``y`` for a one-output network becomes a column.
        batch_size : int, optional
            32 by default. For optimizers with ``requires_closure`` (L-BFGS, Newton...) each
            epoch is one ``optimizer.step(closure)`` on the full training set unless
            ``batch_size`` is given.
        epochs : int, default 1
            Index of the last epoch (as Keras: with ``initial_epoch=3, epochs=6`` three run).
        validation_split : float in [0, 1), default 0
            Fraction held out for validation, drawn at random and stratified by class for
            classification losses (Keras takes the last rows, which gave one-class
            validation sets, keras#8346).
        validation_data : tuple (x_val, y_val[, sample_weight_val]), optional
            Overrides ``validation_split``.
        shuffle : bool, default True
            Reshuffle the training rows every epoch (global generator).
        class_weight : dict {class index: weight}, optional
            Multiplies each sample's loss by its class's weight (unlisted classes: 1).
        sample_weight : array_like, shape (n,), optional
            Per-sample loss weights (multiplied with ``class_weight``). With weights the loss
            is ``mean_i(w_i * loss_i)`` over each batch.
        callbacks : list of bpnn.callbacks.Callback, optional
        initial_epoch : int, default 0
            Epoch to resume at; the history is kept up to it and the callbacks get the states
            in ``callback_states``.
        verbose : {"auto", 0, 1, 2}, default "auto"
            0 silent; "auto" / 1 a live bar on a terminal and one line per epoch otherwise;
            2 one line per epoch.
        validation_split_mode : {"auto", "stratified", "random", "tail"}, default "auto"
            "auto" stratifies for classification losses and draws at random otherwise;
            "tail" keeps Keras' last rows (time series).
        validation_seed : int, default 0
            Seed of the split's own generator (it never touches the global generator).
        terminate_on_nan : bool, default True
            Stop at the first batch whose loss or gradient is NaN or infinite, before it is
            applied, and raise :class:`bpnn.train.nonfinite.TrainingDivergedError`; the
            weights stay those of the last good batch. False trains on regardless.

        Returns
        -------
        bpnn.callbacks.History
            ``history.history`` maps ``loss``, each metric, ``val_loss``, ``val_<metric>``
            and ``lr`` to per-epoch lists.

        Raises
        ------
        ValueError
            Before any training step, for: x / y length mismatch, NaN or infinity in the
            inputs (or values that overflow in the network's dtype), labels outside the output
            layer's range, a feature count the network does not take, an empty data set,
            ``batch_size < 1``, bad split fractions or weights.
        TrainingDivergedError
            If the loss or a gradient turns non-finite (see ``terminate_on_nan``).
        """
        closure_mode = getattr(self.optimizer, "requires_closure", False)
        if batch_size is not None:
            batch_size = _positive_int("batch_size", batch_size)
        if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
        if (isinstance(initial_epoch, bool) or not isinstance(initial_epoch, numbers.Integral)
                or initial_epoch < 0):
            raise ValueError(f"initial_epoch must be a non-negative integer, got {initial_epoch!r}")
        callbacks = list(callbacks or [])
        x, y, weights = self._prepare(x, y, sample_weight, class_weight)
        validation = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be (x_val, y_val) or "
                                 "(x_val, y_val, sample_weight_val)")
            validation = self._prepare(*validation_data[:2], *validation_data[2:3], name="_val")
        elif validation_split:
            (x, y, weights), validation = self._split_validation(
                (x, y, weights), validation_split, validation_split_mode, validation_seed)
        if batch_size is None:
            batch_size = len(x) if closure_mode else DEFAULT_BATCH_SIZE
        arrays = (x, y) if weights is None else (x, y, weights)
        loader = DataLoader(arrays, batch_size=batch_size, shuffle=shuffle)

        if initial_epoch > 0:
            self.history.truncate(initial_epoch)
        else:
            self.history, self.callback_states = History(), {}
        progress = make_progress(verbose, epochs, len(loader),
                                 "Iteration" if closure_mode and len(loader) == 1 else "Epoch")
        # History first: a checkpoint written at an epoch's end must already hold its logs.
        guard = guard_for(callbacks, terminate_on_nan)
        listed = [self.history, *callbacks] + ([progress] if progress is not None else []) + (
            [guard] if guard is not None else [])
        self._callbacks = CallbackList(listed, self)
        self._user_callbacks = callbacks
        self.stop_training, self._update_cancelled = False, False
        self._callbacks.on_train_begin()
        if initial_epoch > 0:
            for key, callback in _keyed(callbacks):
                state = self.callback_states.get(key)
                if state:
                    callback.load_state_dict(state)
        self.network.train()
        try:
            for epoch in range(initial_epoch, epochs):
                self._callbacks.on_epoch_begin(epoch)
                train_logs = self._run_epoch(loader, closure_mode)
                if self._update_cancelled:
                    break
                logs = dict(train_logs)
                if validation is not None:
                    scores = self._evaluate_arrays(*validation, batch_size)
                    logs.update({f"val_{key}": value for key, value in scores.items()})
                logs["lr"] = get_lr(self.optimizer)
                self.epoch = epoch + 1
                self._callbacks.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
        finally:
            self.network.train()
        self._callbacks.on_train_end()
        self.callback_states = self._current_callback_states()
        if guard is not None:
            guard.raise_if_tripped()
        return self.history

    def _run_epoch(self, loader, closure_mode: bool) -> dict:
        for metric in self.metrics:
            metric.reset()
        callbacks = self._callbacks
        batch_hooks = callbacks.has_batch_hooks
        total, seen = 0.0, 0
        for batch_index, batch in enumerate(loader):
            self._batch_index = batch_index
            if batch_hooks:
                callbacks.on_batch_begin(batch_index)
            if closure_mode:
                value = self._closure_step(*batch)
            else:
                value = self.train_step(*batch)
            if self._update_cancelled:
                return {}
            size = len(batch[0])
            total += value * size
            seen += size
            if batch_hooks:
                callbacks.on_batch_end(batch_index, {"loss": value, "size": size})
        logs = {"loss": total / seen}
        for metric in self.metrics:
            logs[metric.name] = metric.result()
        return logs

    def _closure_step(self, x, y, sample_weight=None) -> float:
        closure = _Closure(self, x, y, sample_weight)
        guarded = bool(self._callbacks._before_update)
        snapshot = self.get_weights() if guarded else None
        loss = self.optimizer.step(closure)
        value = float(loss.data if isinstance(loss, Tensor) else loss)
        if guarded and not self._callbacks.on_before_update(self._batch_index, {"loss": value}):
            self.set_weights(snapshot)
            self._update_cancelled = True
            return value
        if closure.last_output is not None:
            self.update_metrics(y, closure.last_output)
        return value

    # ---------------------------------------------------------------- evaluate / predict
    def _evaluate_arrays(self, x, y, weights, batch_size: int) -> dict:
        for metric in self.metrics:
            metric.reset()
        arrays = (x, y) if weights is None else (x, y, weights)
        total = 0.0
        was_training = self.network.training
        self.network.eval()
        try:
            with no_grad():
                for batch in DataLoader(arrays, batch_size=batch_size):
                    total += self.test_step(*batch) * len(batch[0])
        finally:
            self.network.train(was_training)
        scores = {"loss": total / len(x)}
        for metric in self.metrics:
            scores[metric.name] = metric.result()
        return scores

    def evaluate(self, x, y, batch_size=None, sample_weight=None) -> dict:
        """Loss (with the regularisation penalty, as in training) and metrics on a data set.

        Parameters
        ----------
        x, y : array_like
        batch_size : int, default 32
        sample_weight : array_like, optional

        Returns
        -------
        dict
            ``{"loss": ..., "<metric>": ...}``.

        Raises
        ------
        ValueError
            For the same bad input as :meth:`fit`.
        """
        batch_size = _positive_int("batch_size", DEFAULT_BATCH_SIZE if batch_size is None
                                   else batch_size)
        x, y, weights = self._prepare(x, y, sample_weight)
        return self._evaluate_arrays(x, y, weights, batch_size)

    def predict(self, x, batch_size=None):
        """The network's outputs for ``x`` (evaluation mode, no graph recorded).

        Parameters
        ----------
        x : array_like
        batch_size : int, default 32

        Returns
        -------
        ndarray
            One output row per sample (logits for a classifier trained with cross-entropy).

        Raises
        ------
        ValueError
            If ``x`` is empty, holds NaN / infinity, or has the wrong feature count.
        """
        batch_size = _positive_int("batch_size", DEFAULT_BATCH_SIZE if batch_size is None
                                   else batch_size)
        x, _ = self._check_x(x)
        was_training = self.network.training
        self.network.eval()
        try:
            with no_grad():
                outputs = [self.network(_wrap(x[start:start + batch_size])).data
                           for start in range(0, len(x), batch_size)]
        finally:
            self.network.train(was_training)
        return xp.concatenate(outputs)

    # ---------------------------------------------------------------- checkpoints
    def _current_callback_states(self) -> dict:
        states = dict(self.callback_states)
        for key, callback in _keyed(getattr(self, "_user_callbacks", [])):
            state = callback.state_dict()
            if state:
                states[key] = state
        return states

    def to_checkpoint(self):
        """Everything needed to rebuild this model and resume training exactly.

        Returns
        -------
        meta : dict
            JSON-friendly: architecture, loss, optimizer (name, defaults, state scalars),
            metrics, epoch, history, callback states, input shape and the global RNG state.
        arrays : dict of str -> ndarray
            ``"network.<name>"`` weights, ``"optimizer.state.<i>.<key>"`` optimizer arrays,
            ``"callbacks.<Class>.<key>..."`` callback arrays (e.g. EarlyStopping's best
            weights).
        """
        from bpnn.optim import optimizer_config

        arrays = {f"network.{name}": value for name, value in self.network.state_dict().items()}
        positions = {id(p): i for i, p in enumerate(self.network.parameters())}
        optimizer_params = [p for g in self.optimizer.param_groups for p in g["params"]]
        config = optimizer_config(self.optimizer)
        meta = {
            "format": "bpnn.Model",
            "network": nn.module_to_config(self.network),
            "loss": nn.module_to_config(self.loss),
            "optimizer": {
                "name": config["name"], "defaults": config["defaults"],
                "param_positions": [positions[id(p)] for p in optimizer_params],
                "state_dict": _extract_arrays(self.optimizer.state_dict(), "optimizer", arrays),
            },
            "metrics": [{"name": m.name, **getattr(m, "get_config", dict)()}
                        for m in self.metrics],
            "epoch": self.epoch,
            "history": _extract_arrays(self.history.state_dict(), "history", arrays),
            "callbacks": _extract_arrays(self._current_callback_states(), "callbacks", arrays),
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "frozen": [name for name, p in self.network.named_parameters()
                       if not p.requires_grad],
            "rng_state": _extract_arrays(backend.get_rng_state(), "rng", arrays),
        }
        return meta, arrays

    @classmethod
    def from_checkpoint(cls, meta: dict, arrays: dict) -> Model:
        """Rebuild a model from :meth:`to_checkpoint`'s output.

        The global random generator is set to the saved state, so that
        ``fit(..., initial_epoch=model.epoch)`` continues exactly where training stopped.

        Raises
        ------
        ValueError
            If ``meta`` is not a model checkpoint or the arrays do not fit the architecture.
        """
        from bpnn.optim import optimizer_from_config

        if not isinstance(meta, dict) or meta.get("format") != "bpnn.Model":
            raise ValueError("not a bpnn.Model checkpoint (meta['format'] != 'bpnn.Model')")
        from bpnn import io

        # io checks every tensor's name, shape and dtype against the architecture, restores
        # the frozen flags, and builds the layers without moving the global generator.
        prefix = "network."
        network = io.module_from_checkpoint(
            {"architecture": meta["network"], "frozen": meta.get("frozen", [])},
            {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
        saved = meta["optimizer"]
        state_dict = _restore_arrays(saved.get("state_dict"), arrays)
        callback_states = _restore_arrays(meta.get("callbacks", {}), arrays)
        check_model_meta(meta, network, state_dict, callback_states, metrics_module._METRICS)
        loss = nn.module_from_config(meta["loss"])
        params = list(network.parameters())
        positions = saved["param_positions"]
        groups = [{"params": [params[positions[i]] for i in group["params"]]}
                  for group in state_dict["param_groups"]]
        optimizer = optimizer_from_config(saved["name"], groups, saved["defaults"], state_dict)
        metric_objects = []
        for spec in meta.get("metrics", []):
            spec = dict(spec)
            metric_objects.append(metrics_module._METRICS[spec.pop("name")](**spec))
        model = cls(network, loss, optimizer, metrics=metric_objects)
        model.epoch = int(meta.get("epoch", 0))
        model.history.load_state_dict(_restore_arrays(meta.get("history", {}), arrays))
        model.callback_states = callback_states
        if meta.get("input_shape") is not None:
            model.input_shape = tuple(meta["input_shape"])
        if meta.get("rng_state") is not None:
            backend.set_rng_state(_restore_arrays(meta["rng_state"], arrays))
        return model

    def __repr__(self) -> str:
        return (f"Model(network={type(self.network).__name__}, loss={type(self.loss).__name__}, "
                f"optimizer={type(self.optimizer).__name__}, "
                f"metrics={[m.name for m in self.metrics]}, epoch={self.epoch})")


def _register_checkpoint_kind() -> None:
    from bpnn import io

    io.register_kind("Model", Model.from_checkpoint)


_register_checkpoint_kind()
