"""Make every rank start from rank 0's parameters, optimizer state and random state.

Everything travels through mpi4py's buffer methods (``Bcast`` of NumPy arrays); structured
values (an optimizer's ``state_dict``, the generator's state) go as JSON text plus one
``Bcast`` per array, never pickled.
"""

from __future__ import annotations

import json

import numpy as np

from bpnn import backend
from bpnn.distributed import runtime


def broadcast_parameters(module_or_params, root: int = 0) -> None:
    """Overwrite every rank's parameters (and a module's buffers) with rank ``root``'s.

    Call it once before training, so that all ranks start from the same weights.

    Parameters
    ----------
    module_or_params : bpnn.nn.Module or iterable of Tensor
        A module (its parameters and buffers, e.g. batch-norm statistics) or the tensors.
    root : int, default 0

    Example
    -------
    >>> import bpnn, bpnn.distributed as dist
    >>> net = bpnn.nn.Linear(3, 2)
    >>> dist.broadcast_parameters(net)        # a no-op in a single process
    """
    if runtime.size() == 1:
        return
    if hasattr(module_or_params, "named_parameters"):
        arrays = [p.data for p in module_or_params.parameters()]
        arrays += [array for _, array in module_or_params.named_buffers()]
    else:
        arrays = [getattr(p, "data", p) for p in module_or_params]
    for array in arrays:
        if not array.flags.c_contiguous:
            raise ValueError("broadcast_parameters needs C-contiguous arrays")
        runtime.broadcast_(array, root)


def broadcast_optimizer_state(optimizer, root: int = 0) -> None:
    """Give every rank rank ``root``'s optimizer state (moments, step counts, group settings).

    Parameters
    ----------
    optimizer : bpnn.optim.Optimizer
        Built on the same parameters, in the same order, on every rank.
    root : int, default 0

    Example
    -------
    >>> import bpnn, bpnn.distributed as dist
    >>> opt = bpnn.optim.Adam(bpnn.nn.Linear(3, 2).parameters())
    >>> dist.broadcast_optimizer_state(opt)   # a no-op in a single process
    """
    if runtime.size() == 1:
        return
    state = broadcast_object(optimizer.state_dict() if runtime.rank() == root else None, root)
    if runtime.rank() != root:
        optimizer.load_state_dict(state)


def broadcast_rng_state(root: int = 0) -> None:
    """Give every rank rank ``root``'s global generator state (same shuffles everywhere)."""
    if runtime.size() == 1:
        return
    state = broadcast_object(backend.get_rng_state() if runtime.rank() == root else None, root)
    if runtime.rank() != root:
        backend.set_rng_state(state)


def broadcast_object(value, root: int = 0):
    """Rank ``root``'s ``value`` (JSON data and NumPy arrays, nested) on every rank."""
    if runtime.size() == 1:
        return value
    arrays: list = []
    text = b""
    if runtime.rank() == root:
        encoded = _encode(value, arrays)
        specs = [{"dtype": a.dtype.str, "shape": list(a.shape)} for a in arrays]
        text = json.dumps({"value": encoded, "arrays": specs}).encode()
    length = np.array([len(text)], dtype=np.int64)
    runtime.broadcast_(length, root)
    raw = np.frombuffer(text, dtype=np.uint8).copy() if runtime.rank() == root \
        else np.empty(int(length[0]), dtype=np.uint8)
    runtime.broadcast_(raw, root)
    decoded = json.loads(raw.tobytes().decode())
    received = []
    for index, spec in enumerate(decoded["arrays"]):
        array = np.ascontiguousarray(arrays[index]) if runtime.rank() == root \
            else np.empty(spec["shape"], dtype=spec["dtype"])
        runtime.broadcast_(array, root)
        received.append(array)
    return _decode(decoded["value"], received)


def _encode(value, arrays: list):
    if isinstance(value, dict):
        return {"dict": [[_encode(k, arrays), _encode(v, arrays)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return {type(value).__name__: [_encode(v, arrays) for v in value]}
    if isinstance(value, np.ndarray):
        arrays.append(value)
        return {"array": len(arrays) - 1}
    if isinstance(value, np.generic):
        return {"scalar": value.item(), "dtype": value.dtype.str}
    if isinstance(value, float):
        return {"float": repr(value)}  # keeps inf / nan and every bit
    return value


def _decode(value, arrays: list):
    if not isinstance(value, dict):
        return value
    if "dict" in value:
        return {_decode(k, arrays): _decode(v, arrays) for k, v in value["dict"]}
    if "list" in value:
        return [_decode(v, arrays) for v in value["list"]]
    if "tuple" in value:
        return tuple(_decode(v, arrays) for v in value["tuple"])
    if "array" in value:
        return arrays[value["array"]]
    if "scalar" in value:
        return np.dtype(value["dtype"]).type(value["scalar"])
    return float(value["float"])
