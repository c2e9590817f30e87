"""Registry of layer classes, so an architecture can be written as JSON and rebuilt.

A layer is described as ``{"class": name, "config": layer.get_config()}``; containers add
``"children"``. User-defined layers join with ``@bpnn.nn.register_layer``.
"""

from __future__ import annotations

_LAYERS: dict = {}


def register_layer(cls=None, *, name: str | None = None):
    """Class decorator that makes a layer rebuildable from its JSON description.

    Parameters
    ----------
    cls : type
        A :class:`bpnn.nn.Module` subclass with ``get_config()`` returning its constructor
        arguments.
    name : str, optional
        Registry key; the class name by default.

    Example
    -------
    >>> import bpnn
    >>> @bpnn.nn.register_layer
    ... class Scale(bpnn.nn.Module):
    ...     def __init__(self, factor=2.0):
    ...         super().__init__()
    ...         self.factor = factor
    ...     def forward(self, x):
    ...         return x * self.factor
    ...     def get_config(self):
    ...         return {"factor": self.factor}
    """

    def decorate(layer_cls):
        key = name or layer_cls.__name__
        existing = _LAYERS.get(key)
        builtin = existing is not None and existing.__module__.startswith("bpnn.")
        if builtin and existing is not layer_cls:
            raise ValueError(f"layer name {key!r} is taken by bpnn's {existing.__qualname__}")
        _LAYERS[key] = layer_cls
        layer_cls._registry_name = key
        return layer_cls

    return decorate if cls is None else decorate(cls)


def get_layer_class(name: str):
    """Return the registered class called ``name``, or raise ``KeyError`` listing the known ones."""
    try:
        return _LAYERS[name]
    except KeyError:
        raise KeyError(
            f"unknown layer {name!r}; registered layers: {', '.join(sorted(_LAYERS))} "
            "(register custom layers with @bpnn.nn.register_layer)"
        ) from None


def registered_layers() -> dict:
    """A copy of the name -> class registry."""
    return dict(_LAYERS)


class NameRegistry:
    """Names -> classes, filled by a decorator in the file that defines each class.

    Serves the loss names (``nn.loss.get``), the metric names (``metrics.get``) and the
    activation names (the command line's ``--activation``).

    Parameters
    ----------
    unknown : str
        The error message for an unknown name, with ``{name!r}`` and ``{names}`` fields.

    Example
    -------
    >>> from bpnn.nn.registry import NameRegistry
    >>> colours = NameRegistry("unknown colour {name!r}; known: {names}")
    >>> @colours.register("red", "rouge")
    ... class Red:
    ...     pass
    >>> colours.get_class("ROUGE").__name__
    'Red'
    """

    def __init__(self, unknown: str):
        self.unknown, self.classes = unknown, {}

    def register(self, *names: str):
        """Class decorator recording the class under each of ``names`` (lower case)."""

        def decorate(cls):
            for name in names:
                self.classes[name] = cls
            return cls

        return decorate

    def get_class(self, name) -> type:
        """The class registered as ``name`` (case-insensitive); ``ValueError`` listing names."""
        if isinstance(name, str) and name.lower() in self.classes:
            return self.classes[name.lower()]
        raise ValueError(self.unknown.format(name=name, names=", ".join(sorted(self.classes))))


ACTIVATIONS = NameRegistry("unknown activation {name!r}; registered activations: {names}")


def register_activation(name: str):
    """Class decorator: an element-wise activation layer offered by ``name``.

    The command line's ``--activation`` choices and ``bpnn explain``'s activations are read
    from this registry, so a new activation is its layer class plus one test row.

    Parameters
    ----------
    name : str
        The lower-case name, e.g. ``"gelu"``.

    Example
    -------
    >>> from bpnn import nn
    >>> sorted(nn.registered_activations())[:3]
    ['elu', 'gelu', 'leaky_relu']
    """
    return ACTIVATIONS.register(name)


def registered_activations() -> dict:
    """A copy of the activation name -> layer class registry (``"relu": nn.ReLU`` ...)."""
    return dict(ACTIVATIONS.classes)


def module_to_config(module) -> dict:
    """Describe ``module`` (recursively) as a JSON-friendly dict."""
    name = getattr(type(module), "_registry_name", None)
    if name is None or _LAYERS.get(name) is not type(module):
        raise TypeError(
            f"{type(module).__name__} is not a registered layer; decorate it with "
            "@bpnn.nn.register_layer and give it get_config()"
        )
    description = {"class": name, "config": module.get_config()}
    if getattr(module, "_config_children", False):
        description["children"] = {
            child_name: module_to_config(child) for child_name, child in module.named_children()
        }
    return description


def module_from_config(description: dict):
    """Rebuild a module (with fresh weights) from :func:`module_to_config`'s dict."""
    if not isinstance(description, dict) or "class" not in description:
        raise ValueError(f"a layer description needs a 'class' key, got {description!r}")
    cls = get_layer_class(description["class"])
    config = dict(description.get("config", {}))
    children = description.get("children")
    if children is not None:
        return cls.from_children(
            {name: module_from_config(child) for name, child in children.items()}, **config
        )
    return cls.from_config(config)
