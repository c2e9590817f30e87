"""Loss modules: hold the options, call ``bpnn.nn.functional``."""

from __future__ import annotations

from bpnn.backend import xp
from bpnn.functional import loss as L
from bpnn.nn.module import Module
from bpnn.nn.registry import NameRegistry, register_layer


def _listed(values):
    """Weights as a JSON-friendly list (or None)."""
    if values is None:
        return None
    return xp.asarray(getattr(values, "data", values), dtype=float).tolist()


LOSSES = NameRegistry("unknown loss {name!r}; pass a loss module such as "
                      "bpnn.nn.CrossEntropyLoss() or one of: {names}")


def register_loss(*names: str):
    """Class decorator: ``Model(..., loss=name)`` and :func:`get` accept each of ``names``.

    Parameters
    ----------
    *names : str
        Lower-case names (``"mse"``, ``"mean_squared_error"``).

    Example
    -------
    >>> from bpnn import nn
    >>> @nn.loss.register_loss("my_mse")
    ... class MyMSE(nn.MSELoss):
    ...     pass
    >>> type(nn.loss.get("my_mse")).__name__
    'MyMSE'
    """
    return LOSSES.register(*names)


def get(loss) -> Module:
    """A loss module for a name (``"mse"``, ``"cross_entropy"``...) or the module itself.

    Parameters
    ----------
    loss : bpnn.nn.Module or str
        Names are case-insensitive.

    Returns
    -------
    bpnn.nn.Module
        ``loss`` itself, or a new loss with default options.

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.

    Example
    -------
    >>> from bpnn import nn
    >>> nn.loss.get("mae")
    L1Loss(reduction='mean')
    """
    if isinstance(loss, Module):
        return loss
    return LOSSES.get_class(loss)()


class Loss(Module):
    """Base of the loss modules: holds ``reduction`` ("mean", "sum" or "none").

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}, default "mean"
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        L._check_reduction(reduction)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"

    def get_config(self) -> dict:
        return {"reduction": self.reduction}


@register_layer
@register_loss("mse", "mean_squared_error")
class MSELoss(Loss):
    """Mean squared error. See :func:`bpnn.nn.functional.mse_loss`."""

    def forward(self, input, target):
        return L.mse_loss(input, target, self.reduction)


@register_layer
@register_loss("mae", "l1", "mean_absolute_error")
class L1Loss(Loss):
    """Mean absolute error. See :func:`bpnn.nn.functional.l1_loss`."""

    def forward(self, input, target):
        return L.l1_loss(input, target, self.reduction)


@register_layer
@register_loss("huber")
class HuberLoss(Loss):
    """Huber loss with threshold ``delta``. See :func:`bpnn.nn.functional.huber_loss`."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        self.delta = float(delta)

    def forward(self, input, target):
        return L.huber_loss(input, target, self.reduction, self.delta)

    def get_config(self) -> dict:
        return {"reduction": self.reduction, "delta": self.delta}


@register_layer
@register_loss("cross_entropy", "categorical_crossentropy",
               "sparse_categorical_crossentropy")
class CrossEntropyLoss(Loss):
    """Cross-entropy from logits. See :func:`bpnn.nn.functional.cross_entropy`.

    Parameters
    ----------
    weight : array_like, shape (C,), optional
    ignore_index : int, default -100
    reduction : {"mean", "sum", "none"}
    label_smoothing : float, default 0.0
    """

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(reduction)
        self.weight, self.ignore_index, self.label_smoothing = weight, ignore_index, label_smoothing

    def forward(self, input, target):
        return L.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                               self.label_smoothing)

    def get_config(self) -> dict:
        return {"weight": _listed(self.weight), "ignore_index": self.ignore_index,
                "reduction": self.reduction, "label_smoothing": self.label_smoothing}


@register_layer
@register_loss("nll")
class NLLLoss(Loss):
    """Negative log-likelihood of log-probabilities. See :func:`bpnn.nn.functional.nll_loss`."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        self.weight, self.ignore_index = weight, ignore_index

    def forward(self, input, target):
        return L.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)

    def get_config(self) -> dict:
        return {"weight": _listed(self.weight), "ignore_index": self.ignore_index,
                "reduction": self.reduction}


@register_layer
@register_loss("bce", "binary_crossentropy")
class BCELoss(Loss):
    """Binary cross-entropy of probabilities.

    See :func:`bpnn.nn.functional.binary_cross_entropy`.
    """

    def __init__(self, weight=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.weight = weight

    def get_config(self) -> dict:
        return {"weight": _listed(self.weight), "reduction": self.reduction}

    def forward(self, input, target):
        return L.binary_cross_entropy(input, target, self.weight, self.reduction)


@register_layer
@register_loss("bce_with_logits")
class BCEWithLogitsLoss(Loss):
    """Sigmoid + binary cross-entropy, stable. See
    :func:`bpnn.nn.functional.binary_cross_entropy_with_logits`."""

    def __init__(self, weight=None, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def get_config(self) -> dict:
        return {"weight": _listed(self.weight), "reduction": self.reduction,
                "pos_weight": _listed(self.pos_weight)}

    def forward(self, input, target):
        return L.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction,
                                                  self.pos_weight)
