"""The bpnn file layout: safetensors bytes with a JSON description, checked before allocating.

A bpnn file is one safetensors file (https://github.com/huggingface/safetensors):

* an 8-byte little-endian header length, a JSON header, then the raw little-endian tensor bytes;
* the header's ``__metadata__`` (string -> string) holds ``format = "bpnn"``,
  ``format_version``, ``kind``, ``bpnn_version``, ``meta`` (a JSON document describing the
  object) and ``checksum`` (SHA-256 of ``meta`` and of every tensor's name, dtype, shape and
  bytes; files written before it existed load without it).

Every number in the header is checked against the bytes present and against sane limits
(dimensions, nesting depth, element counts) before any array is created, so a hostile file is
refused with :class:`SerializationError` at a cost bounded by its own size.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct

from bpnn.backend import xp
from bpnn.version import __version__

FORMAT_NAME = "bpnn"
FORMAT_VERSION = 1

# safetensors dtype codes bpnn writes and reads (no object arrays, nothing that needs code).
DTYPES = {
    "F64": xp.dtype("<f8"), "F32": xp.dtype("<f4"), "F16": xp.dtype("<f2"),
    "I64": xp.dtype("<i8"), "I32": xp.dtype("<i4"), "I16": xp.dtype("<i2"), "I8": xp.dtype("i1"),
    "U64": xp.dtype("<u8"), "U32": xp.dtype("<u4"), "U16": xp.dtype("<u2"), "U8": xp.dtype("u1"),
    "BOOL": xp.dtype("bool"),
}
CODES = {dtype: code for code, dtype in DTYPES.items()}
# safetensors refuses headers above 100 MB; so do we, before reading them.
MAX_HEADER_BYTES = 100_000_000
# NumPy allows 64 dimensions; no bpnn tensor has more than a handful.
MAX_DIMENSIONS = 32
# JSON nesting in the header and the metadata (architectures nest a few levels per container).
MAX_NESTING = 200
_METADATA_KEYS = {"format", "format_version", "kind", "bpnn_version", "meta", "checksum"}
_VERSION = re.compile(r"[0-9]{1,6}")


class SerializationError(ValueError):
    """A file cannot be saved or loaded as a bpnn checkpoint; the message says why.

    Raised for truncated, malformed or foreign files (pickle, zip, plain safetensors), unknown
    layers, tensors that do not match the architecture, damaged bytes (checksum), state that
    could not be used, and files from a newer format version.
    """


def parse_json(text, what: str, where: str):
    """``json.loads`` refusing NaN / Infinity and deep nesting; raises SerializationError."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise SerializationError(f"{where}: {what} is not UTF-8 ({error})") from None
    if not isinstance(text, str):
        raise SerializationError(f"{where}: {what} is a {type(text).__name__}, not JSON text")
    depth = _nesting_depth(text)
    if depth > MAX_NESTING:
        raise SerializationError(
            f"{where}: {what} nests {depth} levels deep (at most {MAX_NESTING} allowed)")
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as error:
        raise SerializationError(f"{where}: {what} is not valid JSON ({error})") from None


def _refuse_constant(name):
    raise ValueError(f"{name} is not strict JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _nesting_depth(text: str) -> int:
    # Brackets inside strings count too: an upper bound, cheap, and never below the truth.
    depth = deepest = 0
    for match in re.finditer(r"[\[{]|[\]}]", text):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


# ---------------------------------------------------------------------------------- write
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
        if array.dtype not in CODES:
            raise SerializationError(
                f"cannot save {kind}: tensor '{name}' has dtype {array.dtype}, not a number type"
            )
        # Not ascontiguousarray: it turns 0-d arrays (step counters) into shape (1,).
        tensors[name] = array if array.flags.c_contiguous else array.copy(order="C")
    digest = _checksum(meta_json, (
        (name, CODES[array.dtype], array.shape, array.tobytes())
        for name, array in sorted(tensors.items())))
    metadata = {
        "format": FORMAT_NAME, "format_version": str(FORMAT_VERSION), "kind": kind,
        "bpnn_version": _bpnn_version(), "meta": meta_json, "checksum": digest,
    }
    return _safetensors().save(tensors, metadata=metadata)


def _checksum(meta_json: str, tensors) -> str:
    digest = hashlib.sha256(meta_json.encode("utf-8"))
    for name, code, shape, data in tensors:
        digest.update(json.dumps([name, code, list(shape)]).encode("utf-8"))
        digest.update(data)
    return "sha256:" + digest.hexdigest()


def _bpnn_version() -> str:
    return __version__


def _json_default(value):
    if isinstance(value, xp.generic):
        return value.item()
    if isinstance(value, xp.ndarray):
        raise TypeError("arrays belong in the tensors, not the JSON metadata")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _safetensors():
    try:
        import safetensors.numpy
    except ImportError as error:
        raise ImportError(
            "saving needs the safetensors package: pip install 'bpnn[io]'"
        ) from error
    return safetensors.numpy


# ---------------------------------------------------------------------------------- read
def parse(data: bytes, where: str) -> dict:
    """Check the whole layout of a bpnn file and return its decoded header.

    Returns ``{"kind", "format_version", "bpnn_version", "meta", "tensors", "data_start",
    "checksum"}`` where ``tensors`` maps name -> ``(dtype, shape, (start, end))``.
    """
    size = len(data)
    header_length = struct.unpack("<Q", data[:8])[0] if size >= 8 else None
    plausible = (header_length is not None and header_length <= min(MAX_HEADER_BYTES, size - 8)
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
        if header_length > MAX_HEADER_BYTES or header_length > size - 8:
            raise SerializationError(
                f"{where}: not a bpnn file or truncated: the header claims {header_length} "
                f"bytes but {size - 8} follow"
            )
    header = parse_json(bytes(data[8:8 + header_length]), "the header", where)
    if not isinstance(header, dict):
        raise SerializationError(f"{where}: the header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        names = sorted(header)[:5]
        raise SerializationError(
            f"{where}: not a bpnn file: no bpnn metadata in its header (a plain safetensors "
            f"file with tensors {names}? read it with safetensors.numpy.load_file)"
        )
    unknown = sorted(set(metadata) - _METADATA_KEYS)
    if unknown and "checksum" not in metadata:
        # Files from before the checksum hold exactly the other five entries: an unknown one
        # and no checksum is a damaged name (a flipped byte in "checksum" itself).
        raise SerializationError(f"{where}: unknown metadata entries {unknown[:5]} and no "
                                 "checksum: the header is damaged")
    wrong = sorted(key for key, value in metadata.items() if not isinstance(value, str))
    if wrong:
        raise SerializationError(f"{where}: metadata entries {wrong} are not strings")
    version_text = metadata.get("format_version", "")
    if not _VERSION.fullmatch(version_text):
        raise SerializationError(f"{where}: bad format_version {version_text[:40]!r}")
    version = int(version_text)
    if version > FORMAT_VERSION:
        raise SerializationError(
            f"{where}: written by a newer bpnn ({metadata.get('bpnn_version', '?')[:40]}, "
            f"format version {version}); this bpnn reads format versions up to "
            f"{FORMAT_VERSION}: upgrade bpnn"
        )
    if version < 1:
        raise SerializationError(f"{where}: bad format_version {version_text!r}")
    kind = metadata.get("kind")
    if not kind:
        raise SerializationError(f"{where}: the header names no kind of object")
    meta_json = metadata.get("meta", "")
    meta = parse_json(meta_json, "the metadata", where)
    if not isinstance(meta, dict):
        raise SerializationError(f"{where}: the metadata is not a JSON object")
    tensors = _check_layout(header, size - 8 - header_length, where)
    return {"kind": kind, "format_version": version,
            "bpnn_version": metadata.get("bpnn_version", "?"), "meta": meta,
            "meta_json": meta_json, "checksum": metadata.get("checksum"),
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


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_layout(header: dict, data_bytes: int, where: str) -> dict:
    tensors = {}
    spans = []
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise SerializationError(f"{where}: tensor entry {name[:80]!r} is malformed")
        code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(code, str) or code not in DTYPES:
            raise SerializationError(
                f"{where}: tensor '{name}' has unsupported dtype {str(code)[:40]!r}")
        if (not isinstance(shape, list) or len(shape) > MAX_DIMENSIONS
                or not all(_is_count(n) and n < 2**62 for n in shape)):
            raise SerializationError(
                f"{where}: tensor '{name}' has a bad shape {str(shape)[:80]} (at most "
                f"{MAX_DIMENSIONS} non-negative dimensions)")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(n, int) and not isinstance(n, bool) for n in offsets)):
            raise SerializationError(
                f"{where}: tensor '{name}' has bad data_offsets {str(offsets)[:80]}")
        start, end = offsets
        dtype = DTYPES[code]
        if end - start != math.prod(shape) * dtype.itemsize:
            raise SerializationError(
                f"{where}: tensor '{name}' of shape {tuple(shape)} ({code}) spans {end - start} "
                "bytes, which does not fit its shape"
            )
        if math.prod(shape) > 2**62:
            raise SerializationError(f"{where}: tensor '{name}' has an absurd shape {shape}")
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


def verify_checksum(data: bytes, header: dict, where: str) -> None:
    """Compare the stored checksum with the bytes present (files without one are older)."""
    stored = header["checksum"]
    if stored is None:
        return
    start = header["data_start"]
    view = memoryview(data)
    actual = _checksum(header["meta_json"], (
        (name, CODES[dtype], shape, view[start + begin:start + end])
        for name, (dtype, shape, (begin, end)) in sorted(header["tensors"].items())))
    if actual != stored:
        raise SerializationError(
            f"{where}: the file is damaged: its checksum does not match its contents "
            "(a changed byte); re-save or re-download it"
        )


def total_elements(header: dict) -> int:
    """How many numbers the file's tensors hold (the budget an architecture is checked against)."""
    return sum(math.prod(shape) for _, shape, _ in header["tensors"].values())


def read_tensors(data: bytes, header: dict, where: str) -> dict:
    """The tensors as native-byte-order arrays (the layout was checked by :func:`parse`)."""
    start = header["data_start"]
    arrays = {}
    for name, (dtype, shape, (begin, _)) in header["tensors"].items():
        array = xp.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=start + begin)
        arrays[name] = array.reshape(shape).astype(dtype.newbyteorder("="), copy=True)
    return arrays
