"""One epoch of the Fashion-MNIST CNN with Adam: bpnn vs PyTorch CPU, same data, same run.

Network (examples/fashion_mnist_cnn.py): Conv 32 3x3 -> ReLU -> MaxPool 2 -> Conv 64 3x3 ->
ReLU -> MaxPool 2 -> Flatten -> Linear 128 -> ReLU -> Linear 10. Fashion-MNIST-shaped data
(random pixels and labels: the work per step is timed, not the accuracy), batch sizes 32 and
128.

Time: both frameworks train in this one process, in alternating rounds (bpnn, PyTorch, bpnn,
...) of ``--samples`` samples each, so that a slow spell of the machine hits both; each round
is scaled to a 60,000-sample epoch, and the medians of the rounds and of the per-round ratios
are printed. Both run under the same C allocator settings (``import bpnn`` tunes glibc's
malloc for the whole process; see bpnn.backend.tune_allocator).

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
import os
import platform
import resource
import subprocess
import sys
import threading
import time

import numpy as np

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


def time_rounds(batch_size: int, samples: int, rounds: int) -> tuple[list, list]:
    """Seconds per 60,000-sample epoch of each round, bpnn's and PyTorch's, interleaved."""
    x, y = make_data(samples)
    run_bpnn(x, y, batch_size)  # warm-up: first-call costs, caches, thread pools
    run_torch(x, y, batch_size)
    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(run_bpnn(x, y, batch_size) * EPOCH / samples)
        theirs.append(run_torch(x, y, batch_size) * EPOCH / samples)
    return ours, theirs


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

    import bpnn

    peak = args.peak_gflops or sgemm_gflops()
    floor = flops_per_sample() * EPOCH / (peak * 1e9)
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores; "
          f"numpy {np.__version__} ({bpnn.backend.blas_info().get('blas', '?')}), torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads)")
    print(f"{args.rounds} alternating rounds of {args.samples} samples each, scaled to a "
          f"{EPOCH}-sample epoch; {flops_per_sample() / 1e6:.1f} MFLOP per sample; sgemm peak "
          f"{peak:.0f} GFLOP/s ({'given' if args.peak_gflops else 'measured'}) -> floor "
          f"{floor:.1f} s per epoch")
    print(f"{'batch':>5}  {'bpnn s':>7}  {'torch s':>7}  {'bpnn/torch':>10}  {'(range)':>11}  "
          f"{'bpnn MiB':>8}  {'torch MiB':>9}  {'bpnn %peak':>10}  {'torch %peak':>11}")
    print("(times: medians of the rounds; memory: peak resident set, in brackets its growth "
          "over the data and imports)")
    for batch_size in args.batch_sizes:
        ours, theirs = time_rounds(batch_size, args.samples, args.rounds)
        ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
        ours_s, theirs_s = float(np.median(ours)), float(np.median(theirs))
        memory = {name: measure_memory(name, batch_size, args.memory_samples)
                  for name in ("bpnn", "torch")}
        print(f"{batch_size:5d}  {ours_s:7.1f}  {theirs_s:7.1f}  {np.median(ratios):10.2f}  "
              f"{min(ratios):5.2f}-{max(ratios):4.2f}  "
              f"{memory['bpnn']['peak_mib']:4.0f}({memory['bpnn']['growth_mib']:3.0f})  "
              f"{memory['torch']['peak_mib']:5.0f}({memory['torch']['growth_mib']:3.0f})  "
              f"{100 * floor / ours_s:9.0f}%  {100 * floor / theirs_s:10.0f}%")


if __name__ == "__main__":
    main()
