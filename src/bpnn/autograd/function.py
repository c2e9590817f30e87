"""``Function``: one differentiable operation, its forward with its backward beneath it.

A ``Function`` subclass writes ``forward`` on raw arrays (saving what its backward needs as
attributes) and ``backward`` right beneath it, returning one gradient per input.  ``apply``
links the output to its inputs only when a gradient is wanted, so inference pays nothing.
"""

from __future__ import annotations

from bpnn.autograd.grad_mode import _grad_state
from bpnn.autograd.tensor import Tensor, wrap_array


class Function:
    """Base class of differentiable operations: the way to add an op to bpnn.

    Subclasses implement ``forward(*arrays, **params) -> array`` and, right beneath it,
    ``backward(grad_output) -> tuple`` (one gradient or ``None`` per input, shaped like the
    input).  Whatever backward needs is stored on ``self`` during forward; backward may read
    ``self.needs_input_grad`` (one bool per input) to skip gradients nobody wants.  Call the
    op with :meth:`apply`, never by instantiating it.

    Example
    -------
    A new op, ``softplus(x) = log(1 + exp(x))``, whose derivative is the logistic function,
    checked against finite differences with :func:`bpnn.gradcheck` (float64):

    >>> import numpy as np, bpnn
    >>> class Softplus(bpnn.Function):
    ...     def forward(self, x):
    ...         self.x = x
    ...         return np.logaddexp(0, x)
    ...     def backward(self, grad):
    ...         return (grad / (1 + np.exp(-self.x)),)
    >>> x = bpnn.tensor([-2.0, 0.0, 3.0], dtype="float64", requires_grad=True)
    >>> Softplus.apply(x)
    tensor([0.12692801, 0.69314718, 3.04858735], dtype=float64, requires_grad=True)
    >>> bpnn.gradcheck(Softplus.apply, [x])
    True
    """

    freed = False
    retained = None  # set by Tensor.retain_grad(): the output whose .grad should be kept

    @classmethod
    def apply(cls, *inputs: Tensor, **params) -> Tensor:
        """Run the op on ``inputs``; record it in the graph if any input needs a gradient.

        Parameters
        ----------
        *inputs : Tensor
            The differentiable operands; ``forward`` receives their arrays.
        **params
            Non-differentiable options (axes, shapes...), passed to ``forward`` as they are.

        Returns
        -------
        Tensor
            The output; linked to ``inputs`` only when a gradient is wanted (and grad mode
            is on), so inference builds no graph.
        """
        fn = cls()
        out = fn.forward(*[t.data for t in inputs], **params)
        if _grad_state["enabled"]:
            for t in inputs:
                if t.requires_grad:
                    fn.parents = inputs
                    fn.needs_input_grad = tuple(i.requires_grad for i in inputs)
                    result = Tensor.__new__(Tensor)  # wrap_array inlined: the per-op hot path
                    result.data = out
                    result.grad = None
                    result.requires_grad = True
                    result._ctx = fn
                    return result
        return wrap_array(out)

    def forward(self, *arrays, **params):  # pragma: no cover - interface
        """Compute the output array from the input arrays; save what backward needs."""
        raise NotImplementedError

    def backward(self, grad_output):  # pragma: no cover - interface
        """Gradients with respect to each input (a tuple, ``None`` where not needed)."""
        raise NotImplementedError
