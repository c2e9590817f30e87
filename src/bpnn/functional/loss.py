"""Loss functions with PyTorch's semantics (``reduction`` = "mean" | "sum" | "none")."""

from __future__ import annotations

from bpnn.autograd.function import Function
from bpnn.autograd.tensor import Tensor, as_operand
from bpnn.backend import xp
from bpnn.functional.activation import log_softmax_array, stable_sigmoid

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_same_shape(name: str, input: Tensor, target) -> None:
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(
            f"{name}: input shape {tuple(input.shape)} and target shape "
            f"{tuple(target.shape)} differ"
        )


def _target(target, like: Tensor) -> Tensor:
    """Targets are data: wrap them in the input's dtype without requiring a gradient path."""
    if isinstance(target, Tensor):
        if target.dtype != like.dtype and target.dtype.kind == "f":
            return as_operand(target, like)
        return target if target.dtype.kind == "f" else Tensor(target.data.astype(like.dtype))
    return Tensor(xp.asarray(target, dtype=like.dtype))


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


class _Elementwise(Function):
    """Pointwise loss of (input - target); subclasses give the value and its derivative."""

    def forward(self, input, target, reduction, **params):
        self.reduction, self.shape, self.params = reduction, input.shape, params
        diff = input - target
        self.diff = diff
        losses = self.value(diff, **params)
        if reduction == "mean":
            return xp.asarray(losses.mean(), dtype=input.dtype)
        if reduction == "sum":
            return xp.asarray(losses.sum(), dtype=input.dtype)
        return losses

    def backward(self, grad):
        grad_diff = self.derivative(self.diff, **self.params)
        if self.reduction == "mean":
            grad_diff = grad_diff * (grad / self.diff.size)
        else:
            grad_diff = grad_diff * grad
        grad_diff = grad_diff.astype(self.diff.dtype)
        return grad_diff, -grad_diff


class _MSE(_Elementwise):
    @staticmethod
    def value(diff):
        return diff * diff

    @staticmethod
    def derivative(diff):
        return 2 * diff


class _L1(_Elementwise):
    @staticmethod
    def value(diff):
        return xp.abs(diff)

    @staticmethod
    def derivative(diff):
        return xp.sign(diff)


class _Huber(_Elementwise):
    @staticmethod
    def value(diff, delta):
        absolute = xp.abs(diff)
        return xp.where(absolute < delta, 0.5 * diff * diff, delta * (absolute - 0.5 * delta))

    @staticmethod
    def derivative(diff, delta):
        return xp.clip(diff, -delta, delta)


def _elementwise_loss(kind, name, input, target, reduction, **params) -> Tensor:
    _check_reduction(reduction)
    target = _target(target, input)
    _check_same_shape(name, input, target)
    return kind.apply(input, target, reduction=reduction, **params)


def mse_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean squared error ``(input - target)^2``, reduced by ``reduction``.

    Parameters
    ----------
    input : Tensor
    target : Tensor or array_like, same shape as ``input``
    reduction : {"mean", "sum", "none"}, default "mean"

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        If the shapes differ (no silent broadcasting of a (N,) target against (N, 1)).
    """
    return _elementwise_loss(_MSE, "mse_loss", input, target, reduction)


def l1_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:
    """Mean absolute error ``|input - target|``; the derivative at 0 is 0."""
    return _elementwise_loss(_L1, "l1_loss", input, target, reduction)


def huber_loss(input: Tensor, target, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Quadratic below ``delta``, linear above: ``0.5 d^2`` or ``delta (|d| - delta / 2)``."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    return _elementwise_loss(_Huber, "huber_loss", input, target, reduction, delta=delta)


# ------------------------------------------------------------------ cross-entropy family
def _classes_last(array):
    """(N, C, d1, ...) -> (N * d1 * ..., C); (C,) -> (1, C)."""
    if array.ndim == 1:
        return array[None, :]
    if array.ndim == 2:
        return array
    return xp.moveaxis(array, 1, -1).reshape(-1, array.shape[1])


def _restore_layout(flat, shape):
    """Inverse of :func:`_classes_last` for per-element arrays shaped like ``shape``."""
    if len(shape) == 1:
        return flat[0]
    if len(shape) == 2:
        return flat
    moved = (shape[0],) + tuple(shape[2:]) + (shape[1],)
    return xp.moveaxis(flat.reshape(moved), -1, 1)


def _check_class_targets(name: str, input_shape, target, num_classes: int,
                         ignore_index: int) -> bool:
    """Validate class indices; return whether any of them equals ``ignore_index``."""
    expected = (input_shape[0],) + tuple(input_shape[2:]) if len(input_shape) > 1 else ()
    if target.shape != expected:
        raise ValueError(
            f"{name}: class-index target should have shape {expected} for input of shape "
            f"{tuple(input_shape)}, got {target.shape}"
        )
    if not target.size:
        return False
    low, high = target.min(), target.max()
    if 0 <= low and high < num_classes:  # the common case: two reductions, no masks
        return bool(low <= ignore_index <= high and (target == ignore_index).any())
    ignored = target == ignore_index
    valid = target[~ignored]
    if valid.size and (valid.min() < 0 or valid.max() >= num_classes):
        bad = int(valid.min() if valid.min() < 0 else valid.max())
        raise ValueError(f"{name}: target label {bad} is outside [0, {num_classes - 1}]")
    return bool(ignored.any())


class _CrossEntropy(Function):
    """Fused log-softmax + negative log-likelihood.

    Why fused: the gradient is simply ``softmax * sum(a) - a`` (``a`` the per-class target
    weights), with no exp of a log and no division by a probability that underflowed.
    """

    def forward(self, logits, target, weight, reduction, label_smoothing, ignore_index,
                any_ignored=False):
        self.shape, self.reduction = logits.shape, reduction
        flat = _classes_last(logits)
        n, c = flat.shape
        self.plain = (target.dtype.kind in "iu" and weight is None and label_smoothing == 0.0
                      and not any_ignored)
        if self.plain:  # hard labels, no weights: the tutorials' case, kept to a few passes
            labels = target.reshape(-1)
            shifted = flat - flat.max(axis=1, keepdims=True)
            exps = xp.exp(shifted)
            sums = exps.sum(axis=1)
            rows = xp.arange(n)
            per_sample = xp.log(sums) - shifted[rows, labels]
            self.exps, self.sums, self.rows, self.labels = exps, sums, rows, labels
            self.normaliser = n
        else:
            log_probs = log_softmax_array(flat, axis=1)
            self.log_probs = log_probs
            if target.dtype.kind in "iu":
                labels = target.reshape(-1)
                active = labels != ignore_index
                safe = xp.where(active, labels, 0)
                base_weight = weight[safe] if weight is not None else xp.ones(n, logits.dtype)
                picked_weight = base_weight * active
                mass = xp.zeros((n, c), dtype=logits.dtype)
                mass[xp.arange(n), safe] = (1.0 - label_smoothing) * picked_weight
                if label_smoothing:
                    class_weight = weight if weight is not None else xp.ones(c, logits.dtype)
                    mass += (label_smoothing / c) * class_weight[None, :] * active[:, None]
                self.normaliser = picked_weight.sum()
            else:
                probabilities = _classes_last(target)
                if label_smoothing:
                    probabilities = probabilities * (1.0 - label_smoothing) + label_smoothing / c
                mass = probabilities * weight[None, :] if weight is not None else probabilities
                self.normaliser = n
            self.mass = mass
            per_sample = -(mass * log_probs).sum(axis=1)
        per_sample = per_sample.astype(logits.dtype, copy=False)
        if reduction == "mean":
            return xp.asarray(per_sample.sum() / self.normaliser, dtype=logits.dtype)
        if reduction == "sum":
            return xp.asarray(per_sample.sum(), dtype=logits.dtype)
        if len(self.shape) == 1:
            return per_sample[0]
        return per_sample.reshape((self.shape[0],) + tuple(self.shape[2:]))

    def backward(self, grad):
        if self.plain:
            grad_flat = self.exps
            grad_flat /= self.sums[:, None]  # softmax, in the buffer forward no longer needs
            grad_flat[self.rows, self.labels] -= 1
        else:
            mass = self.mass
            grad_flat = xp.exp(self.log_probs) * mass.sum(axis=1, keepdims=True) - mass
        if self.reduction == "mean":
            grad_flat *= grad / self.normaliser
        elif self.reduction == "sum":
            grad_flat *= grad
        else:
            grad_flat *= grad.reshape(-1)[:, None]
        return (_restore_layout(grad_flat.astype(grad.dtype, copy=False), self.shape),)


def _class_weight(weight, like: Tensor, num_classes: int):
    if weight is None:
        return None
    weight = xp.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=like.dtype)
    if weight.shape != (num_classes,):
        raise ValueError(f"weight should have shape ({num_classes},), got {weight.shape}")
    return weight


def cross_entropy(input: Tensor, target, weight=None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits and targets (log-softmax and NLL fused, as PyTorch).

    Parameters
    ----------
    input : Tensor, shape (N, C) or (N, C, d1, ...) or (C,)
        Unnormalised scores (logits).
    target : Tensor or array_like
        Class indices (integers, shape (N,) or (N, d1, ...)) or class probabilities /
        one-hot rows (float, same shape as ``input``).
    weight : array_like, shape (C,), optional
        Per-class weights. With class indices and ``reduction="mean"`` the result is divided
        by the summed weights of the targets, as in PyTorch.
    ignore_index : int, default -100
        Class-index targets equal to this contribute nothing.
    reduction : {"mean", "sum", "none"}, default "mean"
    label_smoothing : float in [0, 1], default 0.0
        Mix the target with the uniform distribution.

    Returns
    -------
    Tensor

    Raises
    ------
    ValueError
        If a label is outside ``[0, C)``, or shapes do not fit.

    Example
    -------
    >>> import bpnn, bpnn.nn.functional as F
    >>> logits = bpnn.tensor([[2.0, 0.5, -1.0]], requires_grad=True)
    >>> round(F.cross_entropy(logits, bpnn.tensor([0])).item(), 4)
    0.2413
    """
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    num_classes = input.shape[1] if input.ndim > 1 else input.shape[0]
    raw = target.data if isinstance(target, Tensor) else xp.asarray(target)
    any_ignored = False
    if raw.dtype.kind in "iub":
        labels = raw if raw.dtype == xp.int64 else raw.astype(xp.int64)
        any_ignored = _check_class_targets("cross_entropy", input.shape, labels, num_classes,
                                           ignore_index)
    else:
        target = _target(target, input)
        _check_same_shape("cross_entropy (probability targets)", input, target)
        labels = target.data
    # targets are data, not graph inputs: passed as a parameter so backward owes them nothing
    return _CrossEntropy.apply(
        input, target=labels, weight=_class_weight(weight, input, num_classes),
        reduction=reduction, label_smoothing=label_smoothing, ignore_index=ignore_index,
        any_ignored=any_ignored,
    )


class _NLL(Function):
    def forward(self, log_probs, target, weight, reduction, ignore_index):
        self.shape, self.reduction = log_probs.shape, reduction
        flat = _classes_last(log_probs)
        n = flat.shape[0]
        labels = target.reshape(-1)
        active = labels != ignore_index
        self.safe = xp.where(active, labels, 0)
        picked = (weight[self.safe] if weight is not None else 1.0) * active
        self.picked = picked.astype(log_probs.dtype)
        per_sample = -flat[xp.arange(n), self.safe] * self.picked
        self.normaliser = self.picked.sum()
        if reduction == "mean":
            return xp.asarray(per_sample.sum() / self.normaliser, dtype=log_probs.dtype)
        if reduction == "sum":
            return xp.asarray(per_sample.sum(), dtype=log_probs.dtype)
        return per_sample.reshape(target.shape)

    def backward(self, grad):
        n = len(self.safe)
        c = self.shape[1] if len(self.shape) > 1 else self.shape[0]
        grad_flat = xp.zeros((n, c), dtype=self.picked.dtype)
        scale = grad / self.normaliser if self.reduction == "mean" else grad
        scale = scale.reshape(-1) if self.reduction == "none" else scale
        grad_flat[xp.arange(n), self.safe] = -self.picked * scale
        return _restore_layout(grad_flat, self.shape), None


def nll_loss(input: Tensor, target, weight=None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` at class indices ``target``.

    Same conventions as :func:`cross_entropy` with class-index targets, but ``input`` must
    already be log-probabilities (e.g. from :func:`log_softmax`).
    """
    _check_reduction(reduction)
    num_classes = input.shape[1] if input.ndim > 1 else input.shape[0]
    labels = xp.asarray(target.data if isinstance(target, Tensor) else target)
    if labels.dtype.kind not in "iub":
        raise ValueError(f"nll_loss: target must hold class indices (integers), got {labels.dtype}")
    labels = labels.astype(xp.int64)
    _check_class_targets("nll_loss", input.shape, labels, num_classes, ignore_index)
    return _NLL.apply(input, Tensor(labels), weight=_class_weight(weight, input, num_classes),
                      reduction=reduction, ignore_index=ignore_index)


class _BCE(Function):
    def forward(self, p, target, weight, reduction):
        self.p, self.target, self.weight, self.reduction = p, target, weight, reduction
        log_p = xp.maximum(xp.log(p), -100)  # PyTorch clamps the logs at -100
        log_1mp = xp.maximum(xp.log1p(-p), -100)
        losses = -(target * log_p + (1 - target) * log_1mp)
        if weight is not None:
            losses = losses * weight
        return _reduce_array(losses, reduction, p.dtype)

    def backward(self, grad):
        p, target = self.p, self.target
        eps = 1e-12
        grad_p = (p - target) / xp.maximum((1 - p) * p, eps)
        if self.weight is not None:
            grad_p = grad_p * self.weight
        return _scale_grad(grad_p, grad, self.reduction, p.dtype), None


class _BCEWithLogits(Function):
    def forward(self, x, target, weight, pos_weight, reduction):
        self.x, self.target, self.weight, self.pos_weight = x, target, weight, pos_weight
        self.reduction = reduction
        softplus_neg = xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(-x, 0)  # log(1 + exp(-x))
        if pos_weight is None:
            losses = (1 - target) * x + softplus_neg
        else:
            losses = (1 - target) * x + (1 + (pos_weight - 1) * target) * softplus_neg
        if weight is not None:
            losses = losses * weight
        return _reduce_array(losses, reduction, x.dtype)

    def backward(self, grad):
        x, target, pos_weight = self.x, self.target, self.pos_weight
        if pos_weight is None:
            grad_x = stable_sigmoid(x) - target
            grad_target = -x
        else:
            grad_x = (1 - target) - (1 + (pos_weight - 1) * target) * stable_sigmoid(-x)
            softplus_neg = xp.log1p(xp.exp(-xp.abs(x))) + xp.maximum(-x, 0)
            grad_target = -x + (pos_weight - 1) * softplus_neg
        if self.weight is not None:
            grad_x = grad_x * self.weight
            grad_target = grad_target * self.weight
        return (_scale_grad(grad_x, grad, self.reduction, x.dtype),
                _scale_grad(grad_target, grad, self.reduction, x.dtype))


def _reduce_array(losses, reduction, dtype):
    if reduction == "mean":
        return xp.asarray(losses.mean(), dtype=dtype)
    if reduction == "sum":
        return xp.asarray(losses.sum(), dtype=dtype)
    return losses.astype(dtype)


def _scale_grad(local, grad, reduction, dtype):
    if reduction == "mean":
        return (local * (grad / local.size)).astype(dtype)
    return (local * grad).astype(dtype)


def _optional_weight(weight, like: Tensor, name: str):
    if weight is None:
        return None
    array = xp.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=like.dtype)
    try:
        xp.broadcast_shapes(array.shape, like.shape)
    except ValueError:
        message = f"{name} of shape {array.shape} does not broadcast to input shape {like.shape}"
        raise ValueError(message) from None
    return xp.broadcast_to(array, like.shape)


def binary_cross_entropy(input: Tensor, target, weight=None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of probabilities ``input`` in [0, 1] (logs clamped at -100).

    Prefer :func:`binary_cross_entropy_with_logits`, which is stable for saturated inputs.
    """
    _check_reduction(reduction)
    target = _target(target, input)
    _check_same_shape("binary_cross_entropy", input, target)
    data = input.data
    if data.size and (data.min() < 0 or data.max() > 1):
        raise ValueError("binary_cross_entropy: input must hold probabilities in [0, 1]")
    weight = _optional_weight(weight, input, "weight")
    return _BCE.apply(input, target, weight=weight, reduction=reduction)


def binary_cross_entropy_with_logits(input: Tensor, target, weight=None, reduction: str = "mean",
                                     pos_weight=None) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable step.

    ``loss = (1 - t) x + (1 + (pos_weight - 1) t) log(1 + exp(-x))``, computed without
    overflow for large ``|x|``.
    """
    _check_reduction(reduction)
    target = _target(target, input)
    _check_same_shape("binary_cross_entropy_with_logits", input, target)
    return _BCEWithLogits.apply(
        input, target, weight=_optional_weight(weight, input, "weight"),
        pos_weight=_optional_weight(pos_weight, input, "pos_weight"), reduction=reduction,
    )
