"""``Optimizer``: parameter groups, lazily filled per-parameter state, ``state_dict`` by position.

Mirrors ``torch.optim.Optimizer`` so that code and checkpoints carry over: each group is a dict
holding ``"params"`` and its hyper-parameters, ``state[param]`` is created on the first step,
and ``state_dict`` refers to parameters by their position across all groups.
"""

from __future__ import annotations

import copy
import numbers

from bpnn.autograd.tensor import Tensor, enable_grad
from bpnn.backend import flush_subnormals, subnormals_flushed, xp
from bpnn.optim.flat_buffer import FlatBuffers

#: Parameters up to this many elements have their gradients copied into the flat buffer to be
#: updated together; a larger one whose ``.grad`` is not already there is updated on its own.
FUSE_COPY_LIMIT = 16384


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

    #: Whether :meth:`update` may get several consecutive parameters as one flat array. A rule
    #: that needs each parameter's own shape (a per-layer norm, say) sets this to False.
    fuse_parameters = True

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict = {}
        self.param_groups: list = []
        self._buffers = None
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
        if len({id(p) for p in params}) != len(params):
            raise ValueError("a parameter group lists the same parameter more than once")
        for key in group:
            if key != "params" and key not in self.defaults:
                raise ValueError(f"unknown hyper-parameter {key!r} in parameter group; "
                                 f"this optimizer takes {sorted(self.defaults)}")
        full = dict(self.defaults)
        full.update(group)
        full["params"] = params
        self.param_groups.append(full)
        self._buffers = None  # laid out again, with the new parameters, on the next step

    # ------------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every optimised parameter.

        Parameters
        ----------
        set_to_none : bool, default True
            Set ``.grad`` to None (what torch does by default); with False, gradients that
            exist are zeroed in place in the flat gradient buffer.
        """
        slots = self._buffers.slots if self._buffers is not None else {}
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                    continue
                slot = slots.get(id(p))
                if slot is not None and p.data.shape == slot.shape:
                    slot.grad.fill(0)
                    p.grad = slot.grad
                else:
                    p.grad = xp.zeros_like(p.data)

    def _evaluate(self, closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def step(self, closure=None):
        """Update the parameters once (re-evaluating ``closure`` first if given).

        Consecutive parameters of one group and dtype that have a gradient and the same state
        (step count) are updated together, as one flat array, inside
        :class:`bpnn.backend.subnormals_flushed`.
        """
        loss = self._evaluate(closure)
        buffers = self._buffers
        if buffers is None or not buffers.current():
            buffers = self._layout()
        slots, fuse = buffers.slots, self.fuse_parameters
        with subnormals_flushed() as flushed_by_cpu:
            for group in self.param_groups:
                run, signature, previous = [], None, None
                for p in group["params"]:
                    grad = p.grad
                    if grad is None or not p.requires_grad:
                        self._update_run(run, group, flushed_by_cpu)
                        run = []
                        continue
                    slot = slots[id(p)]
                    state = self.state.get(p)
                    if state is None:
                        state = self.state[p] = self.init_state(p, group)
                        buffers.adopt_state(p, state)
                    # a large gradient not yet in the buffer is cheaper to update where it is
                    # than to copy there first (measured: benchmarks/optimizer_step.py)
                    key = (tuple(state), state.get("step")) if fuse and (
                        slot.stop - slot.start <= FUSE_COPY_LIMIT or grad is slot.grad) else None
                    if run and not (key is not None and key == signature
                                    and previous.stop == slot.start
                                    and previous.flat is slot.flat):
                        self._update_run(run, group, flushed_by_cpu)
                        run = []
                    run.append(p)
                    signature, previous = key, slot
                self._update_run(run, group, flushed_by_cpu)
        return loss

    def _update_run(self, run: list, group: dict, flushed_by_cpu) -> None:
        """Update consecutive parameters with one :meth:`update` call on their flat views."""
        if not run:
            return
        buffers = self._buffers
        if len(run) == 1:
            p = run[0]
            state = self.state[p]
            self.update(p.data, p.grad, state, group)
            buffers.adopt_state(p, state)  # arrays the update created (a momentum buffer)
            if flushed_by_cpu is False:
                _flush_state(state, p.data.shape)
            return
        template = self.state[run[0]]
        shared = _scalars(template)
        if shared and any(_scalars(self.state[p]) != shared for p in run[1:]):
            for p in run:  # other shared values differ: one parameter at a time
                self._update_run([p], group, flushed_by_cpu)
            return
        for p in run:  # one copy of the gradients buys one pass per operation over the run
            buffers.gather_grad(p)
        first, last = buffers.slots[id(run[0])], buffers.slots[id(run[-1])]
        data, grad, flat_states = buffers.run_arrays(first, last)
        state = {name: (flat_states[name] if _is_element_state(value, first.shape) else value)
                 for name, value in template.items()}
        self.update(data, grad, state, group)
        for name, value in state.items():
            if value is flat_states.get(name):
                continue  # updated in place
            if _is_element_state(value, data.shape):  # created or replaced by the update
                for p in run:
                    slot = buffers.slots[id(p)]
                    self.state[p][name] = buffers.state_view(slot, name)
                xp.copyto(buffers.state[first.dtype][name][first.start:last.stop], value,
                          casting="same_kind")
            else:
                for p in run:
                    self.state[p][name] = value
        if flushed_by_cpu is False:
            _flush_state(state, data.shape)

    def init_state(self, param, group) -> dict:
        """Per-parameter state created on its first update (override).

        Arrays shaped like the parameter are per-element state: they are moved into the flat
        state buffers, and :meth:`update` may see several parameters' worth of them at once.
        """
        return {}

    def update(self, data, grad, state, group) -> None:  # pragma: no cover - interface
        """Apply one update to ``data`` in place (override).

        Parameters
        ----------
        data, grad : numpy.ndarray
            The values and gradients of one parameter, or (when :attr:`fuse_parameters`) of
            several consecutive parameters as one flat array: the rule must be element-wise.
        state : dict
            The per-element state arrays (shaped like ``data``) and the shared scalars
            (``step``); update arrays in place or assign new ones, and assign scalars.
        group : dict
            The parameter group's hyper-parameters.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ flat buffers
    def _layout(self) -> FlatBuffers:
        """The flat buffers, each parameter's ``.data`` a view into them (laid out if needed)."""
        params = self._all_params()
        buffers = self._buffers
        if buffers is not None and buffers.fits(params):
            for p in params:
                buffers.gather_data(p)
            return buffers
        for position, p in enumerate(params):
            old = buffers.slots.get(id(p)) if buffers is not None else None
            for name, value in self.state.get(p, {}).items():
                if old is not None and isinstance(value, xp.ndarray) \
                        and value.shape == old.shape != p.data.shape:
                    raise ValueError(
                        f"parameter {position} changed shape from {old.shape} to "
                        f"{p.data.shape} after the optimizer created its state '{name}'; "
                        "build a new optimizer for the new shape")
        self._buffers = FlatBuffers(params, self.state)
        return self._buffers

    def flat_parameters(self) -> dict:
        """Return the flat buffers that hold every parameter's values, one per dtype.

        Each parameter's ``.data`` is a view into its dtype's buffer, in the order of
        ``param_groups``; writing into a buffer (a broadcast from another process, say)
        changes the parameters.

        Returns
        -------
        dict
            ``{numpy.dtype: 1-D array}``.

        Example
        -------
        >>> import bpnn
        >>> net = bpnn.nn.Linear(3, 2)
        >>> opt = bpnn.optim.SGD(net.parameters(), lr=0.1)
        >>> [(str(dtype), flat.size) for dtype, flat in opt.flat_parameters().items()]
        [('float32', 8)]
        """
        buffers = self._layout()
        for p in self._all_params():
            buffers.gather(p)
        return dict(buffers.data)

    def flat_gradients(self) -> dict:
        """Gather every parameter's gradient into the flat gradient buffers and return them.

        Afterwards each parameter's ``.grad`` is a view into its dtype's buffer, in the order of
        ``param_groups`` (parameters without a gradient read as zeros there and keep
        ``.grad = None``). Reduce the buffers in place, e.g. one MPI ``Allreduce`` per dtype,
        then call :meth:`step`: it uses the reduced values. The buffers are laid out again when
        a parameter group is added or a parameter changes shape or dtype, so call this every
        step rather than keeping the arrays.

        Returns
        -------
        dict
            ``{numpy.dtype: 1-D array}``.

        Example
        -------
        >>> import bpnn
        >>> w = bpnn.nn.Parameter([1.0, 2.0])
        >>> opt = bpnn.optim.SGD([w], lr=0.1)
        >>> (w * w).sum().backward()
        >>> flat = opt.flat_gradients()[w.data.dtype]
        >>> flat /= 2  # e.g. the mean over two processes
        >>> opt.step()
        >>> w.data.tolist()
        [0.8999999761581421, 1.7999999523162842]
        """
        buffers = self._layout()
        for p in self._all_params():
            if p.grad is None:
                buffers.slots[id(p)].grad.fill(0)
            buffers.gather(p)
        return dict(buffers.grad)

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
        groups = [group for group in self.param_groups for _ in group["params"]]
        new_state = {}
        for key, values in state_dict["state"].items():
            position = int(key)
            if not 0 <= position < len(params):
                raise ValueError(f"state_dict refers to parameter {position}, but the optimizer "
                                 f"has {len(params)}")
            param = params[position]
            per_element = self._element_state_names(param, groups[position])
            restored = {}
            for name, value in values.items():
                if isinstance(value, xp.ndarray):
                    if name in per_element and value.shape != param.data.shape:
                        raise ValueError(
                            f"optimizer state '{name}' of parameter {position} has shape "
                            f"{value.shape}, the parameter has {param.data.shape}"
                        )
                    if value.shape == param.data.shape:
                        value = value.astype(param.data.dtype)  # a copy, in the parameter's dtype
                    else:
                        value = xp.array(value, copy=True)
                elif not isinstance(value, (numbers.Number, str, type(None))):
                    value = copy.deepcopy(value)
                restored[name] = value
            new_state[param] = restored
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            for k, v in saved.items():
                if k != "params":
                    group[k] = copy.deepcopy(v)
        self.state = new_state
        if self._buffers is not None and self._buffers.fits(params):
            for param, state in new_state.items():
                self._buffers.adopt_state(param, state)  # the same buffers, new values

    def _element_state_names(self, param, group) -> set:
        """Names of the state arrays this optimizer keeps shaped like ``param``."""
        names = {name for name, value in self.state.get(param, {}).items()
                 if _is_element_state(value, param.data.shape)}
        names.update(name for name, value in self.init_state(param, group).items()
                     if _is_element_state(value, param.data.shape))
        return names

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _is_element_state(value, shape) -> bool:
    return isinstance(value, xp.ndarray) and value.shape == shape


def _scalars(state: dict) -> list:
    """Values besides ``step`` (not arrays) that must agree across a run of fused parameters."""
    return [(name, value) for name, value in state.items()
            if name != "step" and not isinstance(value, xp.ndarray)]


def _flush_state(state: dict, shape) -> None:
    for value in state.values():
        if _is_element_state(value, shape):
            flush_subnormals(value)
