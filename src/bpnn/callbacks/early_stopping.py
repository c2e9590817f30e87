"""``EarlyStopping``: stop when the monitored value stops improving."""

from __future__ import annotations

from bpnn.callbacks.monitor import MonitorCallback


class EarlyStopping(MonitorCallback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs (Keras 3 rules).

    With ``restore_best_weights=True`` the weights of the best epoch are put back whenever
    training ends: after an early stop and also when the epochs simply ran out (the case
    Keras 2 missed, keras#12511).

    Parameters
    ----------
    monitor : str, default "val_loss"
    min_delta : float, default 0
    patience : int, default 0
        Epochs without improvement before stopping.
    mode : {"auto", "min", "max"}, default "auto"
    restore_best_weights : bool, default False
    start_from_epoch : int, default 0
        Epochs of warm-up that are not watched.
    baseline : float, optional
        Keep waiting until the value beats this.
    verbose : int, default 0

    Attributes
    ----------
    stopped_epoch : int
        The 0-based epoch at which training was stopped (0 if it was not).
    best_epoch : int

    Example
    -------
    >>> import bpnn
    >>> stop = bpnn.callbacks.EarlyStopping(patience=3, restore_best_weights=True)
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", restore_best_weights: bool = False,
                 start_from_epoch: int = 0, baseline: float | None = None, verbose: int = 0):
        super().__init__(monitor, mode, min_delta)
        if patience < 0 or start_from_epoch < 0:
            raise ValueError("EarlyStopping: patience and start_from_epoch must be >= 0")
        self.patience, self.start_from_epoch = int(patience), int(start_from_epoch)
        self.restore_best_weights, self.baseline, self.verbose = (
            restore_best_weights, baseline, verbose)
        self._reset()

    def _reset(self):
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best, self.best_weights = self._worst(), None

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        current = self.monitored_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self.is_improvement(current, self.best):
            self.best, self.best_epoch = float(current), epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self.is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring the weights of epoch {self.best_epoch + 1} "
                      f"({self.monitor} = {self.best:.6g})")
            self.model.set_weights(self.best_weights)

    def state_dict(self) -> dict:
        return {"wait": self.wait, "best": self.best, "stopped_epoch": self.stopped_epoch,
                "best_epoch": self.best_epoch,
                "best_weights": None if self.best_weights is None else dict(self.best_weights)}

    def load_state_dict(self, state: dict) -> None:
        self.wait, self.best = int(state["wait"]), float(state["best"])
        self.stopped_epoch = int(state.get("stopped_epoch", 0))
        self.best_epoch = int(state.get("best_epoch", 0))
        weights = state.get("best_weights")
        self.best_weights = None if weights is None else dict(weights)
