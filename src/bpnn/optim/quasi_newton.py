"""Dense quasi-Newton methods: a full inverse-Hessian estimate updated from each step."""

from __future__ import annotations

from bpnn.backend import xp
from bpnn.optim._closure_optimizer import ClosureOptimizer


class QuasiNewton(ClosureOptimizer):
    r"""Base of BFGS and DFP: keep :math:`H \approx \nabla^2 f^{-1}` and step along :math:`-Hg`.

    After each step :math:`s = x_{k+1} - x_k`, :math:`y = g_{k+1} - g_k`, the subclass's
    :meth:`update` corrects ``H`` so that :math:`H y = s` (the secant equation). Before the
    first update ``H`` is rescaled to :math:`(y^\top s / y^\top y) I` (Nocedal & Wright,
    eq. 6.20); pairs with :math:`y^\top s \le 10^{-10}` are skipped, which keeps ``H``
    positive definite. ``H`` costs ``n^2`` numbers, hence ``max_params``.

    Parameters
    ----------
    params : iterable of Parameter
    lr : float, default 1
        First trial step of each line search.
    max_iter : int, default 1
        Iterations per :meth:`step` (one, so that a training loop sees every iteration).
    max_eval : int, optional
        Closure evaluations per ``step``; ``25 * max_iter`` by default.
    tolerance_grad, tolerance_change : float
        As in :class:`LBFGS`.
    line_search_fn : {"strong_wolfe", None}, default "strong_wolfe"
    c1, c2 : float, optional
        Strong-Wolfe constants (``c1=1e-4``; ``c2`` 0.9 for BFGS, 0.1 for DFP, which needs
        accurate line searches); a small ``c2`` (say 1e-3) makes the search nearly exact,
        which restores finite termination on quadratics at the price of more evaluations.
    max_params : int, default 5000
        Refuse models with more parameters than this (the dense matrix would not pay off).

    Raises
    ------
    ValueError
        If the model has more than ``max_params`` parameters, or for a bad argument.
    """

    default_c2 = 0.9

    def __init__(self, params, lr: float = 1, max_iter: int = 1, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 line_search_fn: str | None = "strong_wolfe", c1: float = 1e-4,
                 c2: float | None = None, max_params: int = 5000):
        super().__init__(params, dict(
            lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change, line_search_fn=line_search_fn, c1=c1,
            c2=self.default_c2 if c2 is None else c2, max_params=max_params))
        n = self._flat.numel
        if n > max_params:
            raise ValueError(
                f"{type(self).__name__} keeps a dense {n} x {n} inverse-Hessian estimate, but "
                f"the model has {n} parameters, more than max_params={max_params}; use LBFGS "
                "or ConjugateGradient for large models, or raise max_params")

    def _reset_history(self, state: dict) -> None:
        state.pop("inverse_hessian", None)

    def _direction(self, grad, state, group, closure):
        if state["n_iter"] == 1 or "d" not in state:
            self._reset_history(state)
            return -grad
        s = state["d"] * state["t"]
        y = grad - state["prev_flat_grad"]
        ys = float(y @ s)
        H = state.get("inverse_hessian")
        if ys > 1e-10:
            if H is None:
                H = xp.eye(grad.size, dtype=grad.dtype) * (ys / float(y @ y))
            H = self.update(H, s, y, ys)
            state["inverse_hessian"] = H
        if H is None:
            return -grad
        return -(H @ grad)

    @staticmethod
    def update(H, s, y, ys):  # pragma: no cover - interface
        """Return the updated inverse-Hessian estimate (override)."""
        raise NotImplementedError
