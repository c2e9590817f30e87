"""``History``: every epoch's logs, kept on the model across ``fit`` calls."""

from __future__ import annotations

from bpnn.callbacks.callback import Callback


class History(Callback):
    """Record each epoch's logs; ``fit`` returns it and keeps it as ``model.history``.

    Attributes
    ----------
    history : dict of str -> list
        ``{"loss": [...], "accuracy": [...], "val_loss": [...], "lr": [...]}``, one entry per
        epoch.
    epoch : list of int
        The 0-based epoch numbers recorded.

    Example
    -------
    >>> import bpnn
    >>> h = bpnn.callbacks.History()
    >>> h.on_epoch_end(0, {"loss": 0.5})
    >>> h.history
    {'loss': [0.5]}
    """

    def __init__(self):
        self.history: dict = {}
        self.epoch: list = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(int(epoch))
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def truncate(self, epochs: int) -> None:
        """Keep the first ``epochs`` entries (a resumed fit replays from there)."""
        keep = sum(1 for e in self.epoch if e < epochs)
        self.epoch = self.epoch[:keep]
        self.history = {key: values[:keep] for key, values in self.history.items()}

    def state_dict(self) -> dict:
        return {"history": {k: list(v) for k, v in self.history.items()},
                "epoch": list(self.epoch)}

    def load_state_dict(self, state: dict) -> None:
        self.history = {k: list(v) for k, v in state.get("history", {}).items()}
        self.epoch = list(state.get("epoch", range(len(next(iter(self.history.values()), [])))))
