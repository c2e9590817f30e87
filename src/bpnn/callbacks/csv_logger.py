"""``CSVLogger``: one CSV row per epoch."""

from __future__ import annotations

import os

from bpnn.callbacks.callback import Callback


class CSVLogger(Callback):
    """Write each epoch's logs to a CSV file (columns: epoch, then the log keys sorted).

    Parameters
    ----------
    filename : str
    separator : str, default ","
    append : bool, default False
        Add to an existing file (e.g. when resuming) instead of overwriting it.

    Example
    -------
    >>> import bpnn
    >>> log = bpnn.callbacks.CSVLogger("training.csv")
    """

    def __init__(self, filename, separator: str = ",", append: bool = False):
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self.keys = None
        self._file = None

    def on_train_begin(self, logs=None):
        has_rows = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename)
        self.keys = None
        if has_rows:
            with open(self.filename) as existing:
                self.keys = existing.readline().rstrip("\n").split(self.separator)[1:]
        self._file = open(self.filename, "a" if self.append else "w")  # noqa: SIM115

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            self._file.write(self.separator.join(["epoch"] + self.keys) + "\n")
        values = [str(epoch)] + [repr(float(logs[k])) if k in logs else "" for k in self.keys]
        self._file.write(self.separator.join(values) + "\n")
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None
