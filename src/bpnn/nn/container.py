"""Containers: ``Sequential`` chains modules, ``ModuleList`` holds them."""

from __future__ import annotations

from collections import OrderedDict

from bpnn.nn.activation import ReLU
from bpnn.nn.module import Module
from bpnn.nn.pooling import MaxPool2d
from bpnn.nn.registry import register_layer


def _pool_before_relu(module: Module, following: Module | None) -> bool:
    """True when ``module`` is a ReLU and ``following`` a max-pool that may run before it.

    Why: max-pooling commutes with ReLU (a non-decreasing function), and pooling first lets
    ReLU work on an array ``kernel_h * kernel_w`` times smaller; values and gradients are the
    same (a window whose maximum is <= 0 passes no gradient either way), and the ReLU's own
    output is never seen outside the chain. Without dilation every window holds at least one
    real element (padding is at most half the kernel), so no window is all padding, where the
    two orders would differ (-inf against 0).
    """
    return (type(module) is ReLU and type(following) is MaxPool2d
            and following.dilation == (1, 1))


@register_layer
class Sequential(Module):
    """Apply modules one after the other.

    A ``ReLU`` directly followed by a ``MaxPool2d`` runs after it instead: the result and every
    gradient are identical, and the ReLU costs a quarter (for 2x2 windows).

    Parameters
    ----------
    *modules : Module, or one OrderedDict of name -> Module

    Example
    -------
    >>> import bpnn
    >>> from bpnn import nn
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1))
    >>> net(bpnn.ones(5, 2)).shape
    (5, 1)
    """

    _config_children = True

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (OrderedDict, dict)):
            items = modules[0].items()
        else:
            items = ((str(i), m) for i, m in enumerate(modules))
        for name, module in items:
            if not isinstance(module, Module):
                kind = type(module).__name__
                raise TypeError(f"Sequential takes Modules, got {kind} at {name!r}")
            self.add_module(name, module)

    def forward(self, x):
        modules = list(self._modules.values())
        index = 0
        while index < len(modules):
            module = modules[index]
            following = modules[index + 1] if index + 1 < len(modules) else None
            if _pool_before_relu(module, following):
                x = module(following(x))
                index += 2
            else:
                x = module(x)
                index += 1
        return x

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            names = list(self._modules)[index]
            return Sequential(OrderedDict((n, self._modules[n]) for n in names))
        return modules[index]

    def __setitem__(self, index: int, module: Module) -> None:
        name = list(self._modules)[index]
        setattr(self, name, module)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self._modules)), module)
        return self

    @classmethod
    def from_children(cls, children: dict, **config):
        """Rebuild from named children (used by ``module_from_config``)."""
        return cls(OrderedDict(children))


@register_layer
class ModuleList(Module):
    """A list of modules whose parameters are registered (no ``forward`` of its own)."""

    _config_children = True

    def __init__(self, modules=()):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end; returns self."""
        self.add_module(str(len(self._modules)), module)
        return self

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    @classmethod
    def from_children(cls, children: dict, **config):
        """Rebuild from named children (used by ``module_from_config``)."""
        return cls(children.values())
