"""Containers: ``Sequential`` chains modules, ``ModuleList`` holds them."""

from __future__ import annotations

from collections import OrderedDict

from bpnn.nn.module import Module
from bpnn.nn.registry import register_layer


@register_layer
class Sequential(Module):
    """Apply modules one after the other.

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
        for module in self._modules.values():
            x = module(x)
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
        self.add_module(str(len(self._modules)), module)
        return self

    @classmethod
    def from_children(cls, children: dict, **config):
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
        return cls(children.values())
