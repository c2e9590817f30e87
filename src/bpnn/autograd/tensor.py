"""``Tensor``: an array that remembers the op that made it (see ``autograd.function``)."""

from __future__ import annotations

import numbers

from bpnn import backend
from bpnn.autograd.engine import run_backward
from bpnn.autograd.grad_mode import (  # noqa: F401 - re-exported
    _grad_state,
    enable_grad,
    is_grad_enabled,
    no_grad,
)
from bpnn.backend import xp


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
        """The array's shape."""
        return self.data.shape

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self.data.ndim

    @property
    def dtype(self):
        """The array's dtype."""
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user, not by an op (their ``.grad`` is kept)."""
        return self._ctx is None

    @property
    def T(self) -> Tensor:
        """The transpose (axes reversed); differentiable."""
        return self.transpose()

    def numel(self) -> int:
        """Return the number of elements."""
        return int(self.data.size)

    def size(self, dim: int | None = None):
        """Return the shape, or its length along ``dim`` (PyTorch's ``Tensor.size``)."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def dim(self) -> int:
        """Number of dimensions (PyTorch's name)."""
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
        """Drop the accumulated gradient (``.grad = None``)."""
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
        """The values as nested Python lists."""
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
        """A float32 copy (differentiable cast)."""
        return self.to(xp.float32)

    def double(self) -> Tensor:
        """A float64 copy (differentiable cast)."""
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
        """Merge dimensions ``start_dim`` to ``end_dim`` into one; differentiable."""
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
        """Reorder the axes; differentiable."""
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return ops.Permute.apply(self, axes=tuple(dims))

    def unsqueeze(self, dim: int) -> Tensor:
        """Insert an axis of length 1 at ``dim``."""
        shape = list(self.data.shape)
        shape.insert(dim if dim >= 0 else len(shape) + dim + 1, 1)
        return self.reshape(tuple(shape))

    def squeeze(self, dim: int | None = None) -> Tensor:
        """Remove axes of length 1 (only ``dim`` if given)."""
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
        """Sum over ``axis`` (all by default); differentiable."""
        return ops.Sum.apply(self, axis=_axis(axis), keepdims=keepdims)

    def mean(self, axis=None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis`` (all by default); differentiable."""
        return ops.Mean.apply(self, axis=_axis(axis), keepdims=keepdims)

    def max(self, axis=None, keepdims: bool = False) -> Tensor:
        """Maximum; ties share the gradient equally (as ``torch.amax``)."""
        return ops.Max.apply(self, axis=_axis(axis), keepdims=keepdims)

    def min(self, axis=None, keepdims: bool = False) -> Tensor:
        """Minimum; ties share the gradient equally (as ``torch.amin``)."""
        return ops.Min.apply(self, axis=_axis(axis), keepdims=keepdims)

    def argmax(self, axis=None) -> Tensor:
        """Indices of the maxima over ``axis`` (not differentiable)."""
        return wrap_array(self.data.argmax(axis=axis))

    def argmin(self, axis=None) -> Tensor:
        """Indices of the minima over ``axis`` (not differentiable)."""
        return wrap_array(self.data.argmin(axis=axis))

    # ------------------------------------------------------------------ elementwise
    def exp(self) -> Tensor:
        """Element-wise ``exp``; differentiable."""
        return ops.Exp.apply(self)

    def log(self) -> Tensor:
        """Element-wise natural logarithm; differentiable."""
        return ops.Log.apply(self)

    def sqrt(self) -> Tensor:
        """Element-wise square root; differentiable."""
        return ops.Sqrt.apply(self)

    def abs(self) -> Tensor:
        """Element-wise absolute value; differentiable."""
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


def __getattr__(name):
    # ``from bpnn.autograd.tensor import Function`` still works; function.py imports this file.
    if name == "Function":
        from bpnn.autograd.function import Function

        return Function
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


from bpnn.autograd import ops  # noqa: E402  (ops needs Tensor, defined above)
