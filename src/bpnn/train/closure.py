"""The ``closure()`` that second-order optimizers call to re-evaluate the loss."""

from __future__ import annotations

from bpnn import nn
from bpnn.autograd.tensor import Tensor, wrap_array
from bpnn.backend import xp


class Closure:
    """``closure()`` for optimizers that re-evaluate the loss (L-BFGS, Newton, LM...).

    Calling it zeroes the gradients, computes the batch loss (with the regularisation
    penalty), backpropagates and returns the loss Tensor. :meth:`residuals` returns
    ``(prediction - target) * sqrt(sample_weight)``, flattened, for least-squares methods.

    Parameters
    ----------
    model : bpnn.Model
        Supplies the network, the loss (``model.compute_loss``) and the optimizer.
    x, y : Tensor
        The batch.
    sample_weight : Tensor or None
        One weight per sample.
    """

    def __init__(self, model, x, y, sample_weight):
        self.model, self.x, self.y, self.sample_weight = model, x, y, sample_weight
        self.last_output = None

    def __call__(self):
        model = self.model
        model.optimizer.zero_grad()
        output = model.network(self.x)
        loss = model.compute_loss(output, self.y, self.sample_weight)
        loss.backward()
        self.last_output = output
        return loss

    def residuals(self) -> Tensor:
        """Per-element residuals ``(prediction - target) * sqrt(w)``, flattened.

        Returns
        -------
        Tensor
            Differentiable with respect to the network's parameters.

        Raises
        ------
        ValueError
            If the model's loss is not ``MSELoss``.
        """
        if not isinstance(self.model.loss, nn.MSELoss):
            raise ValueError(f"residuals() is for least-squares training and needs MSELoss, "
                             f"the model's loss is {type(self.model.loss).__name__}")
        output = self.model.network(self.x)
        residual = (output - self.y).reshape(-1)
        if self.sample_weight is not None:
            per_element = output.data[0].size
            scale = xp.repeat(xp.sqrt(self.sample_weight.data), per_element)
            residual = residual * wrap_array(scale.astype(output.dtype))
        return residual
