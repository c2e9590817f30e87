"""``ReduceLROnPlateau`` and the one "did the monitored value improve?" rule.

The rule, :func:`is_improvement`, serves the scheduler here and every monitoring callback
(``EarlyStopping``, ``ModelCheckpoint``, the ``ReduceLROnPlateau`` callback built on this
scheduler).
"""

from __future__ import annotations

import math

from bpnn.optim.lr_scheduler.base import LRScheduler, check_optimizer, per_group


def is_improvement(current: float, best: float, mode: str = "min", threshold: float = 0.0,
                   threshold_mode: str = "abs") -> bool:
    """Whether ``current`` improves on ``best`` by more than ``threshold``.

    Parameters
    ----------
    current, best : float
    mode : {"min", "max"}
        Whether smaller (a loss) or larger (an accuracy) is better.
    threshold : float, default 0
    threshold_mode : {"abs", "rel"}, default "abs"
        ``abs``: beat ``best -/+ threshold``; ``rel``: beat ``best * (1 -/+ threshold)``.

    Returns
    -------
    bool

    Example
    -------
    >>> from bpnn.optim.lr_scheduler import is_improvement
    >>> is_improvement(0.95, 1.0, "min", 0.01), is_improvement(0.995, 1.0, "min", 0.01)
    (True, False)
    """
    if mode == "min":
        if threshold_mode == "rel":
            return current < best * (1.0 - threshold)
        return current < best - threshold
    if threshold_mode == "rel":
        return current > best * (threshold + 1.0)
    return current > best + threshold


class ReduceLROnPlateau(LRScheduler):
    """Divide the lr by ``1 / factor`` when a metric has stopped improving for ``patience`` epochs.

    Parameters
    ----------
    optimizer : Optimizer
    mode : {"min", "max"}, default "min"
        Whether the metric should fall (a loss) or rise (an accuracy).
    factor : float, default 0.1
        ``new_lr = max(lr * factor, min_lr)``; must be < 1.
    patience : int, default 10
        Epochs without improvement tolerated before reducing.
    threshold : float, default 1e-4
        Smallest change counted as an improvement.
    threshold_mode : {"rel", "abs"}, default "rel"
        ``rel``: better than ``best * (1 -/+ threshold)``; ``abs``: than ``best -/+ threshold``.
    cooldown : int, default 0
        Epochs after a reduction during which bad epochs are not counted.
    min_lr : float or list of float, default 0
    eps : float, default 1e-8
        Reductions smaller than this are skipped.

    Raises
    ------
    ValueError
        For ``factor >= 1``, an unknown mode or threshold mode, or a ``min_lr`` list of the
        wrong length.

    Example
    -------
    >>> import bpnn
    >>> opt = bpnn.optim.SGD(bpnn.nn.Linear(2, 1).parameters(), lr=1.0)
    >>> sched = bpnn.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5)
    >>> for loss in [1.0, 1.0, 1.0]:
    ...     sched.step(loss)
    >>> sched.get_last_lr()
    [0.5]
    """

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr=0, eps: float = 1e-8):
        if not factor < 1.0:
            raise ValueError(f"factor must be < 1.0 (it multiplies the lr), got {factor!r}")
        check_optimizer(optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.optimizer = optimizer
        self.factor = factor
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) else min_lr
        self.min_lrs = per_group("min_lr", optimizer, min_lr)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.last_epoch = 0
        self._last_lr = self._current_lrs()
        self._reset()

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        """Whether bad epochs are being ignored after a reduction."""
        return self.cooldown_counter > 0

    def is_better(self, current: float, best: float) -> bool:
        """Whether ``current`` improves on ``best`` by more than the threshold."""
        return is_improvement(current, best, self.mode, self.threshold, self.threshold_mode)

    def step(self, metrics, epoch: int | None = None) -> None:
        """Record this epoch's ``metrics`` value and reduce the lr if it has plateaued."""
        current = float(metrics)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(f"the optimizer has {len(groups)} parameter groups but "
                                   f"min_lr gave {len(self.min_lrs)} values")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs, strict=True):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr
