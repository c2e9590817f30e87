"""One 784-128-10 Adam step at batch 32 on random uniform data: bpnn vs PyTorch vs NumPy.

Random pixels in [0, 1) leave many hidden units dead (gradient exactly zero), so Adam's
``exp_avg`` of their weights decays into the subnormal range after some hundreds of steps:
the case that makes training slow on CPUs that handle subnormals in microcode. ``--warm-steps``
steps are taken first (default 2000, enough to get there), then alternating timed rounds.

Run: python benchmarks/mlp_step.py [--warm-steps 2000] [--steps 200] [--rounds 9] [--profile]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import alternate, machine_report, median, ratio_median
from mlp_epoch import bpnn_step, numpy_step, torch_step


def batches(count: int, batch_size: int = 32):
    rng = np.random.default_rng(0)
    return [(rng.random((batch_size, 784), dtype=np.float32),
             rng.integers(0, 10, batch_size)) for _ in range(count)]


def runner(step, data, steps: int):
    def run():
        start = time.perf_counter()
        for i in range(steps):
            step(*data[i % len(data)])
        return (time.perf_counter() - start) / steps
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm-steps", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=200, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--profile", action="store_true",
                        help="then profile bpnn's steps with cProfile (top 15 by own time)")
    args = parser.parse_args()
    import torch

    print(machine_report(torch))
    data = batches(64)
    steps = {"bpnn": bpnn_step(), "torch": torch_step(torch), "numpy": numpy_step()}
    for step in steps.values():
        runner(step, data, args.warm_steps)()
    times = alternate({name: runner(step, data, args.steps) for name, step in steps.items()},
                      rounds=args.rounds, warmup=0)
    print(f"after {args.warm_steps} warm-up steps; {args.rounds} alternating rounds of "
          f"{args.steps} steps; medians")
    print(f"{'bpnn us':>8}  {'torch us':>8}  {'numpy us':>8}  {'bpnn/torch':>10}  "
          f"{'bpnn/numpy':>10}")
    print(f"{median(times['bpnn']) * 1e6:8.0f}  {median(times['torch']) * 1e6:8.0f}  "
          f"{median(times['numpy']) * 1e6:8.0f}  "
          f"{ratio_median(times['bpnn'], times['torch']):10.2f}"
          f"  {ratio_median(times['bpnn'], times['numpy']):10.2f}")
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(runner(steps["bpnn"], data, args.steps))
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
