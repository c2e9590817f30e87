"""Strict JSON in and out: no NaN / Infinity tokens, bounded nesting, atomic writes.

A metric that is not a number (an R^2 on a constant target...) is written as ``null``: the
files stay readable by any JSON parser, which ``NaN`` would not be.
"""

from __future__ import annotations

import json
import math

from bpnn.io import SerializationError, atomic_write
from bpnn.io.format import parse_json


def finite_or_null(value):
    """A copy of ``value`` with every non-finite float replaced by None (JSON ``null``)."""
    if isinstance(value, dict):
        return {key: finite_or_null(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_null(item) for item in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(value, indent: int = 2) -> str:
    """Strict JSON text of ``value`` (non-finite numbers as null)."""
    return json.dumps(finite_or_null(value), indent=indent, allow_nan=False)


def write_json(path: str, value) -> None:
    """Write ``value`` as strict JSON to ``path`` atomically."""
    atomic_write(path, (dumps(value) + "\n").encode("utf-8"))


def read_json(path: str):
    """Parse a strict JSON file; ``ValueError`` (not JSON, NaN tokens, deep nesting)."""
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        return parse_json(data, "the file", path)
    except SerializationError as error:
        raise ValueError(str(error)) from None
