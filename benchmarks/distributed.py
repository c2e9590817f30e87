"""Data-parallel training over MPI: time per epoch of the Fashion-MNIST CNN on 1 and 2 processes.

Network (examples/fashion_mnist_cnn.py, 225,034 parameters), Adam, global batch 64,
Fashion-MNIST-shaped random data (the work per step is timed, not the accuracy). Three ways to
use this 2-core machine's cores, each in a fresh process:

- ``1 proc x 1 thread``: the baseline, one process with one BLAS thread;
- ``2 procs x 1 thread``: ``mpirun -n 2``, 32 samples per rank per step, one Allreduce of all
  gradients per step (``bpnn.distributed.DistributedOptimizer``);
- ``1 proc x 2 threads``: one process, OpenBLAS on two threads.

Each mode trains ``--steps`` steps after 3 warm-up steps; its time is scaled to a 60,000-sample
epoch. The modes run in alternating rounds (``--rounds``) so that a slow spell of the machine
hits all of them, and the medians are printed. For the 2-process mode the bytes allreduced per
step and the time inside ``Allreduce`` (which includes waiting for the slower rank) are
reported too. Scaling efficiency = (baseline time / 2-process time) / 2.

Run: python benchmarks/distributed.py [--steps 30] [--rounds 3]
(needs ``pip install 'bpnn[mpi]'``; as root, Open MPI needs OMPI_ALLOW_RUN_AS_ROOT=1 and
OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1, which this script sets for its own children.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

EPOCH = 60000
BATCH = 64


def worker(steps: int) -> None:
    import numpy as np

    import bpnn
    import bpnn.distributed as dist
    from bpnn import nn
    from bpnn.distributed import runtime

    dist.init()
    communication = [0.0]
    allreduce = runtime.allreduce_sum_

    def timed_allreduce(buffer):
        start = time.perf_counter()
        allreduce(buffer)
        communication[0] += time.perf_counter() - start
        sizes.append(buffer.nbytes)

    sizes: list = []
    runtime.allreduce_sum_ = timed_allreduce
    bpnn.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    dist.broadcast_parameters(net)
    optimizer = dist.DistributedOptimizer(bpnn.optim.Adam(net.parameters(), lr=1e-3))
    rng = np.random.default_rng(0)
    samples = (steps + 3) * BATCH
    x = rng.random((samples, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, samples)
    loader = bpnn.data.DataLoader((x, y), batch_size=BATCH, shard=True)
    loss_fn = nn.CrossEntropyLoss()
    for step, (xb, yb) in enumerate(loader):
        if step == 3:
            dist.barrier()
            start, communication[0], sizes[:] = time.perf_counter(), 0.0, []
        optimizer.zero_grad()
        loss_fn(net(xb), yb).backward()
        optimizer.step()
    dist.barrier()
    elapsed = time.perf_counter() - start
    if dist.rank() == 0:
        print(json.dumps({"epoch_s": elapsed / steps * EPOCH / BATCH,
                          "communication_s": communication[0] / steps * EPOCH / BATCH,
                          "bytes_per_step": sizes[0] if sizes else 0,
                          "allreduces_per_step": len(sizes) / steps,
                          "parameters": net.count_parameters()}))


def run_mode(processes: int, threads: int, steps: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_", "PMI_"))}
    env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--steps", str(steps)]
    if processes > 1:
        launcher = shutil.which("mpirun", path=f"{os.path.dirname(sys.executable)}"
                                               f"{os.pathsep}{env.get('PATH', '')}")
        command = [launcher, "-n", str(processes), "--oversubscribe", "--bind-to", "none",
                   "--mca", "btl", "self,sm", "-x", "OPENBLAS_NUM_THREADS", *command]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.steps)
        return
    modes = {"1 proc x 1 thread": (1, 1), "2 procs x 1 thread": (2, 1),
             "1 proc x 2 threads": (1, 2)}
    results: dict = {name: [] for name in modes}
    for round_ in range(args.rounds):
        for name, (processes, threads) in modes.items():
            results[name].append(run_mode(processes, threads, args.steps))
            print(f"round {round_ + 1}: {name}: {results[name][-1]['epoch_s']:.1f} s/epoch",
                  file=sys.stderr, flush=True)
    baseline = statistics.median(r["epoch_s"] for r in results["1 proc x 1 thread"])
    print(f"Fashion-MNIST CNN, Adam, global batch {BATCH}; {args.steps} steps per run scaled "
          f"to a {EPOCH:,}-sample epoch; median of {args.rounds} rounds")
    print(f"{'mode':<20} {'s / epoch':>10} {'speed-up':>9} {'efficiency':>11} "
          f"{'in Allreduce':>13}")
    for name, (processes, _) in modes.items():
        epoch = statistics.median(r["epoch_s"] for r in results[name])
        comm = statistics.median(r["communication_s"] for r in results[name])
        speedup = baseline / epoch
        efficiency = f"{speedup / 2:.0%}" if processes > 1 else "-"
        share = f"{comm:.1f} s ({comm / epoch:.0%})" if processes > 1 else "-"
        print(f"{name:<20} {epoch:>10.1f} {speedup:>9.2f} {efficiency:>11} {share:>13}")
    two = results["2 procs x 1 thread"][0]
    print(f"Allreduce: {two['allreduces_per_step']:.0f} per step, {two['bytes_per_step']:,} "
          f"bytes each ({two['parameters']:,} float32 gradients + one flag per tensor)")


if __name__ == "__main__":
    main()
