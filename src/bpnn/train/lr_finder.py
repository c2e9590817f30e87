"""``lr_find``: fastai's learning-rate range test (Smith 2015, "Cyclical learning rates").

A throwaway run of mini-batch steps raises the learning rate exponentially from ``start_lr``
to ``end_lr`` (one rate per batch), records the loss smoothed by an exponential moving average
(``beta = 0.98``, debiased), stops early once the smoothed loss exceeds 4 times its best, and
then puts back the network's weights and buffers, the optimizer's state and learning rates,
and the global random generator, bit for bit: a ``fit`` after ``lr_find`` trains exactly as
one without it.

Suggestions (fastai's rules, computed on the curve without its first tenth and last 5 points,
as fastai does, so that the noisy start and the divergence do not count):

- ``valley`` (the default ``suggestion``): the longest stretch over which the smoothed loss
  keeps falling (the longest decreasing subsequence of the curve), and the rate about half way
  down it, at index ``start + int(length / 3) + int(length / 6)`` (fastai's ``valley``): far
  enough from the start to be falling fast, far enough from the bottom to be safe;
- ``steep``: the rate where the loss falls fastest against ``log(lr)``;
- ``minimum``: the rate of the lowest smoothed loss, divided by 10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bpnn import backend
from bpnn.backend import xp
from bpnn.data.loader import DataLoader

SMOOTHING = 0.98
DIVERGENCE_FACTOR = 4.0


def valley(lrs, losses) -> int:
    """Index of fastai's "valley" rate: a third plus a sixth down the longest decline."""
    n = len(losses)
    longest = [1] * n
    start = end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and longest[i] < longest[j] + 1:
                longest[i] = longest[j] + 1
            if longest[end] < longest[i]:
                end = i
                start = end - longest[end]
    sections = (end - start) / 3
    return start + int(sections) + int(sections / 2)


def steep(lrs, losses) -> int:
    """Index where the loss falls fastest per unit of ``log(lr)``."""
    slopes = xp.diff(losses) / xp.diff(xp.log(lrs))
    return int(xp.argmin(slopes))


@dataclass
class LRFinderResult:
    """The range test's curve and suggestions.

    Attributes
    ----------
    lrs : ndarray
        The learning rate of each step taken.
    losses : ndarray
        The smoothed loss after each step.
    raw_losses : ndarray
        Each batch's loss before smoothing.
    suggestions : dict
        ``{"valley": lr, "steep": lr, "minimum": lr}`` (see the module docstring).
    suggestion : float
        ``suggestions["valley"]``, fastai's default.
    diverged : bool
        Whether the run stopped because the smoothed loss exceeded 4 times its best (or
        became non-finite) before ``num_iter`` steps.
    """

    lrs: object
    losses: object
    raw_losses: object
    suggestions: dict = field(default_factory=dict)
    diverged: bool = False

    @property
    def suggestion(self) -> float:
        """The suggested learning rate: the ``valley`` rule's."""
        return self.suggestions["valley"]

    def plot(self, path=None, skip_start: int = 10, skip_end: int = 5):
        """Smoothed loss against the learning rate (log scale), suggestions marked.

        Parameters
        ----------
        path : str, optional
            PNG file to write; without it the matplotlib Figure is returned.
        skip_start, skip_end : int, default 10, 5
            Points left out at either end (fastai's plot defaults).

        Returns
        -------
        matplotlib.figure.Figure or str
            The figure, or ``path`` once written.
        """
        from bpnn import plot

        return plot.lr_find(self, path, skip_start=skip_start, skip_end=skip_end)


def _check_range(start_lr, end_lr, num_iter):
    if not (isinstance(start_lr, (int, float)) and isinstance(end_lr, (int, float))
            and 0 < start_lr < end_lr and math.isfinite(end_lr)):
        raise ValueError(f"lr_find needs 0 < start_lr < end_lr, got start_lr={start_lr!r}, "
                         f"end_lr={end_lr!r}")
    if isinstance(num_iter, bool) or not isinstance(num_iter, int) or num_iter < 2:
        raise ValueError(f"num_iter must be an integer >= 2, got {num_iter!r}")


def lr_find(model, x, y, start_lr: float = 1e-7, end_lr: float = 10.0, num_iter: int = 100,
            batch_size=None, stop_div: bool = True, sample_weight=None) -> LRFinderResult:
    """Learning-rate range test on ``model`` (see :meth:`bpnn.Model.lr_find`)."""
    from bpnn.train.model import DEFAULT_BATCH_SIZE
    from bpnn.train.validation import positive_int, prepare

    _check_range(start_lr, end_lr, num_iter)
    optimizer = model.optimizer
    if getattr(optimizer, "requires_closure", False):
        raise ValueError(f"lr_find is for mini-batch optimizers with a learning rate; "
                         f"{type(optimizer).__name__} re-evaluates the loss itself (full batch)")
    batch_size = positive_int("batch_size", DEFAULT_BATCH_SIZE if batch_size is None
                               else batch_size)
    x, y, weights = prepare(model, x, y, sample_weight)
    arrays = (x, y) if weights is None else (x, y, weights)
    loader = DataLoader(arrays, batch_size=batch_size, shuffle=True)

    saved_weights = model.network.state_dict()
    saved_optimizer = optimizer.state_dict()
    saved_rng = backend.get_rng_state()
    saved_training = {id(m): m.training for m in model.network.modules()}
    rates = start_lr * (end_lr / start_lr) ** (xp.arange(num_iter) / (num_iter - 1))
    lrs, losses, raw_losses = [], [], []
    average, best, diverged = 0.0, math.inf, False
    model.network.train()
    try:
        while len(lrs) < num_iter and not diverged:
            for batch in loader:
                lr = float(rates[len(lrs)])
                for group in optimizer.param_groups:
                    group["lr"] = lr
                optimizer.zero_grad()
                loss = model.compute_loss(model.network(batch[0]), *batch[1:])
                loss.backward()
                optimizer.step()
                value = float(loss.data)
                if not math.isfinite(value):
                    diverged = True
                    break
                average = SMOOTHING * average + (1 - SMOOTHING) * value
                smoothed = average / (1 - SMOOTHING ** (len(lrs) + 1))
                lrs.append(lr)
                raw_losses.append(value)
                losses.append(smoothed)
                best = min(best, smoothed)
                if stop_div and smoothed > DIVERGENCE_FACTOR * best:
                    diverged = True
                    break
                if len(lrs) == num_iter:
                    break
    finally:
        model.network.load_state_dict(saved_weights)
        optimizer.load_state_dict(saved_optimizer)
        backend.set_rng_state(saved_rng)
        for module in model.network.modules():
            object.__setattr__(module, "training", saved_training[id(module)])
    result = LRFinderResult(xp.asarray(lrs), xp.asarray(losses), xp.asarray(raw_losses),
                            diverged=diverged)
    result.suggestions = _suggest(result.lrs, result.losses, num_iter)
    return result


def _suggest(lrs, losses, num_iter: int) -> dict:
    """fastai's suggestions on the curve without its first tenth and last 5 points."""
    lrs, losses = lrs[num_iter // 10:-5], losses[num_iter // 10:-5]
    if len(lrs) < 2:
        raise ValueError(f"lr_find took {len(lrs) + num_iter // 10 + 5} steps before the loss "
                         "diverged, too few to suggest a rate; lower start_lr or raise num_iter")
    return {"valley": float(lrs[valley(lrs, losses)]),
            "steep": float(lrs[steep(lrs, losses)]),
            "minimum": float(lrs[int(xp.argmin(losses))] / 10)}
