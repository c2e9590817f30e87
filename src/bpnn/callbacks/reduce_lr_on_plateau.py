"""``ReduceLROnPlateau``: lower the learning rate when the monitored value stalls."""

from __future__ import annotations

from bpnn.callbacks.monitor import MonitorCallback
from bpnn.optim import lr_scheduler


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement.

    Keras' rules, run by :class:`bpnn.optim.lr_scheduler.ReduceLROnPlateau` (one plateau
    rule for both): the wait counter grows by one per epoch without improvement and the rate
    drops when it reaches ``patience``, which is PyTorch's ``patience=p - 1,
    threshold_mode="abs", threshold=min_delta``; then ``cooldown`` epochs pass before counting
    again (Keras counts the last cooldown epoch, so the scheduler gets ``cooldown - 1``).
    Each parameter group is scaled, never below ``min_lr``. The logs' ``lr`` stays the rate
    used during the epoch; a reduction shows from the next one.

    Parameters
    ----------
    monitor : str, default "val_loss"
    factor : float, default 0.1
        In (0, 1).
    patience : int, default 10
    mode : {"auto", "min", "max"}
    min_delta : float, default 1e-4
    cooldown : int, default 0
    min_lr : float, default 0
    verbose : int, default 0

    Example
    -------
    >>> import bpnn
    >>> plateau = bpnn.callbacks.ReduceLROnPlateau(factor=0.5, patience=3)
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0,
                 min_lr: float = 0.0, verbose: int = 0):
        super().__init__(monitor, mode, min_delta)
        if not 0.0 < factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor}")
        if patience < 1 or cooldown < 0 or min_lr < 0:
            raise ValueError("ReduceLROnPlateau: patience must be >= 1, cooldown and min_lr >= 0")
        self.factor, self.patience, self.cooldown = float(factor), int(patience), int(cooldown)
        self.min_lr, self.verbose = float(min_lr), verbose
        self.scheduler = None

    def on_train_begin(self, logs=None):
        self.scheduler = lr_scheduler.ReduceLROnPlateau(
            self.model.optimizer, mode=self.mode, factor=self.factor, patience=self.patience - 1,
            threshold=self.min_delta, threshold_mode="abs", cooldown=max(self.cooldown - 1, 0),
            min_lr=self.min_lr, eps=1e-12)

    @property
    def best(self) -> float:
        """The best monitored value so far."""
        return self.scheduler.best if self.scheduler is not None else self._worst()

    @best.setter
    def best(self, value: float) -> None:
        if getattr(self, "scheduler", None) is not None:
            self.scheduler.best = value

    @property
    def wait(self) -> int:
        """Epochs since the last improvement (or reduction)."""
        return self.scheduler.num_bad_epochs if self.scheduler is not None else 0

    def on_epoch_end(self, epoch, logs=None):
        current = self.monitored_value(logs)
        if current is None:
            return
        before = self.scheduler.get_last_lr()
        self.scheduler.step(current)
        if self.verbose and self.scheduler.get_last_lr() != before:
            print(f"Epoch {epoch + 1}: ReduceLROnPlateau lowered the learning rate "
                  f"to {self.scheduler.get_last_lr()[0]:.6g}")

    def state_dict(self) -> dict:
        scheduler = self.scheduler
        return {"best": scheduler.best, "wait": scheduler.num_bad_epochs,
                "cooldown_counter": scheduler.cooldown_counter}

    def load_state_dict(self, state: dict) -> None:
        self.scheduler.best, self.scheduler.num_bad_epochs = (
            float(state["best"]), int(state["wait"]))
        self.scheduler.cooldown_counter = int(state["cooldown_counter"])
