"""The one place that knows the array library, the default dtype and the random generator.

Every other module reaches NumPy through ``xp`` so that a CuPy backend can later be
dropped in here without touching any op.
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
import threading

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
_rng = None  # created on first use: numpy.random costs import time that not every user needs


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
    global _rng
    if _rng is None:
        _rng = np.random.default_rng()
    return _rng


def get_rng_state() -> dict:
    """Return the global generator's state as a JSON-serialisable dict."""
    return get_rng().bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore the global generator's state from :func:`get_rng_state`'s dict."""
    get_rng().bit_generator.state = state


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


# ---------------------------------------------------------------------- subnormal floats
#: Whether bpnn's optimizer steps flush subnormal floats to zero (see :func:`subnormals_flushed`).
_flush_subnormals = os.environ.get("BPNN_FLUSH_SUBNORMALS", "1") != "0"
_fenv = None  # (fegetenv, fesetenv, size, offset, bits), loaded on first use; False: unavailable
_fenv_spares = threading.local()  # each thread's fenv_t buffers, allocated once


def set_flush_subnormals(enabled: bool) -> None:
    """Turn on or off bpnn's flushing of subnormal floats to zero during optimizer steps.

    Why: a unit whose gradient is exactly zero (a dead ReLU, an unused input) decays Adam's
    ``exp_avg`` by ``beta1`` every step until it is subnormal (below 1.2e-38 in float32), and
    many x86 cores handle subnormal operands in microcode, up to 20 times slower. On by default;
    the environment variable ``BPNN_FLUSH_SUBNORMALS=0`` starts with it off. With it on, values
    that would be subnormal become zero, which is all that can change in the results.

    Parameters
    ----------
    enabled : bool

    Example
    -------
    >>> import bpnn
    >>> bpnn.backend.set_flush_subnormals(False)
    >>> bpnn.backend.get_flush_subnormals()
    False
    >>> bpnn.backend.set_flush_subnormals(True)
    """
    global _flush_subnormals
    if not isinstance(enabled, (bool, np.bool_)):
        raise TypeError(f"set_flush_subnormals expects True or False, got {enabled!r}")
    _flush_subnormals = bool(enabled)


def get_flush_subnormals() -> bool:
    """Return whether optimizer steps flush subnormal floats to zero."""
    return _flush_subnormals


def _load_fenv():
    """glibc's ``fegetenv`` / ``fesetenv`` and where the flush bits live, or False."""
    machine = os.uname().machine if hasattr(os, "uname") else ""
    if not sys.platform.startswith("linux"):
        return False
    if machine == "x86_64":
        # fenv_t is 32 bytes: the x87 environment, then MXCSR at byte 28;
        # FTZ (flush-to-zero, bit 15) and DAZ (denormals-are-zero, bit 6)
        size, offset, bits = 32, 28, (1 << 15) | (1 << 6)
    elif machine == "aarch64":
        # fenv_t is {fpcr, fpsr}; FZ (bit 24 of FPCR) flushes inputs and results
        size, offset, bits = 8, 0, 1 << 24
    else:
        return False
    try:
        libm = ctypes.CDLL("libm.so.6")
        getenv, setenv = libm.fegetenv, libm.fesetenv
    except (OSError, AttributeError):
        return False
    getenv.restype = setenv.restype = ctypes.c_int
    return getenv, setenv, size, offset, bits


def hardware_flush_available() -> bool:
    """Whether this platform lets bpnn set the CPU's flush-to-zero mode (x86-64 / aarch64 Linux).

    Elsewhere optimizer steps zero subnormal state values explicitly instead (slower, same values).
    """
    global _fenv
    if _fenv is None:
        _fenv = _load_fenv()
    return _fenv is not False


class subnormals_flushed:  # noqa: N801 - used like a function, as numpy.errstate
    """Context manager: the calling thread flushes subnormal floats to zero inside, then not.

    Sets flush-to-zero and denormals-are-zero (x86-64 MXCSR) or FZ (aarch64 FPCR) on entry and
    restores the thread's previous floating-point environment on exit, so the user's own NumPy
    code never sees a changed mode. The mode is per thread: it covers NumPy's element-wise
    operations in this thread (all of an optimizer step), not BLAS worker threads, which keep
    their own. ``as`` gives True when the CPU flushes, False when the caller must (the
    platform has no such mode, see :func:`hardware_flush_available`) and None when flushing
    is switched off (:func:`set_flush_subnormals`).

    Example
    -------
    >>> import numpy as np, bpnn
    >>> tiny = np.float32(1e-39)
    >>> with bpnn.backend.subnormals_flushed() as by_cpu:
    ...     flushed = tiny * np.float32(1.0)
    >>> bool(flushed == 0) == bool(by_cpu)
    True
    """

    __slots__ = ("mode", "_buffers")

    def __enter__(self):
        self._buffers = None
        if not _flush_subnormals:
            self.mode = None
        elif not hardware_flush_available():
            self.mode = False
        else:
            getenv, setenv, size, offset, bits = _fenv
            spare = _fenv_spares.__dict__.setdefault("buffers", [])
            buffers = spare.pop() if spare else (ctypes.create_string_buffer(size),
                                                 ctypes.create_string_buffer(size))
            saved, changed = buffers
            getenv(saved)
            ctypes.memmove(changed, saved, size)
            ctypes.c_uint32.from_buffer(changed, offset).value |= bits
            self.mode = setenv(changed) == 0
            if self.mode:
                self._buffers = buffers
            else:
                spare.append(buffers)
        return self.mode

    def __exit__(self, *exc_info):
        buffers = self._buffers
        if buffers is not None:
            _fenv[1](buffers[0])
            self._buffers = None
            _fenv_spares.buffers.append(buffers)  # reused by this thread's next step
        return False


def flush_subnormals(array) -> None:
    """Set the subnormal entries of a float array to zero, in place (the portable fallback)."""
    tiny = np.finfo(array.dtype).tiny
    np.copyto(array, 0, where=np.abs(array) < tiny)


# ---------------------------------------------------------------------- BLAS thread policy
#: A product whose inner (summed) dimension is at most this runs on one BLAS thread: the weight
#: gradient of a dense layer at batch 32 (128x32 @ 32x784) took 82 us on 1 thread and 217 us
#: on 2 (Intel Xeon, quiet), 0.48 ms and 9.2 ms (AMD EPYC, both vCPUs busy); its threads wait
#: on each other more than they multiply. Larger inner dimensions keep the user's setting.
SINGLE_THREAD_INNER = 64
#: OpenBLAS itself runs products below this many multiply-adds on one thread.
_OPENBLAS_THREADED_ABOVE = 65536 * 4
_blas_policy = os.environ.get("BPNN_BLAS_POLICY", "1") != "0"
_openblas = None  # (get_num_threads, set_num_threads) once found; False: not found


def set_blas_thread_policy(enabled: bool) -> None:
    """Turn on or off running products with a small inner dimension on one BLAS thread.

    The OpenBLAS thread count is set to 1 for the product only and put back to what it was
    right after (it is process-wide: another thread's BLAS call at that instant runs on one
    thread too). On by default where NumPy uses OpenBLAS on Linux; ``BPNN_BLAS_POLICY=0``
    starts with it off. See :data:`SINGLE_THREAD_INNER`.

    Example
    -------
    >>> import bpnn
    >>> bpnn.backend.set_blas_thread_policy(True)
    """
    global _blas_policy
    if not isinstance(enabled, (bool, np.bool_)):
        raise TypeError(f"set_blas_thread_policy expects True or False, got {enabled!r}")
    _blas_policy = bool(enabled)


def _find_openblas():
    """OpenBLAS's thread-count functions in the copy NumPy loaded (Linux), or False."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
    except OSError:
        return False
    for path in paths:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", "64_"), ("scipy_openblas",
                               ""), ("openblas", "")):
            getter = getattr(library, f"{prefix}_get_num_threads{suffix}", None)
            setter = getattr(library, f"{prefix}_set_num_threads{suffix}", None)
            if getter is not None and setter is not None:
                getter.restype, setter.argtypes, setter.restype = ctypes.c_int, [ctypes.c_int], None
                return getter, setter
    return False


def matmul(a, b):
    """``a @ b``, on one BLAS thread when the inner dimension is small (see
    :func:`set_blas_thread_policy`); the thread count is restored before returning."""
    global _openblas
    inner = a.shape[-1]
    if not _blas_policy or inner > SINGLE_THREAD_INNER or a.ndim != 2 or b.ndim != 2 or \
            a.shape[0] * inner * b.shape[1] <= _OPENBLAS_THREADED_ABOVE:
        return a @ b
    if _openblas is None:
        _openblas = _find_openblas()
    if _openblas is False:
        return a @ b
    get_threads, set_threads = _openblas
    threads = get_threads()
    if threads <= 1:
        return a @ b
    set_threads(1)
    try:
        return a @ b
    finally:
        set_threads(threads)
