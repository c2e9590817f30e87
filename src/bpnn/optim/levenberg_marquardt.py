"""Levenberg-Marquardt for sum-of-squares losses, with MATLAB ``trainlm``'s damping schedule."""

from __future__ import annotations

import math

from bpnn.autograd.tensor import Tensor, enable_grad, no_grad
from bpnn.backend import xp
from bpnn.optim._closure_optimizer import ClosureOptimizer
from bpnn.optim.registry import register_optimizer

_JACOBIANS = ("backprop", "central_difference")


@register_optimizer("levenberg_marquardt")
@register_optimizer("lm")
class LevenbergMarquardt(ClosureOptimizer):
    r"""Levenberg-Marquardt: Gauss-Newton steps blended with gradient descent by a damping mu.

    For residuals :math:`r(x)` (loss :math:`\sum r_i^2`, or its mean: same minimiser) with
    Jacobian :math:`J`, each iteration solves

    .. math:: (J^\top J + \mu I)\, \delta = -J^\top r

    and accepts :math:`x + \delta` if the sum of squares falls, then divides :math:`\mu` by
    ``mu_decrease``'s inverse; otherwise :math:`\mu` is multiplied by ``mu_increase`` and the
    system solved again (MATLAB ``trainlm``: ``mu=1e-3``, ``mu_dec=0.1``, ``mu_inc=10``,
    ``mu_max=1e10``). A non-finite trial counts as a failure. The rows of :math:`J` come from
    one backward pass per residual through the retained graph (exact, no finite differences),
    so the cost grows with the number of residuals: meant for small networks and data sets.

    **Protocol.** ``step(closure)`` needs the residuals as well as the loss: either the
    closure has a method ``closure.residuals()`` (what ``bpnn.Model.fit`` passes), or the
    optimizer was built with ``residual_fn``. It returns a Tensor ``r`` computed from the
    parameters with the graph recorded (``prediction - target``, any shape, scaled by
    ``sqrt(sample weight)`` where there are weights). The closure itself (zero grads, loss,
    backward, return loss) is called once per ``step`` for the returned loss. Penalties in the
    closure's loss are not seen by LM: express regularisation as extra residuals.

    Parameters
    ----------
    params : iterable of Parameter
    lr : float, default 1
        Fraction of the LM step taken (1, the full step, is ``trainlm``'s rule).
    mu : float, default 1e-3
        Initial damping.
    mu_decrease, mu_increase : float, default 0.1, 10
    mu_max : float, default 1e10
        When mu grows past this without a successful step, the step stops
        (``converged`` becomes True), as ``trainlm`` stops training.
    max_iter : int, default 1
        LM iterations per :meth:`step`.
    tolerance_grad : float, default 1e-7
        Stop when ``max |J' r|`` falls below this.
    tolerance_change : float, default 1e-9
        Stop when the sum of squares falls by less than this.
    residual_fn : callable, optional
        ``residual_fn() -> Tensor``; used instead of ``closure.residuals``.
    jacobian : {"backprop", "central_difference"}, default "backprop"
        ``"backprop"``: exact rows, one backward pass per residual. ``"central_difference"``:
        columns from ``2 n`` forward passes (no graph), far cheaper when the residuals
        outnumber the parameters many times (a 2,000-sample, 4-output data set has 8,000
        residuals), at the cost of finite-difference error (use float64).
    max_params : int, default 5000
        Refuse larger models (``J' J`` is dense).

    Raises
    ------
    ValueError
        For a bad damping schedule or more than ``max_params`` parameters.

    Example
    -------
    >>> import bpnn
    >>> w = bpnn.nn.Parameter(bpnn.tensor([0.5, 0.5], dtype="float64"))
    >>> t = bpnn.tensor([0.0, 1.0, 2.0], dtype="float64")
    >>> y = bpnn.tensor([1.0, 2.0, 5.0], dtype="float64")
    >>> def residuals():
    ...     return w[0] * bpnn.exp(w[1] * t) - y
    >>> opt = LevenbergMarquardt([w], residual_fn=residuals, max_iter=50)
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = (residuals() ** 2).sum()
    ...     loss.backward()
    ...     return loss
    >>> _ = opt.step(closure)
    >>> opt.converged
    True
    """

    def __init__(self, params, lr: float = 1.0, mu: float = 1e-3, mu_decrease: float = 0.1,
                 mu_increase: float = 10.0, mu_max: float = 1e10, max_iter: int = 1,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 residual_fn=None, jacobian: str = "backprop", max_params: int = 5000):
        if not (mu > 0 and 0 < mu_decrease < 1 < mu_increase and mu_max > mu):
            raise ValueError("LevenbergMarquardt needs mu > 0, 0 < mu_decrease < 1 < "
                             f"mu_increase and mu_max > mu; got mu={mu}, mu_decrease="
                             f"{mu_decrease}, mu_increase={mu_increase}, mu_max={mu_max}")
        if jacobian not in _JACOBIANS:
            raise ValueError(f"jacobian must be one of {_JACOBIANS}, got {jacobian!r}")
        if residual_fn is not None and not callable(residual_fn):
            raise TypeError("residual_fn must be callable and return the residual Tensor")
        super().__init__(params, dict(
            lr=lr, mu=mu, mu_decrease=mu_decrease, mu_increase=mu_increase, mu_max=mu_max,
            max_iter=max_iter, tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
            jacobian=jacobian, max_params=max_params))
        self.residual_fn = residual_fn
        n = self._flat.numel
        if n > max_params:
            raise ValueError(f"LevenbergMarquardt forms a dense {n} x {n} matrix J'J, but the "
                             f"model has {n} parameters, more than max_params={max_params}; "
                             "use LBFGS for large models, or raise max_params")

    def jacobian(self, residual_fn):
        """Residuals (flat) and their Jacobian ``(m, n)``, by the method ``jacobian`` names."""
        if self.param_groups[0]["jacobian"] == "central_difference":
            return self._jacobian_by_differences(residual_fn)
        with enable_grad():
            residuals = residual_fn()
        if not isinstance(residuals, Tensor) or not residuals.requires_grad:
            raise TypeError("the residual function must return a Tensor computed from the "
                            "parameters with gradients recorded")
        self.global_state["func_evals"] += 1
        m = residuals.data.size
        rows = xp.empty((m, self._flat.numel), dtype=self._flat.dtype)
        seed = xp.zeros(residuals.shape, dtype=residuals.dtype)
        for i in range(m):
            self._flat.zero_grad()
            seed.flat[i] = 1.0
            residuals.backward(seed, retain_graph=i < m - 1)
            seed.flat[i] = 0.0
            rows[i] = self._flat.grad()
        self._flat.zero_grad()
        return residuals.data.reshape(-1).astype(self._flat.dtype, copy=False), rows

    def _jacobian_by_differences(self, residual_fn):
        x = self._flat.pack()
        with no_grad():
            residuals = residual_fn().data.reshape(-1).astype(self._flat.dtype, copy=False)
            rows = xp.empty((residuals.size, x.size), dtype=self._flat.dtype)
            steps = xp.finfo(x.dtype).eps ** (1 / 3) * xp.maximum(1.0, abs(x))
            shifted = x.copy()
            for j in range(x.size):
                shifted[j] = x[j] + steps[j]
                self._flat.unpack(shifted)
                plus = residual_fn().data.reshape(-1)
                shifted[j] = x[j] - steps[j]
                self._flat.unpack(shifted)
                rows[:, j] = (plus - residual_fn().data.reshape(-1)) / (2 * steps[j])
                shifted[j] = x[j]
        self._flat.unpack(x)
        self.global_state["func_evals"] += 1 + 2 * x.size
        return residuals, rows

    # The two sums over residuals; bpnn.distributed adds them up across ranks.
    def _normal_equations(self, residuals, jacobian):
        """``(r'r, J'r, J'J)``."""
        return float(residuals @ residuals), jacobian.T @ residuals, jacobian.T @ jacobian

    def _sum_of_squares(self, residuals) -> float:
        return float(residuals @ residuals)

    # Hooks for subclasses that damp a different objective (BayesianRegularization).
    def _damped_matrix(self, JtJ, eye, mu: float):
        """The matrix of the damped system: ``J'J + mu I``."""
        return JtJ + mu * eye

    def _trial_objective(self, residuals):
        """``(objective, details)`` at a trial point; here the sum of squares, no details."""
        return self._sum_of_squares(residuals), None

    def _every_trial_non_finite(self) -> None:
        """Called when mu passed ``mu_max`` and no trial point gave a finite objective."""
        raise FloatingPointError(
            "LevenbergMarquardt: every trial step gave non-finite residuals, up "
            f"to mu = {self.param_groups[0]['mu_max']:g}; the parameters were left unchanged")

    def _damped_step(self, residual_fn, x, gradient, JtJ, current):
        """Solve the damped system, raising mu until the objective falls (``trainlm``'s loop).

        ``current`` is ``(objective, details)`` at ``x``. Returns ``(accepted, objective,
        details)`` of the last trial point (``current`` if none was evaluated). On acceptance
        the parameters hold the new point and mu is decreased; once mu passes ``mu_max`` the
        parameters are back at ``x``, mu is ``mu_max`` and ``converged`` is True.
        """
        group, state = self.param_groups[0], self.global_state
        eye = xp.eye(JtJ.shape[0], dtype=JtJ.dtype)
        objective, (new_objective, details) = current[0], current
        all_non_finite = True
        while True:
            try:
                delta = xp.linalg.solve(self._damped_matrix(JtJ, eye, state["mu"]), -gradient)
            except xp.linalg.LinAlgError:
                delta = None
            if delta is not None:
                self._flat.add_(group["lr"], delta)
                with no_grad():
                    r_new = residual_fn().data.reshape(-1)
                state["func_evals"] += 1
                new_objective, details = self._trial_objective(r_new)
                if math.isfinite(new_objective):
                    all_non_finite = False
                    if new_objective < objective:
                        state["mu"] = max(state["mu"] * group["mu_decrease"], 1e-20)
                        return True, new_objective, details
                self._flat.unpack(x)
            state["mu"] *= group["mu_increase"]
            if state["mu"] > group["mu_max"]:
                if all_non_finite:
                    self._every_trial_non_finite()
                state["mu"] = group["mu_max"]
                state["converged"] = True
                return False, new_objective, details

    _NO_RESIDUALS = ("LevenbergMarquardt needs residuals, not only the loss: pass a closure "
                     "with a .residuals() method returning the residual Tensor, or build the "
                     "optimizer with residual_fn=...")

    def _begin_step(self, closure):
        """The residual function and the closure's loss; sets up mu and ``converged``."""
        residual_fn = self.residual_fn or getattr(closure, "residuals", None)
        if residual_fn is None:
            raise TypeError(self._NO_RESIDUALS)
        group, state = self.param_groups[0], self.global_state
        state.setdefault("mu", group["mu"])
        state["converged"] = False
        orig_loss = closure() if callable(closure) else None
        if orig_loss is not None:
            state["func_evals"] += 1
        return residual_fn, orig_loss

    def step(self, closure=None):
        """Run up to ``max_iter`` LM iterations (see the class docstring for the protocol).

        Returns
        -------
        Tensor or float
            The closure's loss at the start of the step.

        Raises
        ------
        TypeError
            If there is no way to get residuals (no ``closure.residuals`` nor ``residual_fn``).
        FloatingPointError
            If every trial up to ``mu_max`` gave non-finite residuals.
        """
        residual_fn, orig_loss = self._begin_step(closure)
        group, state = self.param_groups[0], self.global_state
        for _ in range(group["max_iter"]):
            state["n_iter"] += 1
            x = self._flat.pack()
            r, J = self.jacobian(residual_fn)
            sse, gradient, JtJ = self._normal_equations(r, J)
            if not math.isfinite(sse):
                raise FloatingPointError("LevenbergMarquardt: the residuals are not finite at "
                                         "the current parameters; check the data and model")
            if float(abs(gradient).max()) <= group["tolerance_grad"]:
                state["converged"] = True
                break
            accepted, sse_new, _ = self._damped_step(residual_fn, x, gradient, JtJ, (sse, None))
            if not accepted:
                return orig_loss
            if sse - sse_new < group["tolerance_change"]:
                state["converged"] = True
                break
        return orig_loss
