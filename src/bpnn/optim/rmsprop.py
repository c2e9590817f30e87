"""RMSprop: steps divided by a running root-mean-square of the gradients (Hinton, 2012)."""

from __future__ import annotations

from bpnn.backend import xp
from bpnn.optim._common import check_non_negative, descent_direction, next_step
from bpnn.optim.optimizer import Optimizer
from bpnn.optim.registry import register_optimizer


@register_optimizer("rmsprop")
class RMSprop(Optimizer):
    r"""RMSprop with optional momentum and centring, torch.optim.RMSprop's exact rule.

    With :math:`\gamma` = ``lr``, :math:`\alpha` = ``alpha``, :math:`\mu` = ``momentum``::

        g   = -grad if maximize else grad
        g   = g + weight_decay * theta                       (if weight_decay != 0)
        v   = alpha * v + (1 - alpha) * g * g                (square_avg)
        m   = m + (1 - alpha) * (g - m)                      (grad_avg, if centered)
        avg = sqrt(v - m * m) + eps  if centered  else  sqrt(v) + eps
        b   = mu * b + g / avg;  theta = theta - gamma * b   (if momentum > 0)
        theta = theta - gamma * g / avg                      (otherwise)

    Parameters
    ----------
    params : iterable of Parameter or of dict
    lr : float, default 1e-2
    alpha : float, default 0.99
        Smoothing constant of the squared-gradient average.
    eps : float, default 1e-8
    weight_decay : float, default 0
    momentum : float, default 0
    centered : bool, default False
        Normalise by an estimate of the gradient's variance instead of its second moment.
    maximize : bool, default False

    Raises
    ------
    ValueError
        If ``lr``, ``alpha``, ``eps``, ``weight_decay`` or ``momentum`` is negative.

    Notes
    -----
    State per parameter: ``step`` (Python int), ``square_avg``, plus ``momentum_buffer``
    when ``momentum > 0`` and ``grad_avg`` when ``centered``.

    Example
    -------
    >>> import bpnn
    >>> w = bpnn.nn.Parameter([1.0, -2.0])
    >>> opt = bpnn.optim.RMSprop([w], lr=0.01)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.data.tolist()]
    [0.9, -1.9]
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, *, maximize=False):
        check_non_negative(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                           momentum=momentum)
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                    "momentum": momentum, "centered": bool(centered),
                    "maximize": bool(maximize)}
        super().__init__(params, defaults)

    def init_state(self, param, group) -> dict:
        state = {"step": 0, "square_avg": xp.zeros_like(param.data)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = xp.zeros_like(param.data)
        if group["centered"]:
            state["grad_avg"] = xp.zeros_like(param.data)
        return state

    def update(self, data, grad, state, group) -> None:
        next_step(state)
        direction = descent_direction(data, grad, group["weight_decay"], group["maximize"])
        alpha = group["alpha"]
        square_avg = state["square_avg"]
        square_avg *= alpha
        scratch = xp.multiply(direction, direction)
        scratch *= 1 - alpha
        square_avg += scratch
        if group["centered"]:
            grad_avg = state["grad_avg"]
            xp.subtract(direction, grad_avg, out=scratch)
            scratch *= 1 - alpha
            grad_avg += scratch
            xp.multiply(grad_avg, grad_avg, out=scratch)
            xp.subtract(square_avg, scratch, out=scratch)
            xp.sqrt(scratch, out=scratch)
        else:
            xp.sqrt(square_avg, out=scratch)
        scratch += group["eps"]
        xp.divide(direction, scratch, out=scratch)
        if group["momentum"] > 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:  # momentum switched on later, e.g. by OneCycleLR
                buffer = state["momentum_buffer"] = xp.zeros_like(data)
            buffer *= group["momentum"]
            buffer += scratch
            xp.multiply(buffer, group["lr"], out=scratch)
        else:
            scratch *= group["lr"]
        data -= scratch
