"""Checks of a model checkpoint's description, run at load time rather than at the next ``fit``.

``Model.from_checkpoint`` calls :func:`check_model_meta` once the network is rebuilt: every
entry the model reads later (epoch, input shape, metrics, history, callback states, optimizer
state) is checked for type, range and finiteness here, so a damaged file raises
``SerializationError`` at ``bpnn.load`` instead of a ``KeyError`` or a NaN epoch later.
"""

from __future__ import annotations

import math
import numbers

from bpnn import io
from bpnn.backend import xp
from bpnn.io import SerializationError


def _count(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0


def _fail(message: str):
    raise SerializationError(f"model checkpoint: {message}")


def check_model_meta(meta: dict, network, state_dict, callbacks, metric_names) -> None:
    """Refuse a model description that ``fit`` / ``predict`` could not use.

    Parameters
    ----------
    meta : dict
        The JSON description written by ``Model.to_checkpoint``.
    network : bpnn.nn.Module
        The network already rebuilt (and checked) from it.
    state_dict : dict
        The optimizer's state with its arrays restored.
    callbacks : dict
        The callbacks' states with their arrays and special floats restored.
    metric_names : container of str
        The names of the metrics this bpnn knows.

    Raises
    ------
    SerializationError
        Naming the first entry that is of the wrong type, out of range or not finite.
    """
    for key in ("network", "loss", "optimizer"):
        if key not in meta:
            _fail(f"no {key!r} entry")
    epoch = meta.get("epoch", 0)
    if not _count(epoch) or epoch > 10**9:
        _fail(f"'epoch' must be a non-negative integer, got {str(epoch)[:40]}")
    shape = meta.get("input_shape")
    if shape is not None and (not isinstance(shape, list) or len(shape) > 32
                              or not all(_count(n) and 0 < n < 2**40 for n in shape)):
        _fail(f"'input_shape' must be a list of positive sizes, got {str(shape)[:80]}")
    metrics = meta.get("metrics", [])
    if not isinstance(metrics, list) or not all(
            isinstance(m, dict) and m.get("name") in metric_names for m in metrics):
        _fail(f"'metrics' must list known metrics ({', '.join(sorted(metric_names))})")
    history = meta.get("history", {})
    if not isinstance(history, dict) or not all(isinstance(v, (list, dict))
                                                for v in history.values()):
        _fail("'history' is malformed")
    if not isinstance(callbacks, dict) or not all(isinstance(v, dict)
                                                  for v in callbacks.values()):
        _fail("'callbacks' must map callback names to their states")
    saved = meta["optimizer"]
    if not isinstance(saved, dict) or not {"name", "defaults", "param_positions",
                                           "state_dict"} <= set(saved):
        _fail("'optimizer' is malformed")
    params = list(network.parameters())
    positions = saved["param_positions"]
    if (not isinstance(positions, list) or not all(_count(p) and p < len(params)
                                                   for p in positions)
            or len(set(positions)) != len(positions)):
        _fail(f"'param_positions' must name distinct parameters 0..{len(params) - 1}")
    if not isinstance(saved["name"], str):
        _fail("the optimizer's name is not a string")
    io.check_optimizer_state(saved["name"], [params[p] for p in positions],
                             saved["defaults"], state_dict)
    _check_finite_numbers(callbacks, "callback state")
    for key, state in callbacks.items():
        _check_callback_state(str(key), state, network)


def _check_finite_numbers(value, what: str) -> None:
    """No NaN anywhere (infinity is allowed: a callback's "no best value yet")."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float) and math.isnan(item):
            _fail(f"{what} holds NaN")
        elif hasattr(item, "dtype") and item.dtype.kind == "f" and xp.isnan(item).any():
            _fail(f"{what} holds NaN")


def _check_callback_state(key: str, state: dict, network) -> None:
    """Compare a saved callback state with a fresh callback of that class (when one can be made).

    Counters must be non-negative integers, monitored values numbers, and saved best weights
    must fit the network exactly (``restore_best_weights`` would copy them in later).
    """
    import inspect

    from bpnn import callbacks as callbacks_module

    cls = getattr(callbacks_module, key.split(":")[0], None)
    if not (inspect.isclass(cls) and issubclass(cls, callbacks_module.Callback)):
        return
    try:
        fresh = cls().state_dict()
    except TypeError:  # needs arguments (a file name, a schedule): generic checks only
        return
    for name, reference in fresh.items():
        value = state.get(name, reference)
        if isinstance(reference, bool):
            ok = isinstance(value, bool)
        elif isinstance(reference, numbers.Integral):
            ok = _count(value)
        elif isinstance(reference, numbers.Real):
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        else:
            ok = True
        if not ok:
            _fail(f"callback {key}: {name!r} is {str(value)[:40]}, expected a "
                  f"{type(reference).__name__}")
    weights = state.get("best_weights")
    if weights is not None:
        expected = network.state_dict()
        if not isinstance(weights, dict) or set(weights) != set(expected):
            _fail(f"callback {key}: the saved best weights do not name the network's tensors")
        for name, target in expected.items():
            value = weights[name]
            if (not isinstance(value, xp.ndarray) or value.shape != target.shape
                    or value.dtype != target.dtype):
                _fail(f"callback {key}: saved best weight {name!r} does not fit the network")
            if value.dtype.kind == "f" and not xp.isfinite(value).all():
                _fail(f"callback {key}: saved best weight {name!r} is not finite")
