"""The fully connected layer's affine map, fused into one op."""

from __future__ import annotations

from bpnn.autograd.function import Function
from bpnn.autograd.tensor import Tensor
from bpnn.backend import matmul


class _Linear(Function):
    """``x @ W.T + b`` as one node: one matrix product forward, two backward, no temporaries.

    Why fused: three separate nodes (transpose, matmul, add) cost three times the per-op
    overhead on the hot path of every MLP.
    """

    def forward(self, x, weight, bias=None):
        if x.shape[-1] != weight.shape[1]:
            raise ValueError(
                f"linear: expected input with {weight.shape[1]} features, got {x.shape[-1]} "
                f"(input shape {x.shape}, weight shape {weight.shape})"
            )
        self.x, self.weight, self.has_bias = x, weight, bias is not None
        out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    def backward(self, grad):
        x, weight = self.x, self.weight
        grad_x = grad @ weight if self.needs_input_grad[0] else None  # skip for the data
        # the inner dimension is the batch: small batches run on one BLAS thread (measured)
        if x.ndim == 2:
            grad_w = matmul(grad.T, x)
        else:
            grad_w = matmul(grad.reshape(-1, grad.shape[-1]).T, x.reshape(-1, x.shape[-1]))
        if not self.has_bias:
            return grad_x, grad_w
        grad_b = grad.sum(axis=tuple(range(grad.ndim - 1)))
        return grad_x, grad_w, grad_b


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Affine map ``x @ weight.T + bias`` (weight shaped ``(out_features, in_features)``).

    Parameters
    ----------
    x : Tensor, shape (..., in_features)
    weight : Tensor, shape (out_features, in_features)
    bias : Tensor, shape (out_features,), optional

    Returns
    -------
    Tensor, shape (..., out_features)

    Raises
    ------
    ValueError
        If ``x``'s last dimension is not ``in_features``.
    """
    if bias is None:
        return _Linear.apply(x, weight)
    return _Linear.apply(x, weight, bias)
