"""Cost of one optimizer step on the 784-128-10 MLP's parameters: bpnn vs torch.optim (CPU).

Gradients are fixed arrays, so only the update itself is timed (float32, one thread for
torch). Each case runs bpnn and torch in alternating rounds; medians. The "subnormal" rows put
a third of every state array in the subnormal range (what dead units do to Adam's averages)
and time bpnn with its flushing on and off, and torch with and without
``torch.set_flush_denormal``.

Run: python benchmarks/optimizer_step.py [--steps 300] [--rounds 9]
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import alternate, machine_report, median, ratio_median, timed

import bpnn

SHAPES = [(128, 784), (128,), (10, 128), (10,)]
CASES = [("SGD", {}), ("SGD", {"momentum": 0.9}), ("Adagrad", {}), ("RMSprop", {}),
         ("Adam", {}), ("AdamW", {})]


def _values(shapes, dead: bool):
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(shape).astype(np.float32) for shape in shapes]
    grads = [0.01 * rng.standard_normal(shape).astype(np.float32) for shape in shapes]
    if dead:
        for grad in grads:
            grad.reshape(-1)[::3] = 0
    return values, grads


def _make_subnormal(states):
    for state in states:
        for value in state.values():
            if getattr(value, "ndim", 0):
                flat = value.reshape(-1)
                flat[::3] = 1e-40
    return states


def bpnn_runner(name, kwargs, steps, dead=False, flush=True):
    values, grads = _values(SHAPES, dead)
    params = [bpnn.nn.Parameter(v) for v in values]
    optimizer = getattr(bpnn.optim, name)(params, lr=1e-3, **kwargs)

    def step():
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        optimizer.step()
    step()
    if dead:
        _make_subnormal(optimizer.state.values())
    run = timed(step, steps)

    def measured():
        bpnn.backend.set_flush_subnormals(flush)
        try:
            return run()
        finally:
            bpnn.backend.set_flush_subnormals(True)
    return measured


def torch_runner(torch, name, kwargs, steps, dead=False, flush=False):
    values, grads = _values(SHAPES, dead)
    params = [torch.nn.Parameter(torch.from_numpy(v)) for v in values]
    for p, g in zip(params, grads, strict=True):
        p.grad = torch.from_numpy(g)
    # torch's single-tensor path: its fastest on CPU for a handful of parameters
    optimizer = getattr(torch.optim, name)(params, lr=1e-3, foreach=False, **kwargs)
    optimizer.step()
    if dead:
        with torch.no_grad():
            _make_subnormal([{k: v.numpy() for k, v in s.items() if v.ndim}
                             for s in optimizer.state.values()])
    run = timed(optimizer.step, steps)

    def measured():
        torch.set_flush_denormal(flush)
        try:
            return run()
        finally:
            torch.set_flush_denormal(False)
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    print(machine_report(torch))
    print(f"{args.rounds} alternating rounds of {args.steps} steps; medians")
    print(f"{'optimizer':36s} {'bpnn us':>9s} {'torch us':>9s} {'bpnn/torch':>11s}")
    for name, kwargs in CASES:
        times = alternate({"bpnn": bpnn_runner(name, kwargs, args.steps),
                           "torch": torch_runner(torch, name, kwargs, args.steps)}, args.rounds)
        label = name + "".join(f" {k}={v}" for k, v in kwargs.items())
        print(f"{label:36s} {median(times['bpnn']) * 1e6:9.1f} "
              f"{median(times['torch']) * 1e6:9.1f} "
              f"{ratio_median(times['bpnn'], times['torch']):11.2f}")
    times = alternate({
        "bpnn": bpnn_runner("Adam", {}, args.steps, dead=True),
        "bpnn unflushed": bpnn_runner("Adam", {}, args.steps, dead=True, flush=False),
        "torch flush_denormal": torch_runner(torch, "Adam", {}, args.steps, dead=True,
                                             flush=True),
        "torch": torch_runner(torch, "Adam", {}, args.steps, dead=True),
    }, args.rounds)
    for label, ours, theirs in [("Adam, subnormal states, flushing", "bpnn",
                                 "torch flush_denormal"),
                                ("Adam, subnormal states, no flushing", "bpnn unflushed",
                                 "torch")]:
        print(f"{label:36s} {median(times[ours]) * 1e6:9.1f} {median(times[theirs]) * 1e6:9.1f} "
              f"{ratio_median(times[ours], times[theirs]):11.2f}")


if __name__ == "__main__":
    main()
