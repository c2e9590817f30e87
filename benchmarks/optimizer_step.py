"""Cost of one optimizer step on the 784-128-10 MLP's parameters: bpnn vs torch.optim (CPU).

Gradients are fixed arrays, so only the update itself is timed (float32, one thread for torch).

Run: python benchmarks/optimizer_step.py [--steps 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import bpnn

SHAPES = [(128, 784), (128,), (10, 128), (10,)]
CASES = [("SGD", {}), ("SGD", {"momentum": 0.9}), ("Adagrad", {}), ("RMSprop", {}),
         ("Adam", {}), ("AdamW", {})]


def best_time(step, steps: int, repeats: int) -> float:
    """Best of ``repeats`` runs, in microseconds per step (the least disturbed run)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - start) / steps * 1e6)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(shape).astype(np.float32) for shape in SHAPES]
    grads = [0.01 * rng.standard_normal(shape).astype(np.float32) for shape in SHAPES]
    print(f"{'optimizer':28s} {'bpnn us':>9s} {'torch us':>9s} {'bpnn/torch':>11s}")
    for name, kwargs in CASES:
        ours = [bpnn.nn.Parameter(v.copy()) for v in values]
        theirs = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in values]
        for p, q, g in zip(ours, theirs, grads, strict=True):
            p.grad, q.grad = g, torch.from_numpy(g.copy())
        ours_step = getattr(bpnn.optim, name)(ours, lr=1e-3, **kwargs).step
        # torch's single-tensor path: its fastest on CPU for a handful of parameters
        theirs_step = getattr(torch.optim, name)(theirs, lr=1e-3, foreach=False, **kwargs).step
        bpnn_us = best_time(ours_step, args.steps, args.repeats)
        torch_us = best_time(theirs_step, args.steps, args.repeats)
        label = name + "".join(f" {k}={v}" for k, v in kwargs.items())
        print(f"{label:28s} {bpnn_us:9.1f} {torch_us:9.1f} {bpnn_us / torch_us:11.2f}")


if __name__ == "__main__":
    main()
