"""The one place that knows the array library, the default dtype and the random generator.

Every other module reaches NumPy through ``xp`` so that a CuPy backend can later be
dropped in here without touching any op.
"""

from __future__ import annotations

import ctypes
import math
import os
import sys

import numpy as np

xp = np

# NumPy has no error function; math.erf is the C library's, correct to a few ulps in float64.
_ERF = np.frompyfunc(math.erf, 1, 1)


def erf(x):
    """Element-wise error function of a float array, in its dtype.

    Example
    -------
    >>> import numpy as np
    >>> from bpnn.backend import erf
    >>> erf(np.array([0.0, 1.0]))
    array([0.        , 0.84270079])
    """
    return _ERF(x).astype(x.dtype)


#: glibc's ``mallopt`` parameter numbers (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Arrays up to this size come from the reused heap instead of fresh ``mmap`` pages (32 MiB is
#: the most glibc accepts on 64-bit systems).
MMAP_THRESHOLD_BYTES = 32 * 2**20
#: Free memory kept at the top of the heap before it is handed back to the system.
TRIM_THRESHOLD_BYTES = 512 * 2**20


def tune_allocator() -> bool:
    """Let glibc reuse freed array memory instead of returning it to the system at once.

    Why: a training step allocates and frees arrays of a few MiB (activations, column matrices,
    gradients). glibc's defaults serve each from fresh ``mmap`` pages, or trim the heap as soon
    as they are freed, so every step takes a page fault per 4 KiB touched: on the Fashion-MNIST
    CNN at batch 32 that was about 4,500 faults a step and more than half of the epoch's time. With
    larger mmap and trim thresholds the heap keeps those pages and reuses them; the peak
    resident memory is unchanged, but up to :data:`TRIM_THRESHOLD_BYTES` of freed memory stays
    with the process. ``import bpnn`` calls this unless the environment variable
    ``BPNN_TUNE_MALLOC`` is ``0``; it sets a process-wide option of the C library.

    Returns
    -------
    bool
        True when the options were set; False where there is no glibc (macOS, Windows, musl).

    Example
    -------
    >>> import bpnn
    >>> bpnn.backend.tune_allocator() in (True, False)
    True
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl and other C libraries without mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))


#: Whether ``import bpnn`` tuned the C allocator (see :func:`tune_allocator`).
ALLOCATOR_TUNED = os.environ.get("BPNN_TUNE_MALLOC", "1") != "0" and tune_allocator()

_FLOAT_DTYPES = {np.dtype(np.float32), np.dtype(np.float64)}
_default_dtype = np.dtype(np.float32)
_rng = np.random.default_rng()


def as_float_dtype(dtype) -> np.dtype:
    """Return ``dtype`` as a NumPy float dtype, rejecting anything but float32 / float64."""
    try:
        resolved = np.dtype(getattr(dtype, "name", dtype) if not isinstance(dtype, type) else dtype)
    except TypeError as error:
        raise TypeError(f"expected a float dtype (float32 or float64), got {dtype!r}") from error
    if resolved not in _FLOAT_DTYPES:
        raise TypeError(f"expected a float dtype (float32 or float64), got {resolved}")
    return resolved


def get_default_dtype() -> np.dtype:
    """Return the dtype that new floating-point tensors and parameters get (float32 unless set).

    Returns
    -------
    numpy.dtype
    """
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the dtype for new floating-point tensors and parameters.

    Parameters
    ----------
    dtype : {"float32", "float64"} or numpy dtype
        float64 is what finite-difference checks and second-order optimizers want.

    Raises
    ------
    TypeError
        If ``dtype`` is not float32 or float64.

    Example
    -------
    >>> import bpnn
    >>> bpnn.set_default_dtype("float64")
    >>> bpnn.set_default_dtype("float32")
    """
    global _default_dtype
    _default_dtype = as_float_dtype(dtype)


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the one generator behind initialisation, shuffling, dropout and augmentation.

    Parameters
    ----------
    seed : int
        A non-negative integer.

    Returns
    -------
    numpy.random.Generator
        The new global generator.

    Example
    -------
    >>> import bpnn
    >>> _ = bpnn.manual_seed(0)
    """
    global _rng
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    _rng = np.random.default_rng(int(seed))
    return _rng


def get_rng() -> np.random.Generator:
    """Return the global random generator (seeded by :func:`manual_seed`)."""
    return _rng


def get_rng_state() -> dict:
    """Return the global generator's state as a JSON-serialisable dict."""
    return _rng.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore the global generator's state from :func:`get_rng_state`'s dict."""
    _rng.bit_generator.state = state


def blas_info() -> dict:
    """Describe the BLAS library NumPy uses (name, version, threads), best effort."""
    info = {"numpy": np.__version__}
    try:
        config = np.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        info["blas"] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - old NumPy has no mode="dicts"
        info["blas"] = "unknown"
    try:
        from threadpoolctl import threadpool_info

        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            info["threads"] = pools[0].get("num_threads")
    except ImportError:
        pass
    return info
