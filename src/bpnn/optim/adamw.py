"""AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, 2019)."""

from __future__ import annotations

from bpnn.optim.adam import Adam
from bpnn.optim.registry import register_optimizer


@register_optimizer("adamw")
class AdamW(Adam):
    r"""Adam whose weight decay shrinks the parameters directly (torch.optim.AdamW's rule).

    Each step first does ``theta = theta * (1 - lr * weight_decay)``, then the Adam update
    of :class:`Adam` with the raw gradient (no L2 term in it)::

        theta = theta * (1 - gamma * lambda)
        m, v  = Adam's moments of g = (-grad if maximize else grad)
        theta = theta - gamma / (1 - beta1**t) * m / (sqrt(v_used) / sqrt(1 - beta2**t) + eps)

    Parameters
    ----------
    params : iterable of Parameter or of dict
    lr : float, default 1e-3
    betas : tuple of float, default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 1e-2
        Decoupled decay coefficient :math:`\lambda`.
    amsgrad : bool, default False
    maximize : bool, default False

    Raises
    ------
    ValueError
        For a negative ``lr``, ``eps`` or ``weight_decay``, or a beta outside [0, 1).

    Notes
    -----
    Same state as :class:`Adam`: ``step``, ``exp_avg``, ``exp_avg_sq`` (``max_exp_avg_sq``).

    Example
    -------
    >>> import bpnn
    >>> w = bpnn.nn.Parameter([1.0, -2.0])
    >>> opt = bpnn.optim.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.data.tolist()]
    [0.85, -1.8]
    """

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)
