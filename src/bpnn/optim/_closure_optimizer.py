"""``ClosureOptimizer``: the loop shared by the full-batch methods (L-BFGS, BFGS, DFP, CG, Newton).

Each iteration: a search direction from the algorithm, a first trial step, the strong-Wolfe line
search (or a fixed step), then convergence checks, following ``torch.optim.LBFGS.step`` so that
every method has PyTorch's arguments and stopping rules. A step that makes the loss or the
gradient non-finite is rejected: the parameters go back, the algorithm's history is forgotten
and steepest descent is tried with a step ten times smaller, up to ``max_rejections`` times.
"""

from __future__ import annotations

import math

from bpnn.autograd.tensor import Tensor, enable_grad
from bpnn.optim._flat import FlatParameters, is_finite
from bpnn.optim.line_search import strong_wolfe
from bpnn.optim.optimizer import Optimizer

_LINE_SEARCHES = (None, "strong_wolfe")


class ClosureOptimizer(Optimizer):
    """Base of optimizers that re-evaluate the loss themselves through ``step(closure)``.

    Subclasses implement :meth:`_direction` (and may override :meth:`_initial_step` and
    :meth:`_reset_history`). All state lives in ``self.state[first parameter]``, so
    ``state_dict`` / ``load_state_dict`` work by position as for every optimizer.
    """

    #: ``Model.fit`` runs full-batch iterations with a closure for optimizers that set this.
    requires_closure = True
    #: How many successive non-finite steps are rejected before giving up.
    max_rejections = 10
    #: ``max_eval`` defaults to ``max_iter`` times this (torch's LBFGS: 5/4).
    evaluations_per_iteration = 25
    #: torch's LBFGS leaves a fixed step (no line search) of the last iteration unevaluated;
    #: the next ``step`` checks it and, if it is non-finite, goes back and retries.
    skip_last_evaluation = False

    def __init__(self, params, defaults: dict):
        max_iter = defaults["max_iter"]
        if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
        if "max_eval" in defaults and defaults["max_eval"] is None:
            defaults["max_eval"] = int(max_iter * self.evaluations_per_iteration)
        if "lr" in defaults and not 0.0 <= defaults["lr"]:
            raise ValueError(f"Invalid learning rate: {defaults['lr']}")
        if defaults.get("line_search_fn") not in _LINE_SEARCHES:
            raise ValueError(f"line_search_fn must be one of {_LINE_SEARCHES}, "
                             f"got {defaults['line_search_fn']!r}")
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError(f"{type(self).__name__} works on one flat vector of all parameters "
                             "and does not support parameter groups")
        trainable = [p for p in self.param_groups[0]["params"] if p.requires_grad]
        if not trainable:
            raise ValueError(f"{type(self).__name__} got no parameter with requires_grad=True")
        # frozen parameters stay out of the flat vector: a Newton or BFGS step would move them
        self._flat = FlatParameters(trainable)

    # ------------------------------------------------------------------ evaluation
    @property
    def global_state(self) -> dict:
        """The optimizer's state (kept under the first parameter, as torch's LBFGS does)."""
        state = self.state.setdefault(self._flat.params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        return state

    def _evaluate(self, closure):
        """Run the closure once: ``(loss as returned, loss as float, flat gradient)``."""
        with enable_grad():
            loss = closure()
        if not isinstance(loss, (Tensor, float, int)):
            raise TypeError(f"the closure must return the loss (a Tensor or a number), "
                            f"got {type(loss).__name__}")
        self.global_state["func_evals"] += 1
        return loss, float(loss.item() if isinstance(loss, Tensor) else loss), self._flat.grad()

    def _directional_evaluate(self, closure, x, t, d):
        self._flat.add_(t, d)
        _, loss, grad = self._evaluate(closure)
        self._flat.unpack(x)
        return loss, grad

    # ------------------------------------------------------------------ algorithm hooks
    def _direction(self, grad, state: dict, group: dict, closure):
        """Search direction at the current point (``-grad`` on the first iteration)."""
        raise NotImplementedError

    def _initial_step(self, grad, direction, slope, state: dict, group: dict) -> float:
        """First trial step: torch's ``min(1, 1/|g|_1) * lr`` at the start, then ``lr``."""
        if state["n_iter"] == 1:
            return min(1.0, 1.0 / float(abs(grad).sum())) * group["lr"]
        return group["lr"]

    def _reset_history(self, state: dict) -> None:
        """Forget curvature information (after a rejected step or a non-descent direction)."""

    # ------------------------------------------------------------------ the loop
    @property
    def converged(self) -> bool:
        """Whether the last ``step`` stopped on ``tolerance_grad`` or ``tolerance_change``."""
        return bool(self.global_state.get("converged", False))

    def step(self, closure=None):
        """Run up to ``max_iter`` iterations, re-evaluating the model through ``closure``.

        Parameters
        ----------
        closure : callable
            Zeroes the gradients, computes the loss, calls ``backward`` and returns the loss.

        Returns
        -------
        Tensor or float
            The loss at the start of the step (what the closure first returned).

        Raises
        ------
        TypeError
            If no closure is given.
        FloatingPointError
            If the loss or gradient is non-finite at the start, or stays non-finite after
            ``max_rejections`` ever smaller steepest-descent steps.
        """
        if closure is None or not callable(closure):
            raise TypeError(f"{type(self).__name__}.step needs a closure that zeroes the "
                            "gradients, computes the loss, calls backward() and returns it")
        group = self.param_groups[0]
        state = self.global_state
        state["converged"] = False
        orig_loss, loss, grad = self._evaluate(closure)
        current_evals = 1
        check_every_step = not self.skip_last_evaluation
        unchecked = state.pop("unchecked_x", None)
        if unchecked is not None and not (math.isfinite(loss) and is_finite(grad)):
            # the previous call's unevaluated fixed step went non-finite: undo it, and this
            # time evaluate every step so that the rejection rule can shrink it
            self._flat.unpack(unchecked)
            self._reset_history(state)
            orig_loss, loss, grad = self._evaluate(closure)
            current_evals += 1
            check_every_step = True
        if not (math.isfinite(loss) and is_finite(grad)):
            raise FloatingPointError(
                f"{type(self).__name__}: the loss ({loss}) or its gradient is not finite at the "
                "current parameters, before any step was taken; check the data and the model")
        if float(abs(grad).max()) <= group["tolerance_grad"]:
            state["converged"] = True
            return orig_loss
        n_iter = 0
        while n_iter < group["max_iter"]:
            n_iter += 1
            state["n_iter"] += 1
            direction = self._direction(grad, state, group, closure)
            slope = float(grad @ direction)
            if not slope < 0:  # not a descent direction (or nan): restart from -grad
                self._reset_history(state)
                direction = -grad
                slope = float(grad @ direction)
            state["prev_flat_grad"] = grad
            state["prev_loss"] = prev_loss = loss
            t = self._initial_step(grad, direction, slope, state, group)
            if slope > -group["tolerance_change"]:
                state["converged"] = True
                break
            last = n_iter == group["max_iter"]
            loss, grad, t, direction, evals = self._move(
                closure, loss, grad, direction, slope, t, group, state,
                max_ls=group["max_eval"] - current_evals, evaluate=check_every_step or not last)
            current_evals += evals
            state["d"], state["t"] = direction, t
            if last or current_evals >= group["max_eval"]:
                break
            if float(abs(grad).max()) <= group["tolerance_grad"]:
                state["converged"] = True
                break
            if float(abs(direction * t).max()) <= group["tolerance_change"] or \
                    abs(loss - prev_loss) < group["tolerance_change"]:
                state["converged"] = True
                break
        return orig_loss

    def _move(self, closure, loss, grad, direction, slope, t, group, state, max_ls, evaluate):
        """Take the step along ``direction`` (line search or fixed), rejecting non-finite ones.

        Returns ``(loss, grad, t, direction, evaluations)`` at the new point; with a fixed step
        and ``evaluate=False`` (last iteration, as in torch) the old loss and grad come back.
        """
        x = self._flat.pack()
        evaluations = 0
        for rejection in range(self.max_rejections + 1):
            if group["line_search_fn"] == "strong_wolfe":
                result = strong_wolfe(
                    lambda s, d=direction: self._directional_evaluate(closure, x, s, d),
                    t, loss, grad, slope, direction,
                    c1=group.get("c1", 1e-4), c2=group.get("c2", 0.9),
                    tolerance_change=group["tolerance_change"],
                    max_ls=max_ls)
                evaluations += result.evaluations
                new_loss, new_grad, t = result.loss, result.grad, result.step
                self._flat.add_(t, direction)
            else:
                self._flat.add_(t, direction)
                if not evaluate:
                    state["unchecked_x"] = x
                    return loss, grad, t, direction, evaluations
                _, new_loss, new_grad = self._evaluate(closure)
                evaluations += 1
            if math.isfinite(new_loss) and is_finite(new_grad) and is_finite(direction * t):
                return new_loss, new_grad, t, direction, evaluations
            # rejected: back to x, forget the history, steepest descent with a smaller step
            self._flat.unpack(x)
            self._reset_history(state)
            direction = -grad
            slope = float(grad @ direction)
            t = min(1.0, 1.0 / float(abs(grad).sum())) * group["lr"] * 0.1 ** rejection
        raise FloatingPointError(
            f"{type(self).__name__}: every step tried made the loss or gradient non-finite "
            f"(nan/inf), even after {self.max_rejections} steepest-descent steps each ten times "
            f"smaller, down to {t * 10:.3g}; the parameters were left at the last finite point "
            f"(loss {loss:.6g}); lower lr, rescale the data or check the model for overflow")
