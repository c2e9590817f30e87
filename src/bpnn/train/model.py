"""``Model``: Keras' ``fit`` / ``evaluate`` / ``predict`` around a bpnn network, loss and optimizer.

Everything the user passes is checked before the first training step (lengths, NaN / Inf,
labels against the output layer, feature counts, batch size), so a mistake costs no epoch.
Shuffling and dropout draw from bpnn's global generator; the validation split has its own
generator (``validation_seed``), so a run saved after epoch k and resumed with
``initial_epoch=k`` is bit-identical to one that never stopped.
"""

from __future__ import annotations

import copy

from bpnn import backend, io, nn, optim
from bpnn.autograd.tensor import Tensor
from bpnn.callbacks.callback import CallbackList
from bpnn.callbacks.history import History
from bpnn.callbacks.learning_rate_scheduler import first_group_lr
from bpnn.data.loader import DataLoader
from bpnn.train import checkpoint, validation
from bpnn.train import metrics as metrics_module
from bpnn.train.closure import Closure
from bpnn.train.data_parallel import data_parallel
from bpnn.train.evaluation import DEFAULT_BATCH_SIZE, EvaluationMixin
from bpnn.train.nonfinite import guard_for
from bpnn.train.progress import make_progress
from bpnn.train.validation import positive_int


class Model(EvaluationMixin):
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
        self.network = network
        self.loss = nn.loss.get(loss)
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
            batch_size = positive_int("batch_size", batch_size)
        validation.non_negative_int("epochs", epochs)
        validation.non_negative_int("initial_epoch", initial_epoch)
        callbacks = list(callbacks or [])
        (x, y, weights), held_out = validation.prepare_fit_data(
            self, (x, y, sample_weight, class_weight), validation_data, validation_split,
            validation_split_mode, validation_seed)
        if batch_size is None:
            batch_size = len(x) if closure_mode else DEFAULT_BATCH_SIZE
        arrays = (x, y) if weights is None else (x, y, weights)
        self._parallel = data_parallel(self, arrays, batch_size, shuffle, closure_mode)
        loader = DataLoader(arrays, batch_size=batch_size, shuffle=shuffle) \
            if self._parallel is None else self._parallel.loader

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
        if self._parallel is not None:  # under mpirun: printing and files on rank 0 only
            listed = self._parallel.callbacks(listed, progress)
        self._callbacks = CallbackList(listed, self)
        self._user_callbacks = callbacks
        self.stop_training, self._update_cancelled = False, False
        self._callbacks.on_train_begin()
        if initial_epoch > 0:
            for key, callback in checkpoint.keyed(callbacks):
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
                if held_out is not None:
                    scores = self._evaluate_arrays(*held_out, batch_size)
                    logs.update({f"val_{key}": value for key, value in scores.items()})
                logs["lr"] = first_group_lr(self.optimizer)
                self.epoch = epoch + 1
                self._callbacks.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
        finally:
            self.network.train()
            if self._parallel is not None:
                self._parallel.restore_optimizer()
        self._callbacks.on_train_end()
        self.callback_states = checkpoint.callback_states(self)
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
        if getattr(self, "_parallel", None) is not None:  # sums over the MPI ranks
            total, seen = self._parallel.reduce_epoch(total, seen, self.metrics)
        logs = {"loss": total / seen}
        for metric in self.metrics:
            logs[metric.name] = metric.result()
        return logs

    def _closure_step(self, x, y, sample_weight=None) -> float:
        closure = Closure(self, x, y, sample_weight)
        guarded = self._callbacks.guards_updates
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

    # ---------------------------------------------------------------- checkpoints
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
        return checkpoint.to_checkpoint(self)

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
        return checkpoint.from_checkpoint(cls, meta, arrays)

    # ---------------------------------------------------------------- learners' toolkit
    def summary(self, input_shape=None, file=None):
        """Print the network's layers, output shapes, parameters and multiply-adds.

        See :func:`bpnn.summary`; ``input_shape`` defaults to the sample shape ``fit`` /
        ``predict`` last saw. Returns the :class:`bpnn.train.Summary`.
        """
        from bpnn.train.network_summary import summary

        return summary(self.network, input_shape or self.input_shape, file=file)

    def lr_find(self, x, y, start_lr=1e-7, end_lr=10.0, num_iter=100, batch_size=None,
                stop_div=True):
        """Learning-rate range test (fastai); the model is left bit-identical.

        See :mod:`bpnn.train.lr_finder` for the procedure and the suggestion rules. Returns an
        :class:`bpnn.train.LRFinderResult` (``lrs``, ``losses``, ``suggestion``, ``plot``).
        """
        from bpnn.train.lr_finder import lr_find

        return lr_find(self, x, y, start_lr=start_lr, end_lr=end_lr, num_iter=num_iter,
                       batch_size=batch_size, stop_div=stop_div)

    def __repr__(self) -> str:
        return (f"Model(network={type(self.network).__name__}, loss={type(self.loss).__name__}, "
                f"optimizer={type(self.optimizer).__name__}, "
                f"metrics={[m.name for m in self.metrics]}, epoch={self.epoch})")


io.register_kind("Model", Model.from_checkpoint)
