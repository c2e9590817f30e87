"""``Optimizer``: parameter groups, lazily filled per-parameter state, ``state_dict`` by position.

Mirrors ``torch.optim.Optimizer`` so that code and checkpoints carry over: each group is a dict
holding ``"params"`` and its hyper-parameters, ``state[param]`` is created on the first step,
and ``state_dict`` refers to parameters by their position across all groups.
"""

from __future__ import annotations

import copy
import numbers

from bpnn.autograd.tensor import Tensor, enable_grad
from bpnn.backend import xp


class Optimizer:
    """Base class of every optimizer.

    Parameters
    ----------
    params : iterable of Parameter, or iterable of dict
        The tensors to optimise, or parameter groups: dicts with a ``"params"`` key plus any
        hyper-parameter that overrides ``defaults`` for that group (e.g. a lower ``lr`` for
        pre-trained layers).
    defaults : dict
        Hyper-parameters every group starts from.

    Example
    -------
    >>> import bpnn
    >>> net = bpnn.nn.Sequential(bpnn.nn.Linear(4, 8), bpnn.nn.Linear(8, 2))
    >>> opt = bpnn.optim.SGD([
    ...     {"params": net[0].parameters(), "lr": 1e-3},
    ...     {"params": net[1].parameters()},
    ... ], lr=1e-2, momentum=0.9)
    >>> [g["lr"] for g in opt.param_groups]
    [0.001, 0.01]
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict = {}
        self.param_groups: list = []
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of tensors or dicts, got a single Tensor")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        """Add a group of parameters with its own hyper-parameters."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError("a parameter group must be a dict with a 'params' key")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
            if p.data.dtype.kind != "f":
                raise TypeError(f"optimizer can only optimize float tensors, got {p.data.dtype}")
        known = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in known for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        for key in group:
            if key != "params" and key not in self.defaults:
                raise ValueError(f"unknown hyper-parameter {key!r} in parameter group; "
                                 f"this optimizer takes {sorted(self.defaults)}")
        full = dict(self.defaults)
        full.update(group)
        full["params"] = params
        self.param_groups.append(full)

    # ------------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every optimised parameter."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad = xp.zeros_like(p.data)

    def _evaluate(self, closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def step(self, closure=None):
        """Update the parameters once (re-evaluating ``closure`` first if given)."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None or not p.requires_grad:
                    continue
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = self.init_state(p, group)
                self.update(p, p.grad, state, group)
        return loss

    def init_state(self, param, group) -> dict:
        """Per-parameter state created on its first update (override)."""
        return {}

    def update(self, param, grad, state, group) -> None:  # pragma: no cover - interface
        """Apply one update to ``param.data`` in place (override)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ state
    def _all_params(self) -> list:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict:
        """Return the state (arrays copied) and the groups, parameters named by position.

        Returns
        -------
        dict
            ``{"state": {index: {name: value}}, "param_groups": [{..., "params": [index]}]}``
        """
        index = {id(p): i for i, p in enumerate(self._all_params())}
        state = {
            index[id(p)]: {k: (v.copy() if isinstance(v, xp.ndarray) else copy.deepcopy(v))
                           for k, v in s.items()}
            for p, s in self.state.items() if id(p) in index
        }
        groups = []
        for group in self.param_groups:
            saved = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            saved["params"] = [index[id(p)] for p in group["params"]]
            groups.append(saved)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore :meth:`state_dict`'s output; the groups must have the same sizes.

        Raises
        ------
        ValueError
            If the number of groups or of parameters per group differs, or a state array's
            shape does not match its parameter.
        """
        saved_groups = state_dict.get("param_groups")
        if saved_groups is None or "state" not in state_dict:
            raise ValueError("optimizer state_dict needs 'state' and 'param_groups'")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"state_dict has {len(saved_groups)} parameter groups, "
                             f"the optimizer has {len(self.param_groups)}")
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"parameter group {i} has {len(saved['params'])} parameters in "
                                 f"the state_dict but {len(group['params'])} in the optimizer")
        params = self._all_params()
        new_state = {}
        for key, values in state_dict["state"].items():
            position = int(key)
            if not 0 <= position < len(params):
                raise ValueError(f"state_dict refers to parameter {position}, but the optimizer "
                                 f"has {len(params)}")
            param = params[position]
            restored = {}
            for name, value in values.items():
                if isinstance(value, xp.ndarray):
                    value = xp.array(value, copy=True)
                    if name in self._per_element_state:
                        if value.shape != param.data.shape:
                            raise ValueError(
                                f"optimizer state '{name}' of parameter {position} has shape "
                                f"{value.shape}, the parameter has {param.data.shape}"
                            )
                        value = value.astype(param.data.dtype)
                elif not isinstance(value, (numbers.Number, str, type(None))):
                    value = copy.deepcopy(value)
                restored[name] = value
            new_state[param] = restored
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            for k, v in saved.items():
                if k != "params":
                    group[k] = copy.deepcopy(v)
        self.state = new_state

    _per_element_state = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer",
                          "square_avg", "grad_avg", "sum")

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)
