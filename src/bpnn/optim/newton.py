"""Newton's method: step to the minimum of the local quadratic model (dense or Newton-CG)."""

from __future__ import annotations

import math

from bpnn.backend import xp
from bpnn.optim._closure_optimizer import ClosureOptimizer
from bpnn.optim.registry import register_optimizer

_HESSIANS = ("auto", "dense", "cg")


@register_optimizer("newton")
class Newton(ClosureOptimizer):
    r"""Damped Newton's method with Hessian-vector products by central differences.

    The second-order Taylor model :math:`f(x+p) \approx f + g^\top p + \frac12 p^\top H p`
    is minimised by solving :math:`(H + \lambda I)\, p = -g`, then the strong-Wolfe search
    starts from the full step :math:`t = 1`. Hessian-vector products come from the flat
    gradient, :math:`Hv \approx (g(x + \epsilon v) - g(x - \epsilon v)) / 2\epsilon` with
    :math:`\epsilon = \sqrt[3]{\text{machine eps}}\,\max(1, \|x\|_\infty)/\|v\|_\infty`,
    two closure evaluations each (bpnn's engine has no double backward).

    - ``hessian="dense"``: ``n`` products build ``H`` (symmetrised); :math:`\lambda` starts
      at ``damping`` and grows (doubling, from ``1e-3`` times the mean ``|diag H|``) until
      the Cholesky factorisation succeeds, so a non-convex point still gives a descent step
      (Nocedal & Wright, Algorithm 3.3).
    - ``hessian="cg"`` (Newton-CG): conjugate gradient on :math:`(H + \lambda I) p = -g`, one
      product per CG iteration, stopped at relative residual :math:`\min(0.5, \sqrt{\|g\|})`
      or at negative curvature (Nocedal & Wright, Algorithm 7.1).
    - ``hessian="auto"``: dense up to ``max_dense`` parameters, Newton-CG beyond.

    Parameters
    ----------
    params : iterable of Parameter
        float64 strongly recommended: differences of float32 gradients are noisy.
    lr : float, default 1
        First trial step (1 is the Newton step).
    damping : float, default 0
        :math:`\lambda` added to the Hessian's diagonal (Levenberg-style damping).
    hessian : {"auto", "dense", "cg"}, default "auto"
    max_dense : int, default 100
        Past this many parameters the ``2 n`` evaluations of the dense Hessian cost more than
        Newton-CG (phone-price 20-8-4, 204 parameters: dense Newton had not reached MSE 0.01
        after 19 iterations and 60 s, Newton-CG took 51 iterations and 6 s).
    cg_max_iter : int, optional
        Newton-CG iterations per step; ``min(n, 200)`` by default.
    max_iter : int, default 1
        Newton iterations per :meth:`step`.
    max_eval : int, optional
        Closure evaluations per ``step`` for the line search; ``25 * max_iter`` by default.
    tolerance_grad, tolerance_change : float
        As in :class:`LBFGS`.
    line_search_fn : {"strong_wolfe", None}, default "strong_wolfe"
    c1, c2 : float, default 1e-4, 0.9
        Strong-Wolfe constants.

    Raises
    ------
    ValueError
        For an unknown ``hessian`` or a negative ``damping``.

    Example
    -------
    >>> import bpnn
    >>> w = bpnn.nn.Parameter(bpnn.tensor([3.0, -2.0], dtype="float64"))
    >>> opt = Newton([w])
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = ((w - 1.0) ** 2).sum()
    ...     loss.backward()
    ...     return loss
    >>> _ = opt.step(closure)
    >>> w.data.round(6).tolist()
    [1.0, 1.0]
    """

    def __init__(self, params, lr: float = 1, damping: float = 0.0, hessian: str = "auto",
                 max_dense: int = 100, cg_max_iter: int | None = None, max_iter: int = 1,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, line_search_fn: str | None = "strong_wolfe",
                 c1: float = 1e-4, c2: float = 0.9):
        if hessian not in _HESSIANS:
            raise ValueError(f"hessian must be one of {_HESSIANS}, got {hessian!r}")
        if not damping >= 0:
            raise ValueError(f"damping must be >= 0, got {damping}")
        super().__init__(params, dict(
            lr=lr, damping=damping, hessian=hessian, max_dense=max_dense,
            cg_max_iter=cg_max_iter, max_iter=max_iter, max_eval=max_eval,
            tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
            line_search_fn=line_search_fn, c1=c1, c2=c2))

    def _initial_step(self, grad, direction, slope, state, group) -> float:
        return group["lr"]

    # ------------------------------------------------------------------ curvature
    def hessian_vector_product(self, closure, vector):
        """``H v`` at the current parameters by central differences of the gradient.

        Parameters
        ----------
        closure : callable
            As for :meth:`step`.
        vector : ndarray
            A flat vector with one entry per parameter.

        Returns
        -------
        ndarray
        """
        x = self._flat.pack()
        size = float(abs(vector).max())
        if size == 0.0:
            return xp.zeros_like(x)
        eps = xp.finfo(x.dtype).eps ** (1 / 3) * max(1.0, float(abs(x).max())) / size
        _, grad_plus = self._directional_evaluate(closure, x, eps, vector)
        _, grad_minus = self._directional_evaluate(closure, x, -eps, vector)
        return (grad_plus - grad_minus) / (2 * eps)

    def hessian(self, closure):
        """The dense, symmetrised Hessian at the current parameters (``2 n`` evaluations)."""
        n = self._flat.numel
        columns = xp.empty((n, n), dtype=self._flat.dtype)
        unit = xp.zeros(n, dtype=self._flat.dtype)
        for j in range(n):
            unit[j] = 1.0
            columns[:, j] = self.hessian_vector_product(closure, unit)
            unit[j] = 0.0
        return 0.5 * (columns + columns.T)

    def _direction(self, grad, state, group, closure):
        dense = group["hessian"] == "dense" or (
            group["hessian"] == "auto" and self._flat.numel <= group["max_dense"])
        if dense:
            return self._dense_direction(grad, self.hessian(closure), group["damping"])
        return self._cg_direction(grad, closure, group)

    @staticmethod
    def _dense_direction(grad, H, damping):
        n = grad.size
        shift, floor = damping, 1e-3 * max(float(abs(xp.diag(H)).mean()), 1e-12)
        if float(xp.diag(H).min()) + shift <= 0:
            shift = -float(xp.diag(H).min()) + max(floor, damping)
        for _ in range(100):
            try:
                factor = xp.linalg.cholesky(H + shift * xp.eye(n, dtype=H.dtype))
                break
            except xp.linalg.LinAlgError:
                shift = max(2 * shift, floor)
        else:
            return -grad
        half = xp.linalg.solve(factor, -grad)
        return xp.linalg.solve(factor.T, half).astype(grad.dtype, copy=False)

    def _cg_direction(self, grad, closure, group):
        damping = group["damping"]
        max_iter = group["cg_max_iter"] or min(self._flat.numel, 200)
        grad_norm = float(xp.linalg.norm(grad))
        tolerance = min(0.5, math.sqrt(grad_norm)) * grad_norm
        p = xp.zeros_like(grad)
        residual = grad.copy()  # r = H p + g, p = 0
        direction = -residual
        for i in range(max_iter):
            Hd = self.hessian_vector_product(closure, direction) + damping * direction
            curvature = float(direction @ Hd)
            if curvature <= 0:  # negative curvature: stop with what we have
                return -grad if i == 0 else p
            rr = float(residual @ residual)
            alpha = rr / curvature
            p = p + alpha * direction
            residual = residual + alpha * Hd
            if float(xp.linalg.norm(residual)) < tolerance:
                break
            direction = -residual + (float(residual @ residual) / rr) * direction
        return p
