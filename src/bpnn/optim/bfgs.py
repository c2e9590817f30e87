"""BFGS: the dense quasi-Newton method of Broyden, Fletcher, Goldfarb and Shanno (1970)."""

from __future__ import annotations

from bpnn.backend import xp
from bpnn.optim.quasi_newton import QuasiNewton
from bpnn.optim.registry import register_optimizer


@register_optimizer("bfgs")
class BFGS(QuasiNewton):
    r"""BFGS with a dense inverse Hessian and the strong-Wolfe line search.

    .. math::
        H \leftarrow (I - \rho s y^\top) H (I - \rho y s^\top) + \rho s s^\top,
        \qquad \rho = 1 / y^\top s

    Parameters are those of :class:`~bpnn.optim.quasi_newton.QuasiNewton` (``lr``,
    ``max_iter=1``, ``max_eval``, ``tolerance_grad``, ``tolerance_change``,
    ``line_search_fn="strong_wolfe"``, ``max_params=5000``).

    Raises
    ------
    ValueError
        If the model has more than ``max_params`` parameters.

    Example
    -------
    >>> import bpnn
    >>> w = bpnn.nn.Parameter(bpnn.tensor([3.0, -2.0], dtype="float64"))
    >>> opt = BFGS([w], max_iter=10)
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = ((w - 1.0) ** 2).sum()
    ...     loss.backward()
    ...     return loss
    >>> _ = opt.step(closure)
    >>> w.data.round(6).tolist()
    [1.0, 1.0]
    """

    @staticmethod
    def update(H, s, y, ys):
        rho = 1.0 / ys
        Hy = H @ y
        # the product expanded: H + rho (1 + rho y'Hy) s s' - rho (Hy s' + s Hy')
        H = H + (rho * (1.0 + rho * float(y @ Hy))) * xp.outer(s, s)
        return H - rho * (xp.outer(Hy, s) + xp.outer(s, Hy))
