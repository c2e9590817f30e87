"""Bayesian regularisation (MATLAB ``trainbr``): Levenberg-Marquardt on ``beta E_D + alpha E_W``."""

from __future__ import annotations

from bpnn.backend import xp
from bpnn.optim.levenberg_marquardt import LevenbergMarquardt
from bpnn.optim.registry import register_optimizer


class BayesianRegularization(LevenbergMarquardt):
    r"""Levenberg-Marquardt that balances squared errors against squared weights (``trainbr``).

    The objective is :math:`F = \beta E_D + \alpha E_W` with :math:`E_D = \sum_i r_i^2` (the
    sum of squared errors over all :math:`N` residuals) and :math:`E_W = \sum_j w_j^2` (all
    :math:`n` trainable parameters). Each iteration takes one damped Gauss-Newton step on
    :math:`F`,

    .. math:: (\beta J^\top J + (\alpha + \mu) I)\, \delta = -(\beta J^\top r + \alpha w),

    accepted when :math:`F` falls (else :math:`\mu` grows tenfold and the system is solved
    again; past ``mu_max`` the weights stay and ``converged`` becomes True), then re-estimates
    the hyper-parameters by MacKay's evidence rules (MacKay 1992; Foresee and Hagan 1997, as
    ``trainbr`` does):

    .. math::

        \gamma = n - \alpha\, \mathrm{tr}\big((\beta J^\top J + \alpha I)^{-1}\big)
               = \sum_k \frac{\beta \lambda_k}{\beta \lambda_k + \alpha}, \qquad
        \alpha = \frac{\gamma}{2 E_W}, \qquad
        \beta = \frac{N - \gamma}{2 E_D},

    with :math:`\lambda_k` the eigenvalues of :math:`J^\top J` (taken before the step, as
    ``trainbr`` does) and :math:`E_W, E_D` at the new point. :math:`\gamma`, the effective
    number of parameters, says how many of the :math:`n` the data actually determine; a fixed
    point of these rules maximises the evidence :math:`p(D \mid \alpha, \beta)` for a linear
    model. Start (``trainbr``): :math:`\gamma = n`, :math:`\beta = (N - n) / 2E_D` (1 if that is
    not positive), :math:`\alpha = n / 2E_W`.

    No validation set is needed; the regularisation strength is learned. ``alpha``, ``beta``,
    ``gamma``, ``E_D`` and ``E_W`` are recorded after every iteration in :attr:`record`.

    Parameters
    ----------
    params, lr, mu_decrease, mu_increase, mu_max, max_iter, tolerance_grad, residual_fn,
    jacobian, max_params
        As for :class:`LevenbergMarquardt` (same protocol: the closure's ``residuals()``).
    mu : float, default 5e-3
        Initial damping (``trainbr``'s default).
    tolerance_change : float, default 0
        Stop when :math:`F` falls by less than this (0: never, as ``trainbr``).

    Example
    -------
    >>> import numpy as np, bpnn
    >>> from bpnn import nn
    >>> bpnn.set_default_dtype("float64")
    >>> x = np.linspace(-1, 1, 30).reshape(-1, 1)
    >>> y = 2 * x + 0.1 * np.random.default_rng(0).normal(size=x.shape)
    >>> model = bpnn.Model(nn.Linear(1, 1), "mse", "trainbr")
    >>> _ = model.fit(x, y, epochs=20, verbose=0)
    >>> gamma = model.optimizer.gamma  # effective number of parameters, at most 2
    >>> bool(1.5 < gamma < 2)
    True
    >>> bpnn.set_default_dtype("float32")
    """

    def __init__(self, params, lr: float = 1.0, mu: float = 5e-3, mu_decrease: float = 0.1,
                 mu_increase: float = 10.0, mu_max: float = 1e10, max_iter: int = 1,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 0.0,
                 residual_fn=None, jacobian: str = "backprop", max_params: int = 5000):
        super().__init__(params, lr=lr, mu=mu, mu_decrease=mu_decrease,
                         mu_increase=mu_increase, mu_max=mu_max, max_iter=max_iter,
                         tolerance_grad=tolerance_grad, tolerance_change=tolerance_change,
                         residual_fn=residual_fn, jacobian=jacobian, max_params=max_params)

    # ------------------------------------------------------------------ what was learned
    @property
    def alpha(self) -> float | None:
        """Current weight of the squared-weights term (None before the first step)."""
        return self.global_state.get("alpha")

    @property
    def beta(self) -> float | None:
        """Current weight of the squared-errors term (None before the first step)."""
        return self.global_state.get("beta")

    @property
    def gamma(self) -> float | None:
        """Effective number of parameters after the last iteration (None before)."""
        record = self.record["gamma"]
        return record[-1] if record else None

    @property
    def record(self) -> dict:
        """Per-iteration lists: ``alpha``, ``beta``, ``gamma``, ``sse`` (E_D), ``ssw`` (E_W)."""
        return self.global_state.setdefault(
            "record", {"alpha": [], "beta": [], "gamma": [], "sse": [], "ssw": []})

    # ------------------------------------------------------------------ the iteration
    def _objective(self, residuals, x, alpha: float, beta: float):
        sse, ssw = float(residuals @ residuals), float(x @ x)
        return beta * sse + alpha * ssw, sse, ssw

    _NO_RESIDUALS = ("BayesianRegularization needs residuals, not only the loss: pass a "
                     "closure with a .residuals() method or build it with residual_fn")

    # The damped system and objective of beta E_D + alpha E_W (LevenbergMarquardt's hooks).
    def _damped_matrix(self, JtJ, eye, mu: float):
        state = self.global_state
        return state["beta"] * JtJ + (state["alpha"] + mu) * eye

    def _trial_objective(self, residuals):
        x_new = self._flat.pack()
        residuals = residuals.astype(x_new.dtype, copy=False)
        objective, sse, ssw = self._objective(residuals, x_new, self.global_state["alpha"],
                                              self.global_state["beta"])
        return objective, (sse, ssw)

    def _every_trial_non_finite(self) -> None:
        """No error: the weights stay and the hyper-parameters are re-estimated there."""

    def step(self, closure=None):
        """Run up to ``max_iter`` iterations of damped steps and evidence updates.

        Returns
        -------
        Tensor or float
            The closure's loss at the start of the step.

        Raises
        ------
        TypeError
            If there is no way to get residuals.
        FloatingPointError
            If the residuals are not finite at the current parameters.
        """
        residual_fn, orig_loss = self._begin_step(closure)
        group, state = self.param_groups[0], self.global_state
        for _ in range(group["max_iter"]):
            x = self._flat.pack()
            r, J = self.jacobian(residual_fn)
            if not bool(xp.isfinite(r).all()):
                raise FloatingPointError("BayesianRegularization: the residuals are not finite "
                                         "at the current parameters; check the data and model")
            state["n_iter"] += 1
            n, count = x.size, r.size
            if "alpha" not in state:  # trainbr's start: every parameter counted as effective
                sse, ssw = float(r @ r), float(x @ x)
                beta = (count - n) / (2 * sse) if sse > 0 else 1.0
                state["beta"] = beta if beta > 0 else 1.0
                state["alpha"] = n / (2 * ssw) if ssw > 0 else 1.0
            alpha, beta = state["alpha"], state["beta"]
            objective, _, _ = self._objective(r, x, alpha, beta)
            JtJ = J.T @ J
            gradient = beta * (J.T @ r) + alpha * x
            if float(abs(gradient).max()) <= group["tolerance_grad"]:
                state["converged"] = True
                break
            _, new_objective, (sse, ssw) = self._damped_step(
                residual_fn, x, gradient, JtJ, (objective, (float(r @ r), float(x @ x))))
            # past mu_max F cannot fall for these alpha, beta: the weights stay; the
            # hyper-parameters are still re-estimated (MacKay's alternation)
            self._update_hyperparameters(JtJ, count, sse, ssw)
            if state["converged"] or objective - new_objective < group["tolerance_change"]:
                state["converged"] = True
                break
        return orig_loss

    def _update_hyperparameters(self, JtJ, count: int, sse: float, ssw: float) -> None:
        """MacKay's evidence updates (the class docstring's formulas); recorded."""
        state = self.global_state
        alpha, beta = state["alpha"], state["beta"]
        curvature = beta * xp.clip(xp.linalg.eigvalsh(JtJ), 0.0, None)
        gamma = float((curvature / (curvature + alpha)).sum())
        state["alpha"] = gamma / (2 * ssw) if ssw > 0 else 1.0
        state["beta"] = (count - gamma) / (2 * sse) if sse > 0 else 1.0
        record = self.record
        for key, value in (("alpha", state["alpha"]), ("beta", state["beta"]),
                           ("gamma", gamma), ("sse", sse), ("ssw", ssw)):
            record[key].append(float(value))


register_optimizer("trainbr", BayesianRegularization)
register_optimizer("bayesian_regularization", BayesianRegularization)
