"""Batch normalisation over the channel axis (axis 1) of (N, C), (N, C, L) or (N, C, H, W)."""

from __future__ import annotations

from bpnn.autograd.function import Function
from bpnn.autograd.tensor import Tensor
from bpnn.backend import xp
from bpnn.functional.conv import is_channels_last


def _as_channel_matrix(array, like):
    """View ``array`` (shaped like ``like``) so that channels are the last or middle axis.

    Returns the view and the axes to reduce: ``(M, C)`` with axis 0 for 2-D and channels-last
    4-D data, ``(N, C, L)`` with axes (0, 2) otherwise. Views, not copies, for the common cases.
    """
    if like.ndim == 2:
        return array, (0,)
    if like.ndim == 4 and is_channels_last(like):
        return array.transpose(0, 2, 3, 1).reshape(-1, like.shape[1]), (0,)
    return array.reshape(like.shape[0], like.shape[1], -1), (0, 2)


def _from_channel_matrix(matrix, like):
    if like.ndim == 4 and is_channels_last(like):
        n, c, h, w = like.shape
        return matrix.reshape(n, h, w, c).transpose(0, 3, 1, 2)
    return matrix.reshape(like.shape)


def _channel_sum(matrix, axes):
    """Per-channel sum; for an (M, C) matrix a BLAS ``ones @ matrix`` (numpy's axis-0 sum walks
    rows of only C values)."""
    if axes == (0,):
        return xp.ones(matrix.shape[0], dtype=matrix.dtype) @ matrix
    return matrix.sum(axis=axes)


class _BatchNorm(Function):
    """Normalise, scale and shift as one node with the closed-form gradient.

    Why fused: the textbook gradient through mean, variance, sqrt and division takes a dozen
    graph nodes and temporaries; the closed form needs two reductions and a few passes, and
    only the centred input and one value per channel are kept for it.
    """

    def forward(self, x, weight=None, bias=None, running_mean=None, running_var=None,
                training=True, momentum=0.1, eps=1e-5):
        matrix, axes = _as_channel_matrix(x, x)
        shape = (1, -1) if len(axes) == 1 else (1, -1, 1)
        count = matrix.size // matrix.shape[1]
        if training:
            mean = _channel_sum(matrix, axes) / count
            centered = matrix - mean.reshape(shape)
            out = xp.multiply(centered, centered)  # squares now, the output below
            var = _channel_sum(out, axes) / count
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += momentum * mean
            if running_var is not None:
                running_var *= 1 - momentum
                running_var += (momentum * count / max(count - 1, 1)) * var
        else:
            centered = matrix - running_mean.reshape(shape)
            out, var = xp.empty_like(centered), running_var
        self.inv_std = 1.0 / xp.sqrt(var + eps)
        self.scale = self.inv_std if weight is None else weight * self.inv_std
        self.centered = centered
        self.meta = (training, axes, shape, count, weight is not None, bias is not None)
        self.like = x
        xp.multiply(centered, self.scale.reshape(shape), out=out)
        if bias is not None:  # (batch_norm adds a bias without weight outside this node)
            out += bias.reshape(shape)
        return _from_channel_matrix(out, x)

    def backward(self, grad):
        training, axes, shape, count, has_weight, has_bias = self.meta
        grad_matrix, _ = _as_channel_matrix(grad, self.like)
        grad_sum = _channel_sum(grad_matrix, axes)
        scratch = grad_matrix * self.centered
        grad_dot = _channel_sum(scratch, axes) * self.inv_std  # sum(grad * normalised)
        grad_x = grad_matrix * self.scale.reshape(shape)
        if training:
            # d/dx of scale * (x - mean) / std with the batch's mean and variance, closed form:
            # scale * (grad - mean(grad) - normalised * mean(grad * normalised))
            xp.multiply(self.centered, (self.scale * self.inv_std * grad_dot / count)
                        .reshape(shape), out=scratch)
            grad_x -= scratch
            grad_x -= (self.scale * grad_sum / count).reshape(shape)
        grads = [_from_channel_matrix(grad_x, self.like)]
        if has_weight:
            grads.append(grad_dot)
        if has_bias:
            grads.append(grad_sum)
        return tuple(grads)


def batch_norm(x: Tensor, running_mean=None, running_var=None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Normalise each channel (axis 1) to zero mean and unit variance, then scale and shift.

    Same arguments and semantics as ``torch.nn.functional.batch_norm``: in training the batch
    statistics (biased variance) normalise, and the running statistics, when given, are updated
    in place as ``running = (1 - momentum) * running + momentum * batch_stat`` (unbiased variance);
    in evaluation the running statistics normalise.

    Parameters
    ----------
    x : Tensor, shape (N, C), (N, C, L) or (N, C, H, W)
    running_mean, running_var : numpy.ndarray, shape (C,), optional
        Required when ``training`` is False; updated in place when training.
    weight, bias : Tensor, shape (C,), optional
        The affine scale (gamma) and shift (beta).
    training : bool, default False
    momentum : float, default 0.1
    eps : float, default 1e-5

    Returns
    -------
    Tensor, shaped like ``x``

    Raises
    ------
    ValueError
        If shapes disagree, running statistics are missing in evaluation, or training sees
        one value per channel.

    Example
    -------
    >>> import bpnn, bpnn.nn.functional as F
    >>> F.batch_norm(bpnn.randn(8, 3), training=True).shape
    (8, 3)
    """
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"batch_norm expects a 2-D, 3-D or 4-D input (N, C, ...), got shape "
                         f"{tuple(x.shape)}")
    channels = x.shape[1]
    for name, value in (("running_mean", running_mean), ("running_var", running_var),
                        ("weight", weight), ("bias", bias)):
        if value is not None and tuple(value.shape) != (channels,):
            raise ValueError(f"batch_norm: {name} must have shape ({channels},) for an input with "
                             f"{channels} channels (input shape {tuple(x.shape)}), got "
                             f"{tuple(value.shape)}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
    if training and x.data.size // max(channels, 1) <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input shape {tuple(x.shape)}")
    running_mean = running_mean.data if isinstance(running_mean, Tensor) else running_mean
    running_var = running_var.data if isinstance(running_var, Tensor) else running_var
    tensors = [x] + [t for t in (weight, bias) if t is not None]
    params = {"running_mean": running_mean, "running_var": running_var,
              "training": bool(training), "momentum": momentum, "eps": eps}
    if weight is None and bias is not None:
        return _BatchNorm.apply(x, **params) + bias.reshape(
            (1, channels) + (1,) * (x.ndim - 2))
    return _BatchNorm.apply(*tensors, **params)
