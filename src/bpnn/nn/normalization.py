"""Batch normalisation layers: ``BatchNorm1d`` and ``BatchNorm2d`` (PyTorch's semantics)."""

from __future__ import annotations

from bpnn import backend
from bpnn.backend import xp
from bpnn.functional.normalization import batch_norm
from bpnn.nn.module import Module, Parameter
from bpnn.nn.registry import register_layer


class _BatchNorm(Module):
    _dims: tuple = ()
    _layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype=None):
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"{type(self).__name__}: num_features must be a positive integer, "
                             f"got {num_features!r}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{type(self).__name__}: momentum must be in [0, 1] or None, "
                             f"got {momentum!r}")
        self.num_features, self.eps, self.momentum = num_features, float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        dtype = backend.get_default_dtype() if dtype is None else backend.as_float_dtype(dtype)
        self.weight = Parameter(xp.ones(num_features, dtype=dtype)) if affine else None
        self.bias = Parameter(xp.zeros(num_features, dtype=dtype)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", xp.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", xp.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", xp.zeros((), dtype=xp.int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def reset_running_stats(self) -> None:
        """Set the running mean to 0, the running variance to 1 and the batch count to 0."""
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def forward(self, x):
        if x.ndim not in self._dims:
            raise ValueError(f"{type(self).__name__} expects a {self._layout} input, got shape "
                             f"{tuple(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}): expected input with "
                f"{self.num_features} channels, got {x.shape[1]} (input shape {tuple(x.shape)})")
        use_batch_stats = self.training or not self.track_running_stats
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1
            if self.momentum is None:  # cumulative moving average, as in PyTorch
                momentum = 1.0 / float(self.num_batches_tracked)
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                          use_batch_stats, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")

    def get_config(self) -> dict:
        dtype = (self.weight.dtype if self.weight is not None
                 else self.running_mean.dtype if self.running_mean is not None
                 else backend.get_default_dtype())
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "affine": self.affine, "track_running_stats": self.track_running_stats,
                "dtype": str(dtype)}


@register_layer
class BatchNorm1d(_BatchNorm):
    """Batch normalisation of ``(N, C)`` or ``(N, C, L)`` input, as ``torch.nn.BatchNorm1d``.

    In training mode each channel is normalised with the batch's mean and (biased) variance and
    the running statistics move towards them: ``running = (1 - momentum) * running + momentum *
    batch`` (unbiased variance; ``momentum=None`` averages all batches so far). In evaluation
    mode (``.eval()``) the running statistics normalise. ``running_mean``, ``running_var`` and
    ``num_batches_tracked`` are buffers, so they are in ``state_dict()``.

    Parameters
    ----------
    num_features : int
        C, the number of channels.
    eps : float, default 1e-5
    momentum : float or None, default 0.1
    affine : bool, default True
        Learn a per-channel scale (``weight``, starting at 1) and shift (``bias``, at 0).
    track_running_stats : bool, default True
        Without running statistics, batch statistics are used in evaluation too.
    dtype : float dtype, optional

    Raises
    ------
    ValueError
        At call time for an input of the wrong rank or channel count.

    Example
    -------
    >>> import bpnn
    >>> bn = bpnn.nn.BatchNorm1d(4)
    >>> bn(bpnn.randn(8, 4)).shape
    (8, 4)
    """

    _dims = (2, 3)
    _layout = "2-D (N, C) or 3-D (N, C, L)"


@register_layer
class BatchNorm2d(_BatchNorm):
    """Batch normalisation of ``(N, C, H, W)`` input over N, H and W, as ``torch.nn.BatchNorm2d``.

    Same parameters and running statistics as :class:`BatchNorm1d`.

    Example
    -------
    >>> import bpnn
    >>> bn = bpnn.nn.BatchNorm2d(3)
    >>> bn(bpnn.randn(2, 3, 5, 5)).shape
    (2, 3, 5, 5)
    """

    _dims = (4,)
    _layout = "4-D (N, C, H, W)"
