"""Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``."""

from __future__ import annotations

from bpnn.backend import xp
from bpnn.optim._common import check_non_negative, descent_direction
from bpnn.optim.optimizer import Optimizer
from bpnn.optim.registry import register_optimizer


@register_optimizer("sgd")
class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with momentum (torch.optim.SGD's rule).

    With :math:`\lambda` = ``weight_decay``, :math:`\mu` = ``momentum``, :math:`\tau` =
    ``dampening`` and :math:`\gamma` = ``lr``, each step does::

        g = -grad if maximize else grad
        g = g + lambda * theta                      (if weight_decay != 0)
        b = g                        on the first step,
        b = mu * b + (1 - tau) * g   afterwards     (if momentum != 0)
        g = g + mu * b  if nesterov else  g = b     (if momentum != 0)
        theta = theta - gamma * g

    Parameters
    ----------
    params : iterable of Parameter or of dict
        Parameters to optimise, or parameter groups (see :class:`Optimizer`).
    lr : float, default 1e-3
        Learning rate :math:`\gamma`.
    momentum : float, default 0
        Momentum factor :math:`\mu`.
    dampening : float, default 0
        Dampening :math:`\tau` of the momentum (not applied on the first step, as in torch).
    weight_decay : float, default 0
        L2 penalty :math:`\lambda` added to the gradient.
    nesterov : bool, default False
        Use Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
    maximize : bool, default False
        Ascend instead of descend.

    Raises
    ------
    ValueError
        For a negative ``lr``, ``momentum`` or ``weight_decay``, or ``nesterov`` without
        momentum or with dampening.

    Notes
    -----
    State per parameter: ``momentum_buffer`` (only when ``momentum != 0``).

    Example
    -------
    >>> import bpnn
    >>> w = bpnn.nn.Parameter([1.0, -2.0])
    >>> opt = bpnn.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w.data.tolist()
    [0.800000011920929, -1.600000023841858]
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False):
        check_non_negative(lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum > 0 and zero dampening "
                             f"(got momentum={momentum}, dampening={dampening})")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": bool(nesterov),
                    "maximize": bool(maximize)}
        super().__init__(params, defaults)

    def update(self, data, grad, state, group) -> None:
        direction = descent_direction(data, grad, group["weight_decay"], group["maximize"])
        momentum = group["momentum"]
        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = xp.array(direction, copy=True)
            else:
                buffer *= momentum
                buffer += (1 - group["dampening"]) * direction
            if group["nesterov"]:
                direction = direction + momentum * buffer
            else:
                direction = buffer
        # the one temporary of the plain step: lr * direction
        scaled = xp.multiply(direction, group["lr"])
        data -= scaled
