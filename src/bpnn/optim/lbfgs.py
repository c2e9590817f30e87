"""L-BFGS: a quasi-Newton method that keeps only the last ``history_size`` curvature pairs."""

from __future__ import annotations

from bpnn.optim._closure_optimizer import ClosureOptimizer
from bpnn.optim.registry import register_optimizer


@register_optimizer("lbfgs")
class LBFGS(ClosureOptimizer):
    r"""Limited-memory BFGS with PyTorch's arguments and iterates.

    The direction is :math:`d = -H_k g`, with :math:`H_k` applied by the two-loop recursion
    over the last ``history_size`` pairs :math:`s_i = x_{i+1} - x_i`,
    :math:`y_i = g_{i+1} - g_i` (pairs with :math:`y^\top s \le 10^{-10}` are skipped) and
    initial scaling :math:`H_0 = (y^\top s / y^\top y) I`. Unlike ``torch.optim.LBFGS``, the
    strong-Wolfe line search is on by default: without it a unit step can overshoot into nan
    (pytorch#5953). Each :meth:`step` runs up to ``max_iter`` iterations.

    Parameters
    ----------
    params : iterable of Parameter
        One group only; all of one dtype (float64 recommended).
    lr : float, default 1
        Step length (the first trial step of the line search).
    max_iter : int, default 20
        Iterations per ``step`` call.
    max_eval : int, optional
        Closure evaluations per ``step``; ``max_iter * 5 // 4`` by default.
    tolerance_grad : float, default 1e-7
        Stop when ``max |g|`` falls below this.
    tolerance_change : float, default 1e-9
        Stop when the loss or the parameters change less than this.
    history_size : int, default 100
    line_search_fn : {"strong_wolfe", None}, default "strong_wolfe"

    Raises
    ------
    ValueError
        For a negative ``lr``, a non-positive ``max_iter`` or ``history_size``, an unknown
        line search, or several parameter groups.

    Example
    -------
    >>> import bpnn
    >>> w = bpnn.nn.Parameter(bpnn.tensor([3.0, -2.0], dtype="float64"))
    >>> opt = LBFGS([w])
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = ((w - 1.0) ** 2).sum()
    ...     loss.backward()
    ...     return loss
    >>> _ = opt.step(closure)
    >>> w.data.round(6).tolist()
    [1.0, 1.0]
    """

    evaluations_per_iteration = 1.25
    skip_last_evaluation = True

    def __init__(self, params, lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 history_size: int = 100, line_search_fn: str | None = "strong_wolfe"):
        if isinstance(history_size, bool) or not isinstance(history_size, int) \
                or history_size < 1:
            raise ValueError(f"history_size must be a positive integer, got {history_size!r}")
        super().__init__(params, dict(
            lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change, history_size=history_size,
            line_search_fn=line_search_fn))

    def _reset_history(self, state: dict) -> None:
        state["old_dirs"], state["old_stps"], state["ro"], state["H_diag"] = [], [], [], 1.0

    def _direction(self, grad, state, group, closure):
        if state["n_iter"] == 1 or "old_dirs" not in state:
            self._reset_history(state)
            return -grad
        y = grad - state["prev_flat_grad"]
        s = state["d"] * state["t"]
        ys = float(y @ s)
        old_dirs, old_stps, ro = state["old_dirs"], state["old_stps"], state["ro"]
        if ys > 1e-10:  # keep the pair only if it has positive curvature
            if len(old_dirs) == group["history_size"]:
                old_dirs.pop(0)
                old_stps.pop(0)
                ro.pop(0)
            old_dirs.append(y)
            old_stps.append(s)
            ro.append(1.0 / ys)
            state["H_diag"] = ys / float(y @ y)
        # two-loop recursion: q = -g through the pairs newest first, then back oldest first
        alphas = [0.0] * len(old_dirs)
        q = -grad
        for i in range(len(old_dirs) - 1, -1, -1):
            alphas[i] = float(old_stps[i] @ q) * ro[i]
            q = q - alphas[i] * old_dirs[i]
        r = q * state["H_diag"]
        for i in range(len(old_dirs)):
            beta = float(old_dirs[i] @ r) * ro[i]
            r = r + (alphas[i] - beta) * old_stps[i]
        return r.astype(grad.dtype, copy=False)
