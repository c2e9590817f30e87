"""Optimizer state read from a file, checked before ``Optimizer.load_state_dict`` sees it.

A file that loads must train: a renamed state key, a string or NaN step, a negative or NaN
learning rate or an int32 moment array would otherwise load and break (or train to NaN) at the
next ``fit``. The rules come from the optimizer itself, not from a list of key names: a fresh
optimizer of the same class gives the hyper-parameter names and their types, and one probe
step on a two-number parameter gives the names and kinds of its state.
"""

from __future__ import annotations

import math
import numbers

from bpnn.backend import xp
from bpnn.io.format import SerializationError


def _fail(where: str, message: str):
    raise SerializationError(f"{where}optimizer state: {message}")


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_hyper_parameter(key: str, value, reference, where: str) -> None:
    if reference is None or value is None:
        if value is not None and not isinstance(value, (numbers.Real, str)):
            _fail(where, f"{key!r} is {value!r}")
        if _is_number(value) and not (math.isfinite(value) and value >= 0):
            _fail(where, f"{key!r} must be a finite non-negative number, got {value!r}")
        return
    if isinstance(reference, bool):
        if not isinstance(value, bool):
            _fail(where, f"{key!r} must be true or false, got {value!r}")
    elif _is_number(reference):
        if not _is_number(value) or not math.isfinite(value) or value < 0:
            _fail(where, f"{key!r} must be a finite non-negative number, got {value!r}")
    elif isinstance(reference, str):
        if not isinstance(value, str):
            _fail(where, f"{key!r} must be a string, got {value!r}")
    elif isinstance(reference, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) != len(reference):
            _fail(where, f"{key!r} must hold {len(reference)} values, got {value!r}")
        for item, ref in zip(value, reference, strict=True):
            _check_hyper_parameter(key, item, ref, where)


def _probe_state(cls, hyper_parameters: dict, dtype):
    """The state one step of ``cls`` creates for a two-number parameter, or None."""
    from bpnn.nn.module import Parameter

    probe = Parameter(xp.asarray([0.5, -0.25], dtype=dtype))
    try:
        optimizer = cls([probe], **hyper_parameters)
    except (TypeError, ValueError) as error:
        raise SerializationError(str(error)) from None

    def closure():
        optimizer.zero_grad()
        loss = (probe * probe).sum()
        loss.backward()
        return loss

    try:
        if getattr(optimizer, "requires_closure", False):
            optimizer.step(closure)
        else:
            closure()
            optimizer.step()
    except Exception:  # noqa: BLE001 - e.g. LM needs residuals: no probe, checks stay generic
        return None
    states = [s for s in optimizer.state.values() if s]
    # Second-order methods add state as they iterate; their keys are not checked by name.
    return states[0] if states else {}


def _check_value(key: str, value, reference, param, where: str) -> None:
    label = f"'{key}' of parameter {where[1]}"
    where = where[0]
    if isinstance(value, bool) or (reference is not None and isinstance(reference, bool)):
        if not isinstance(value, bool) or (reference is not None
                                           and not isinstance(reference, bool)):
            _fail(where, f"{label} has the wrong type ({type(value).__name__})")
        return
    if isinstance(value, xp.ndarray):
        if reference is not None and not isinstance(reference, xp.ndarray):
            _fail(where, f"{label} is an array, expected a {type(reference).__name__}")
        if value.dtype != param.data.dtype:
            _fail(where, f"{label} is {value.dtype}, the parameter is {param.data.dtype}")
        if not xp.isfinite(value).all():
            _fail(where, f"{label} holds NaN or infinity")
        return
    if isinstance(value, dict):  # a record kept per iteration (trainbr's alpha, beta, ...)
        if reference is not None and not isinstance(reference, dict):
            _fail(where, f"{label} is a mapping, expected a {type(reference).__name__}")
        for item_key, item in value.items():
            if not isinstance(item_key, str):
                _fail(where, f"{label} has a key that is not a string: {item_key!r}")
            _check_value(key, item, None, param, (where, label.split()[-1]))
        return
    if isinstance(value, list):
        if reference is not None and not isinstance(reference, list):
            _fail(where, f"{label} is a list, expected a {type(reference).__name__}")
        for item in value:
            _check_value(key, item, None, param, (where, label.split()[-1]))
        return
    if not _is_number(value) or not math.isfinite(value):
        _fail(where, f"{label} must be a finite number, got {value!r}")
    if reference is not None:
        if isinstance(reference, xp.ndarray) or not _is_number(reference):
            _fail(where, f"{label} is a number, expected a {type(reference).__name__}")
        if isinstance(reference, numbers.Integral) and not isinstance(value, numbers.Integral):
            _fail(where, f"{label} must be an integer, got {value!r}")
        if isinstance(reference, numbers.Integral) and value < 0:
            _fail(where, f"{label} must not be negative, got {value!r}")


def check_optimizer_state(name: str, params: list, defaults: dict, state_dict,
                          where: str = "") -> None:
    """Refuse optimizer state a file holds if the optimizer could not use it.

    Parameters
    ----------
    name : str
        The optimizer's registered name or class name.
    params : list of Parameter
        The parameters in the order the state refers to them.
    defaults : dict
        The saved constructor hyper-parameters.
    state_dict : dict
        ``{"state": {position: {key: value}}, "param_groups": [...]}`` as read.
    where : str, optional
        Prefix for error messages.

    Raises
    ------
    SerializationError
        Naming the first problem: unknown optimizer, a hyper-parameter of the wrong name,
        type or range, a state key the optimizer does not write, a non-finite value, an
        array of the wrong dtype or shape, a position out of range.
    """
    from bpnn.optim import get_optimizer_class

    where = f"{where}: " if where and not where.endswith(": ") else where
    try:
        cls = get_optimizer_class(name)
    except (KeyError, ValueError, TypeError) as error:
        _fail(where, f"unknown optimizer {name!r} ({error})")
    if not isinstance(defaults, dict):
        _fail(where, "the hyper-parameters are not a JSON object")
    if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
        _fail(where, "expected exactly 'state' and 'param_groups'")
    groups, state = state_dict["param_groups"], state_dict["state"]
    if not isinstance(groups, list) or not groups or not isinstance(state, dict):
        _fail(where, "'param_groups' must be a non-empty list and 'state' an object")
    dtype = params[0].data.dtype if params else xp.float32
    try:
        reference_group = {k: v for k, v in cls([_probe_parameter(dtype)], **defaults)
                           .param_groups[0].items() if k != "params"}
    except (TypeError, ValueError) as error:
        _fail(where, f"bad hyper-parameters for {cls.__name__}: {error}")
    for key, value in defaults.items():
        _check_hyper_parameter(key, value, reference_group.get(key), where)
    seen = []
    probes = []
    for index, group in enumerate(groups):
        if not isinstance(group, dict) or not isinstance(group.get("params"), list):
            _fail(where, f"parameter group {index} is malformed")
        hyper = {k: v for k, v in group.items() if k != "params"}
        missing = sorted(set(reference_group) - set(hyper))
        if missing:
            _fail(where, f"parameter group {index} lacks {missing} (it has {sorted(hyper)})")
        for key, value in hyper.items():
            # Entries beyond the optimizer's own (a scheduler's initial_lr) must be numbers.
            reference = reference_group.get(key, 0.0)
            _check_hyper_parameter(key, value, reference, where)
        hyper = {k: v for k, v in hyper.items() if k in reference_group}
        positions = group["params"]
        if not all(isinstance(p, int) and not isinstance(p, bool) for p in positions):
            _fail(where, f"parameter group {index} names parameters by non-integers")
        seen.extend(positions)
        try:
            probe = _probe_state(cls, hyper, dtype)
        except SerializationError as error:
            _fail(where, f"parameter group {index}: {error}")
        probes.extend([probe] * len(positions))
    if sorted(seen) != list(range(len(params))):
        _fail(where, f"the groups name parameters {sorted(seen)[:10]}, the network has "
                     f"{len(params)}")
    probe_of = dict(zip(seen, probes, strict=True))
    for key, values in state.items():
        if not (isinstance(key, str) and key.isascii() and key.isdigit()) or int(key) >= len(
                params):
            _fail(where, f"state for parameter {key!r}, which the network does not have")
        if not isinstance(values, dict):
            _fail(where, f"state of parameter {key} is not an object")
        position = int(key)
        probe = probe_of[position]
        if probe and values and not getattr(cls, "requires_closure", False):
            unknown = sorted(set(values) - set(probe))
            if unknown:
                _fail(where, f"parameter {key} has state {unknown}, which "
                             f"{cls.__name__} does not write (it writes {sorted(probe)})")
        for name_, value in values.items():
            reference = None if probe is None else probe.get(name_)
            _check_value(name_, value, reference, params[position], (where, key))
            if (isinstance(value, xp.ndarray) and isinstance(reference, xp.ndarray)
                    and reference.shape == (2,) and value.shape != params[position].data.shape
                    and value.size != sum(p.data.size for p in params)):
                _fail(where, f"'{name_}' of parameter {key} has shape {value.shape}, the "
                             f"parameter has {params[position].data.shape}")


def _probe_parameter(dtype):
    from bpnn.nn.module import Parameter

    return Parameter(xp.zeros(2, dtype=dtype))
