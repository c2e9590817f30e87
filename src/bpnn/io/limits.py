"""Limits checked before building anything a file describes: architecture size, finiteness.

An architecture is rebuilt layer by layer, and each layer draws its initial weights before
the file's tensors replace them; a hostile file could claim ``Linear(20000, 20000)`` and hold
no tensors. So the sizes named in every layer description are multiplied out first and
compared with the numbers the file actually holds.
"""

from __future__ import annotations

import math

from bpnn.backend import xp

# Arguments that shape computation, not storage: they are left out of a layer's size estimate.
_NOT_SIZES = frozenset({
    "stride", "padding", "dilation", "groups", "dim", "start_dim", "end_dim", "ignore_index",
    "output_size", "divisor_override", "output_padding", "axis",
})
# Layers without stored numbers, or small ones, are always allowed this many elements.
_SLACK_ELEMENTS = 1 << 22
# A layer's estimated size may exceed the numbers the file holds by this factor.
_FACTOR = 16
MAX_LAYERS = 100_000
MAX_DEPTH = 100


def _layer_size(config: dict) -> int:
    """Product of the integer arguments that can size storage (``in_features`` x ...)."""
    size = 1
    stack = [value for key, value in config.items() if key not in _NOT_SIZES]
    while stack:
        value = stack.pop()
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            size *= max(1, abs(value))
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
        if size > 1 << 62:
            break
    return size


def check_architecture(description, elements: int, where: str = "") -> None:
    """Refuse layer descriptions far larger than ``elements`` stored numbers, or too deep.

    Every dict with a ``"class"`` and a ``"config"`` anywhere inside ``description`` counts
    (a model's network and loss, an ensemble's members...).

    Raises
    ------
    SerializationError
        Naming the layer and its size.
    """
    from bpnn.io.format import SerializationError

    budget = _FACTOR * elements + _SLACK_ELEMENTS
    total, layers = 0, 0
    stack = [(description, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, list):
            stack.extend((item, depth) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        config = node.get("config")
        if isinstance(node.get("class"), str) and isinstance(config, dict):
            depth += 1
            layers += 1
            if depth > MAX_DEPTH or layers > MAX_LAYERS:
                raise SerializationError(
                    f"{where}the architecture has more than {MAX_LAYERS} layers or nests "
                    f"more than {MAX_DEPTH} deep")
            total += _layer_size(config)
            if total > budget:
                raise SerializationError(
                    f"{where}the architecture describes layers ({node['class']:.40}...) with "
                    f"about {total:.3g} numbers, but the file holds {elements}: refusing to "
                    "build it (a damaged or hostile file)")
        stack.extend((value, depth) for value in node.values())


def check_architectures(meta, elements: int, where: str) -> None:
    """:func:`check_architecture` over a whole file's metadata, before any layer is built."""
    check_architecture(meta, elements, f"{where}: " if where else "")


def refuse_non_finite(arrays: dict, kind: str) -> None:
    """Refuse to save NaN or infinite numbers (weights, optimizer state...), naming the tensor."""
    from bpnn.io.format import SerializationError

    for name, value in arrays.items():
        array = xp.asarray(value)
        if array.dtype.kind == "f" and array.size and not xp.isfinite(array).all():
            count = int(array.size - xp.isfinite(array).sum())
            raise SerializationError(
                f"cannot save {kind}: tensor '{name}' holds {count} NaN or infinite "
                f"value(s) of {math.prod(array.shape)}; training diverged? (lower the "
                "learning rate)")
