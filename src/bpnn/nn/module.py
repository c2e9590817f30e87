"""``Module``: the base of every layer and network, and ``Parameter``: a trainable tensor."""

from __future__ import annotations

import contextlib
import fnmatch
from collections import OrderedDict, namedtuple

from bpnn import backend
from bpnn.autograd.tensor import Tensor
from bpnn.backend import xp


class Parameter(Tensor):
    """A tensor that a :class:`Module` registers as trainable (``requires_grad=True``).

    Parameters
    ----------
    data : array_like
        Initial values; Python floats take the default dtype.
    requires_grad : bool, default True

    Example
    -------
    >>> import bpnn
    >>> p = bpnn.nn.Parameter([1.0, 2.0])
    >>> p.requires_grad
    True
    """

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class for layers and networks.

    Assigning a :class:`Parameter` or a ``Module`` as an attribute registers it, so
    :meth:`parameters`, :meth:`state_dict` and :meth:`train` / :meth:`eval` reach it.
    Subclasses call ``super().__init__()`` first and implement ``forward``.

    Example
    -------
    >>> import bpnn
    >>> class TwoLayer(bpnn.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden = bpnn.nn.Linear(4, 8)
    ...         self.out = bpnn.nn.Linear(8, 2)
    ...     def forward(self, x):
    ...         return self.out(self.hidden(x).relu())
    >>> len(list(TwoLayer().parameters()))
    4
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value) -> None:
        registry = self.__dict__.get("_parameters")
        if registry is None and isinstance(value, (Parameter, Module)):
            raise AttributeError(
                f"cannot assign {type(value).__name__} '{name}' before Module.__init__() "
                "was called (call super().__init__() first)"
            )
        if registry is not None:
            if isinstance(value, Parameter):
                self._modules.pop(name, None)
                registry[name] = value
            elif isinstance(value, Module):
                registry.pop(name, None)
                self._modules[name] = value
            elif name in registry:
                if value is not None:
                    raise TypeError(f"cannot assign {type(value).__name__} to parameter '{name}' "
                                    "(expected a Parameter or None)")
                del registry[name]
            elif name in self._modules:
                del self._modules[name]
            elif name in self._buffers:
                self._buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._modules, self._buffers):
            registry.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, array) -> None:
        """Register a non-trainable array (e.g. running statistics) saved in the state dict."""
        self._buffers[name] = array
        object.__setattr__(self, name, array)

    def register_parameter(self, name: str, parameter: Parameter | None) -> None:
        """Register ``parameter`` under ``name`` (``None`` removes it)."""
        if parameter is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, parameter)

    def add_module(self, name: str, module: Module) -> None:
        """Register a child module under ``name``."""
        setattr(self, name, module)

    # ------------------------------------------------------------------ running
    def forward(self, *args, **kwargs):  # pragma: no cover - interface
        """The computation of this module on its inputs (override in each layer)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ traversal
    def named_modules(self, prefix: str = ""):
        """Yield ``(name, module)`` for this module and every descendant, depth first."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = list(module._modules.items())
            for child_name, child in reversed(children):
                stack.append((f"{name}.{child_name}" if name else child_name, child))

    def modules(self):
        """This module and all its descendants, depth first."""
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        """``(name, module)`` pairs of the direct submodules."""
        yield from self._modules.items()

    def children(self):
        """The direct submodules."""
        yield from self._modules.values()

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        """Yield ``(dotted_name, parameter)`` pairs, each parameter once."""
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, parameter in module._parameters.items():
                if id(parameter) in seen:
                    continue
                seen.add(id(parameter))
                yield (f"{module_name}.{name}" if module_name else name), parameter

    def parameters(self, recurse: bool = True):
        """Yield the parameters of this module and (by default) its descendants."""
        for _, parameter in self.named_parameters(recurse=recurse):
            yield parameter

    def named_buffers(self, prefix: str = ""):
        """``(dotted name, array)`` pairs of every buffer."""
        for module_name, module in self.named_modules(prefix):
            for name, array in module._buffers.items():
                yield (f"{module_name}.{name}" if module_name else name), array

    # ------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, batch norm updating its statistics)."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Set evaluation mode; same as ``train(False)``."""
        return self.train(False)

    @contextlib.contextmanager
    def evaluating(self):
        """Evaluation mode inside a ``with`` block; the previous mode is restored after.

        Example
        -------
        >>> from bpnn import nn
        >>> net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
        >>> with net.evaluating():
        ...     net.training
        False
        >>> net.training
        True
        """
        was_training = self.training
        self.eval()
        try:
            yield self
        finally:
            self.train(was_training)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (``False``) or unfreeze every parameter of this module."""
        for parameter in self.parameters():
            parameter.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter."""
        for parameter in self.parameters():
            if set_to_none or parameter.grad is None:
                parameter.grad = None
            else:
                parameter.grad = xp.zeros_like(parameter.data)

    def freeze(self, *patterns: str) -> list:
        """Freeze parameters whose dotted names match any glob pattern (all if none given)."""
        return self._set_trainable(patterns, False)

    def unfreeze(self, *patterns: str) -> list:
        """Unfreeze parameters whose dotted names match any glob pattern (all if none given)."""
        return self._set_trainable(patterns, True)

    def _set_trainable(self, patterns, flag: bool) -> list:
        names = []
        for name, parameter in self.named_parameters():
            if not patterns or any(
                fnmatch.fnmatchcase(name, p) or name.startswith(p + ".") for p in patterns
            ):
                parameter.requires_grad_(flag)
                names.append(name)
        if patterns and not names:
            known = ", ".join(name for name, _ in self.named_parameters())
            raise ValueError(f"no parameter matches {list(patterns)}; parameters are: {known}")
        return names

    def apply(self, fn) -> Module:
        """Call ``fn(module)`` on every descendant and this module (children first)."""
        for module in reversed(list(self.modules())):
            fn(module)
        return self

    def to(self, dtype) -> Module:
        """Cast every floating parameter and buffer to ``dtype`` in place."""
        dtype = backend.as_float_dtype(dtype)
        for parameter in self.parameters():
            parameter.data = parameter.data.astype(dtype)
            if parameter.grad is not None:
                parameter.grad = parameter.grad.astype(dtype)
        for module in self.modules():
            for name, array in list(module._buffers.items()):
                if array is not None and array.dtype.kind == "f":
                    module.register_buffer(name, array.astype(dtype))
        return self

    def double(self) -> Module:
        """Cast parameters and buffers to float64 (in place); returns self."""
        return self.to(xp.float64)

    def float(self) -> Module:
        """Cast parameters and buffers to float32 (in place); returns self."""
        return self.to(xp.float32)

    # ------------------------------------------------------------------ regularisation
    def regularization_loss(self):
        """Sum of the penalties of every layer's regularizers (``None`` when there are none)."""
        total = None
        for module in self.modules():
            for term in module.penalties():
                total = term if total is None else total + term
        return total

    def penalties(self) -> list:
        """Penalty tensors this module itself adds to the loss (override in layers)."""
        return []

    # ------------------------------------------------------------------ state
    def state_dict(self) -> OrderedDict:
        """Return a copy of every parameter and buffer, keyed by dotted name.

        Returns
        -------
        OrderedDict of str -> numpy.ndarray
            Copies, so later training does not change them.
        """
        state = OrderedDict()
        for name, parameter in self.named_parameters():
            state[name] = parameter.data.copy()
        for name, array in self.named_buffers():
            if array is not None:
                state[name] = xp.array(array, copy=True)
        return state

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into this module's parameters and buffers.

        Everything is checked before anything is copied, so a failed load changes nothing.

        Parameters
        ----------
        state_dict : mapping of str -> array_like
        strict : bool, default True
            Require the keys to match exactly.

        Returns
        -------
        IncompatibleKeys
            ``(missing_keys, unexpected_keys)``.

        Raises
        ------
        KeyError
            In strict mode, naming the missing and unexpected keys.
        ValueError
            When a value's shape differs from the parameter's, naming key and shapes.
        """
        targets = OrderedDict(
            (name, ("parameter", parameter)) for name, parameter in self.named_parameters()
        )
        owners = {}
        for module_name, module in self.named_modules():
            for name in module._buffers:
                key = f"{module_name}.{name}" if module_name else name
                targets[key] = ("buffer", None)
                owners[key] = (module, name)
        missing = [key for key in targets if key not in state_dict]
        unexpected = [key for key in state_dict if key not in targets]
        if strict and (missing or unexpected):
            raise KeyError(
                f"state_dict does not match the module: missing keys {missing}, "
                f"unexpected keys {unexpected}"
            )
        values = {}
        for key, (kind, parameter) in targets.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            value = xp.asarray(value.data if isinstance(value, Tensor) else value)
            current = parameter.data if kind == "parameter" else getattr(*owners[key])
            if current is not None and tuple(value.shape) != tuple(xp.shape(current)):
                raise ValueError(
                    f"state_dict['{key}'] has shape {tuple(value.shape)} but the module expects "
                    f"{tuple(xp.shape(current))}"
                )
            values[key] = value
        for key, value in values.items():
            kind, parameter = targets[key]
            if kind == "parameter":
                parameter.data[...] = value
            else:
                module, name = owners[key]
                current = getattr(module, name)
                dtype = current.dtype if current is not None else value.dtype
                module.register_buffer(name, xp.array(value, dtype=dtype, copy=True))
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ description
    def extra_repr(self) -> str:
        """The arguments shown inside ``repr(module)``'s parentheses."""
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n" + "\n".join(lines) + "\n)"

    def get_config(self) -> dict:
        """Constructor arguments (JSON-friendly) that rebuild this layer (``bpnn.nn.registry``)."""
        return {}

    @classmethod
    def from_config(cls, config: dict):
        """Build the layer from :meth:`get_config`'s dict."""
        return cls(**config)

    def count_parameters(self, trainable_only: bool = False) -> int:
        """Number of scalar parameters (optionally only those that require grad)."""
        return sum(
            p.data.size for p in self.parameters() if p.requires_grad or not trainable_only
        )
