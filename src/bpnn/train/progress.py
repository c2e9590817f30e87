"""Progress display of ``fit``: a live tqdm bar on a terminal, one line per epoch otherwise.

A bar redrawn with carriage returns turns into megabytes of log when output goes to a file
(a frequent complaint about Keras' ``verbose=1``); so off a terminal each epoch prints one
line, and a 100-epoch run writes about 100 lines.
"""

from __future__ import annotations

import sys
import time

from bpnn.callbacks.callback import Callback


def _format_logs(logs: dict) -> str:
    return " - ".join(f"{key}: {value:.4g}" if key == "lr" else f"{key}: {value:.4f}"
                      for key, value in logs.items())


class EpochLogger(Callback):
    """Print one line per epoch: ``Epoch 3/10 - 1.2s - loss: ... - val_loss: ... - lr: ...``.

    Parameters
    ----------
    epochs : int
        The last epoch number, for ``3/10``.
    stream : file, default sys.stdout
    unit : str, default "Epoch"
        ``"Iteration"`` for full-batch second-order training.
    """

    def __init__(self, epochs: int, stream=None, unit: str = "Epoch"):
        self.epochs, self.stream, self.unit = epochs, stream, unit
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self._start
        stream = self.stream or sys.stdout
        print(f"{self.unit} {epoch + 1}/{self.epochs} - {elapsed:.1f}s - "
              f"{_format_logs(logs or {})}", file=stream, flush=True)


class ProgressBar(EpochLogger):
    """A tqdm bar per epoch, updated per batch (falls back to :class:`EpochLogger` lines
    when tqdm is not installed)."""

    def __init__(self, epochs: int, batches: int, stream=None, unit: str = "Epoch"):
        super().__init__(epochs, stream, unit)
        self.batches, self._bar = batches, None
        try:
            from tqdm.auto import tqdm
        except ImportError:  # tqdm is optional: lines instead of a bar
            tqdm = None
        self._tqdm = tqdm

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        if self._tqdm is not None:
            self._bar = self._tqdm(total=self.batches, desc=f"{self.unit} {epoch + 1}/"
                                   f"{self.epochs}", unit="batch", leave=True,
                                   file=self.stream or sys.stdout, dynamic_ncols=True)

    def on_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update(1)
            if logs and batch % 20 == 0:
                self._bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is None:
            super().on_epoch_end(epoch, logs)
            return
        self._bar.set_postfix_str(_format_logs(logs or {}), refresh=False)
        self._bar.close()
        self._bar = None

    def on_train_end(self, logs=None):
        if self._bar is not None:  # training stopped inside an epoch
            self._bar.close()
            self._bar = None


def make_progress(verbose, epochs: int, batches: int, unit: str = "Epoch", stream=None):
    """The display for ``fit(verbose=...)``: 0 none, 1 bar on a terminal, 2 lines.

    ``"auto"`` and 1 both show a bar only when the output is a terminal and print lines
    otherwise.
    """
    if verbose in (0, False, None):
        return None
    if verbose not in ("auto", 1, 2, True):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    stream = stream or sys.stdout
    interactive = hasattr(stream, "isatty") and stream.isatty()
    if verbose != 2 and interactive:
        return ProgressBar(epochs, batches, stream, unit)
    return EpochLogger(epochs, stream, unit)
