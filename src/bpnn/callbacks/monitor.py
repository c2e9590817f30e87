"""``MonitorCallback``: the base of EarlyStopping, ModelCheckpoint and ReduceLROnPlateau.

It applies the one "did the monitored value improve?" rule,
:func:`bpnn.optim.lr_scheduler.is_improvement`, which the plateau scheduler uses too.
"""

from __future__ import annotations

import math
import warnings

from bpnn.callbacks.callback import Callback
from bpnn.optim.lr_scheduler import is_improvement

# Names whose larger values are better; everything else (losses, errors) is minimised.
_MAXIMISED = ("acc", "accuracy", "precision", "recall", "f1", "r2", "auc")


class MonitorCallback(Callback):
    """Base of callbacks that watch one value of the epoch logs.

    Parameters
    ----------
    monitor : str
        Key in the logs, e.g. ``"val_loss"`` or ``"val_accuracy"``.
    mode : {"auto", "min", "max"}
        ``"auto"`` maximises accuracy-like names (accuracy, precision, recall, f1, r2)
        and minimises the rest.
    min_delta : float
        An improvement must beat the best value by more than this (absolute).
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", min_delta: float = 0.0):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{type(self).__name__}: mode must be 'auto', 'min' or 'max', "
                             f"got {mode!r}")
        if min_delta < 0:
            raise ValueError(f"{type(self).__name__}: min_delta must be >= 0, got {min_delta}")
        self.monitor, self.min_delta = monitor, float(min_delta)
        if mode == "auto":
            base = monitor[4:] if monitor.startswith("val_") else monitor
            mode = "max" if base in _MAXIMISED or base.endswith("accuracy") else "min"
        self.mode = mode
        self.best = self._worst()

    def _worst(self) -> float:
        return math.inf if self.mode == "min" else -math.inf

    def is_improvement(self, current: float, reference: float) -> bool:
        """Whether ``current`` beats ``reference`` by more than ``min_delta``."""
        return is_improvement(current, reference, self.mode, self.min_delta)

    def monitored_value(self, logs):
        """The monitored value from ``logs`` (``None``, with a warning, when absent)."""
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"{type(self).__name__}: the monitored value {self.monitor!r} is not "
                          f"in the logs (available: {', '.join(sorted(logs or {}))})",
                          RuntimeWarning, stacklevel=3)
        return value
