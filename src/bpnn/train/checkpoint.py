"""A :class:`bpnn.Model` as a checkpoint: JSON-friendly metadata plus named arrays.

``to_checkpoint`` / ``from_checkpoint`` hold everything needed to resume training exactly:
weights, optimizer state, history, callback states, frozen flags and the global RNG state.
"""

from __future__ import annotations

import math

from bpnn import backend, io, nn
from bpnn.backend import xp
from bpnn.optim import optimizer_config, optimizer_from_config
from bpnn.train import metrics as metrics_module
from bpnn.train.load_checks import check_model_meta


def extract_arrays(value, prefix: str, arrays: dict):
    """JSON-friendly copy of ``value``: arrays moved into ``arrays`` under dotted keys.

    Parameters
    ----------
    value : object
        Nested dicts / lists / tuples of arrays, numbers, strings.
    prefix : str
        Key of ``value`` itself; children get ``prefix.<key>``.
    arrays : dict
        Filled with the arrays found.

    Returns
    -------
    object
        ``value`` with each array replaced by ``{"__array__": key}`` and each non-finite
        float by ``{"__float__": repr}`` (strict JSON has no inf / nan).
    """
    if isinstance(value, xp.ndarray):
        arrays[prefix] = value
        return {"__array__": prefix}
    if isinstance(value, dict):
        return {str(k): extract_arrays(v, f"{prefix}.{k}", arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [extract_arrays(v, f"{prefix}.{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, xp.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}  # strict JSON has no inf / nan
    return value


def restore_arrays(value, arrays: dict):
    """Inverse of :func:`extract_arrays`.

    Raises
    ------
    KeyError
        If ``value`` refers to an array that ``arrays`` does not hold.
    """
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            key = value["__array__"]
            if key not in arrays:
                raise KeyError(f"checkpoint refers to array {key!r}, which it does not hold")
            return xp.asarray(arrays[key])
        if set(value) == {"__float__"}:
            return float(value["__float__"])
        return {k: restore_arrays(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [restore_arrays(v, arrays) for v in value]
    return value


def keyed(callbacks) -> list:
    """``(key, callback)`` pairs: the class name, with ``:2``, ``:3`` ... for repeats."""
    seen: dict = {}
    pairs = []
    for callback in callbacks:
        name = type(callback).__name__
        seen[name] = seen.get(name, 0) + 1
        pairs.append((name if seen[name] == 1 else f"{name}:{seen[name]}", callback))
    return pairs


def callback_states(model) -> dict:
    """The model's saved callback states updated with those of the last ``fit``'s callbacks."""
    states = dict(model.callback_states)
    for key, callback in keyed(getattr(model, "_user_callbacks", [])):
        state = callback.state_dict()
        if state:
            states[key] = state
    return states


def to_checkpoint(model):
    """See :meth:`bpnn.Model.to_checkpoint`."""
    arrays = {f"network.{name}": value for name, value in model.network.state_dict().items()}
    positions = {id(p): i for i, p in enumerate(model.network.parameters())}
    optimizer_params = [p for g in model.optimizer.param_groups for p in g["params"]]
    config = optimizer_config(model.optimizer)
    meta = {
        "format": "bpnn.Model",
        "network": nn.module_to_config(model.network),
        "loss": nn.module_to_config(model.loss),
        "optimizer": {
            "name": config["name"], "defaults": config["defaults"],
            "param_positions": [positions[id(p)] for p in optimizer_params],
            "state_dict": extract_arrays(model.optimizer.state_dict(), "optimizer", arrays),
        },
        "metrics": [{"name": m.name, **getattr(m, "get_config", dict)()}
                    for m in model.metrics],
        "epoch": model.epoch,
        "history": extract_arrays(model.history.state_dict(), "history", arrays),
        "callbacks": extract_arrays(callback_states(model), "callbacks", arrays),
        "input_shape": None if model.input_shape is None else list(model.input_shape),
        "frozen": [name for name, p in model.network.named_parameters()
                   if not p.requires_grad],
        "rng_state": extract_arrays(backend.get_rng_state(), "rng", arrays),
    }
    return meta, arrays


def from_checkpoint(model_class, meta: dict, arrays: dict):
    """See :meth:`bpnn.Model.from_checkpoint`; ``model_class`` is the class to build."""
    if not isinstance(meta, dict) or meta.get("format") != "bpnn.Model":
        raise ValueError("not a bpnn.Model checkpoint (meta['format'] != 'bpnn.Model')")
    # io checks every tensor's name, shape and dtype against the architecture, restores
    # the frozen flags, and builds the layers without moving the global generator.
    prefix = "network."
    network = io.module_from_checkpoint(
        {"architecture": meta["network"], "frozen": meta.get("frozen", [])},
        {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
    saved = meta["optimizer"]
    state_dict = restore_arrays(saved.get("state_dict"), arrays)
    callback_states = restore_arrays(meta.get("callbacks", {}), arrays)
    check_model_meta(meta, network, state_dict, callback_states,
                     metrics_module.METRICS.classes)
    loss = nn.module_from_config(meta["loss"])
    params = list(network.parameters())
    positions = saved["param_positions"]
    groups = [{"params": [params[positions[i]] for i in group["params"]]}
              for group in state_dict["param_groups"]]
    optimizer = optimizer_from_config(saved["name"], groups, saved["defaults"], state_dict)
    metric_objects = []
    for spec in meta.get("metrics", []):
        spec = dict(spec)
        metric_objects.append(metrics_module.get_metric_class(spec.pop("name"))(**spec))
    model = model_class(network, loss, optimizer, metrics=metric_objects)
    model.epoch = int(meta.get("epoch", 0))
    model.history.load_state_dict(restore_arrays(meta.get("history", {}), arrays))
    model.callback_states = callback_states
    if meta.get("input_shape") is not None:
        model.input_shape = tuple(meta["input_shape"])
    if meta.get("rng_state") is not None:
        backend.set_rng_state(restore_arrays(meta["rng_state"], arrays))
    return model
