"""``ModelCheckpoint``: save the model (or its weights) after epochs."""

from __future__ import annotations

from bpnn import io
from bpnn.callbacks.monitor import MonitorCallback


class ModelCheckpoint(MonitorCallback):
    """Save the model after every epoch, or only when ``monitor`` improved.

    Saving goes through :func:`bpnn.io.save` (safetensors + JSON): the whole
    :class:`bpnn.Model` (architecture, weights, optimizer, callbacks' state, RNG state) so
    that training can resume exactly, or only the network with ``save_weights_only=True``.
    It runs after the other callbacks of the epoch, so their state of this epoch is saved.

    Parameters
    ----------
    filepath : str
        May hold fields filled from the epoch (1-based) and the logs:
        ``"ckpt/epoch{epoch:02d}-{val_loss:.4f}"``.
    monitor : str, default "val_loss"
    save_best_only : bool, default False
    save_weights_only : bool, default False
    mode : {"auto", "min", "max"}, default "auto"
    verbose : int, default 0

    Raises
    ------
    KeyError
        At save time, if ``filepath`` names a field that is not in the logs.

    Example
    -------
    >>> import bpnn
    >>> ckpt = bpnn.callbacks.ModelCheckpoint("best.bpnn", save_best_only=True)
    """

    saves_model = True

    def __init__(self, filepath, monitor: str = "val_loss", save_best_only: bool = False,
                 save_weights_only: bool = False, mode: str = "auto", verbose: int = 0):
        super().__init__(monitor, mode)
        self.filepath = str(filepath)
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.verbose = verbose
        self.last_saved = None

    def on_train_begin(self, logs=None):
        self.best = self._worst()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            current = self.monitored_value(logs)
            if current is None or not self.is_improvement(current, self.best):
                return
            self.best = float(current)
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as error:
            raise KeyError(f"ModelCheckpoint: filepath {self.filepath!r} uses {error}, which "
                           f"is not in the logs ({', '.join(sorted(logs))})") from None
        io.save(self.model.network if self.save_weights_only else self.model, path)
        self.last_saved = path
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved {path}")

    def state_dict(self) -> dict:
        return {"best": self.best}

    def load_state_dict(self, state: dict) -> None:
        self.best = float(state["best"])
