"""Training runs that the MPI tests run twice: in one process, and under ``mpirun -n 2``.

``python mpi_worker.py SCENARIO OUT_DIR`` runs one scenario and (on rank 0) writes its arrays
to ``OUT_DIR/SCENARIO.npz`` (rank k > 0 writes ``SCENARIO.rank<k>.npz``); the tests import
the same functions to get the single-process result in their own process.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

import bpnn
from bpnn import distributed, nn


def _classification(n=249, dtype="float64"):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, 6)).astype(dtype)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(np.int64) + (x[:, 3] > 1).astype(np.int64)
    return x, y


def _regression(n=96):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(n, 3))
    y = np.sin(x[:, :1]) + 0.5 * x[:, 1:2] * x[:, 2:3]
    return x, y


def _result(model, history=True) -> dict:
    out = {f"w.{k}": v for k, v in model.network.state_dict().items()}
    if history:
        out.update({f"h.{k}": np.asarray(v, dtype=np.float64)
                    for k, v in model.history.history.items()})
    return out


def first_order(dtype: str, optimizer: str, **options) -> dict:
    bpnn.set_default_dtype(dtype)
    bpnn.manual_seed(0)
    x, y = _classification(dtype=dtype)
    network = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    model = bpnn.Model(network, "cross_entropy", optimizer, metrics=["accuracy", "f1"],
                       **options)
    model.fit(x, y, epochs=3, batch_size=64, verbose=0, validation_split=0.2)
    return _result(model)


def adam64():
    return first_order("float64", "adam", lr=0.01)


def adam32():
    return first_order("float32", "adam", lr=0.01)


def sgd_momentum():
    return first_order("float64", "sgd", lr=0.05, momentum=0.9, weight_decay=1e-3)


def _full_batch(optimizer: str, epochs: int, **options) -> dict:
    bpnn.set_default_dtype("float64")
    bpnn.manual_seed(1)
    x, y = _regression()
    network = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    model = bpnn.Model(network, "mse", optimizer, metrics=["mae", "r2"], **options)
    model.fit(x, y, epochs=epochs, verbose=0)
    return _result(model)


def lbfgs():
    return _full_batch("lbfgs", 1, max_iter=10, line_search_fn="strong_wolfe")


def levenberg_marquardt():
    return _full_batch("lm", 10)


def newton_cg():
    return _full_batch("newton", 3, hessian="cg", cg_max_iter=5)


def manual_clip_groups() -> dict:
    """A hand-written loop: two parameter groups, a frozen bias, and clipping by the global
    gradient norm (synchronize, clip, step)."""
    bpnn.set_default_dtype("float64")
    bpnn.manual_seed(0)
    x, y = _classification(n=256)
    net = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    net[0].bias.requires_grad_(False)
    optimizer = distributed.DistributedOptimizer(bpnn.optim.SGD(
        [{"params": net[0].parameters(), "lr": 0.02}, {"params": net[2].parameters()}],
        lr=0.1, momentum=0.9))
    distributed.broadcast_parameters(net)
    distributed.broadcast_optimizer_state(optimizer)
    loader = bpnn.data.DataLoader((x, y), batch_size=64, shuffle=True, shard=True)
    trainable = [p for p in net.parameters() if p.requires_grad]
    frozen_start = net[0].bias.data.copy()
    for _ in range(3):
        distributed.broadcast_rng_state()
        for xb, yb in loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(net(xb), yb).backward()
            optimizer.synchronize()
            norm = float(np.sqrt(sum(float((p.grad ** 2).sum()) for p in trainable)))
            for p in trainable:
                p.grad = p.grad * min(1.0, 0.5 / norm)
            optimizer.step()
    return {"frozen_start": frozen_start, **_result_of(net)}


def _result_of(network) -> dict:
    return {f"w.{k}": v for k, v in network.state_dict().items()}


def checkpoint(directory: str) -> dict:
    """2 epochs with ModelCheckpoint and CSVLogger; counts the files each rank saves."""
    saves = []
    original = bpnn.io.save

    def counting_save(obj, path, *args, **kwargs):
        saves.append(path)
        return original(obj, path, *args, **kwargs)

    bpnn.io.save = counting_save
    try:
        bpnn.set_default_dtype("float64")
        bpnn.manual_seed(0)
        x, y = _classification()
        network = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
        model = bpnn.Model(network, "cross_entropy", "adam", metrics=["accuracy"], lr=0.01)
        callbacks = [bpnn.callbacks.ModelCheckpoint(os.path.join(directory, "ckpt.bpnn"),
                                                    monitor="loss"),
                     bpnn.callbacks.CSVLogger(os.path.join(directory, "log.csv"))]
        model.fit(x, y, epochs=2, batch_size=64, verbose=1, callbacks=callbacks)
    finally:
        bpnn.io.save = original
    return {"saves": np.array([len(saves)]), **_result(model)}


def resume(directory: str) -> dict:
    """Resume the checkpoint written by :func:`checkpoint` for two more epochs."""
    model = bpnn.load(os.path.join(directory, "ckpt.bpnn"))
    x, y = _classification()
    model.fit(x, y, epochs=4, batch_size=64, verbose=0, initial_epoch=model.epoch)
    return _result(model)


def uninterrupted() -> dict:
    bpnn.set_default_dtype("float64")
    bpnn.manual_seed(0)
    x, y = _classification()
    network = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    model = bpnn.Model(network, "cross_entropy", "adam", metrics=["accuracy"], lr=0.01)
    model.fit(x, y, epochs=4, batch_size=64, verbose=0)
    return _result(model)


class _FailOnRankOne(bpnn.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if distributed.rank() == 1:
            raise RuntimeError("rank 1 fails on purpose")


def failure() -> dict:
    x, y = _classification()
    model = bpnn.Model(nn.Sequential(nn.Linear(6, 3)), "cross_entropy", "adam")
    model.fit(x, y, epochs=50, batch_size=16, verbose=0, callbacks=[_FailOnRankOne()])
    return {}


class _CancelAtBatch(bpnn.callbacks.Callback):
    """Refuses the update of batch 3 of epoch 2; under MPI only on the last rank."""

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_before_update(self, batch, logs=None):
        return not (self.epoch == 1 and batch == 3
                    and distributed.rank() == distributed.size() - 1)


def cancelled() -> dict:
    """A callback that cancels an update on one rank stops training on every rank."""
    bpnn.set_default_dtype("float64")
    bpnn.manual_seed(0)
    x, y = _classification(n=99)  # the last batch of 3 leaves the third of 4 ranks nothing
    model = bpnn.Model(nn.Sequential(nn.Linear(6, 3)), "cross_entropy", "adam",
                       metrics=["accuracy"])
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[_CancelAtBatch()])
    return _result(model)


def batch_norm() -> dict:
    """Batch norm, validation and early stopping: the ranks must agree on every buffer and
    on when to stop (the test compares the ranks, not one process: each rank normalises its
    own share of the batch)."""
    bpnn.manual_seed(2)
    x, y = _classification(dtype="float32")
    network = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    model = bpnn.Model(network, "cross_entropy", "sgd", metrics=["accuracy"], lr=0.5)
    model.fit(x, y, epochs=8, batch_size=32, verbose=0, validation_split=0.3,
              callbacks=[bpnn.callbacks.EarlyStopping("val_loss", patience=1,
                                                      restore_best_weights=True)])
    return _result(model)


SCENARIOS = {f.__name__: f for f in (adam64, adam32, sgd_momentum, manual_clip_groups, lbfgs,
                                     levenberg_marquardt,
                                     newton_cg, uninterrupted, failure, cancelled,
                                     batch_norm)}
WITH_DIRECTORY = {"checkpoint": checkpoint, "resume": resume}


def main(names: list, directory: str) -> None:
    distributed.init()
    for name in names:
        if name in WITH_DIRECTORY:
            result = WITH_DIRECTORY[name](directory)
        else:
            result = SCENARIOS[name]()
        suffix = "" if distributed.rank() == 0 else f".rank{distributed.rank()}"
        np.savez(os.path.join(directory, f"{name}{suffix}.npz"), **result)
    if distributed.rank() == 0:
        with open(os.path.join(directory, "done.json"), "w", encoding="utf-8") as handle:
            json.dump({"size": distributed.size(), "names": names}, handle)


if __name__ == "__main__":
    main(sys.argv[2].split(","), sys.argv[1])
