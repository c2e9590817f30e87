"""The strong-Wolfe line search shared by every second-order optimizer.

A port of minFunc's ``WolfeLineSearch`` (cubic interpolation, bracketing then zoom), by way of
``torch/optim/lswolfe.lua`` and ``torch.optim.lbfgs._strong_wolfe``, so that ``LBFGS`` follows
PyTorch's iterates. It works on any 1-D function ``phi(t) = f(x + t d)`` that also returns the
flat gradient at ``x + t d``.
"""

from __future__ import annotations

import math
from collections import namedtuple

from bpnn.optim._flat import is_finite

LineSearchResult = namedtuple("LineSearchResult", ["loss", "grad", "step", "evaluations"])
LineSearchResult.__doc__ = """Outcome of :func:`strong_wolfe`.

``loss`` is ``nan`` when a trial point gave a non-finite loss or gradient: the caller must reject
the step (the search stops there instead of interpolating through nan).
"""


def cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    """Minimiser of the cubic through two points with values and slopes, clipped to ``bounds``.

    Falls back to the middle of the bounds when the cubic has no minimum.
    """
    xmin_bound, xmax_bound = bounds if bounds is not None else sorted((x1, x2))
    try:
        d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
        d2_square = d1 * d1 - g1 * g2
        if d2_square >= 0:
            d2 = math.sqrt(d2_square)
            if x1 <= x2:
                min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
            else:
                min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
            if math.isfinite(min_pos):
                return min(max(min_pos, xmin_bound), xmax_bound)
    except ZeroDivisionError:  # two coincident points: no cubic, bisect instead
        pass
    return (xmin_bound + xmax_bound) / 2.0


def strong_wolfe(phi, step, loss, grad, slope, direction, c1: float = 1e-4, c2: float = 0.9,
                 tolerance_change: float = 1e-9, max_ls: int = 25) -> LineSearchResult:
    """Find a step ``t`` along ``direction`` satisfying the strong Wolfe conditions.

    ``f(t) <= f(0) + c1 t f'(0)`` (sufficient decrease) and ``|f'(t)| <= c2 |f'(0)|``
    (curvature), with ``f'(t) = grad(x + t d) . d``.

    Parameters
    ----------
    phi : callable
        ``phi(t) -> (loss, flat_grad)`` at ``x + t * direction``; must leave ``x`` unchanged.
    step : float
        First trial step.
    loss, grad : float, ndarray
        Loss and flat gradient at ``t = 0``.
    slope : float
        ``grad . direction``; must be negative (a descent direction).
    direction : ndarray
    c1, c2 : float
        Sufficient-decrease and curvature constants, ``0 < c1 < c2 < 1``.
    tolerance_change : float
        Stop when the bracket is narrower than this (in parameter units).
    max_ls : int
        At most this many evaluations of ``phi``.

    Returns
    -------
    LineSearchResult
        ``(loss, grad, step, evaluations)`` at the accepted step; ``loss`` is nan if a trial
        point was non-finite.

    Raises
    ------
    ValueError
        If ``slope`` is not negative or the constants are out of order.

    Example
    -------
    >>> import numpy as np
    >>> phi = lambda t: ((1 - t) ** 2, np.array([-2 * (1 - t)]))  # f(x)=x^2, x=-1, d=1
    >>> result = strong_wolfe(phi, 0.1, 1.0, np.array([-2.0]), -2.0, np.array([1.0]), c2=0.1)
    >>> round(result.step, 6), result.evaluations  # the cubic through two points is exact
    (1.0, 2)
    """
    if not slope < 0:
        raise ValueError(f"strong_wolfe needs a descent direction (grad . d < 0), got {slope}")
    if not 0 < c1 < c2 < 1:
        raise ValueError(f"strong_wolfe needs 0 < c1 < c2 < 1, got c1={c1}, c2={c2}")
    d_norm = float(abs(direction).max())
    def trial(t):
        """``phi(t)`` and the slope along ``direction``; the slope is None if not finite."""
        f, g = phi(t)
        return f, g, float(g @ direction) if math.isfinite(f) and is_finite(g) else None

    t = step
    f_new, g_new, gtd_new = trial(t)
    evaluations = 1
    if gtd_new is None:
        return LineSearchResult(math.nan, g_new, t, evaluations)

    # bracketing phase: grow the step until an interval surely holds an acceptable point
    t_prev, f_prev, g_prev, gtd_prev = 0.0, loss, grad, slope
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > loss + c1 * t * slope or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * slope:
            bracket, bracket_f, bracket_g, bracket_gtd = [t], [f_new], [g_new], [gtd_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        previous = t
        t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                              bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = previous, f_new, g_new, gtd_new
        f_new, g_new, gtd_new = trial(t)
        evaluations, ls_iter = evaluations + 1, ls_iter + 1
        if gtd_new is None:
            return LineSearchResult(math.nan, g_new, t, evaluations)
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0.0, t], [loss, f_new], [grad, g_new]
        bracket_gtd = [slope, gtd_new]

    # zoom phase: shrink the bracket around a point satisfying both conditions
    insufficient_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                              bracket[1], bracket_f[1], bracket_gtd[1])
        # keep away from the ends: a trial at the boundary teaches nothing new
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insufficient_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        f_new, g_new, gtd_new = trial(t)
        evaluations, ls_iter = evaluations + 1, ls_iter + 1
        if gtd_new is None:
            return LineSearchResult(math.nan, g_new, t, evaluations)
        if f_new > loss + c1 * t * slope or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high] = t, f_new
            bracket_g[high], bracket_gtd[high] = g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * slope:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low] = t, f_new
            bracket_g[low], bracket_gtd[low] = g_new, gtd_new
    return LineSearchResult(bracket_f[low], bracket_g[low], bracket[low], evaluations)
