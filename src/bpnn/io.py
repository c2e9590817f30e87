"""Save and load modules and training checkpoints: safetensors + JSON, no pickle, atomic writes.

A bpnn file is one safetensors file (https://github.com/huggingface/safetensors):

* an 8-byte little-endian header length, a JSON header, then the raw little-endian tensor bytes;
* the header's ``__metadata__`` (string -> string) holds ``format = "bpnn"``,
  ``format_version``, ``kind`` (``"Module"``, ``"Model"``, ...), ``bpnn_version`` and ``meta``:
  a JSON document describing the object (for a module: the architecture from
  :func:`bpnn.nn.module_to_config`, the frozen parameters and the training flag);
* the tensors are the object's arrays (for a module: its ``state_dict``).

Loading never runs code from the file: the JSON is parsed by ``json``, the layers are built
from the classes registered with :func:`bpnn.nn.register_layer`, and the tensors are raw
numbers. The whole file is checked (header, metadata, tensor names, shapes and dtypes against
the rebuilt architecture) before anything is returned, so a bad file raises
:class:`SerializationError` and nothing is half-loaded.

Writes are atomic: the bytes go to a hidden temporary file in the same folder
(``.<name>.<random>.tmp``), which is flushed and fsynced before ``os.replace`` puts it in place,
so a crash or ``kill -9`` mid-save leaves the previous file intact.

Objects other than modules join through :func:`register_kind`: an object with
``to_checkpoint() -> (meta, arrays)`` is saved under the name of its class (or of the first
base class registered), and loaded with the registered ``loader(meta, arrays)``. The training
layer registers ``"Model"`` this way, so this module never imports it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import struct

from bpnn import backend
from bpnn.backend import xp
from bpnn.nn.module import Module
from bpnn.nn.registry import module_from_config, module_to_config

FORMAT_NAME = "bpnn"
FORMAT_VERSION = 1

# safetensors dtype codes bpnn writes and reads (no object arrays, nothing that needs code).
_DTYPES = {
    "F64": xp.dtype("<f8"), "F32": xp.dtype("<f4"), "F16": xp.dtype("<f2"),
    "I64": xp.dtype("<i8"), "I32": xp.dtype("<i4"), "I16": xp.dtype("<i2"), "I8": xp.dtype("i1"),
    "U64": xp.dtype("<u8"), "U32": xp.dtype("<u4"), "U16": xp.dtype("<u2"), "U8": xp.dtype("u1"),
    "BOOL": xp.dtype("bool"),
}
_CODES = {dtype: code for code, dtype in _DTYPES.items()}
# safetensors refuses headers above 100 MB; so do we, before reading them.
_MAX_HEADER_BYTES = 100_000_000

_KINDS: dict = {}


class SerializationError(ValueError):
    """A file cannot be saved or loaded as a bpnn checkpoint; the message says why.

    Raised for truncated, malformed or foreign files (pickle, zip, plain safetensors), unknown
    layers, tensors that do not match the architecture, and files from a newer format version.
    """


# ---------------------------------------------------------------------------------- kinds
def register_kind(name: str, loader) -> None:
    """Let :func:`save` / :func:`load` handle objects with ``to_checkpoint()``.

    Parameters
    ----------
    name : str
        The kind written in the file; objects whose class (or a base class) has this name are
        saved under it.
    loader : callable
        ``loader(meta, arrays)`` returning the object; ``meta`` is the JSON-decoded dict and
        ``arrays`` a dict of str -> numpy.ndarray, both as ``to_checkpoint()`` returned them.

    Example
    -------
    >>> import bpnn
    >>> class Counter:
    ...     def __init__(self, count=0):
    ...         self.count = count
    ...     def to_checkpoint(self):
    ...         return {"count": self.count}, {}
    ...     @classmethod
    ...     def from_checkpoint(cls, meta, arrays):
    ...         return cls(meta["count"])
    >>> bpnn.io.register_kind("Counter", Counter.from_checkpoint)
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a checkpoint kind needs a non-empty name, got {name!r}")
    if not callable(loader):
        raise TypeError(
            f"the loader of kind {name!r} must be callable, got {type(loader).__name__}"
        )
    if name == "Module":
        raise ValueError("kind 'Module' is built in")
    _KINDS[name] = loader


def _kind_of(obj) -> str | None:
    for cls in type(obj).__mro__:
        if cls.__name__ in _KINDS:
            return cls.__name__
    return None


# ---------------------------------------------------------------------------------- modules
def module_checkpoint(module: Module) -> tuple:
    """Describe ``module`` as ``(meta, arrays)``: architecture JSON and ``state_dict``.

    Parameters
    ----------
    module : bpnn.nn.Module
        Every layer in it must be registered (see :func:`bpnn.nn.register_layer`).

    Returns
    -------
    meta : dict
        ``{"architecture": ..., "frozen": [names], "training": bool}``.
    arrays : dict of str -> numpy.ndarray

    Raises
    ------
    SerializationError
        If a layer is not registered.
    """
    try:
        architecture = module_to_config(module)
    except TypeError as error:
        raise SerializationError(f"cannot save {type(module).__name__}: {error}") from None
    frozen = [name for name, p in module.named_parameters() if not p.requires_grad]
    meta = {"architecture": architecture, "frozen": frozen, "training": bool(module.training)}
    return meta, dict(module.state_dict())


def module_from_checkpoint(meta: dict, arrays: dict, *, where: str = "") -> Module:
    """Rebuild a module from :func:`module_checkpoint`'s output, checking every array first.

    The new layers draw their initial weights without moving the global random generator, so
    loading does not change what a later ``fit`` or dropout draws.

    Parameters
    ----------
    meta : dict
        Holds ``"architecture"`` (and optionally ``"frozen"``, ``"training"``).
    arrays : dict of str -> numpy.ndarray
        Exactly the rebuilt module's state_dict keys, with matching shapes and dtypes.
    where : str, optional
        Prefix for error messages (e.g. the file name).

    Returns
    -------
    bpnn.nn.Module

    Raises
    ------
    SerializationError
        Unknown layer, bad layer arguments, missing / unexpected tensors, wrong shapes or dtypes.
    """
    where = f"{where}: " if where else ""
    if not isinstance(meta, dict) or "architecture" not in meta:
        raise SerializationError(f"{where}the metadata has no 'architecture'")
    module = _build_without_drawing(meta["architecture"], where)
    expected = module.state_dict()
    _check_arrays_match(expected, arrays, where)
    module.load_state_dict({name: arrays[name] for name in expected})
    frozen = meta.get("frozen", [])
    parameters = dict(module.named_parameters())
    unknown = [name for name in frozen if name not in parameters]
    if unknown:
        raise SerializationError(f"{where}frozen parameters {unknown} are not in the architecture")
    for name in frozen:
        parameters[name].requires_grad_(False)
    module.train(bool(meta.get("training", True)))
    return module


def _build_without_drawing(architecture, where: str) -> Module:
    state = backend.get_rng_state()
    try:
        return module_from_config(architecture)
    except KeyError as error:
        message = error.args[0] if error.args else error
        raise SerializationError(f"{where}{message}") from None
    except (TypeError, ValueError, AttributeError) as error:
        raise SerializationError(
            f"{where}cannot rebuild the architecture from the file: {error}"
        ) from None
    finally:
        backend.set_rng_state(state)


def _check_arrays_match(expected: dict, arrays: dict, where: str) -> None:
    missing = [name for name in expected if name not in arrays]
    unexpected = [name for name in arrays if name not in expected]
    if missing or unexpected:
        raise SerializationError(
            f"{where}the tensors do not match the architecture: missing {missing}, "
            f"unexpected {unexpected}"
        )
    for name, target in expected.items():
        value = arrays[name]
        if tuple(value.shape) != tuple(target.shape):
            raise SerializationError(
                f"{where}tensor '{name}' has shape {tuple(value.shape)} but the architecture "
                f"expects {tuple(target.shape)}"
            )
        if value.dtype != target.dtype:
            raise SerializationError(
                f"{where}tensor '{name}' is {value.dtype} but the architecture expects "
                f"{target.dtype}"
            )


# ---------------------------------------------------------------------------------- save
def to_checkpoint(obj) -> tuple:
    """``(kind, meta, arrays)`` describing a module or any registered kind.

    Containers of checkpointable objects (an ensemble of models) call this per member.

    Raises
    ------
    SerializationError
        If ``obj`` is neither a module nor of a registered kind with ``to_checkpoint()``.
    """
    if isinstance(obj, Module):
        return ("Module", *module_checkpoint(obj))
    kind = _kind_of(obj)
    if kind is None or not hasattr(obj, "to_checkpoint"):
        known = ", ".join(["Module", *sorted(_KINDS)])
        raise SerializationError(
            f"cannot save a {type(obj).__name__}: bpnn saves {known} "
            "(other objects need to_checkpoint() and bpnn.io.register_kind)"
        )
    meta, arrays = obj.to_checkpoint()
    return kind, meta, arrays


def from_checkpoint(kind: str, meta: dict, arrays: dict, where: str = "<checkpoint>"):
    """Rebuild an object from :func:`to_checkpoint`'s output (inverse of it).

    Raises
    ------
    SerializationError
        Unknown kind, or anything in ``meta`` / ``arrays`` the kind's loader rejects.
    """
    if kind != "Module" and kind not in _KINDS:
        hint = " (import bpnn.train first)" if kind == "Model" else ""
        raise SerializationError(
            f"{where}: the file holds a {kind!r}, which this program cannot load{hint}; "
            f"known kinds: {', '.join(['Module', *sorted(_KINDS)])}"
        )
    if kind == "Module":
        return module_from_checkpoint(meta, arrays, where=where)
    # A loader may set the global generator (a model restores its saved state); if it then
    # fails, put the generator back so that a refused file changes nothing.
    rng_state = backend.get_rng_state()
    try:
        return _KINDS[kind](meta, arrays)
    except SerializationError:
        backend.set_rng_state(rng_state)
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        backend.set_rng_state(rng_state)
        detail = error.args[0] if isinstance(error, KeyError) and error.args else error
        raise SerializationError(f"{where}: cannot rebuild the {kind}: {detail}") from None


def save(obj, path) -> str:
    """Write a module or a model to ``path`` (safetensors + JSON, atomically).

    Parameters
    ----------
    obj : bpnn.nn.Module or bpnn.Model (or any registered kind with ``to_checkpoint()``)
        A model's file also holds the optimizer, callbacks, epoch, history and RNG state,
        so that ``bpnn.load(path).fit(..., initial_epoch=epoch)`` resumes exactly.
    path : str or os.PathLike
        The folder must exist. Any extension; ``.bpnn`` or ``.safetensors`` are customary.

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    SerializationError
        If ``obj`` cannot be described (unregistered layer, unknown kind, metadata that is
        not JSON, non-numeric arrays).

    Example
    -------
    >>> import bpnn, tempfile, os
    >>> net = bpnn.nn.Sequential(bpnn.nn.Linear(4, 2), bpnn.nn.ReLU())
    >>> path = bpnn.save(net, os.path.join(tempfile.mkdtemp(), "net.bpnn"))
    >>> bpnn.load(path)(bpnn.ones(1, 4)).shape
    (1, 2)
    """
    kind, meta, arrays = to_checkpoint(obj)
    payload = encode(kind, meta, arrays)
    _atomic_write(path, payload)
    return os.fspath(path)


def encode(kind: str, meta: dict, arrays: dict) -> bytes:
    """The bytes of a bpnn file: ``meta`` as JSON in the header, ``arrays`` as tensors."""
    try:
        # Strict JSON (no NaN / Infinity), so that any JSON parser can read the description.
        meta_json = json.dumps(meta, default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise SerializationError(
            f"cannot save {kind}: its metadata is not JSON ({error})"
        ) from None
    tensors = {}
    for name, value in arrays.items():
        if not isinstance(name, str):
            raise SerializationError(f"cannot save {kind}: tensor name {name!r} is not a string")
        array = xp.asarray(value)
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        if array.dtype not in _CODES:
            raise SerializationError(
                f"cannot save {kind}: tensor '{name}' has dtype {array.dtype}, not a number type"
            )
        # Not ascontiguousarray: it turns 0-d arrays (step counters) into shape (1,).
        tensors[name] = array if array.flags.c_contiguous else array.copy(order="C")
    metadata = {
        "format": FORMAT_NAME, "format_version": str(FORMAT_VERSION), "kind": kind,
        "bpnn_version": _bpnn_version(), "meta": meta_json,
    }
    return _safetensors().save(tensors, metadata=metadata)


def _bpnn_version() -> str:
    # Not ``bpnn.__version__``: importing the package root from here would break the layering.
    from importlib import metadata

    try:
        return metadata.version("bpnn")
    except metadata.PackageNotFoundError:
        return "unknown"


def _json_default(value):
    if isinstance(value, xp.generic):
        return value.item()
    if isinstance(value, xp.ndarray):
        raise TypeError("arrays belong in the tensors, not the JSON metadata")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _atomic_write(path, payload: bytes) -> None:
    """Write ``payload`` to a temp file beside ``path``, fsync it, then ``os.replace``."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"cannot save to {path!r}: it is a folder")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save to {path!r}: folder {folder!r} does not exist")
    base = os.path.basename(path)
    while True:
        temp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            # 0o666 minus the umask: the same permissions a plain open() would give.
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    # Makes the rename itself durable on POSIX; Windows cannot open folders, and needs not.
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------- load
def load(path):
    """Read a module or model written by :func:`save`.

    Never unpickles and never imports code named in the file: layers come from the registry.
    A model's file restores its optimizer, callbacks, epoch, history and the global RNG state.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    bpnn.nn.Module or bpnn.Model (or another registered kind)

    Raises
    ------
    SerializationError
        Truncated, malformed or foreign file (pickle, zip, safetensors without bpnn metadata),
        unknown layer or kind, tensors that do not match the architecture, newer format version.
    FileNotFoundError
        If ``path`` does not exist.

    Example
    -------
    >>> import bpnn, tempfile, os
    >>> path = bpnn.save(bpnn.nn.Linear(3, 1), os.path.join(tempfile.mkdtemp(), "lin.bpnn"))
    >>> bpnn.load(path).weight.shape
    (1, 3)
    """
    with open(path, "rb") as handle:
        data = handle.read()
    return decode(data, where=os.fspath(path))


def load_weights(module: Module, path) -> Module:
    """Copy the weights in a module file into an existing ``module`` (like ``load_state_dict``).

    Every tensor name, shape and dtype is checked before anything is copied: on error the
    module is unchanged.

    Parameters
    ----------
    module : bpnn.nn.Module
        Must have exactly the parameters and buffers stored in the file.
    path : str or os.PathLike
        A file written by ``bpnn.save(some_module, path)``.

    Returns
    -------
    bpnn.nn.Module
        ``module``.

    Raises
    ------
    SerializationError
        Bad file, a file that holds something other than a module, or tensors that do not
        match ``module``.

    Example
    -------
    >>> import bpnn, tempfile, os
    >>> path = bpnn.save(bpnn.nn.Linear(3, 1), os.path.join(tempfile.mkdtemp(), "lin.bpnn"))
    >>> bpnn.io.load_weights(bpnn.nn.Linear(3, 1), path).weight.shape
    (1, 3)
    """
    where = os.fspath(path)
    with open(path, "rb") as handle:
        data = handle.read()
    header = _parse(data, where)
    if header["kind"] != "Module":
        raise SerializationError(
            f"{where}: holds a {header['kind']}, not a module's weights; use bpnn.load"
        )
    arrays = _read_tensors(data, header, where)
    _check_arrays_match(module.state_dict(), arrays, f"{where}: ")
    module.load_state_dict(arrays)
    return module


def read_metadata(path) -> dict:
    """The header of a bpnn file (kind, versions and the decoded ``meta``), without its tensors.

    Returns
    -------
    dict
        ``{"kind", "format_version", "bpnn_version", "meta", "tensors": {name: (dtype, shape)}}``.
    """
    with open(path, "rb") as handle:
        data = handle.read()
    header = _parse(data, os.fspath(path))
    return {
        "kind": header["kind"], "format_version": header["format_version"],
        "bpnn_version": header["bpnn_version"], "meta": header["meta"],
        "tensors": {
            name: (str(dtype), shape) for name, (dtype, shape, _) in header["tensors"].items()
        },
    }


def decode(data: bytes, where: str = "<bytes>"):
    """Rebuild the object held in ``data`` (the bytes of a bpnn file); see :func:`load`."""
    header = _parse(data, where)
    kind = header["kind"]
    if kind != "Module" and kind not in _KINDS:  # before reading any tensor
        from_checkpoint(kind, {}, {}, where)
    arrays = _read_tensors(data, header, where)
    return from_checkpoint(kind, header["meta"], arrays, where)


def _parse(data: bytes, where: str) -> dict:
    """Check the whole layout of a bpnn file and return its decoded header."""
    size = len(data)
    header_length = struct.unpack("<Q", data[:8])[0] if size >= 8 else None
    plausible = (header_length is not None and header_length <= min(_MAX_HEADER_BYTES, size - 8)
                 and data[8:9] == b"{")
    if not plausible:
        # Only now look for other formats' signatures: a genuine header of 1152 bytes makes a
        # bpnn file start with b"\x80\x04" too, which must not be mistaken for a pickle.
        _refuse_foreign(data, where)
        if header_length is None:
            raise SerializationError(
                f"{where}: file is truncated ({size} bytes; a bpnn file starts with an 8-byte "
                "header length)"
            )
        if header_length > _MAX_HEADER_BYTES or header_length > size - 8:
            raise SerializationError(
                f"{where}: not a bpnn file or truncated: the header claims {header_length} "
                f"bytes but {size - 8} follow"
            )
    try:
        header = json.loads(data[8:8 + header_length].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise SerializationError(f"{where}: the header is not valid JSON ({error})") from None
    if not isinstance(header, dict):
        raise SerializationError(f"{where}: the header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        names = sorted(header)[:5]
        raise SerializationError(
            f"{where}: not a bpnn file: no bpnn metadata in its header (a plain safetensors "
            f"file with tensors {names}? read it with safetensors.numpy.load_file)"
        )
    version_text = metadata.get("format_version", "")
    if not str(version_text).isdigit():
        raise SerializationError(f"{where}: bad format_version {version_text!r}")
    version = int(version_text)
    if version > FORMAT_VERSION:
        raise SerializationError(
            f"{where}: written by a newer bpnn ({metadata.get('bpnn_version', '?')}, format "
            f"version {version}); this bpnn reads format versions up to {FORMAT_VERSION}: "
            "upgrade bpnn"
        )
    kind = metadata.get("kind")
    if not isinstance(kind, str) or not kind:
        raise SerializationError(f"{where}: the header names no kind of object")
    try:
        meta = json.loads(metadata.get("meta", ""))
    except ValueError as error:
        raise SerializationError(f"{where}: the metadata is not valid JSON ({error})") from None
    if not isinstance(meta, dict):
        raise SerializationError(f"{where}: the metadata is not a JSON object")
    tensors = _check_layout(header, size - 8 - header_length, where)
    return {"kind": kind, "format_version": version,
            "bpnn_version": metadata.get("bpnn_version", "?"), "meta": meta,
            "tensors": tensors, "data_start": 8 + header_length}


def _refuse_foreign(data: bytes, where: str) -> None:
    # Pickle protocol 2+ starts with PROTO (0x80) and its number; torch.save and np.savez
    # write zip archives. Name them, so the user knows why and does not retry with pickle.
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        raise SerializationError(
            f"{where}: this is a pickle file; bpnn never unpickles (loading a pickle can run "
            "arbitrary code). Re-save the weights with bpnn.save"
        )
    if data[:4] == b"PK\x03\x04":
        raise SerializationError(
            f"{where}: this is a zip archive (torch.save or numpy.savez?), not a bpnn file; "
            "bpnn reads only its own safetensors + JSON files"
        )
    if data[:6] == b"\x93NUMPY":
        raise SerializationError(f"{where}: this is a NumPy .npy file, not a bpnn file")


def _check_layout(header: dict, data_bytes: int, where: str) -> dict:
    tensors = {}
    spans = []
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise SerializationError(f"{where}: tensor entry {name!r} is malformed")
        code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if code not in _DTYPES:
            raise SerializationError(f"{where}: tensor '{name}' has unsupported dtype {code!r}")
        if not isinstance(shape, list) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
        ):
            raise SerializationError(f"{where}: tensor '{name}' has a bad shape {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(n, int) and not isinstance(n, bool) for n in offsets)):
            raise SerializationError(f"{where}: tensor '{name}' has bad data_offsets {offsets!r}")
        start, end = offsets
        dtype = _DTYPES[code]
        if end - start != math.prod(shape) * dtype.itemsize:
            raise SerializationError(
                f"{where}: tensor '{name}' of shape {tuple(shape)} ({code}) spans {end - start} "
                "bytes, which does not fit its shape"
            )
        tensors[name] = (dtype, tuple(shape), (start, end))
        spans.append((start, end, name))
    position = 0
    for start, end, name in sorted(spans):
        if start != position:
            raise SerializationError(
                f"{where}: tensor '{name}' starts at byte {start}, expected {position} "
                "(overlapping or gapped data)"
            )
        position = end
    if position != data_bytes:
        state = "truncated" if position > data_bytes else "has trailing bytes"
        raise SerializationError(
            f"{where}: file {state}: the tensors need {position} bytes of data, "
            f"the file holds {data_bytes}"
        )
    return tensors


def _read_tensors(data: bytes, header: dict, where: str) -> dict:
    start = header["data_start"]
    arrays = {}
    for name, (dtype, shape, (begin, _)) in header["tensors"].items():
        array = xp.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=start + begin)
        arrays[name] = array.reshape(shape).astype(dtype.newbyteorder("="), copy=True)
    return arrays


def _safetensors():
    try:
        import safetensors.numpy
    except ImportError as error:
        raise ImportError(
            "saving needs the safetensors package: pip install 'bpnn[io]'"
        ) from error
    return safetensors.numpy
