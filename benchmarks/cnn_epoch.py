"""One epoch of the Fashion-MNIST CNN with Adam: bpnn vs PyTorch CPU, same data, same run.

Network (examples/fashion_mnist_cnn.py): Conv 32 3x3 -> ReLU -> MaxPool 2 -> Conv 64 3x3 ->
ReLU -> MaxPool 2 -> Flatten -> Linear 128 -> ReLU -> Linear 10. Fashion-MNIST-shaped data
(random pixels and labels: the work per step is timed, not the accuracy), batch sizes 32 and
128.

Time: both frameworks and a plain NumPy loop (the same network and Adam written out by hand:
im2col convolutions, reshape max-pooling) train in this one process, in alternating rounds
(bpnn, PyTorch, NumPy, bpnn, ...) of ``--samples`` samples each, so that a slow spell of the
machine hits all three; each round is scaled to a 60,000-sample epoch, and the medians of the
rounds and of the per-round ratios are printed. All run under the same C allocator settings
(``import bpnn`` tunes glibc's malloc for the whole process; see bpnn.backend.tune_allocator).

Memory: each framework trains a few steps in a child process of its own, so its peak is its
own: the resident set size sampled every 2 ms (``ru_maxrss`` would not do: on Linux a child
inherits its parent's high-water mark across exec), and its growth over the data and imports.
(The sampling thread is kept out of the timed rounds: it competes for the interpreter lock.)

The floor: forward + backward cost about 15.4 MFLOP per sample (about 0.92 TFLOP a 60,000-sample
epoch); divided by this machine's float32 matrix-product speed (measured here on one large
sgemm) it is the time a perfect implementation would need. The fraction of that peak each
framework reaches is printed.

Run: python benchmarks/cnn_epoch.py [--samples 2500] [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import threading
import time

import numpy as np
from _common import machine_report

EPOCH = 60000


def flops_per_sample() -> float:
    """Multiply-adds x 2 of the network, forward + backward (the first conv has no input grad)."""
    conv1 = 26 * 26 * 32 * 9
    conv2 = 11 * 11 * 64 * 32 * 9
    dense = 1600 * 128 + 128 * 10
    forward = conv1 + conv2 + dense
    backward = conv1 + 2 * conv2 + 2 * dense
    return 2.0 * (forward + backward)


def make_data(samples: int):
    rng = np.random.default_rng(0)
    x = rng.random((samples, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, samples)
    return x, y


def sgemm_gflops() -> float:
    """Best float32 matrix-product speed of NumPy's BLAS on 2048 x 2048 (the machine's peak)."""
    rng = np.random.default_rng(0)
    a = rng.random((2048, 2048), dtype=np.float32)
    b = rng.random((2048, 2048), dtype=np.float32)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * 2048**3 / best / 1e9


def run_bpnn(x, y, batch_size: int) -> float:
    import bpnn
    from bpnn import nn

    bpnn.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
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


def run_torch(x, y, batch_size: int) -> float:
    import torch

    torch.manual_seed(0)
    nn = torch.nn
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
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


def _conv_forward(x, weight, bias):
    """NHWC valid 3x3 convolution as one product: (N*Ho*Wo, C*9) columns @ (C*9, OC)."""
    n, h, w, c = x.shape
    cols = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))
    cols = cols.reshape(n * (h - 2) * (w - 2), c * 9)
    return (cols @ weight + bias).reshape(n, h - 2, w - 2, -1), cols


def _conv_backward(grad, cols, weight, input_shape):
    """Weight, bias and (if ``input_shape``) input gradients of :func:`_conv_forward`."""
    flat = grad.reshape(-1, grad.shape[-1])
    grad_w, grad_b = cols.T @ flat, flat.sum(0)
    if input_shape is None:
        return None, grad_w, grad_b
    n, h, w, c = input_shape
    grad_cols = (flat @ weight.T).reshape(n, h - 2, w - 2, c, 3, 3)
    grad_x = np.zeros(input_shape, dtype=grad.dtype)
    for i in range(3):
        for j in range(3):
            grad_x[:, i:i + h - 2, j:j + w - 2, :] += grad_cols[..., i, j]
    return grad_x, grad_w, grad_b


def _pool_forward(x):
    """2x2 max-pooling (odd edges dropped) and the mask of the winners."""
    n, h, w, c = x.shape
    x = x[:, :h // 2 * 2, :w // 2 * 2]
    blocks = x.reshape(n, h // 2, 2, w // 2, 2, c)
    pooled = blocks.max(axis=(2, 4))
    return pooled, blocks == pooled[:, :, None, :, None]


def _pool_backward(grad, mask, input_shape):
    grad_x = np.zeros(input_shape, dtype=grad.dtype)
    n, h, w, c = input_shape
    grad_x[:, :h // 2 * 2, :w // 2 * 2] = (mask * grad[:, :, None, :, None]).reshape(
        n, h // 2 * 2, w // 2 * 2, c)
    return grad_x


def run_numpy(x, y, batch_size: int) -> float:
    """The same CNN and Adam as a bare NumPy loop: the floor any framework is measured against."""
    rng = np.random.default_rng(0)
    shapes = [(9, 32), (32,), (288, 64), (64,), (1600, 128), (128,), (128, 10), (10,)]
    fan_in = [9, 9, 288, 288, 1600, 1600, 128, 128]
    params = [rng.uniform(-1, 1, shape).astype(np.float32) / np.float32(np.sqrt(f))
              for shape, f in zip(shapes, fan_in, strict=True)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    lr, beta1, beta2, eps = 1e-3, 0.9, 0.999, 1e-8
    images = x.transpose(0, 2, 3, 1)  # NHWC
    order = np.random.default_rng(1).permutation(len(x))
    start = time.perf_counter()
    for step, i in enumerate(range(0, len(x), batch_size), start=1):
        index = order[i:i + batch_size]
        xb, yb = images[index], y[index]
        w1, b1, w2, b2, w3, b3, w4, b4 = params
        h1, cols1 = _conv_forward(xb, w1, b1)
        a1 = np.maximum(h1, 0)
        p1, mask1 = _pool_forward(a1)
        h2, cols2 = _conv_forward(p1, w2, b2)
        a2 = np.maximum(h2, 0)
        p2, mask2 = _pool_forward(a2)
        flat = p2.transpose(0, 3, 1, 2).reshape(len(yb), -1)  # torch's NCHW flatten order
        h3 = flat @ w3 + b3
        a3 = np.maximum(h3, 0)
        z = a3 @ w4 + b4
        z -= z.max(axis=1, keepdims=True)
        prob = np.exp(z)
        prob /= prob.sum(axis=1, keepdims=True)
        prob[np.arange(len(yb)), yb] -= 1
        prob /= len(yb)
        grad_a3 = prob @ w4.T
        grad_a3 *= h3 > 0
        grad_flat = grad_a3 @ w3.T
        grad_p2 = grad_flat.reshape(len(yb), 64, 5, 5).transpose(0, 2, 3, 1)
        grad_a2 = _pool_backward(grad_p2, mask2, a2.shape)
        grad_a2 *= h2 > 0
        grad_p1, grad_w2, grad_b2 = _conv_backward(grad_a2, cols2, w2, p1.shape)
        grad_a1 = _pool_backward(grad_p1, mask1, a1.shape)
        grad_a1 *= h1 > 0
        _, grad_w1, grad_b1 = _conv_backward(grad_a1, cols1, w1, None)
        grads = [grad_w1, grad_b1, grad_w2, grad_b2, flat.T @ grad_a3, grad_a3.sum(0),
                 a3.T @ prob, prob.sum(0)]
        c1 = 1 - beta1**step
        c2 = math.sqrt(1 - beta2**step)
        for param, grad, m_, v_ in zip(params, grads, m, v, strict=True):
            m_ *= beta1
            m_ += (1 - beta1) * grad
            v_ *= beta2
            v_ += (1 - beta2) * grad * grad
            param -= (lr / c1) * m_ / (np.sqrt(v_) / c2 + eps)
    return time.perf_counter() - start


def max_rss_mib() -> float:
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def current_rss_mib() -> float:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: fall back to the peak so far
        return max_rss_mib()


class PeakMemory:
    """Samples the resident set size in a background thread while the block runs."""

    def __enter__(self):
        self.peak, self._running = current_rss_mib(), True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while self._running:
            self.peak = max(self.peak, current_rss_mib())
            time.sleep(0.002)

    def __exit__(self, *exc):
        self._running = False
        self._thread.join()
        self.peak = max(self.peak, current_rss_mib())
        return False


def worker(framework: str, batch_size: int, samples: int) -> None:
    x, y = make_data(samples)
    if framework == "torch":
        import torch  # noqa: F401 - imported before the baseline, like bpnn below
    else:
        import bpnn  # noqa: F401
    baseline = current_rss_mib()
    run = run_torch if framework == "torch" else run_bpnn
    with PeakMemory() as memory:
        run(x, y, batch_size)
    print(json.dumps({"peak_mib": memory.peak, "growth_mib": memory.peak - baseline}))


def measure_memory(framework: str, batch_size: int, samples: int) -> dict:
    command = [sys.executable, __file__, "--worker", framework, "--batch-size", str(batch_size),
               "--samples", str(samples)]
    result = subprocess.run(command, capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    return json.loads(result.stdout.strip().splitlines()[-1])


def time_rounds(batch_size: int, samples: int, rounds: int) -> tuple[list, list, list]:
    """Seconds per 60,000-sample epoch of each round: bpnn's, PyTorch's, NumPy's, interleaved."""
    x, y = make_data(samples)
    runs = (run_bpnn, run_torch, run_numpy)
    for run in runs:  # warm-up: first-call costs, caches, thread pools
        run(x, y, batch_size)
    times = ([], [], [])
    for _ in range(rounds):
        for run, seconds in zip(runs, times, strict=True):
            seconds.append(run(x, y, batch_size) * EPOCH / samples)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2500,
                        help="samples per timed round (times are scaled to 60,000)")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per framework")
    parser.add_argument("--memory-samples", type=int, default=1000,
                        help="samples trained in each memory-measuring child")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--peak-gflops", type=float,
                        help="float32 matrix-product peak to compare with (default: measured)")
    parser.add_argument("--worker", choices=["bpnn", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.batch_size, args.samples)
        return
    import torch


    peak = args.peak_gflops or sgemm_gflops()
    floor = flops_per_sample() * EPOCH / (peak * 1e9)
    print(machine_report(torch))
    print(f"{args.rounds} alternating rounds of {args.samples} samples each, scaled to a "
          f"{EPOCH}-sample epoch; {flops_per_sample() / 1e6:.1f} MFLOP per sample; sgemm peak "
          f"{peak:.0f} GFLOP/s ({'given' if args.peak_gflops else 'measured'}) -> floor "
          f"{floor:.1f} s per epoch")
    print(f"{'batch':>5}  {'bpnn s':>7}  {'torch s':>7}  {'numpy s':>7}  {'bpnn/torch':>10}  "
          f"{'(range)':>11}  {'bpnn/numpy':>10}  {'bpnn MiB':>8}  {'torch MiB':>9}  "
          f"{'bpnn %peak':>10}  {'torch %peak':>11}")
    print("(times: medians of the rounds; memory: peak resident set, in brackets its growth "
          "over the data and imports)")
    for batch_size in args.batch_sizes:
        ours, theirs, plain = time_rounds(batch_size, args.samples, args.rounds)
        ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
        plain_ratio = float(np.median([a / b for a, b in zip(ours, plain, strict=True)]))
        ours_s, theirs_s = float(np.median(ours)), float(np.median(theirs))
        memory = {name: measure_memory(name, batch_size, args.memory_samples)
                  for name in ("bpnn", "torch")}
        print(f"{batch_size:5d}  {ours_s:7.1f}  {theirs_s:7.1f}  {np.median(plain):7.1f}  "
              f"{np.median(ratios):10.2f}  {min(ratios):5.2f}-{max(ratios):4.2f}  "
              f"{plain_ratio:10.2f}  "
              f"{memory['bpnn']['peak_mib']:4.0f}({memory['bpnn']['growth_mib']:3.0f})  "
              f"{memory['torch']['peak_mib']:5.0f}({memory['torch']['growth_mib']:3.0f})  "
              f"{100 * floor / ours_s:9.0f}%  {100 * floor / theirs_s:10.0f}%")


if __name__ == "__main__":
    main()
