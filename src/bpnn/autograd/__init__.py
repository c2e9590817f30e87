"""Reverse-mode automatic differentiation: ``Tensor``, ``Function``, the engine, ``gradcheck``."""

from bpnn.autograd.creation import (
    abs,
    arange,
    cat,
    clamp,
    clip,
    concatenate,
    exp,
    full,
    log,
    ones,
    ones_like,
    rand,
    randn,
    sqrt,
    stack,
    tensor,
    where,
    zeros,
    zeros_like,
)
from bpnn.autograd.function import Function
from bpnn.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad
from bpnn.autograd.gradcheck import GradcheckError, gradcheck
from bpnn.autograd.ops import unbroadcast
from bpnn.autograd.tensor import Tensor

__all__ = [
    "Function", "GradcheckError", "Tensor", "abs", "arange", "cat", "clamp", "clip",
    "concatenate", "enable_grad", "exp", "full", "gradcheck", "is_grad_enabled", "log",
    "no_grad", "ones", "ones_like", "rand", "randn", "sqrt", "stack", "tensor", "unbroadcast",
    "where", "zeros", "zeros_like",
]
