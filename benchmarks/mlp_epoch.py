"""One epoch of a 784-128-10 ReLU MLP with Adam: bpnn vs PyTorch CPU vs a plain NumPy loop.

60,000 MNIST-shaped samples (random pixels, random labels: the work per step is what is
timed, not the accuracy), batch sizes 32 and 128, all three in this one process.

Run: python benchmarks/mlp_epoch.py [--samples 60000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import math
import platform
import time

import numpy as np

import bpnn
from bpnn import nn


def make_data(samples: int):
    rng = np.random.default_rng(0)
    x = rng.random((samples, 784), dtype=np.float32)
    y = rng.integers(0, 10, samples)
    return x, y


def epoch_bpnn(x, y, batch_size: int) -> float:
    bpnn.manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = bpnn.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    order = np.random.default_rng(1).permutation(len(x))
    start = time.perf_counter()
    for i in range(0, len(x), batch_size):
        index = order[i:i + batch_size]
        optimizer.zero_grad()
        loss = loss_fn(net(bpnn.Tensor(x[index])), y[index])
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def epoch_torch(torch, x, y, batch_size: int) -> float:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    order = torch.from_numpy(np.random.default_rng(1).permutation(len(x)))
    start = time.perf_counter()
    for i in range(0, len(x), batch_size):
        index = order[i:i + batch_size]
        optimizer.zero_grad()
        loss = loss_fn(net(xt[index]), yt[index])
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def epoch_numpy(x, y, batch_size: int) -> float:
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
    order = np.random.default_rng(1).permutation(len(x))
    start = time.perf_counter()
    for step, i in enumerate(range(0, len(x), batch_size), start=1):
        index = order[i:i + batch_size]
        xb, yb = x[index], y[index]
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
        c1_ = 1 - beta1**step
        c2_ = math.sqrt(1 - beta2**step)  # a Python float: an np.float64 would upcast
        for param, grad, m_, v_ in zip(params, grads, m, v, strict=True):
            m_ *= beta1
            m_ += (1 - beta1) * grad
            v_ *= beta2
            v_ += (1 - beta2) * grad * grad
            param -= (lr / c1_) * m_ / (np.sqrt(v_) / c2_ + eps)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--repeats", type=int, default=2, help="best of this many epochs")
    args = parser.parse_args()
    import torch

    x, y = make_data(args.samples)
    print(f"machine: {platform.machine()}, {platform.processor() or '?'}; numpy {np.__version__}, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads); {args.samples} samples")
    print(f"{'batch':>5}  {'bpnn s':>8}  {'torch s':>8}  {'numpy s':>8}  {'bpnn/torch':>10}  "
          f"{'bpnn/numpy':>10}")
    for batch_size in (32, 128):
        ours = min(epoch_bpnn(x, y, batch_size) for _ in range(args.repeats))
        theirs = min(epoch_torch(torch, x, y, batch_size) for _ in range(args.repeats))
        plain = min(epoch_numpy(x, y, batch_size) for _ in range(args.repeats))
        print(f"{batch_size:5d}  {ours:8.2f}  {theirs:8.2f}  {plain:8.2f}  {ours / theirs:10.2f}  "
              f"{ours / plain:10.2f}")


if __name__ == "__main__":
    main()
