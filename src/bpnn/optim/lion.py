"""Lion: the sign of an interpolated momentum as the step (Chen et al., 2023)."""

from __future__ import annotations

from bpnn.backend import xp
from bpnn.optim._common import check_betas, check_non_negative
from bpnn.optim.optimizer import Optimizer
from bpnn.optim.registry import register_optimizer


@register_optimizer("lion")
class Lion(Optimizer):
    r"""Lion, "EvoLved Sign Momentum" (Chen et al., 2023, Algorithm 2), as lucidrains' lion-pytorch.

    With :math:`\gamma` = ``lr``, :math:`\lambda` = ``weight_decay``, ``(beta1, beta2)`` =
    ``betas``::

        g     = -grad if maximize else grad
        theta = theta * (1 - gamma * lambda)             (decoupled weight decay)
        c     = beta1 * m + (1 - beta1) * g
        theta = theta - gamma * sign(c)
        m     = beta2 * m + (1 - beta2) * g              (exp_avg)

    Every coordinate moves by exactly ``lr`` (or not at all), so Lion wants a learning rate
    3-10 times smaller than AdamW's and a weight decay as many times larger.

    Parameters
    ----------
    params : iterable of Parameter or of dict
    lr : float, default 1e-4
    betas : tuple of float, default (0.9, 0.99)
    weight_decay : float, default 0
    maximize : bool, default False

    Raises
    ------
    ValueError
        For a negative ``lr`` or ``weight_decay``, or a beta outside [0, 1).

    Notes
    -----
    State per parameter: ``exp_avg``. torch has no Lion; the tests follow the paper's
    pseudo-code written with torch's in-place ops.

    Example
    -------
    >>> import bpnn
    >>> w = bpnn.nn.Parameter([1.0, -2.0])
    >>> opt = bpnn.optim.Lion([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.data.tolist()]
    [0.9, -1.9]
    """

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0, *, maximize=False):
        check_non_negative(lr=lr, weight_decay=weight_decay)
        defaults = {"lr": lr, "betas": check_betas(betas), "weight_decay": weight_decay,
                    "maximize": bool(maximize)}
        super().__init__(params, defaults)

    def init_state(self, param, group) -> dict:
        return {"exp_avg": xp.zeros_like(param.data)}

    def update(self, data, grad, state, group) -> None:
        lr, weight_decay = group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        direction = xp.negative(grad) if group["maximize"] else grad
        if weight_decay:
            data *= 1 - lr * weight_decay
        exp_avg = state["exp_avg"]
        scratch = xp.multiply(exp_avg, beta1)
        scratch += (1 - beta1) * direction
        xp.sign(scratch, out=scratch)
        scratch *= lr
        data -= scratch
        exp_avg *= beta2
        xp.multiply(direction, 1 - beta2, out=scratch)
        exp_avg += scratch
