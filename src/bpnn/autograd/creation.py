"""Creating tensors, and the free functions of the ``bpnn`` namespace (``bpnn.exp``...)."""

from __future__ import annotations

import functools

from bpnn import backend
from bpnn.autograd import ops
from bpnn.autograd.tensor import Tensor, _raw, as_operand
from bpnn.backend import xp


def _shape_args(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _float_dtype(dtype):
    return backend.get_default_dtype() if dtype is None else xp.dtype(dtype)


def tensor(data, dtype=None, requires_grad: bool = False) -> Tensor:
    """Create a tensor from array-like data (see :class:`Tensor`).

    Example
    -------
    >>> import bpnn
    >>> bpnn.tensor([[1, 2], [3, 4]]).dtype
    dtype('int64')
    """
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def zeros(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    """Tensor of zeros with the default float dtype unless ``dtype`` is given."""
    data = xp.zeros(_shape_args(shape), dtype=_float_dtype(dtype))
    return Tensor(data, requires_grad=requires_grad)


def ones(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    """Tensor of ones with the default float dtype unless ``dtype`` is given."""
    data = xp.ones(_shape_args(shape), dtype=_float_dtype(dtype))
    return Tensor(data, requires_grad=requires_grad)


def full(shape, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    """Tensor filled with ``fill_value``."""
    data = xp.full(_shape_args((shape,)), fill_value, dtype=_float_dtype(dtype))
    return Tensor(data, requires_grad=requires_grad)


def zeros_like(other: Tensor, requires_grad: bool = False) -> Tensor:
    """Zeros with ``other``'s shape and dtype."""
    return Tensor(xp.zeros_like(_raw(other)), requires_grad=requires_grad)


def ones_like(other: Tensor, requires_grad: bool = False) -> Tensor:
    """Ones with ``other``'s shape and dtype."""
    return Tensor(xp.ones_like(_raw(other)), requires_grad=requires_grad)


def randn(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the global generator (see :func:`bpnn.manual_seed`)."""
    data = backend.get_rng().standard_normal(_shape_args(shape), dtype=_float_dtype(dtype))
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples on [0, 1) from the global generator."""
    data = backend.get_rng().random(_shape_args(shape), dtype=_float_dtype(dtype))
    return Tensor(data, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in ``[start, end)``; integers unless a bound or ``dtype`` is float."""
    if end is None:
        start, end = 0, start
    data = xp.arange(start, end, step)
    if dtype is not None:
        data = data.astype(dtype)
    elif data.dtype.kind == "f":
        data = data.astype(backend.get_default_dtype())
    return Tensor(data, requires_grad=requires_grad)


def _tensors(values, name: str) -> list:
    values = list(values)
    if not values:
        raise ValueError(f"{name}() needs at least one tensor")
    first = next((v for v in values if isinstance(v, Tensor)), None)
    return [v if isinstance(v, Tensor) else as_operand(v, first or Tensor(v)) for v in values]


def concatenate(tensors, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (``torch.cat``)."""
    return ops.Concatenate.apply(*_tensors(tensors, "concatenate"), axis=axis)


cat = concatenate


def stack(tensors, axis: int = 0) -> Tensor:
    """Join tensors along a new axis."""
    return ops.Stack.apply(*_tensors(tensors, "stack"), axis=axis)


def where(condition, x, y) -> Tensor:
    """Pick ``x`` where ``condition`` holds, else ``y``; gradients flow to the picked side."""
    condition = xp.asarray(_raw(condition), dtype=bool)
    like = x if isinstance(x, Tensor) else y if isinstance(y, Tensor) else Tensor(x)
    return ops.Where.apply(as_operand(x, like), as_operand(y, like), condition=condition)


def _unary(op_name: str):
    def method(x):
        return getattr(Tensor, op_name)(x if isinstance(x, Tensor) else Tensor(x))

    method.__name__ = op_name
    method.__doc__ = f"Elementwise ``{op_name}`` of a tensor (differentiable)."
    return method


exp = _unary("exp")
log = _unary("log")
sqrt = _unary("sqrt")
abs = _unary("abs")  # noqa: A001 - mirrors torch.abs


@functools.wraps(Tensor.clip)
def clip(x, min=None, max=None):  # noqa: A002
    return x.clip(min, max)


clamp = clip
