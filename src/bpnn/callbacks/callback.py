"""``Callback``: hooks that ``Model.fit`` calls, and ``CallbackList`` that fans them out."""

from __future__ import annotations


class Callback:
    """Base class of training callbacks (Keras' hooks, plus a state for exact resume).

    ``fit`` calls ``set_model`` first, then ``on_train_begin``; per epoch ``on_epoch_begin``,
    per batch ``on_batch_begin`` / ``on_batch_end``, then ``on_epoch_end(epoch, logs)`` with
    the epoch's ``loss``, metrics, ``val_*`` values and ``lr``; finally ``on_train_end``.
    Setting ``self.model.stop_training = True`` ends training after the current epoch.

    ``on_before_update(batch, logs)`` runs after backpropagation and before the optimizer
    step; returning ``False`` cancels the update and stops training at once.

    Example
    -------
    >>> import bpnn
    >>> class PrintLoss(bpnn.callbacks.Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         print(epoch, round(logs["loss"], 3))
    """

    model = None
    #: Run ``on_epoch_end`` after the other callbacks (set by callbacks that save the model).
    saves_model = False

    def set_model(self, model) -> None:
        """Attach the :class:`bpnn.Model` being trained (``self.model``)."""
        self.model = model

    def on_train_begin(self, logs=None):
        """Called once when ``fit`` starts."""

    def on_train_end(self, logs=None):
        """Called once when ``fit`` ends."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of each epoch (0-based ``epoch``)."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of each epoch with its ``logs`` (loss, metrics, val_*, lr)."""

    def on_batch_begin(self, batch, logs=None):
        """Called before each training batch."""

    def on_batch_end(self, batch, logs=None):
        """Called after each training batch with ``{"loss", "size"}``."""

    def on_before_update(self, batch, logs=None):
        """Called after backward, before the optimizer step; return False to cancel it."""
        return True

    def state_dict(self) -> dict:
        """What a resumed ``fit`` needs to carry on exactly (arrays allowed; default none)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output."""


def _overrides(callback, hook: str) -> bool:
    return getattr(type(callback), hook) is not getattr(Callback, hook)


class CallbackList:
    """Calls each hook on every callback; per-batch hooks only on those that define them."""

    def __init__(self, callbacks, model):
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            callback.set_model(model)
        # Savers (ModelCheckpoint) end the epoch after the others, so that a checkpoint holds
        # every callback's state of this epoch whatever order the user listed them in.
        self._epoch_end = sorted(self.callbacks, key=lambda c: getattr(c, "saves_model", False))
        self._batch_begin = [c for c in self.callbacks if _overrides(c, "on_batch_begin")]
        self._batch_end = [c for c in self.callbacks if _overrides(c, "on_batch_end")]
        self._before_update = [c for c in self.callbacks if _overrides(c, "on_before_update")]

    @property
    def has_batch_hooks(self) -> bool:
        """Whether any callback watches batches (else the loop skips the per-batch calls)."""
        return bool(self._batch_begin or self._batch_end or self._before_update)

    @property
    def guards_updates(self) -> bool:
        """Whether any callback may cancel an update in ``on_before_update``."""
        return bool(self._before_update)

    def on_train_begin(self, logs=None):
        """Call every callback's hook (see :class:`Callback`)."""
        for callback in self.callbacks:
            callback.on_train_begin(logs)

    def on_train_end(self, logs=None):
        """Call every callback's hook (see :class:`Callback`)."""
        for callback in self.callbacks:
            callback.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs=None):
        """Call every callback's hook (see :class:`Callback`)."""
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        """Call every callback's hook (see :class:`Callback`)."""
        for callback in self._epoch_end:
            callback.on_epoch_end(epoch, logs)

    def on_batch_begin(self, batch, logs=None):
        """Call every callback's hook (see :class:`Callback`)."""
        for callback in self._batch_begin:
            callback.on_batch_begin(batch, logs)

    def on_batch_end(self, batch, logs=None):
        """Call every callback's hook (see :class:`Callback`)."""
        for callback in self._batch_end:
            callback.on_batch_end(batch, logs)

    def on_before_update(self, batch, logs=None) -> bool:
        """Call every callback's hook (see :class:`Callback`)."""
        allowed = True
        for callback in self._before_update:
            allowed = callback.on_before_update(batch, logs) is not False and allowed
        return allowed

    def __iter__(self):
        return iter(self.callbacks)
