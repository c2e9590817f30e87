"""The primitive differentiable operations behind ``Tensor``'s operators and methods.

Each class holds its forward and, right beneath it, its backward. Broadcasting ops send their
gradient through the one ``unbroadcast`` helper.
"""

from __future__ import annotations

from bpnn.autograd.function import Function
from bpnn.backend import xp


def unbroadcast(grad, shape: tuple):
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def _broadcast_error(name: str, a, b) -> ValueError:
    return ValueError(f"{name}: shapes {a.shape} and {b.shape} cannot be broadcast together")


class Add(Function):
    """``a + b`` with broadcasting; each gradient is summed back to its operand's shape."""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        try:
            return a + b
        except ValueError:
            raise _broadcast_error("add", a, b) from None

    def backward(self, grad):
        return unbroadcast(grad, self.shapes[0]), unbroadcast(grad, self.shapes[1])


class Sub(Function):
    """``a - b`` with broadcasting; ``b`` gets the negated gradient."""

    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        try:
            return a - b
        except ValueError:
            raise _broadcast_error("subtract", a, b) from None

    def backward(self, grad):
        return unbroadcast(grad, self.shapes[0]), unbroadcast(-grad, self.shapes[1])


class Mul(Function):
    """``a * b`` with broadcasting; ``d/da = b``, ``d/db = a``."""

    def forward(self, a, b):
        self.a, self.b = a, b
        try:
            return a * b
        except ValueError:
            raise _broadcast_error("multiply", a, b) from None

    def backward(self, grad):
        a, b = self.a, self.b
        return unbroadcast(grad * b, a.shape), unbroadcast(grad * a, b.shape)


class Div(Function):
    """``a / b`` with broadcasting; ``d/da = 1 / b``, ``d/db = -a / b**2``."""

    def forward(self, a, b):
        self.a, self.b = a, b
        try:
            return a / b
        except ValueError:
            raise _broadcast_error("divide", a, b) from None

    def backward(self, grad):
        a, b = self.a, self.b
        grad_a = grad / b
        return unbroadcast(grad_a, a.shape), unbroadcast(-grad_a * a / b, b.shape)


class Neg(Function):
    """``-a``; the gradient is negated."""

    def forward(self, a):
        return -a

    def backward(self, grad):
        return (-grad,)


class PowScalar(Function):
    """``a ** n`` for a Python number ``n``; ``d/da = n * a**(n - 1)``."""

    def forward(self, a, exponent):
        self.a, self.exponent = a, exponent
        return a**exponent

    def backward(self, grad):
        a, n = self.a, self.exponent
        if n == 2:
            return (grad * 2 * a,)
        return (grad * n * a ** (n - 1),)


class Pow(Function):
    """``a ** b`` for two tensors; ``d/db = a**b * log(a)`` where ``a > 0`` (0 elsewhere)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = a**b
        return self.out

    def backward(self, grad):
        a, b, out = self.a, self.b, self.out
        grad_a = grad * b * a ** (b - 1)
        with xp.errstate(divide="ignore", invalid="ignore"):
            grad_b = grad * out * xp.where(a > 0, xp.log(xp.where(a > 0, a, 1)), 0)
        return unbroadcast(grad_a, a.shape), unbroadcast(grad_b.astype(out.dtype), b.shape)


class MatMul(Function):
    """``a @ b`` with NumPy's rules for 1-D and batched operands; ``d/da = g @ b.T``, ``d/db = a.T @
    g``.
    """

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(
                f"matmul: both operands need at least one dimension, got {a.shape} and {b.shape}"
            )
        self.a, self.b = a, b
        try:
            return a @ b
        except ValueError:
            raise ValueError(
                f"matmul: shapes {a.shape} and {b.shape} are not aligned "
                f"({a.shape[-1]} != {b.shape[0] if b.ndim == 1 else b.shape[-2]})"
            ) from None

    def backward(self, grad):
        a, b = self.a, self.b
        if a.ndim == 1 and b.ndim == 1:
            return grad * b, grad * a
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = grad
        if a.ndim == 1:
            g2 = xp.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = xp.expand_dims(g2, -1)
        grad_a = g2 @ xp.swapaxes(b2, -1, -2)
        grad_b = xp.swapaxes(a2, -1, -2) @ g2
        if a.ndim == 1:
            grad_a = xp.squeeze(grad_a, -2)
        if b.ndim == 1:
            grad_b = xp.squeeze(grad_b, -1)
        return unbroadcast(grad_a, a.shape), unbroadcast(grad_b, b.shape)


class Exp(Function):
    """``exp(a)``; the derivative is the output itself."""

    def forward(self, a):
        self.out = xp.exp(a)
        return self.out

    def backward(self, grad):
        return (grad * self.out,)


class Log(Function):
    """Natural logarithm; ``d/da = 1 / a``."""

    def forward(self, a):
        self.a = a
        return xp.log(a)

    def backward(self, grad):
        return (grad / self.a,)


class Sqrt(Function):
    """Square root; ``d/da = 1 / (2 sqrt(a))``."""

    def forward(self, a):
        self.out = xp.sqrt(a)
        return self.out

    def backward(self, grad):
        return (grad / (2 * self.out),)


class Abs(Function):
    """``|a|``; the derivative is ``sign(a)`` (0 at 0, as PyTorch)."""

    def forward(self, a):
        self.a = a
        return xp.abs(a)

    def backward(self, grad):
        return (grad * xp.sign(self.a),)


class Clip(Function):
    """``a`` limited to ``[low, high]``; the gradient passes only where ``a`` was inside."""

    def forward(self, a, low, high):
        self.inside = xp.ones(a.shape, dtype=bool)
        if low is not None:
            self.inside &= a >= low
        if high is not None:
            self.inside &= a <= high
        return xp.clip(a, low, high)

    def backward(self, grad):
        return (grad * self.inside,)


class Cast(Function):
    """``a`` in another dtype; the gradient is cast back to ``a``'s dtype."""

    def forward(self, a, dtype):
        self.source = a.dtype
        return a.astype(dtype)

    def backward(self, grad):
        return (grad.astype(self.source),)


def _normalise_axis(axis, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(a % ndim if ndim else 0 for a in axis)


def _expand_reduced(grad, shape: tuple, axes: tuple, keepdims: bool):
    """Give a reduced gradient back the reduced axes (as size 1) so it broadcasts over ``shape``."""
    if not keepdims:
        for axis in sorted(axes):
            grad = xp.expand_dims(grad, axis)
    return grad


class Sum(Function):
    """Sum over ``axis`` (all by default); the gradient is broadcast back."""

    def forward(self, a, axis, keepdims):
        self.shape, self.axes, self.keepdims = a.shape, _normalise_axis(axis, a.ndim), keepdims
        return a.sum(axis=axis, keepdims=keepdims)

    def backward(self, grad):
        grad = _expand_reduced(grad, self.shape, self.axes, self.keepdims)
        return (xp.broadcast_to(grad, self.shape),)


class Mean(Function):
    """Mean over ``axis`` (all by default); the gradient is broadcast back over the count."""

    def forward(self, a, axis, keepdims):
        self.shape, self.axes, self.keepdims = a.shape, _normalise_axis(axis, a.ndim), keepdims
        count = 1
        for axis_ in self.axes:
            count *= a.shape[axis_]
        self.count = count
        return a.mean(axis=axis, keepdims=keepdims)

    def backward(self, grad):
        grad = _expand_reduced(grad, self.shape, self.axes, self.keepdims) / self.count
        return (xp.broadcast_to(grad, self.shape),)


class _Extremum(Function):
    reduce = None

    def forward(self, a, axis, keepdims):
        self.a, self.axes, self.keepdims = a, _normalise_axis(axis, a.ndim), keepdims
        self.out = type(self).reduce(a, axis=axis, keepdims=True)
        return self.out if keepdims else self.out.reshape(
            tuple(n for i, n in enumerate(a.shape) if i not in self.axes)
        )

    def backward(self, grad):
        grad = _expand_reduced(grad, self.a.shape, self.axes, self.keepdims)
        hit = self.a == self.out
        share = hit / hit.sum(axis=self.axes, keepdims=True)
        return ((grad * share).astype(self.a.dtype),)


class Max(_Extremum):
    """Largest value over ``axis``; the gradient goes to the maximum (shared among ties)."""

    reduce = staticmethod(xp.max)


class Min(_Extremum):
    """Smallest value over ``axis``; the gradient goes to the minimum (shared among ties)."""

    reduce = staticmethod(xp.min)


class Reshape(Function):
    """``a`` in another shape; the gradient is reshaped back."""

    def forward(self, a, shape):
        self.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            message = f"cannot reshape a tensor of shape {a.shape} into {tuple(shape)}"
            raise ValueError(message) from None

    def backward(self, grad):
        return (grad.reshape(self.shape),)


class Permute(Function):
    """``a`` with its axes reordered; the gradient gets the inverse order."""

    def forward(self, a, axes):
        if len(axes) != a.ndim or sorted(ax % a.ndim for ax in axes) != list(range(a.ndim)):
            raise ValueError(
                f"permute: {axes} is not a permutation of the {a.ndim} dims of {a.shape}"
            )
        self.axes = axes
        return a.transpose(axes)

    def backward(self, grad):
        return (grad.transpose(xp.argsort(self.axes)),)


def _is_basic_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items)


class GetItem(Function):
    """``a[index]`` (basic or advanced indexing); the gradient is scattered back, repeats added."""

    def forward(self, a, index):
        self.shape, self.dtype, self.index = a.shape, a.dtype, index
        return a[index]

    def backward(self, grad):
        full = xp.zeros(self.shape, dtype=self.dtype)
        if _is_basic_index(self.index):
            full[self.index] = grad
        else:  # advanced indexing may pick an element several times: accumulate
            xp.add.at(full, self.index, grad)
        return (full,)


class Concatenate(Function):
    """Join tensors along an existing ``axis``; each gets its slice of the gradient."""

    def forward(self, *arrays, axis):
        self.axis = axis
        self.splits = xp.cumsum([a.shape[axis] for a in arrays])[:-1]
        try:
            return xp.concatenate(arrays, axis=axis)
        except ValueError:
            shapes = ", ".join(str(a.shape) for a in arrays)
            message = f"concatenate along axis {axis}: shapes {shapes} do not match"
            raise ValueError(message) from None

    def backward(self, grad):
        return tuple(xp.split(grad, self.splits, axis=self.axis))


class Stack(Function):
    """Join tensors along a new ``axis``; each gets its slice of the gradient."""

    def forward(self, *arrays, axis):
        self.axis, self.count = axis, len(arrays)
        try:
            return xp.stack(arrays, axis=axis)
        except ValueError:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(f"stack needs equal shapes, got {shapes}") from None

    def backward(self, grad):
        return tuple(xp.squeeze(g, self.axis) for g in xp.split(grad, self.count, axis=self.axis))


class Where(Function):
    """``x`` where ``condition`` holds, else ``y``; each gets the gradient where it was chosen."""

    def forward(self, x, y, condition):
        self.condition, self.shapes = condition, (x.shape, y.shape)
        return xp.where(condition, x, y)

    def backward(self, grad):
        zero = xp.zeros((), dtype=grad.dtype)
        return (
            unbroadcast(xp.where(self.condition, grad, zero), self.shapes[0]),
            unbroadcast(xp.where(self.condition, zero, grad), self.shapes[1]),
        )
