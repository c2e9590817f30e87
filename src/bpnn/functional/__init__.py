"""Differentiable math on tensors: ``import bpnn.nn.functional as F``.

Hand-written backward for every primitive; fused forward + backward where stability or speed
needs it (linear, log-softmax + cross-entropy, BCE with logits).
"""

from bpnn.functional.activation import (
    elu,
    gelu,
    leaky_relu,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    tanh,
)
from bpnn.functional.conv import conv2d
from bpnn.functional.dropout import dropout, dropout2d
from bpnn.functional.linear import linear
from bpnn.functional.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
)
from bpnn.functional.normalization import batch_norm
from bpnn.functional.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d

__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "dropout",
    "dropout2d", "elu", "gelu", "huber_loss", "l1_loss", "leaky_relu", "linear", "log_softmax",
    "mse_loss", "nll_loss", "relu", "sigmoid", "softmax", "tanh",
    "adaptive_avg_pool2d", "avg_pool2d", "batch_norm", "conv2d", "max_pool2d",
]
