"""Adagrad: per-coordinate steps scaled by the root of the summed squared gradients."""

from __future__ import annotations

from bpnn.backend import xp
from bpnn.optim._common import check_non_negative, descent_direction, next_step
from bpnn.optim.optimizer import Optimizer
from bpnn.optim.registry import register_optimizer


@register_optimizer("adagrad")
class Adagrad(Optimizer):
    r"""Adagrad (Duchi, Hazan & Singer, 2011), with torch.optim.Adagrad's exact rule.

    With :math:`\gamma` = ``lr``, :math:`\eta` = ``lr_decay``, :math:`\lambda` =
    ``weight_decay`` and step count :math:`t` (from 1)::

        g     = -grad if maximize else grad
        g     = g + lambda * theta                     (if weight_decay != 0)
        clr   = gamma / (1 + (t - 1) * eta)
        sum   = sum + g * g                            (sum starts at initial_accumulator_value)
        theta = theta - clr * g / (sqrt(sum) + eps)

    Parameters
    ----------
    params : iterable of Parameter or of dict
        Parameters to optimise, or parameter groups.
    lr : float, default 1e-2
    lr_decay : float, default 0
    weight_decay : float, default 0
    initial_accumulator_value : float, default 0
        Starting value of every entry of ``sum``.
    eps : float, default 1e-10
        Added to the denominator for numerical stability.
    maximize : bool, default False

    Raises
    ------
    ValueError
        If any of ``lr``, ``lr_decay``, ``weight_decay``, ``initial_accumulator_value`` or
        ``eps`` is negative.

    Notes
    -----
    State per parameter: ``step`` (Python int) and ``sum``.

    Example
    -------
    >>> import bpnn
    >>> w = bpnn.nn.Parameter([1.0, -2.0])
    >>> opt = bpnn.optim.Adagrad([w], lr=0.5)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.data.tolist()]
    [0.5, -1.5]
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, *, maximize=False):
        check_non_negative(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                           initial_accumulator_value=initial_accumulator_value, eps=eps)
        defaults = {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "eps": eps,
                    "maximize": bool(maximize)}
        super().__init__(params, defaults)

    def init_state(self, param, group) -> dict:
        return {"step": 0,
                "sum": xp.full_like(param.data, group["initial_accumulator_value"])}

    def update(self, data, grad, state, group) -> None:
        step = next_step(state)
        direction = descent_direction(data, grad, group["weight_decay"], group["maximize"])
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        accumulator = state["sum"]
        scratch = xp.multiply(direction, direction)
        accumulator += scratch
        xp.sqrt(accumulator, out=scratch)
        scratch += group["eps"]
        xp.divide(direction, scratch, out=scratch)
        scratch *= clr
        data -= scratch
