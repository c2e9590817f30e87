"""Issue 16's acceptance figures: mutated files, memory bombs, SIGKILLs, concurrent --out.

Run: python benchmarks/hardening_acceptance.py [--mutations 5000] [--kills 20] [--stress 5]

Prints, for each part, counts and worst cases:

* mutated model files (byte flips, truncations, insertions, header-token edits): how many
  loaded (each must equal the original exactly), how many raised SerializationError, how many
  raised anything else (must be 0), the slowest rejection and the largest traced peak;
* the memory-bomb files of the issue, each loaded in a fresh process: time and peak RSS;
* SIGKILLs during ``bpnn.save`` and during ``bpnn train``: the previous file / folder intact,
  and leftovers once the next save / train has run;
* two processes committing one model folder for a few seconds: failures and final state.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import signal
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

import bpnn
from bpnn import nn


def _trained_model(folder):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    bpnn.manual_seed(0)
    model = bpnn.Model(nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2)),
                       "cross_entropy", "adam")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = os.path.join(folder, "model.bpnn")
    bpnn.save(model, path)
    return path


def _values(model):
    state = model.optimizer.state_dict()
    return (
        {k: np.asarray(v).tobytes() for k, v in model.get_weights().items()},
        {f"{i}.{k}": np.asarray(v).tobytes() for i, s in state["state"].items()
         for k, v in s.items()},
        json.dumps(state["param_groups"], default=str), json.dumps(model.history.history),
        model.epoch, model.input_shape,
    )


TOKENS = [b"0", b"9", b"-", b"[", b"]", b"{", b"}", b'"', b",", b":", b"e", b"1e400", b"null",
          b"true", b"NaN", b"[[[[", b"9999999999"]


def _mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    kind = rng.choice(["flip", "flip", "truncate", "insert", "header"])
    if kind == "flip":
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= rng.randint(1, 255)
    elif kind == "truncate":
        del data[rng.randrange(len(data)):]
    elif kind == "insert":
        at = rng.randrange(len(data))
        data[at:at] = bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 8)))
    else:
        (length,) = struct.unpack("<Q", bytes(data[:8]))
        at = 8 + rng.randrange(length)
        token = rng.choice(TOKENS)
        data[at:at + 1] = token
        data[:8] = struct.pack("<Q", length + len(token) - 1)
    return bytes(data)


def mutated_files(count: int) -> None:
    folder = tempfile.mkdtemp()
    original_path = _trained_model(folder)
    original = open(original_path, "rb").read()
    reference = _values(bpnn.load(original_path))
    rng = random.Random(16)
    loaded = refused = other = changed = 0
    worst_time = worst_peak = 0.0
    path = os.path.join(folder, "mutated.bpnn")
    for _ in range(count):
        with open(path, "wb") as handle:
            handle.write(_mutate(original, rng))
        tracemalloc.start()
        start = time.perf_counter()
        try:
            model = bpnn.load(path)
        except bpnn.SerializationError:
            refused += 1
            worst_time = max(worst_time, time.perf_counter() - start)
            worst_peak = max(worst_peak, tracemalloc.get_traced_memory()[1])
        except Exception as error:  # noqa: BLE001 - counted: must stay 0
            other += 1
            print("  undocumented:", type(error).__name__, error)
        else:
            loaded += 1
            changed += _values(model) != reference
        finally:
            tracemalloc.stop()
    print(f"mutated model files: {count} ({len(original)} bytes each before mutation)")
    print(f"  refused with SerializationError: {refused}; loaded: {loaded} (of which with "
          f"changed values: {changed}); other exceptions: {other}")
    print(f"  slowest rejection {worst_time * 1e3:.2f} ms; largest traced peak "
          f"{worst_peak / 2**20:.2f} MiB")


BOMB_SCRIPT = """
import resource, sys, time
import bpnn
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
kind, path = sys.argv[1], sys.argv[2]
try:
    if kind == "idx":
        bpnn.datasets.load_idx(path)
    elif kind == "class_weight":
        import numpy as np
        model = bpnn.Model(bpnn.nn.Sequential(bpnn.nn.Linear(4, 3)), "cross_entropy", "sgd")
        rng = np.random.default_rng(0)
        model.fit(rng.normal(size=(60, 4)), rng.integers(0, 3, 60),
                  class_weight={10**9: 1.0}, verbose=0)
    else:
        bpnn.load(path)
    outcome = "accepted"
except (bpnn.SerializationError, ValueError) as error:
    outcome = type(error).__name__
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(outcome, f"{seconds * 1e3:.2f}", f"{after / 1024:.1f}", f"{(after - before) / 1024:.1f}")
"""


def memory_bombs() -> None:
    folder = tempfile.mkdtemp()
    linear = os.path.join(folder, "linear.bpnn")
    meta = json.dumps({"architecture": {"class": "Linear", "config": {
        "in_features": 20000, "out_features": 20000}}})
    header = json.dumps({"__metadata__": {"format": "bpnn", "format_version": "1",
                                          "kind": "Module", "bpnn_version": "x",
                                          "meta": meta}}).encode()
    with open(linear, "wb") as handle:
        handle.write(struct.pack("<Q", len(header)) + header)
    idx = os.path.join(folder, "bomb-idx3-ubyte.gz")
    with gzip.open(idx, "wb", compresslevel=9) as handle:  # streamed: 1 GiB never in memory
        handle.write(b"\x01\x00\x08\x03")
        zeros = bytes(1 << 20)
        for _ in range(1024):
            handle.write(zeros)
    print("memory bombs (fresh process each; RSS = peak of the whole process, import included)")
    for kind, path, what in [("load", linear, f"{os.path.getsize(linear)}-byte Linear(20000, "
                                                "20000) without tensors"),
                             ("idx", idx, f"{os.path.getsize(idx) / 2**20:.1f} MB gzip IDX, "
                                          "bad magic, 1 GiB inflated"),
                             ("class_weight", "", "class_weight={10**9: 1.0} on 60 rows")]:
        result = subprocess.run([sys.executable, "-c", BOMB_SCRIPT, kind, path],
                                capture_output=True, text=True, check=True)
        outcome, ms, rss, growth = result.stdout.split()
        print(f"  {what}: {outcome} in {ms} ms; peak RSS {rss} MB "
              f"(+{growth} MB over the imported library)")


def _leftovers(folder, keep):
    return sorted(name for name in os.listdir(folder) if name != keep)


def kills_during_save(kills: int) -> None:
    folder = tempfile.mkdtemp()
    target = os.path.join(folder, "net.bpnn")
    bpnn.manual_seed(0)
    network = nn.Sequential(nn.Linear(512, 1024), nn.Tanh(), nn.Linear(1024, 512))
    bpnn.save(network, target)
    reference = {k: v.copy() for k, v in network.state_dict().items()}
    rng = random.Random(20)
    intact = stale_seen = 0
    for _ in range(kills):
        pid = os.fork()
        if pid == 0:
            try:
                while True:
                    bpnn.save(network, target)
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.0, 0.1))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        loaded = bpnn.load(target).state_dict()  # raises if the file were damaged
        intact += all(np.array_equal(loaded[k], v) for k, v in reference.items())
        stale_seen += bool(_leftovers(folder, "net.bpnn"))
    bpnn.save(network, target)
    print(f"SIGKILL during bpnn.save: {kills} kills; target intact and loadable after "
          f"{intact}; a temporary was left by {stale_seen} kills; leftovers after the next "
          f"save: {_leftovers(folder, 'net.bpnn')}")


def kills_during_train(kills: int) -> None:
    folder = tempfile.mkdtemp()
    rng = np.random.default_rng(1)
    data = os.path.join(folder, "t.csv")
    with open(data, "w") as handle:
        handle.write("a,b,label\n")
        for a, b in rng.normal(size=(200, 2)):
            handle.write(f"{a:.3f},{b:.3f},{'yes' if a + b > 0 else 'no'}\n")
    out = os.path.join(folder, "model")

    def command(epochs):
        return [sys.executable, "-c", "import sys; from bpnn.cli import main; "
                "sys.exit(main(sys.argv[1:]))", "train", data, "--target", "label",
                "--out", out, "--epochs", str(epochs), "--quiet"]

    subprocess.run(command(3), check=True, capture_output=True)
    previous = open(os.path.join(out, "model.bpnn"), "rb").read()
    delays = random.Random(21)
    intact = left = 0
    for _ in range(kills):
        run = subprocess.Popen(command(30), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        time.sleep(delays.uniform(0.5, 3.0))  # spread over import, training and writing
        run.send_signal(signal.SIGKILL)
        run.wait()
        if run.returncode == 0:  # finished before the kill: it is the new previous
            previous = open(os.path.join(out, "model.bpnn"), "rb").read()
        from bpnn.cli.commands import load_model_folder

        load_model_folder(out)
        intact += open(os.path.join(out, "model.bpnn"), "rb").read() == previous
        left += bool(_leftovers(folder, "model") != ["t.csv"])
    subprocess.run(command(2), check=True, capture_output=True)
    print(f"SIGKILL during bpnn train: {kills} kills; previous folder intact and loadable "
          f"after {intact}; a temporary was left by {left} kills; leftovers after the next "
          f"train: {[n for n in _leftovers(folder, 'model') if n != 't.csv']}")


def concurrency_stress(seconds: float) -> None:
    from bpnn.io import AtomicFolder

    folder = tempfile.mkdtemp()
    target = os.path.join(folder, "out")
    pids = []
    for marker in ("one", "two"):
        pid = os.fork()
        if pid == 0:
            failures = commits = 0
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    writer = AtomicFolder(target)
                    for name in ("model.bpnn", "preprocessing.json", "bpnn-model.json"):
                        with open(writer.file(name), "w") as handle:
                            handle.write(marker)
                    writer.commit()
                    commits += 1
                except Exception as error:  # noqa: BLE001 - counted, and shown
                    failures += 1
                    print(f"  process {marker}: {type(error).__name__}: {error}", flush=True)
            print(f"  process {marker}: {commits} commits, {failures} failures", flush=True)
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    contents = {open(os.path.join(target, n)).read() for n in os.listdir(target)}
    print(f"concurrent commits to one folder for {seconds:g} s: final folder holds "
          f"{sorted(os.listdir(target))} from {contents}; beside it: "
          f"{_leftovers(folder, 'out')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutations", type=int, default=5000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--stress", type=float, default=5.0)
    args = parser.parse_args()
    print(f"bpnn {bpnn.__version__}; peak RSS of this process so far "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    mutated_files(args.mutations)
    memory_bombs()
    kills_during_save(args.kills)
    kills_during_train(args.kills)
    concurrency_stress(args.stress)


if __name__ == "__main__":
    main()
