"""Readers for the data sets the tutorials use: MNIST-format IDX files and the phone-price table.

Nothing is downloaded: the files are read from disk, and a missing file gives an error that
says where they were looked for and how to get them.
"""

from __future__ import annotations

import math
import os
import zlib
from importlib import resources

from bpnn.backend import xp

# IDX type codes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT"); big-endian.
# deflate cannot expand data more than about 1032 times: a header promising more than that
# is refused before anything is inflated.
_MAX_GZIP_RATIO = 1100
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
MNIST_DIR = "/usr/share/datasets/mnist"
_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def load_idx(path):
    """Read an IDX file (the MNIST format), gzipped or not.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ndarray
        Shaped as the header says, in native byte order (uint8 for MNIST images and labels).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not IDX: bad magic number, unknown type code, or a size that
        disagrees with the header.

    Example
    -------
    >>> import bpnn
    >>> bpnn.datasets.load_idx(  # doctest: +SKIP
    ...     "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").shape
    (10000,)
    """
    path = os.fspath(path)
    with open(path, "rb") as handle:
        compressed = handle.read(2) == b"\x1f\x8b"
        stored = os.fstat(handle.fileno()).st_size
        handle.seek(0)
        try:
            if compressed:
                import gzip  # here: not every ``import bpnn`` reads data sets

                with gzip.GzipFile(fileobj=handle) as stream:
                    return _read_idx(stream, path, _MAX_GZIP_RATIO * stored + 4096)
            return _read_idx(handle, path, stored)
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f"{path}: corrupt gzip data ({error})") from None


def _read_exactly(stream, count: int) -> bytes:
    """Up to ``count`` bytes, read in chunks: nothing is allocated beyond what arrives."""
    chunks, remaining = [], count
    while remaining > 0:
        chunk = stream.read(min(remaining, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _read_idx(stream, path: str, limit: int):
    """Parse an IDX stream, checking the header before reading (or inflating) any data."""
    head = _read_exactly(stream, 4)
    if len(head) < 4 or head[0] != 0 or head[1] != 0:
        raise ValueError(f"{path}: not an IDX file (the first two bytes must be zero, "
                         f"got {head[:2].hex() or 'nothing'})")
    type_code, ndim = head[2], head[3]
    if type_code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX data type code 0x{type_code:02x} "
                         f"(known: {', '.join(f'0x{c:02x}' for c in _IDX_DTYPES)})")
    dims = _read_exactly(stream, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(f"{path}: IDX header says {ndim} dimensions but the file ends "
                         f"after {4 + len(dims)} bytes")
    shape = tuple(int.from_bytes(dims[i:i + 4], "big") for i in range(0, 4 * ndim, 4))
    dtype = xp.dtype(_IDX_DTYPES[type_code])
    expected = math.prod(shape) * dtype.itemsize
    if expected > limit:
        raise ValueError(f"{path}: IDX header announces shape {shape} ({expected} bytes of "
                         f"data), more than a file of this size can hold")
    raw = _read_exactly(stream, expected + 1)
    if len(raw) != expected:
        held = f"{len(raw)}" if len(raw) <= expected else "more"
        raise ValueError(f"{path}: IDX header announces shape {shape} ({expected} bytes of "
                         f"data) but the file holds {held}")
    data = xp.frombuffer(raw, dtype).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _find(directory: str, stem: str) -> str | None:
    for name in (stem + ".gz", stem):
        candidate = os.path.join(directory, name)
        if os.path.exists(candidate):
            return candidate
    return None


def _load_mnist_format(name: str, path, default_dir: str, how_to_get: str):
    if path is None:
        base = os.environ.get("BPNN_DATA")
        path = os.path.join(base, name) if base else default_dir
    directory = os.fspath(path)
    found = [_find(directory, stem) for stem in _MNIST_FILES]
    missing = [stem for stem, f in zip(_MNIST_FILES, found, strict=True) if f is None]
    if missing:
        raise FileNotFoundError(
            f"{name}: missing {', '.join(m + '[.gz]' for m in missing)} in {directory}. "
            f"{how_to_get} Then pass path=<folder>, or set BPNN_DATA=<folder> so that "
            f"$BPNN_DATA/{name}/ holds the four files. bpnn never downloads data."
        )
    x_train, y_train, x_test, y_test = (load_idx(f) for f in found)
    for images, labels, part in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if len(images) != len(labels):
            raise ValueError(f"{name}: {part} set has {len(images)} images but "
                             f"{len(labels)} labels")
    return (x_train, y_train), (x_test, y_test)


def fashion_mnist(path=None):
    """Load Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017) as ``keras.datasets`` does.

    Parameters
    ----------
    path : str, optional
        Folder holding ``train-images-idx3-ubyte[.gz]`` and the three other files. Default:
        ``$BPNN_DATA/fashion-mnist`` if ``BPNN_DATA`` is set, else
        ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist`` package).

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        uint8 arrays shaped (60000, 28, 28), (60000,), (10000, 28, 28), (10000,).

    Raises
    ------
    FileNotFoundError
        If a file is missing, saying how to get them.

    Example
    -------
    >>> import bpnn
    >>> (x_train, y_train), (x_test, y_test) = bpnn.datasets.fashion_mnist()  # doctest: +SKIP
    """
    return _load_mnist_format(
        "fashion-mnist", path, FASHION_MNIST_DIR,
        "Install them with `apt install dataset-fashion-mnist` (Debian/Ubuntu) or download "
        "the four .gz files from https://github.com/zalandoresearch/fashion-mnist.")


def mnist(path=None):
    """Load MNIST (LeCun, Cortes and Burges) as ``keras.datasets.mnist`` does.

    Parameters
    ----------
    path : str, optional
        Folder holding the four IDX files. Default: ``$BPNN_DATA/mnist`` if ``BPNN_DATA``
        is set, else ``/usr/share/datasets/mnist``.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        uint8 arrays shaped (60000, 28, 28), (60000,), (10000, 28, 28), (10000,).

    Raises
    ------
    FileNotFoundError
        If a file is missing, saying how to get them.
    """
    return _load_mnist_format(
        "mnist", path, MNIST_DIR,
        "Download the four .gz files of the MNIST database (http://yann.lecun.com/exdb/mnist/ "
        "or a mirror) yourself.")


def phone_price(return_feature_names: bool = False):
    """The bundled phone-price table: 2,000 phones, 20 numeric features, 4 price classes.

    Source: Kaggle "Mobile Price Classification" (Abhishek Sharma, 2018),
    https://www.kaggle.com/datasets/iabhishekofficial/mobile-price-classification
    (its ``train.csv``, the only part with labels).

    Parameters
    ----------
    return_feature_names : bool, default False
        Also return the 20 column names.

    Returns
    -------
    x : ndarray, shape (2000, 20), float32
    y : ndarray, shape (2000,), int64
        ``price_range``: 0 (low) .. 3 (very high), 500 phones each.
    feature_names : list of str
        Only with ``return_feature_names=True``.

    Example
    -------
    >>> import bpnn
    >>> x, y = bpnn.datasets.phone_price()
    >>> x.shape, y[:3]
    ((2000, 20), array([1, 2, 2]))
    """
    text = resources.files("bpnn.data").joinpath("phone_price.csv").read_text()
    header, *rows = text.strip().splitlines()
    names = header.split(",")
    table = xp.array([row.split(",") for row in rows], dtype=xp.float64)
    x = table[:, :-1].astype(xp.float32)
    y = table[:, -1].astype(xp.int64)
    if return_feature_names:
        return x, y, names[:-1]
    return x, y
