"""Training a 784-128-10 ReLU MLP with Adam: bpnn vs PyTorch CPU vs a plain NumPy loop.

Fashion-MNIST (scaled to [0, 1]; random pixels and labels if the data set is not installed),
batch sizes 32 and 128. All three train in this one process, in alternating rounds of
``--samples`` samples each (bpnn, PyTorch, NumPy, bpnn, ...), each round scaled to a
60,000-sample epoch; the medians of the rounds and of the per-round ratios are printed.

Run: python benchmarks/mlp_epoch.py [--samples 10000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from _common import alternate, machine_report, median, ratio_median

import bpnn
from bpnn import nn

EPOCH = 60000


def make_data(samples: int, random: bool = False):
    """``samples`` Fashion-MNIST training images as float32 rows, and their labels."""
    if not random:
        try:
            (x, y), _ = bpnn.datasets.fashion_mnist()
            x = (x[:samples].reshape(-1, 784) / np.float32(255)).astype(np.float32)
            return x, y[:samples].astype(np.int64), "Fashion-MNIST"
        except FileNotFoundError:
            pass
    rng = np.random.default_rng(0)
    return (rng.random((samples, 784), dtype=np.float32), rng.integers(0, 10, samples),
            "random uniform pixels")


def bpnn_step():
    bpnn.manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = bpnn.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step(xb, yb):
        optimizer.zero_grad()
        loss = loss_fn(net(bpnn.Tensor(xb)), yb)
        loss.backward()
        optimizer.step()
    return step


def torch_step(torch):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(xb, yb):
        optimizer.zero_grad()
        loss = loss_fn(net(torch.from_numpy(xb)), torch.from_numpy(yb))
        loss.backward()
        optimizer.step()
    return step


def numpy_step():
    """The same network and Adam written as a bare NumPy loop: the floor for any framework."""
    rng = np.random.default_rng(0)
    b1 = 1 / np.sqrt(784)
    b2 = 1 / np.sqrt(128)
    params = [rng.uniform(-b1, b1, (128, 784)).astype(np.float32),
              rng.uniform(-b1, b1, 128).astype(np.float32),
              rng.uniform(-b2, b2, (10, 128)).astype(np.float32),
              rng.uniform(-b2, b2, 10).astype(np.float32)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    lr, beta1, beta2, eps = 1e-3, 0.9, 0.999, 1e-8
    count = [0]

    def step(xb, yb):
        count[0] += 1
        w1, c1, w2, c2 = params
        h = xb @ w1.T + c1
        a = np.maximum(h, 0)
        z = a @ w2.T + c2
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(yb)), yb] -= 1
        p /= len(yb)
        grads = [None, None, p.T @ a, p.sum(0)]
        da = p @ w2
        da *= h > 0
        grads[0], grads[1] = da.T @ xb, da.sum(0)
        c1_ = 1 - beta1**count[0]
        c2_ = math.sqrt(1 - beta2**count[0])  # a Python float: an np.float64 would upcast
        for param, grad, m_, v_ in zip(params, grads, m, v, strict=True):
            m_ *= beta1
            m_ += (1 - beta1) * grad
            v_ *= beta2
            v_ += (1 - beta2) * grad * grad
            param -= (lr / c1_) * m_ / (np.sqrt(v_) / c2_ + eps)
    return step


def epoch_runner(step, x, y, batch_size: int):
    """A callable: one pass over ``x`` (shuffled once), seconds scaled to 60,000 samples."""
    order = np.random.default_rng(1).permutation(len(x))
    batches = [(x[order[i:i + batch_size]], y[order[i:i + batch_size]])
               for i in range(0, len(x), batch_size)]

    def run():
        start = time.perf_counter()
        for xb, yb in batches:
            step(xb, yb)
        return (time.perf_counter() - start) * EPOCH / len(x)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10000,
                        help="samples per timed round (times are scaled to 60,000)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--random", action="store_true", help="random pixels, not Fashion-MNIST")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128])
    args = parser.parse_args()
    import torch

    x, y, source = make_data(args.samples, args.random)
    print(machine_report(torch))
    print(f"data: {source}; {args.rounds} alternating rounds of {len(x)} samples, scaled to a "
          f"{EPOCH}-sample epoch; medians")
    print(f"{'batch':>5}  {'bpnn s':>7}  {'torch s':>7}  {'numpy s':>7}  {'bpnn/torch':>10}  "
          f"{'bpnn/numpy':>10}")
    for batch_size in args.batch_sizes:
        times = alternate({
            "bpnn": epoch_runner(bpnn_step(), x, y, batch_size),
            "torch": epoch_runner(torch_step(torch), x, y, batch_size),
            "numpy": epoch_runner(numpy_step(), x, y, batch_size),
        }, rounds=args.rounds)
        print(f"{batch_size:5d}  {median(times['bpnn']):7.2f}  {median(times['torch']):7.2f}  "
              f"{median(times['numpy']):7.2f}  {ratio_median(times['bpnn'], times['torch']):10.2f}"
              f"  {ratio_median(times['bpnn'], times['numpy']):10.2f}")


if __name__ == "__main__":
    main()
