"""Adam: bias-corrected first and second moment estimates (Kingma & Ba, 2015)."""

from __future__ import annotations

import math

from bpnn.backend import xp
from bpnn.optim._common import check_betas, check_non_negative, descent_direction, next_step
from bpnn.optim.optimizer import Optimizer
from bpnn.optim.registry import register_optimizer


@register_optimizer("adam")
class Adam(Optimizer):
    r"""Adam, optionally AMSGrad, with torch.optim.Adam's exact rule.

    With :math:`\gamma` = ``lr``, ``(beta1, beta2)`` = ``betas``, step count :math:`t`
    (from 1)::

        g     = -grad if maximize else grad
        g     = g + weight_decay * theta              (L2 penalty; AdamW decays theta instead)
        m     = m + (1 - beta1) * (g - m)             (exp_avg)
        v     = beta2 * v + (1 - beta2) * g * g       (exp_avg_sq)
        vmax  = max(vmax, v); v_used = vmax  if amsgrad  else  v_used = v
        theta = theta - gamma / (1 - beta1**t) * m / (sqrt(v_used) / sqrt(1 - beta2**t) + eps)

    The last line is evaluated as ``theta -= s * m / (sqrt(v_used) + eps * c)`` with
    ``c = sqrt(1 - beta2**t)`` and ``s = gamma * c / (1 - beta1**t)`` precomputed as Python
    floats: the same number, one pass over memory fewer.

    Parameters
    ----------
    params : iterable of Parameter or of dict
    lr : float, default 1e-3
    betas : tuple of float, default (0.9, 0.999)
        Decay rates of the first and second moment averages, each in [0, 1).
    eps : float, default 1e-8
    weight_decay : float, default 0
        L2 penalty added to the gradient (coupled, as in torch.optim.Adam).
    amsgrad : bool, default False
        Use the running maximum of ``exp_avg_sq`` (Reddi, Kale & Kumar, 2018).
    maximize : bool, default False

    Raises
    ------
    ValueError
        For a negative ``lr``, ``eps`` or ``weight_decay``, or a beta outside [0, 1).

    Notes
    -----
    State per parameter: ``step`` (Python int; torch keeps a float tensor holding the same
    count), ``exp_avg``, ``exp_avg_sq`` and, with ``amsgrad``, ``max_exp_avg_sq``.

    Example
    -------
    >>> import bpnn
    >>> w = bpnn.nn.Parameter([1.0, -2.0])
    >>> opt = bpnn.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.data.tolist()]
    [0.9, -1.9]
    """

    #: AdamW sets this: weight decay shrinks the parameters instead of joining the gradient.
    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False):
        check_non_negative(lr=lr, eps=eps, weight_decay=weight_decay)
        defaults = {"lr": lr, "betas": check_betas(betas), "eps": eps,
                    "weight_decay": weight_decay, "amsgrad": bool(amsgrad),
                    "maximize": bool(maximize)}
        super().__init__(params, defaults)

    def init_state(self, param, group) -> dict:
        state = {"step": 0, "exp_avg": xp.zeros_like(param.data),
                 "exp_avg_sq": xp.zeros_like(param.data)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = xp.zeros_like(param.data)
        return state

    def update(self, data, grad, state, group) -> None:
        step = next_step(state)
        lr, weight_decay = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if self.decoupled_weight_decay:
            if weight_decay:
                data *= 1 - lr * weight_decay
            direction = xp.negative(grad) if group["maximize"] else grad
        else:
            direction = descent_direction(data, grad, weight_decay, group["maximize"])

        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        scratch = xp.subtract(direction, exp_avg)  # torch's lerp_: m + w * (g - m)
        scratch *= 1 - beta1
        exp_avg += scratch
        exp_avg_sq *= beta2
        xp.multiply(direction, direction, out=scratch)
        scratch *= 1 - beta2
        exp_avg_sq += scratch
        if group["amsgrad"]:
            second_moment = state["max_exp_avg_sq"]
            xp.maximum(second_moment, exp_avg_sq, out=second_moment)
        else:
            second_moment = exp_avg_sq

        correction2_sqrt = math.sqrt(1 - beta2 ** step)
        step_size = lr * correction2_sqrt / (1 - beta1 ** step)
        xp.sqrt(second_moment, out=scratch)
        scratch += group["eps"] * correction2_sqrt
        xp.divide(exp_avg, scratch, out=scratch)
        scratch *= step_size
        data -= scratch
