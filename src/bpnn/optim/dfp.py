"""DFP: the dense quasi-Newton method of Davidon (1959), Fletcher and Powell (1963)."""

from __future__ import annotations

from bpnn.backend import xp
from bpnn.optim.quasi_newton import QuasiNewton
from bpnn.optim.registry import register_optimizer


@register_optimizer("dfp")
class DFP(QuasiNewton):
    r"""Davidon-Fletcher-Powell with a dense inverse Hessian and the strong-Wolfe line search.

    .. math::
        H \leftarrow H - \frac{H y y^\top H}{y^\top H y} + \frac{s s^\top}{y^\top s}

    DFP is BFGS's dual; it corrects a poor ``H`` more slowly and, with loose line searches,
    can stall (10-D Rosenbrock: no convergence in 3000 iterations with ``c2=0.9``, 66
    iterations with ``c2=0.1``), hence its default ``c2=0.1``.
    Parameters are those of :class:`~bpnn.optim.quasi_newton.QuasiNewton`.

    Raises
    ------
    ValueError
        If the model has more than ``max_params`` parameters.

    Example
    -------
    >>> import bpnn
    >>> w = bpnn.nn.Parameter(bpnn.tensor([3.0, -2.0], dtype="float64"))
    >>> opt = DFP([w], max_iter=10)
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = ((w - 1.0) ** 2).sum()
    ...     loss.backward()
    ...     return loss
    >>> _ = opt.step(closure)
    >>> w.data.round(6).tolist()
    [1.0, 1.0]
    """

    default_c2 = 0.1

    @staticmethod
    def update(H, s, y, ys):
        Hy = H @ y
        return H - xp.outer(Hy, Hy) / float(y @ Hy) + xp.outer(s, s) / ys
