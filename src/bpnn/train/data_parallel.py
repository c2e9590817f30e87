"""What ``Model.fit`` does differently when ``mpirun`` started it: data-parallel training.

:func:`data_parallel` returns ``None`` in a single process, so ``fit`` is untouched there.
Under ``mpirun -n N`` it returns a :class:`DataParallelFit` that

- broadcasts rank 0's weights, optimizer state and random state at the start (and the random
  state before each epoch, so every rank draws the order one process would draw);
- hands each rank its part of every global batch (``DataLoader(shard=True)``) and wraps the
  optimizer in :func:`bpnn.distributed.DistributedOptimizer`, each rank's gradient weighted by
  its share of the batch, so each update is the single-process update on the global batch;
- sums each epoch's loss total, sample count and metric counts over the ranks, so the logs
  (and every callback's decision) are the whole data set's and the same on every rank, and
  gives every rank rank 0's buffers (batch-norm statistics) at the end of each epoch;
- runs the progress bar and the callbacks that write files (``ModelCheckpoint``,
  ``CSVLogger``, or any callback with ``rank_zero_only = True``) on rank 0 only, and keeps the
  other ranks' standard output quiet; a checkpoint is thus written once and holds everything
  one process needs to resume.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

from bpnn import distributed
from bpnn.autograd.tensor import no_grad
from bpnn.callbacks.callback import Callback
from bpnn.callbacks.csv_logger import CSVLogger
from bpnn.callbacks.model_checkpoint import ModelCheckpoint
from bpnn.data.loader import DataLoader
from bpnn.train.progress import EpochLogger, ProgressBar

_RANK_ZERO_ONLY = (ModelCheckpoint, CSVLogger)


def data_parallel(model, arrays, batch_size: int, shuffle: bool, closure_mode: bool):
    """A :class:`DataParallelFit` when this process is one of several MPI ranks, else None."""
    if not distributed.launched_by_mpi():
        return None
    distributed.init()
    if distributed.size() == 1:
        return None
    return DataParallelFit(model, arrays, batch_size, shuffle, closure_mode)


class DataParallelFit:
    """The distributed side of one ``fit`` call (see the module docstring)."""

    def __init__(self, model, arrays, batch_size: int, shuffle: bool, closure_mode: bool):
        self.model, self.size, self.rank = model, distributed.size(), distributed.rank()
        n = len(arrays[0])
        smallest = min(batch_size, n - (n // batch_size) * batch_size or batch_size)
        if closure_mode and smallest < self.size:
            raise ValueError(f"{type(model.optimizer).__name__} evaluates the loss of each "
                             f"batch on every one of the {self.size} processes, so every batch "
                             f"needs at least {self.size} samples; the smallest has {smallest}")
        distributed.broadcast_parameters(model.network)
        distributed.broadcast_optimizer_state(model.optimizer)
        distributed.broadcast_rng_state()
        self.loader = _ShardedLoader(self, DataLoader(arrays, batch_size=batch_size,
                                                      shuffle=shuffle, shard=True))
        self.original_optimizer = model.optimizer
        model.optimizer = distributed.DistributedOptimizer(model.optimizer)

    def callbacks(self, callbacks, progress) -> list:
        """The callbacks this rank runs: all on rank 0; elsewhere none that prints or writes."""
        if self.rank == 0:  # mpirun forwards output line by line: lines, not a redrawn bar
            return [EpochLogger(c.epochs, c.stream, c.unit) if c is progress
                    and isinstance(c, ProgressBar) else c for c in callbacks] + [_EndTogether()]
        return [_QuietOutput()] + [c for c in callbacks if c is not progress and not getattr(
            c, "rank_zero_only", isinstance(c, _RANK_ZERO_ONLY))] + [_EndTogether()]

    def reduce_epoch(self, total: float, seen: int, metrics) -> tuple:
        """The whole job's ``(loss total, sample count)``; the metrics' counts summed too."""
        if self.model._update_cancelled:  # every rank stops, none sums (see _ShardedLoader)
            return total, seen
        # Batch-norm statistics come from each rank's own share; rank 0's go to all (as in
        # PyTorch's DistributedDataParallel), so validation and checkpoints agree everywhere.
        for _, buffer in self.model.network.named_buffers():
            distributed.broadcast_(buffer)
        total, seen = _sum_metric_states(metrics, extras=[total, seen])
        return total, int(round(seen))

    def restore_optimizer(self) -> None:
        """Give the model its own (unwrapped) optimizer back; fit's distributed part ends."""
        self.model.optimizer = self.original_optimizer
        self.model._parallel = None


class _EndTogether(Callback):
    """The ranks leave ``fit`` together: rank 0's checkpoints and logs are complete by then."""

    def on_train_end(self, logs=None):
        distributed.barrier()


class _QuietOutput(Callback):
    """Silences a non-zero rank's standard output from the start to the end of training."""

    def on_train_begin(self, logs=None):
        self._stack = contextlib.ExitStack()
        devnull = self._stack.enter_context(open(os.devnull, "w"))  # noqa: SIM115
        self._stack.enter_context(contextlib.redirect_stdout(devnull))

    def on_train_end(self, logs=None):
        self._stack.close()


class _ShardedLoader:
    """This rank's part of each global batch; sets the optimizer's share of the batch."""

    def __init__(self, parallel: DataParallelFit, loader: DataLoader):
        self.parallel, self.loader = parallel, loader

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        distributed.broadcast_rng_state()  # every rank draws rank 0's order for this epoch
        model = self.parallel.model
        loader, callbacks = self.loader, model._callbacks
        votes = callbacks.guards_updates
        if votes and not hasattr(callbacks, "_local_before_update"):
            # a callback that cancels an update on one rank (TerminateOnNaN) cancels it on all
            callbacks._local_before_update = callbacks.on_before_update
            callbacks.on_before_update = lambda batch, logs=None: _all_agree(
                callbacks._local_before_update(batch, logs))
        n, batch = len(loader.dataset), loader.batch_size
        optimizer = model.optimizer
        for start, local in zip(range(0, n, batch), loader, strict=False):
            optimizer.gradient_weight = len(local[0]) / min(batch, n - start)
            if len(local[0]) == 0:  # a short last batch left this rank nothing: join the sum
                if votes and not _all_agree(True):
                    model._update_cancelled = True
                    return
                optimizer.zero_grad()
                with no_grad():
                    optimizer.step()
                continue
            yield local


def _all_agree(allowed: bool) -> bool:
    """Whether every rank allows the update (one small Allreduce)."""
    vote = np.array([0.0 if allowed else 1.0])
    distributed.allreduce_max_(vote)
    return bool(vote[0] == 0.0)


def _sum_metric_states(metrics, extras) -> list:
    """Sum every metric's counters (the attributes its ``reset`` sets) over the ranks.

    Arrays whose shape differs between ranks (a confusion matrix that saw fewer classes) are
    padded with zeros to the largest shape first. Returns the summed ``extras``.
    """
    entries = []  # (metric, attribute, value)
    for metric in metrics:
        blank = object.__new__(type(metric))
        blank.reset()
        entries += [(metric, key, getattr(metric, key)) for key in sorted(vars(blank))]
    kinds = np.array([[-1 if v is None else np.ndim(v),
                       int(v is not None and np.asarray(v).dtype.kind in "iub")]
                      for _, _, v in entries], dtype=np.int64).reshape(-1)
    distributed.allreduce_max_(kinds)
    ndims, integer = kinds[0::2], kinds[1::2]
    shape_parts = [np.zeros(max(d, 0), dtype=np.int64) for d in ndims]
    for part, (_, _, value) in zip(shape_parts, entries, strict=True):
        if value is not None and np.ndim(value) == len(part):
            part[:] = np.shape(value)
    shapes = np.concatenate([np.zeros(0, dtype=np.int64), *shape_parts])
    distributed.allreduce_max_(shapes)
    padded, offset = [], 0
    for d, (_, _, value) in zip(ndims, entries, strict=True):
        shape = tuple(int(s) for s in shapes[offset:offset + max(d, 0)])
        offset += max(d, 0)
        block = np.zeros(shape, dtype=np.float64)
        if value is not None and np.ndim(value) == len(shape):
            block[tuple(slice(0, s) for s in np.shape(value))] = value
        padded.append(block)
    buffer = np.concatenate([b.reshape(-1) for b in padded] + [np.asarray(extras, np.float64)])
    distributed.allreduce_sum_(buffer)
    offset = 0
    for d, is_int, block, (metric, key, value) in zip(ndims, integer, padded, entries,
                                                        strict=True):
        summed = buffer[offset:offset + block.size].reshape(block.shape)
        offset += block.size
        if d < 0:
            continue
        if is_int:
            summed = np.rint(summed).astype(np.int64)
        if d == 0:
            summed = int(summed) if is_int else float(summed)
        elif value is not None and np.ndim(value) == d and not is_int:
            summed = summed.astype(np.asarray(value).dtype)
        setattr(metric, key, summed)
    return [float(v) for v in buffer[offset:]]
