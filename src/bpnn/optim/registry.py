"""Optimizers by name: Keras-style ``get("adam")`` and rebuilding one from a checkpoint.

An optimizer is described by ``optimizer_config(opt)`` = ``{"name": type(opt).__name__,
"defaults": opt.defaults}`` (tuples turned into lists so that it is plain JSON); together with
``opt.state_dict()`` that is enough for :func:`optimizer_from_config` to rebuild it.
Every optimizer registers itself where it is defined, with the :func:`register_optimizer`
decorator; a new optimizer is one file (plus its import in ``bpnn/optim/__init__.py``).
"""

from __future__ import annotations

from bpnn.optim.optimizer import Optimizer

#: Lower-case name -> optimizer class.
OPTIMIZERS: dict = {}


def register_optimizer(name: str, cls: type | None = None):
    """Make ``cls`` reachable as ``get(name)`` and rebuildable by :func:`optimizer_from_config`.

    Used as a class decorator, ``@register_optimizer("adam")``, in the file that defines the
    optimizer (stack two for a second name), or called as ``register_optimizer("x", Cls)``.

    Parameters
    ----------
    name : str
        Case-insensitive key, e.g. ``"lbfgs"``.
    cls : type, optional
        A subclass of :class:`bpnn.optim.Optimizer` whose constructor takes
        ``(params, **defaults)``; left out, a decorator that registers its class is returned.

    Returns
    -------
    type or callable
        ``cls``, or the decorator.

    Raises
    ------
    TypeError
        If ``name`` is not a string or ``cls`` is not an Optimizer subclass.
    ValueError
        If ``name`` already belongs to another class.

    Example
    -------
    >>> import bpnn
    >>> class Sign(bpnn.optim.SGD):
    ...     pass
    >>> _ = bpnn.optim.register_optimizer("sign_sgd", Sign)
    >>> bpnn.optim.OPTIMIZERS["sign_sgd"].__name__
    'Sign'
    >>> @bpnn.optim.register_optimizer("plain_sgd")
    ... class Plain(bpnn.optim.SGD):
    ...     pass
    >>> bpnn.optim.get_optimizer_class("plain_sgd") is Plain
    True
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"optimizer name must be a non-empty string, got {name!r}")
    if cls is None:
        return lambda decorated: register_optimizer(name, decorated)
    if not (isinstance(cls, type) and issubclass(cls, Optimizer)):
        raise TypeError(f"only subclasses of bpnn.optim.Optimizer can be registered, got {cls!r}")
    key = name.lower()
    existing = OPTIMIZERS.get(key)
    if existing is not None and existing is not cls:
        raise ValueError(f"optimizer name {name!r} is already taken by {existing.__qualname__}")
    OPTIMIZERS[key] = cls
    return cls


def get_optimizer_class(name: str) -> type:
    """Return the class registered as ``name`` (any case) or whose class name is ``name``.

    Parameters
    ----------
    name : str

    Returns
    -------
    type

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known ones.

    Example
    -------
    >>> import bpnn
    >>> bpnn.optim.get_optimizer_class("rmsprop").__name__
    'RMSprop'
    """
    if not isinstance(name, str):
        raise TypeError(f"optimizer name must be a string, got {type(name).__name__}")
    cls = OPTIMIZERS.get(name.lower())
    if cls is None:
        cls = next((c for c in OPTIMIZERS.values() if c.__name__ == name), None)
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; known optimizers: "
                         f"{', '.join(sorted(OPTIMIZERS))}")
    return cls


def get(name_or_instance, params=None, **kwargs) -> Optimizer:
    """Return an optimizer from a name, a class, a config or an existing instance (Keras ``get``).

    Parameters
    ----------
    name_or_instance : str, Optimizer subclass, dict or Optimizer
        ``"sgd"``, ``"Adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"`` (any case) or a
        registered name; a class; :func:`optimizer_config`'s ``{"name", "defaults"}`` dict
        (``kwargs`` override its defaults); an instance is returned unchanged.
    params : iterable of Parameter or of dict, optional
        Required unless an instance is given.
    **kwargs
        Hyper-parameters for the constructor, e.g. ``lr=0.01``; Keras' ``learning_rate`` is
        accepted as another name for ``lr``.

    Returns
    -------
    Optimizer

    Raises
    ------
    ValueError
        For an unknown name, missing ``params``, or hyper-parameters passed with an instance.
    TypeError
        For anything that is neither a name, an optimizer class nor an instance.

    Example
    -------
    >>> import bpnn
    >>> net = bpnn.nn.Linear(3, 2)
    >>> bpnn.optim.get("adam", net.parameters(), lr=0.01).defaults["lr"]
    0.01
    """
    if isinstance(name_or_instance, Optimizer):
        if params is not None or kwargs:
            raise ValueError("an optimizer instance is already built: pass neither params nor "
                             f"hyper-parameters (got {sorted(kwargs) or 'params'})")
        return name_or_instance
    if "learning_rate" in kwargs:
        if "lr" in kwargs:
            raise ValueError("pass either lr or learning_rate, not both")
        kwargs["lr"] = kwargs.pop("learning_rate")
    if isinstance(name_or_instance, dict):
        if "name" not in name_or_instance:
            raise ValueError("an optimizer config needs a 'name' key (and optionally "
                             f"'defaults'), got keys {sorted(name_or_instance)}")
        kwargs = {**name_or_instance.get("defaults", {}), **kwargs}
        name_or_instance = name_or_instance["name"]
    if isinstance(name_or_instance, str):
        cls = get_optimizer_class(name_or_instance)
    elif isinstance(name_or_instance, type) and issubclass(name_or_instance, Optimizer):
        cls = name_or_instance
    else:
        raise TypeError("expected an optimizer name, class or instance, got "
                        f"{type(name_or_instance).__name__}")
    if params is None:
        raise ValueError(f"building optimizer {name_or_instance!r} needs the parameters to "
                         "optimise: get(name, params, **hyper_parameters)")
    return _construct(cls, params, kwargs)


def _construct(cls, params, hyper_parameters: dict) -> Optimizer:
    import inspect  # here: a module import time that ``import bpnn`` need not pay

    accepted = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    unknown = sorted(k for k in hyper_parameters if k not in accepted or k in ("self", "params"))
    if unknown and not takes_any:
        known = [k for k in accepted if k not in ("self", "params")]
        raise ValueError(f"{cls.__name__} got unknown hyper-parameter(s) {unknown}; "
                         f"it takes {known}")
    return cls(params, **hyper_parameters)


def _to_json(value):
    if isinstance(value, (tuple, list)):
        return [_to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _to_json(item) for key, item in value.items()}
    return value


def optimizer_config(optimizer: Optimizer) -> dict:
    """Return ``{"name": class name, "defaults": hyper-parameters}`` as plain JSON values.

    Example
    -------
    >>> import bpnn
    >>> opt = bpnn.optim.Adam(bpnn.nn.Linear(2, 1).parameters())
    >>> bpnn.optim.optimizer_config(opt)["defaults"]["betas"]
    [0.9, 0.999]
    """
    return {"name": type(optimizer).__name__, "defaults": _to_json(optimizer.defaults)}


def optimizer_from_config(name: str, params, defaults: dict, state_dict: dict | None = None
                          ) -> Optimizer:
    """Rebuild an optimizer from :func:`optimizer_config`'s parts (and its ``state_dict``).

    Parameters
    ----------
    name : str
        ``type(opt).__name__`` or a registered name.
    params : iterable of Parameter or of dict
        The parameters, grouped as when the optimizer was built (same counts per group).
    defaults : dict
        ``opt.defaults``; lists stand in for tuples (``betas``).
    state_dict : dict, optional
        ``opt.state_dict()``; restores per-parameter state, step counts and group values.

    Returns
    -------
    Optimizer

    Raises
    ------
    ValueError
        For an unknown name or hyper-parameter, or a state_dict that does not fit.

    Example
    -------
    >>> import bpnn
    >>> net = bpnn.nn.Linear(2, 1)
    >>> opt = bpnn.optim.AdamW(net.parameters(), lr=0.01)
    >>> config = bpnn.optim.optimizer_config(opt)
    >>> again = bpnn.optim.optimizer_from_config(config["name"], net.parameters(),
    ...                                          config["defaults"], opt.state_dict())
    >>> type(again).__name__, again.defaults["betas"]
    ('AdamW', (0.9, 0.999))
    """
    optimizer = _construct(get_optimizer_class(name), params, dict(defaults))
    if state_dict is not None:
        optimizer.load_state_dict(state_dict)
    return optimizer
