"""``Tensor``: an array that remembers the op that made it, and ``Function``: one such op.

A ``Function`` subclass writes ``forward`` on raw arrays (saving what its backward needs as
attributes) and ``backward`` right beneath it, returning one gradient per input.  ``apply``
links the output to its inputs only when a gradient is wanted, so inference pays nothing.
"""

from __future__ import annotations

import contextlib
import functools
import numbers

from bpnn import backend
from bpnn.autograd.engine import run_backward
from bpnn.backend import xp

_grad_state = {"enabled": True}


def is_grad_enabled() -> bool:
    """Return whether operations currently record the graph for backpropagation."""
    return _grad_state["enabled"]


class _GradMode(contextlib.ContextDecorator):
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __enter__(self):
        self.previous = _grad_state["enabled"]
        _grad_state["enabled"] = self.enabled
        return self

    def __exit__(self, *exc):
        _grad_state["enabled"] = self.previous
        return False


def no_grad() -> _GradMode:
    """Context manager (and decorator) that stops recording the graph.

    Example
    -------
    >>> import bpnn
    >>> w = bpnn.ones(2, requires_grad=True)
    >>> with bpnn.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Context manager (and decorator) that records the graph even inside ``no_grad``."""
    return _GradMode(True)


class Function:
    """Base class of differentiable operations.

    Subclasses implement ``forward(*arrays, **params) -> array`` and
    ``backward(grad_output) -> tuple`` (one gradient or ``None`` per input, shaped like the
    input).  Whatever backward needs is stored on ``self`` during forward; backward may read
    ``self.needs_input_grad`` (one bool per input) to skip gradients nobody wants.
    """

    freed = False
    retained = None  # set by Tensor.retain_grad(): the output whose .grad should be kept

    @classmethod
    def apply(cls, *inputs: Tensor, **params) -> Tensor:
        fn = cls()
        out = fn.forward(*[t.data for t in inputs], **params)
        if _grad_state["enabled"]:
            for t in inputs:
                if t.requires_grad:
                    fn.parents = inputs
                    fn.needs_input_grad = tuple(i.requires_grad for i in inputs)
                    result = Tensor.__new__(Tensor)
                    result.data = out
                    result.grad = None
                    result.requires_grad = True
                    result._ctx = fn
                    return result
        return wrap_array(out)

    def forward(self, *arrays, **params):  # pragma: no cover - interface
        raise NotImplementedError

    def backward(self, grad_output):  # pragma: no cover - interface
        raise NotImplementedError


def wrap_array(array) -> Tensor:
    """A Tensor around ``array`` as it is: no copy, no cast, no gradient (the fast path)."""
    result = Tensor.__new__(Tensor)
    result.data = array
    result.grad = None
    result.requires_grad = False
    result._ctx = None
    return result


def _to_array(data, dtype=None):
    """Turn user data into an array: Python floats take the default dtype, arrays keep theirs."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return xp.array(data, dtype=dtype)
    if isinstance(data, xp.ndarray):
        return data
    array = xp.asarray(data)
    if array.dtype.kind == "f" or array.dtype == object:
        array = array.astype(backend.get_default_dtype())
    return array


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    Parameters
    ----------
    data : array_like
        Values. Python numbers and lists of floats become the default dtype (float32 unless
        :func:`bpnn.set_default_dtype` says otherwise); NumPy arrays keep their dtype.
    dtype : numpy dtype, optional
        Cast to this dtype.
    requires_grad : bool, default False
        Record operations on this tensor so that :meth:`backward` fills ``.grad``.

    Attributes
    ----------
    data : numpy.ndarray
        The values; may be changed in place (``layer.weight.data[...] = array``).
    grad : numpy.ndarray or None
        The accumulated gradient of a leaf after :meth:`backward`.

    Example
    -------
    >>> import bpnn
    >>> x = bpnn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    array([2., 4., 6.], dtype=float32)
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "__weakref__")
    __array_priority__ = 1000  # ndarray <op> Tensor defers to Tensor's reflected operator

    def __init__(self, data, dtype=None, requires_grad: bool = False):
        self.data = _to_array(data, dtype)
        self.grad = None
        self._ctx = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # ------------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def numel(self) -> int:
        """Return the number of elements."""
        return int(self.data.size)

    def size(self, dim: int | None = None):
        """Return the shape, or its length along ``dim`` (PyTorch's ``Tensor.size``)."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def dim(self) -> int:
        return self.data.ndim

    def __len__(self) -> int:
        return len(self.data)

    # ------------------------------------------------------------------ grad plumbing
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set whether this tensor records operations; only float tensors can."""
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {self.data.dtype}"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Backpropagate from this tensor, accumulating into the ``.grad`` of leaves.

        Parameters
        ----------
        gradient : array_like, optional
            d(objective)/d(this tensor). Required unless this tensor holds one element.
        retain_graph : bool, default False
            Keep the graph's saved arrays for a second backward pass.

        Raises
        ------
        RuntimeError
            If this tensor does not require grad, if ``gradient`` is missing for a
            non-scalar, or if the graph was already freed by an earlier backward.
        ValueError
            If ``gradient``'s shape differs from this tensor's.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() called on a tensor that does not require grad: no input of the "
                "computation had requires_grad=True (or it ran under no_grad())"
            )
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() on a non-scalar tensor of shape {self.shape} needs a "
                    "`gradient` argument of the same shape"
                )
            gradient = xp.ones_like(self.data)
        else:
            gradient = xp.array(_to_array(gradient), dtype=self.data.dtype)
            if gradient.shape != self.data.shape:
                raise ValueError(
                    f"gradient has shape {gradient.shape} but the tensor has shape {self.shape}"
                )
        run_backward(self, gradient, retain_graph)

    def retain_grad(self) -> Tensor:
        """Keep this non-leaf tensor's gradient in ``.grad`` during the next backward."""
        if self._ctx is not None:
            self._ctx.retained = self
        return self

    def detach(self) -> Tensor:
        """Return a tensor sharing the data but cut off from the graph."""
        return wrap_array(self.data)

    def zero_grad(self) -> None:
        self.grad = None

    # ------------------------------------------------------------------ conversion
    def numpy(self):
        """Return the underlying array (shared, not copied)."""
        return self.data

    def item(self):
        """Return the single value as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def to(self, dtype) -> Tensor:
        """Return the tensor cast to ``dtype`` (differentiable for float dtypes)."""
        dtype = xp.dtype(dtype)
        if dtype == self.data.dtype:
            return self
        if dtype.kind == "f" and self.requires_grad:
            return ops.Cast.apply(self, dtype=dtype)
        return wrap_array(self.data.astype(dtype))

    def float(self) -> Tensor:
        return self.to(xp.float32)

    def double(self) -> Tensor:
        return self.to(xp.float64)

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def __repr__(self) -> str:
        body = xp.array2string(self.data, separator=", ", prefix="tensor(")
        extras = ""
        if self.data.dtype != backend.get_default_dtype() and self.data.dtype.kind == "f":
            extras += f", dtype={self.data.dtype}"
        elif self.data.dtype.kind != "f":
            extras += f", dtype={self.data.dtype}"
        if self.requires_grad:
            extras += ", requires_grad=True"
        return f"tensor({body}{extras})"

    __hash__ = object.__hash__

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other):
        return ops.Add.apply(self, as_operand(other, self))

    def __radd__(self, other):
        return ops.Add.apply(as_operand(other, self), self)

    def __sub__(self, other):
        return ops.Sub.apply(self, as_operand(other, self))

    def __rsub__(self, other):
        return ops.Sub.apply(as_operand(other, self), self)

    def __mul__(self, other):
        return ops.Mul.apply(self, as_operand(other, self))

    def __rmul__(self, other):
        return ops.Mul.apply(as_operand(other, self), self)

    def __truediv__(self, other):
        return ops.Div.apply(self, as_operand(other, self))

    def __rtruediv__(self, other):
        return ops.Div.apply(as_operand(other, self), self)

    def __matmul__(self, other):
        return ops.MatMul.apply(self, as_operand(other, self))

    def __rmatmul__(self, other):
        return ops.MatMul.apply(as_operand(other, self), self)

    def __pow__(self, exponent):
        if isinstance(exponent, numbers.Number):
            return ops.PowScalar.apply(self, exponent=exponent)
        return ops.Pow.apply(self, as_operand(exponent, self))

    def __rpow__(self, base):
        return ops.Pow.apply(as_operand(base, self), self)

    def __neg__(self):
        return ops.Neg.apply(self)

    def __pos__(self):
        return self

    # comparisons give boolean tensors without gradient
    def __lt__(self, other):
        return wrap_array(self.data < _raw(other))

    def __le__(self, other):
        return wrap_array(self.data <= _raw(other))

    def __gt__(self, other):
        return wrap_array(self.data > _raw(other))

    def __ge__(self, other):
        return wrap_array(self.data >= _raw(other))

    def __eq__(self, other):
        return wrap_array(self.data == _raw(other))

    def __ne__(self, other):
        return wrap_array(self.data != _raw(other))

    def __bool__(self):
        return bool(self.data)

    def __getitem__(self, index):
        return ops.GetItem.apply(self, index=_raw_index(index))

    def __setitem__(self, index, value):
        if self.requires_grad and _grad_state["enabled"]:
            raise RuntimeError(
                "in-place assignment to a tensor that requires grad would corrupt the graph; "
                "assign to `.data` under no_grad() instead"
            )
        self.data[_raw_index(index)] = _raw(value)

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape) -> Tensor:
        """Return the tensor with a new shape (one dimension may be -1)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.Reshape.apply(self, shape=shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        shape = self.data.shape
        end = end_dim % len(shape) if shape else 0
        new = shape[:start_dim] + (-1,) + shape[end + 1 :]
        return self.reshape(new)

    def transpose(self, dim0: int | None = None, dim1: int | None = None) -> Tensor:
        """Swap two dimensions, or reverse all of them when none are given."""
        if dim0 is None and dim1 is None:
            axes = tuple(reversed(range(self.data.ndim)))
        else:
            axes = list(range(self.data.ndim))
            axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
            axes = tuple(axes)
        return ops.Permute.apply(self, axes=axes)

    def permute(self, *dims) -> Tensor:
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return ops.Permute.apply(self, axes=tuple(dims))

    def unsqueeze(self, dim: int) -> Tensor:
        shape = list(self.data.shape)
        shape.insert(dim if dim >= 0 else len(shape) + dim + 1, 1)
        return self.reshape(tuple(shape))

    def squeeze(self, dim: int | None = None) -> Tensor:
        shape = self.data.shape
        if dim is None:
            new = tuple(s for s in shape if s != 1)
        else:
            new = shape[:dim] + shape[dim + 1 :] if shape[dim] == 1 else shape
            if dim == -1 and shape[-1] == 1:
                new = shape[:-1]
        return self.reshape(new)

    # ------------------------------------------------------------------ reductions
    def sum(self, axis=None, keepdims: bool = False) -> Tensor:
        return ops.Sum.apply(self, axis=_axis(axis), keepdims=keepdims)

    def mean(self, axis=None, keepdims: bool = False) -> Tensor:
        return ops.Mean.apply(self, axis=_axis(axis), keepdims=keepdims)

    def max(self, axis=None, keepdims: bool = False) -> Tensor:
        """Maximum; ties share the gradient equally (as ``torch.amax``)."""
        return ops.Max.apply(self, axis=_axis(axis), keepdims=keepdims)

    def min(self, axis=None, keepdims: bool = False) -> Tensor:
        """Minimum; ties share the gradient equally (as ``torch.amin``)."""
        return ops.Min.apply(self, axis=_axis(axis), keepdims=keepdims)

    def argmax(self, axis=None) -> Tensor:
        return wrap_array(self.data.argmax(axis=axis))

    def argmin(self, axis=None) -> Tensor:
        return wrap_array(self.data.argmin(axis=axis))

    # ------------------------------------------------------------------ elementwise
    def exp(self) -> Tensor:
        return ops.Exp.apply(self)

    def log(self) -> Tensor:
        return ops.Log.apply(self)

    def sqrt(self) -> Tensor:
        return ops.Sqrt.apply(self)

    def abs(self) -> Tensor:
        return ops.Abs.apply(self)

    def clip(self, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's names
        """Clamp values to ``[min, max]``; the gradient is zero where clamping happened."""
        return ops.Clip.apply(self, low=min, high=max)

    clamp = clip

    # relu / sigmoid / tanh methods are attached by bpnn.functional.activation, which sits
    # above autograd (it would be an upward import here).


def _raw(value):
    return value.data if isinstance(value, Tensor) else value


def _raw_index(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _axis(axis):
    if isinstance(axis, list):
        return tuple(axis)
    return axis


def as_operand(value, like: Tensor) -> Tensor:
    """Wrap the other operand of a binary op, refusing to upcast silently."""
    if isinstance(value, Tensor):
        theirs, ours = value.data.dtype, like.data.dtype
        if theirs != ours and theirs.kind == ours.kind == "f":
            raise TypeError(
                f"dtype mismatch: {like.data.dtype} and {value.data.dtype}; cast one with .to() "
                "(bpnn never upcasts silently)"
            )
        return value
    if isinstance(value, numbers.Number):
        dtype = like.data.dtype if like.data.dtype.kind == "f" else None
        return wrap_array(xp.asarray(value, dtype=dtype))
    array = xp.asarray(value)
    if array.dtype.kind == "f" and like.data.dtype.kind == "f" and array.dtype != like.data.dtype:
        raise TypeError(
            f"dtype mismatch: tensor is {like.data.dtype} but the array is {array.dtype}; cast "
            "one explicitly (bpnn never upcasts silently)"
        )
    return wrap_array(array)


# ---------------------------------------------------------------------- factories
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
    return Tensor(xp.zeros_like(_raw(other)), requires_grad=requires_grad)


def ones_like(other: Tensor, requires_grad: bool = False) -> Tensor:
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

from bpnn.autograd import ops  # noqa: E402  (ops subclasses Function, defined above)
