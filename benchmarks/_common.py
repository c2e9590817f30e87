"""What every benchmark shares: the machine it ran on, and alternating timed rounds.

A speed ratio means something only with the CPU and BLAS kernel beside it, and only when both
sides met the same machine: each benchmark prints :func:`machine_report` and times the
frameworks in one process, in alternating rounds (A, B, C, A, B, C, ...), reporting medians,
so that a slow spell of a shared machine hits every side alike.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time

import numpy as np


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith(("model name", "cpu model", "hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> str:
    """The vector extensions that matter for float32 kernels (avx2, avx512f, neon...)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith(("flags", "features")):
                    flags = set(line.split(":", 1)[1].split())
                    wanted = ["avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "asimd", "sve"]
                    return " ".join(flag for flag in wanted if flag in flags) or "-"
    except OSError:
        pass
    return "?"


def blas_report() -> str:
    """BLAS library, version, kernel (the CPU target it picked) and threads, via threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return "; ".join(
        f"{p.get('internal_api')} {p.get('version')} kernel {p.get('architecture', '?')}, "
        f"{p.get('num_threads')} threads ({os.path.basename(p.get('filepath', ''))})"
        for p in pools) or "none found"


def machine_report(torch=None) -> str:
    """Lines that say where and with what the numbers below were measured."""
    import bpnn

    lines = [
        f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"cpu: {cpu_model()} ({platform.machine()}, {os.cpu_count()} logical cores; "
        f"{cpu_flags()})",
        f"blas: {blas_report()}",
        f"numpy {np.__version__}, bpnn {bpnn.__version__} (flush subnormals: "
        f"{bpnn.backend.get_flush_subnormals()}, by the CPU: "
        f"{bpnn.backend.hardware_flush_available()})",
    ]
    if torch is not None:
        lines.append(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    return "\n".join(lines)


def alternate(contenders: dict, rounds: int, warmup: int = 1) -> dict:
    """Run each ``name -> callable returning seconds`` in turn, ``rounds`` times.

    Returns
    -------
    dict
        ``name -> list of seconds``, one per round (warm-up rounds dropped).
    """
    times = {name: [] for name in contenders}
    for round_index in range(warmup + rounds):
        for name, run in contenders.items():
            seconds = run()
            if round_index >= warmup:
                times[name].append(seconds)
    return times


def timed(function, repeats: int):
    """A callable that runs ``function`` ``repeats`` times and returns seconds per call."""
    def run():
        start = time.perf_counter()
        for _ in range(repeats):
            function()
        return (time.perf_counter() - start) / repeats
    return run


def median(values) -> float:
    return float(statistics.median(values))


def ratio_median(ours, theirs) -> float:
    """Median of the per-round ratios (each round's pair met the same machine state)."""
    return median([a / b for a, b in zip(ours, theirs, strict=True)])
