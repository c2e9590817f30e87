"""scikit-learn's MLP objectives as bpnn losses (registered, so that saved files rebuild them).

scikit-learn's MLP sums the loss over output columns and halves the squared error
(its gradient for ``k`` targets is that of ``k / 2 * MSE``; for ``k`` labels that of
``k * mean binary cross-entropy``). Scaling bpnn's mean losses by that factor gives the same
gradients, hence the same training steps, and ``loss_`` on scikit-learn's scale.
"""

from __future__ import annotations

from bpnn import nn


@nn.register_layer
class ScaledMSELoss(nn.MSELoss):
    """``scale * MSELoss`` (scikit-learn's squared error: ``scale = n_outputs / 2``).

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}, default "mean"
    scale : float, default 0.5
    """

    def __init__(self, reduction: str = "mean", scale: float = 0.5):
        super().__init__(reduction)
        self.scale = float(scale)

    def forward(self, input, target):
        return super().forward(input, target) * self.scale

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale}


@nn.register_layer
class ScaledBCEWithLogitsLoss(nn.BCEWithLogitsLoss):
    """``scale * BCEWithLogitsLoss`` (scikit-learn's multilabel loss: ``scale = n_labels``).

    Parameters
    ----------
    reduction : {"mean", "sum", "none"}, default "mean"
    scale : float, default 1.0
    """

    def __init__(self, reduction: str = "mean", scale: float = 1.0):
        super().__init__(reduction=reduction)
        self.scale = float(scale)

    def forward(self, input, target):
        return super().forward(input, target) * self.scale

    def get_config(self) -> dict:
        return {"reduction": self.reduction, "scale": self.scale}
