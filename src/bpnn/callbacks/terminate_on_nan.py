"""``TerminateOnNaN``: stop before a non-finite loss or gradient reaches the weights."""

from __future__ import annotations

import math

from bpnn.backend import xp
from bpnn.callbacks.callback import Callback


class TerminateOnNaN(Callback):
    """Stop training when a batch's loss or any gradient is NaN or infinite.

    The check runs after backpropagation and before the optimizer step, so the weights
    stay those of the last good batch (Keras checks after the update, when the weights are
    already ruined). The offending batch is named in a message and kept in ``terminated_at``.

    Attributes
    ----------
    terminated_at : tuple (epoch, batch) or None
        0-based epoch and batch index of the bad batch.

    Example
    -------
    >>> import bpnn
    >>> guard = bpnn.callbacks.TerminateOnNaN()
    """

    def __init__(self):
        self.terminated_at = None
        self.epoch = 0

    def on_train_begin(self, logs=None):
        self.terminated_at = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_before_update(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        problem = None
        if loss is not None and not math.isfinite(loss):
            problem = f"loss is {loss}"
        else:
            for name, parameter in self.model.network.named_parameters():
                grad = parameter.grad
                if grad is not None and not xp.isfinite(grad).all():
                    problem = f"the gradient of {name} is not finite"
                    break
        if problem is None:
            return True
        self.terminated_at = (self.epoch, batch)
        print(f"TerminateOnNaN: epoch {self.epoch + 1}, batch {batch}: {problem}; training "
              "stopped before this update, the weights are those of the last good batch")
        return False
