"""Reverse-mode automatic differentiation: ``Tensor``, ``Function``, the engine, ``gradcheck``."""

from bpnn.autograd.gradcheck import GradcheckError, gradcheck
from bpnn.autograd.ops import unbroadcast
from bpnn.autograd.tensor import (
    Function,
    Tensor,
    abs,
    arange,
    cat,
    clamp,
    clip,
    concatenate,
    enable_grad,
    exp,
    full,
    is_grad_enabled,
    log,
    no_grad,
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

__all__ = [
    "Function", "GradcheckError", "Tensor", "abs", "arange", "cat", "clamp", "clip",
    "concatenate", "enable_grad", "exp", "full", "gradcheck", "is_grad_enabled", "log",
    "no_grad", "ones", "ones_like", "rand", "randn", "sqrt", "stack", "tensor", "unbroadcast",
    "where", "zeros", "zeros_like",
]
