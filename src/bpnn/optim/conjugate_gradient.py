"""Nonlinear conjugate gradient: Fletcher-Reeves, Polak-Ribiere(+), Hestenes-Stiefel, Dai-Yuan."""

from __future__ import annotations

from bpnn.optim._closure_optimizer import ClosureOptimizer
from bpnn.optim.registry import register_optimizer

VARIANTS = ("PR+", "PR", "FR", "HS", "DY")


@register_optimizer("conjugate_gradient")
@register_optimizer("cg")
class ConjugateGradient(ClosureOptimizer):
    r"""Nonlinear conjugate gradient: :math:`d_k = -g_k + \beta_k d_{k-1}`.

    With :math:`y = g_k - g_{k-1}`:

    - ``"FR"``  (Fletcher-Reeves):   :math:`\beta = g_k^\top g_k / g_{k-1}^\top g_{k-1}`
    - ``"PR"``  (Polak-Ribiere):     :math:`\beta = g_k^\top y / g_{k-1}^\top g_{k-1}`
    - ``"PR+"`` (the default):       :math:`\max(0, \beta_{PR})`
    - ``"HS"``  (Hestenes-Stiefel):  :math:`\beta = g_k^\top y / d_{k-1}^\top y`
    - ``"DY"``  (Dai-Yuan):          :math:`\beta = g_k^\top g_k / d_{k-1}^\top y`

    The method restarts from :math:`-g` every ``restart`` iterations (``n``, the parameter
    count, by default) and whenever :math:`d_k` is not a descent direction. The strong-Wolfe
    search uses :math:`c_2 = 0.1` (Nocedal & Wright recommend a tight curvature condition for
    CG), and each search starts from :math:`t_{k-1} g_{k-1}^\top d_{k-1} / g_k^\top d_k`.

    Parameters
    ----------
    params : iterable of Parameter
    lr : float, default 1
        Scales the first trial step of the first iteration.
    variant : {"PR+", "PR", "FR", "HS", "DY"}, default "PR+"
    restart : int, optional
        Restart period in iterations; the number of parameters by default.
    max_iter : int, default 1
        Iterations per :meth:`step`.
    max_eval : int, optional
        Closure evaluations per ``step``; ``25 * max_iter`` by default.
    tolerance_grad, tolerance_change : float
        As in :class:`LBFGS`.
    line_search_fn : {"strong_wolfe", None}, default "strong_wolfe"
    c1, c2 : float, default 1e-4, 0.1
        Strong-Wolfe constants (``c2 < 1/2`` keeps Fletcher-Reeves directions descending).

    Raises
    ------
    ValueError
        For an unknown ``variant`` or a non-positive ``restart``.

    Example
    -------
    >>> import bpnn
    >>> w = bpnn.nn.Parameter(bpnn.tensor([3.0, -2.0], dtype="float64"))
    >>> opt = ConjugateGradient([w], variant="FR", max_iter=10)
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = ((w - 1.0) ** 2).sum()
    ...     loss.backward()
    ...     return loss
    >>> _ = opt.step(closure)
    >>> w.data.round(6).tolist()
    [1.0, 1.0]
    """

    def __init__(self, params, lr: float = 1, variant: str = "PR+", restart: int | None = None,
                 max_iter: int = 1, max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, line_search_fn: str | None = "strong_wolfe",
                 c1: float = 1e-4, c2: float = 0.1):
        if variant not in VARIANTS:
            raise ValueError(f"ConjugateGradient variant must be one of {VARIANTS}, "
                             f"got {variant!r}")
        if restart is not None and (isinstance(restart, bool) or not isinstance(restart, int)
                                    or restart < 1):
            raise ValueError(f"restart must be a positive integer or None, got {restart!r}")
        super().__init__(params, dict(
            lr=lr, variant=variant, restart=restart, max_iter=max_iter, max_eval=max_eval,
            tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
            line_search_fn=line_search_fn, c1=c1, c2=c2))

    def _reset_history(self, state: dict) -> None:
        state["since_restart"] = 0

    def _direction(self, grad, state, group, closure):
        period = group["restart"] or self._flat.numel
        if state["n_iter"] == 1 or "d" not in state or state.get("since_restart", 0) >= period:
            self._reset_history(state)
            return -grad
        state["since_restart"] += 1
        previous, d_prev = state["prev_flat_grad"], state["d"]
        y = grad - previous
        variant = group["variant"]
        if variant == "FR":
            beta = float(grad @ grad) / float(previous @ previous)
        elif variant in ("PR", "PR+"):
            beta = float(grad @ y) / float(previous @ previous)
            if variant == "PR+":
                beta = max(beta, 0.0)
        else:
            dy = float(d_prev @ y)
            if dy == 0.0:  # no curvature seen along d: restart
                self._reset_history(state)
                return -grad
            beta = (float(grad @ y) if variant == "HS" else float(grad @ grad)) / dy
        return -grad + beta * d_prev

    def _initial_step(self, grad, direction, slope, state, group) -> float:
        previous = state.get("prev_step_slope")
        state["prev_step_slope"] = slope
        if state["n_iter"] == 1 or previous is None or "t" not in state:
            return min(1.0, 1.0 / float(abs(grad).sum())) * group["lr"]
        # expect the same first-order decrease as last time (Nocedal & Wright, eq. 3.60)
        return state["t"] * previous / slope
