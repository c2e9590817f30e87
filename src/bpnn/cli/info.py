"""``bpnn info``: version, backend, dtype, BLAS and the bundled data sets."""

from __future__ import annotations

import os
import platform
from importlib import resources

import numpy as np

import bpnn
from bpnn import backend

FASHION_MNIST_DIRS = ("/usr/share/datasets/fashion-mnist",)


def bundled_csv(name: str) -> str:
    """Path of a CSV shipped inside the package (``src/bpnn/data/<name>.csv``)."""
    return str(resources.files("bpnn").joinpath("data", f"{name}.csv"))


def collect() -> dict:
    """Gather the facts ``bpnn info`` prints, as a dict."""
    facts = {
        "bpnn": bpnn.__version__,
        "python": platform.python_version(),
        "backend": f"{backend.xp.__name__} {np.__version__}",
        "default dtype": str(backend.get_default_dtype()),
    }
    blas = backend.blas_info()
    facts["BLAS"] = blas.get("blas", "unknown")
    facts["BLAS threads"] = blas.get("threads", "unknown")
    facts["CPU cores"] = os.cpu_count()
    facts["allocator"] = ("glibc malloc tuned (BPNN_TUNE_MALLOC=0 keeps its defaults)"
                          if backend.ALLOCATOR_TUNED else "C library defaults")
    optional = []
    for module in ("pandas", "matplotlib", "tqdm", "safetensors", "scipy"):
        try:
            imported = __import__(module)
            optional.append(f"{module} {getattr(imported, '__version__', '?')}")
        except ImportError:
            optional.append(f"{module} (missing)")
    facts["optional"] = ", ".join(optional)
    datasets = []
    phone = bundled_csv("phone_price")
    if os.path.exists(phone):
        datasets.append(f"phone_price (bundled, {phone})")
    for folder in FASHION_MNIST_DIRS:
        if os.path.isdir(folder):
            datasets.append(f"fashion-mnist ({folder})")
    facts["data sets"] = "; ".join(datasets) or "none found"
    return facts


def run(args) -> int:
    """Entry point of ``bpnn info``."""
    for key, value in collect().items():
        print(f"{key + ':':<15} {value}")
    return 0
