"""``ReduceLROnPlateau``: lower the learning rate when the monitored value stalls."""

from __future__ import annotations

from bpnn.callbacks.monitor import MonitorCallback


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement.

    Keras' rules: the wait counter grows by one per epoch without improvement and the rate
    drops when it reaches ``patience`` (PyTorch's ``ReduceLROnPlateau(patience=p - 1,
    threshold_mode="abs", threshold=min_delta)`` gives the same rates); then ``cooldown``
    epochs pass before counting again. Each parameter group is scaled, never below ``min_lr``.
    The logs' ``lr`` stays the rate used during the epoch; a reduction shows from the next one.

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
        self.wait = self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        self.wait = self.cooldown_counter = 0
        self.best = self._worst()

    def on_epoch_end(self, epoch, logs=None):
        current = self.monitored_value(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.is_improvement(current, self.best):
            self.best, self.wait = float(current), 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(epoch)
                self.cooldown_counter, self.wait = self.cooldown, 0

    def _reduce(self, epoch):
        for group in self.model.optimizer.param_groups:
            old = float(group["lr"])
            new = max(old * self.factor, self.min_lr)
            if old - new > 1e-12:  # already at min_lr: nothing to do
                group["lr"] = new
                if self.verbose:
                    print(f"Epoch {epoch + 1}: ReduceLROnPlateau lowered the learning rate "
                          f"to {new:.6g}")

    def state_dict(self) -> dict:
        return {"best": self.best, "wait": self.wait, "cooldown_counter": self.cooldown_counter}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.wait = float(state["best"]), int(state["wait"])
        self.cooldown_counter = int(state["cooldown_counter"])
