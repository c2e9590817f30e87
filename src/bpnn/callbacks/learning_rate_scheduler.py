"""``LearningRateScheduler``: set the learning rate each epoch."""

from __future__ import annotations

import inspect

from bpnn.callbacks.callback import Callback


def first_group_lr(optimizer) -> float:
    """The learning rate of the optimizer's first parameter group."""
    return float(optimizer.param_groups[0]["lr"])


def set_all_lrs(optimizer, lr: float) -> None:
    """Give every parameter group the learning rate ``lr``."""
    for group in optimizer.param_groups:
        group["lr"] = float(lr)


class LearningRateScheduler(Callback):
    """Set the learning rate from a schedule at each epoch.

    Parameters
    ----------
    schedule : callable or learning-rate scheduler
        Either Keras' ``schedule(epoch, lr) -> new_lr`` (0-based epoch, called at the start
        of each epoch), or a ``bpnn.optim.lr_scheduler`` object built on the model's
        optimizer, stepped at the end of each epoch as in PyTorch's loop (a scheduler whose
        ``step`` takes ``metrics``, like ``ReduceLROnPlateau``, gets ``logs[monitor]``).
        A scheduler's state is saved with the model's checkpoint.
    verbose : int, default 0
    interval : {"epoch", "batch"}, default "epoch"
        Step a scheduler object after every batch instead (``OneCycleLR``).
    monitor : str, default "val_loss"
        The value passed to a plateau scheduler.

    Example
    -------
    >>> import bpnn
    >>> halve = bpnn.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
    """

    def __init__(self, schedule, verbose: int = 0, interval: str = "epoch",
                 monitor: str = "val_loss"):
        self.is_scheduler = hasattr(schedule, "step") and hasattr(schedule, "state_dict")
        if not self.is_scheduler and not callable(schedule):
            raise TypeError("LearningRateScheduler needs schedule(epoch, lr) or a "
                            f"learning-rate scheduler, got {type(schedule).__name__}")
        if interval not in ("epoch", "batch"):
            raise ValueError(f"interval must be 'epoch' or 'batch', got {interval!r}")
        if interval == "batch" and not self.is_scheduler:
            raise ValueError("interval='batch' needs a scheduler object with step()")
        self.schedule, self.verbose, self.interval, self.monitor = (
            schedule, verbose, interval, monitor)
        self.wants_metric = self.is_scheduler and "metrics" in inspect.signature(
            schedule.step).parameters

    def on_epoch_begin(self, epoch, logs=None):
        if self.is_scheduler:
            return
        lr = self.schedule(epoch, first_group_lr(self.model.optimizer))
        try:
            lr = float(lr)
        except (TypeError, ValueError):
            raise ValueError(f"LearningRateScheduler: schedule returned {lr!r} for epoch "
                             f"{epoch}; it must return a number") from None
        if not lr >= 0:
            raise ValueError(f"LearningRateScheduler: schedule returned lr={lr} for epoch {epoch}")
        set_all_lrs(self.model.optimizer, lr)
        if self.verbose:
            print(f"Epoch {epoch + 1}: learning rate set to {lr:.6g}")

    def on_epoch_end(self, epoch, logs=None):
        if not self.is_scheduler or self.interval != "epoch":
            return
        if self.wants_metric:
            value = (logs or {}).get(self.monitor)
            if value is None:
                raise KeyError(f"LearningRateScheduler: {type(self.schedule).__name__} needs "
                               f"{self.monitor!r}, which is not in the logs "
                               f"({', '.join(sorted(logs or {}))})")
            self.schedule.step(value)
        else:
            self.schedule.step()

    def on_batch_end(self, batch, logs=None):
        if self.interval == "batch":
            self.schedule.step()

    def state_dict(self) -> dict:
        return {"scheduler": self.schedule.state_dict()} if self.is_scheduler else {}

    def load_state_dict(self, state: dict) -> None:
        if self.is_scheduler and "scheduler" in state:
            self.schedule.load_state_dict(state["scheduler"])
