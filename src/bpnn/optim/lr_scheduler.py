"""Learning-rate schedules with ``torch.optim.lr_scheduler``'s names, arguments and numbers.

As in PyTorch, building a scheduler performs its initial step (``last_epoch`` goes from -1 to
0 and the group learning rates take their epoch-0 values) and records each group's
``initial_lr``; call ``scheduler.step()`` after ``optimizer.step()``. Schedules are computed
in torch's chainable (recursive) form from the current group ``lr``, so that two schedulers
on one optimizer compose as they do in torch; ``step(epoch)`` uses the closed form.
``state_dict()`` holds plain numbers, lists and dicts (JSON-friendly).
"""

from __future__ import annotations

import copy
import math
import numbers

from bpnn.optim.optimizer import Optimizer


def _per_group(name: str, optimizer: Optimizer, value) -> list:
    """One value per parameter group: a scalar repeated, or a list checked for its length."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"{name} must have one value per parameter group: got {len(value)} "
                             f"values for {len(optimizer.param_groups)} groups")
        return list(value)
    return [value] * len(optimizer.param_groups)


def _check_optimizer(optimizer) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not a bpnn.optim.Optimizer")


class LRScheduler:
    """Base class: sets ``lr`` of every parameter group once per :meth:`step`.

    Parameters
    ----------
    optimizer : Optimizer
    last_epoch : int, default -1
        Index of the last epoch when resuming; -1 starts afresh (and sets ``initial_lr``).

    Attributes
    ----------
    base_lrs : list of float
        Each group's ``initial_lr``.
    last_epoch : int
        Number of :meth:`step` calls since the start (0 right after construction).

    Raises
    ------
    TypeError
        If ``optimizer`` is not a bpnn optimizer.
    KeyError
        If resuming (``last_epoch >= 0``) and a group has no ``initial_lr``.

    Example
    -------
    >>> import bpnn
    >>> opt = bpnn.optim.SGD(bpnn.nn.Linear(2, 1).parameters(), lr=0.1)
    >>> sched = bpnn.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    >>> for _ in range(4):
    ...     opt.step()
    ...     sched.step()
    >>> sched.get_last_lr()
    [0.025]
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for index, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{index}]"
                                   f" when resuming a scheduler with last_epoch={last_epoch}; "
                                   "load the optimizer's state_dict first")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        self.step()
        self._is_initial = False

    def get_lr(self) -> list:
        """The learning rates for ``self.last_epoch``, from the current ones (override)."""
        raise NotImplementedError

    def _current_lrs(self) -> list:
        return [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list:
        """Return the learning rates the last :meth:`step` set, one per group."""
        return list(self._last_lr)

    def step(self, epoch: int | None = None) -> None:
        """Advance one epoch (or jump to ``epoch``, using the closed form) and set the lrs."""
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed_form = getattr(self, "_get_closed_form_lr", None)
            values = closed_form() if closed_form is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr = self._current_lrs()

    def state_dict(self) -> dict:
        """Every attribute but the optimizer, copied (as torch does)."""
        return {key: copy.deepcopy(value) for key, value in self.__dict__.items()
                if key != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore :meth:`state_dict`'s output."""
        self.__dict__.update(copy.deepcopy(state_dict))


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs: ``lr = base * gamma**(e // s)``.

    Parameters
    ----------
    optimizer : Optimizer
    step_size : int
        Period of the decay, in epochs (> 0).
    gamma : float, default 0.1
    last_epoch : int, default -1

    Raises
    ------
    ValueError
        If ``step_size`` is not a positive integer.

    Example
    -------
    >>> import bpnn
    >>> opt = bpnn.optim.SGD(bpnn.nn.Linear(2, 1).parameters(), lr=1.0)
    >>> sched = bpnn.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    >>> sched.step(); sched.get_last_lr()
    [0.5]
    """

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        if isinstance(step_size, bool) or not isinstance(step_size, numbers.Integral) \
                or step_size <= 0:
            raise ValueError(f"step_size must be a positive integer, got {step_size!r}")
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each milestone epoch (a repeated milestone counts twice).

    ``milestones`` is kept as a sorted list (torch keeps a Counter) so ``state_dict`` is JSON.

    Parameters
    ----------
    optimizer : Optimizer
    milestones : iterable of int
        Epochs at which the lr is multiplied by ``gamma``.
    gamma : float, default 0.1
    last_epoch : int, default -1

    Example
    -------
    >>> import bpnn
    >>> opt = bpnn.optim.SGD(bpnn.nn.Linear(2, 1).parameters(), lr=1.0)
    >>> sched = bpnn.optim.lr_scheduler.MultiStepLR(opt, milestones=[1, 3], gamma=0.1)
    >>> sched.step(); sched.get_last_lr()
    [0.1]
    """

    def __init__(self, optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        hits = self.milestones.count(self.last_epoch)
        if not hits:
            return self._current_lrs()
        return [lr * self.gamma ** hits for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list:
        passed = sum(1 for m in self.milestones if m <= self.last_epoch)
        return [base * self.gamma ** passed for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch: ``lr = base * gamma**epoch``.

    Parameters
    ----------
    optimizer : Optimizer
    gamma : float
    last_epoch : int, default -1

    Example
    -------
    >>> import bpnn
    >>> opt = bpnn.optim.SGD(bpnn.nn.Linear(2, 1).parameters(), lr=1.0)
    >>> sched = bpnn.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    >>> sched.step(); sched.step(); sched.get_last_lr()
    [0.25]
    """

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list:
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from the base lr to ``eta_min`` over ``T_max`` epochs (SGDR, no restart).

    Closed form ``lr = eta_min + (base - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``; stepping
    uses torch's recursive form, so past ``T_max`` the lr climbs back up, as in torch.

    Parameters
    ----------
    optimizer : Optimizer
    T_max : int
        Half period, in epochs (> 0).
    eta_min : float, default 0
    last_epoch : int, default -1

    Raises
    ------
    ValueError
        If ``T_max`` is not positive.

    Example
    -------
    >>> import bpnn
    >>> opt = bpnn.optim.SGD(bpnn.nn.Linear(2, 1).parameters(), lr=1.0)
    >>> sched = bpnn.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2)
    >>> sched.step(); [round(v, 6) for v in sched.get_last_lr()]
    [0.5]
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        if not T_max > 0:
            raise ValueError(f"T_max must be positive, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        epoch, T_max, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if self._step_count == 1 and epoch > 0:
            return [eta_min + (base - eta_min) * (1 + math.cos(epoch * math.pi / T_max)) / 2
                    for base in self.base_lrs]
        if (epoch - 1 - T_max) % (2 * T_max) == 0:
            return [lr + (base - eta_min) * (1 - math.cos(math.pi / T_max)) / 2
                    for base, lr in zip(self.base_lrs, self._current_lrs(), strict=True)]
        ratio = (1 + math.cos(math.pi * epoch / T_max)) / (1 + math.cos(math.pi * (epoch - 1)
                                                                         / T_max))
        return [ratio * (lr - eta_min) + eta_min for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list:
        return [self.eta_min + (base - self.eta_min)
                * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale the lr linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` epochs.

    Parameters
    ----------
    optimizer : Optimizer
    start_factor : float, default 1/3
        Multiplies the base lr at epoch 0; in (0, 1].
    end_factor : float, default 1.0
        Multiplies the base lr from ``total_iters`` on; in [0, 1].
    total_iters : int, default 5
    last_epoch : int, default -1

    Raises
    ------
    ValueError
        For a factor outside its range.

    Example
    -------
    >>> import bpnn
    >>> opt = bpnn.optim.SGD(bpnn.nn.Linear(2, 1).parameters(), lr=1.0)
    >>> sched = bpnn.optim.lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=2)
    >>> sched.get_last_lr(), (sched.step(), sched.get_last_lr())[1]
    ([0.5], [0.75])
    """

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        if not 0 < start_factor <= 1:
            raise ValueError("start_factor must be in (0, 1] (the first lr is base * "
                             f"start_factor), got {start_factor!r}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"end_factor must be in [0, 1], got {end_factor!r}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._current_lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        change = self.end_factor - self.start_factor
        factor = 1.0 + change / (self.total_iters * self.start_factor
                                 + (self.last_epoch - 1) * change)
        return [lr * factor for lr in self._current_lrs()]

    def _get_closed_form_lr(self) -> list:
        progress = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * (self.start_factor + (self.end_factor - self.start_factor) * progress)
                for base in self.base_lrs]


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin, 2017): warm up to ``max_lr``, then anneal far below.

    Per batch: the lr rises from ``max_lr / div_factor`` to ``max_lr`` during the first
    ``pct_start`` of ``total_steps``, then falls to ``initial_lr / final_div_factor``
    (``three_phase``: back to ``initial_lr`` first, then down). With ``cycle_momentum`` the
    momentum (SGD, RMSprop) or beta1 (Adam, AdamW) moves the opposite way between
    ``max_momentum`` and ``base_momentum``.

    Parameters
    ----------
    optimizer : Optimizer
    max_lr : float or list of float
    total_steps : int, optional
        Or give ``epochs`` and ``steps_per_epoch``.
    epochs, steps_per_epoch : int, optional
    pct_start : float, default 0.3
    anneal_strategy : {"cos", "linear"}, default "cos"
    cycle_momentum : bool, default True
    base_momentum, max_momentum : float or list of float, default 0.85, 0.95
    div_factor : float, default 25
    final_div_factor : float, default 1e4
    three_phase : bool, default False
    last_epoch : int, default -1

    Raises
    ------
    ValueError
        For missing or non-positive step counts, ``pct_start`` outside [0, 1], an unknown
        ``anneal_strategy``, ``cycle_momentum`` with an optimizer without momentum or betas,
        or stepping more than ``total_steps`` times.

    Example
    -------
    >>> import bpnn
    >>> opt = bpnn.optim.SGD(bpnn.nn.Linear(2, 1).parameters(), lr=0.1, momentum=0.9)
    >>> sched = bpnn.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    >>> [round(lr, 6) for lr in sched.get_last_lr()]
    [0.04]
    """

    def __init__(self, optimizer, max_lr, total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum=0.85, max_momentum=0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, last_epoch: int = -1):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        self.total_steps = self._count_steps(total_steps, epochs, steps_per_epoch)
        if isinstance(pct_start, bool) or not isinstance(pct_start, numbers.Real) \
                or not 0 <= pct_start <= 1:
            raise ValueError(f"pct_start must be a float in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        warmup_end = float(pct_start * self.total_steps) - 1
        phases = [(warmup_end, "initial_lr", "max_lr", "max_momentum", "base_momentum")]
        if three_phase:
            phases.append((float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr",
                           "base_momentum", "max_momentum"))
            phases.append((self.total_steps - 1, "initial_lr", "min_lr",
                           "max_momentum", "max_momentum"))
        else:
            phases.append((self.total_steps - 1, "max_lr", "min_lr",
                           "base_momentum", "max_momentum"))
        keys = ("end_step", "start_lr", "end_lr", "start_momentum", "end_momentum")
        self._schedule_phases = [dict(zip(keys, phase, strict=True)) for phase in phases]

        max_lrs = _per_group("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for group, group_max_lr in zip(optimizer.param_groups, max_lrs, strict=True):
                group["initial_lr"] = group_max_lr / div_factor
                group["max_lr"] = group_max_lr
                group["min_lr"] = group["initial_lr"] / final_div_factor

        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"cycle_momentum needs an optimizer with momentum or betas; "
                                 f"{type(optimizer).__name__} has neither "
                                 "(pass cycle_momentum=False)")
            self.use_beta1 = "betas" in optimizer.defaults
            max_momenta = _per_group("max_momentum", optimizer, max_momentum)
            base_momenta = _per_group("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for group, high, low in zip(optimizer.param_groups, max_momenta, base_momenta,
                                            strict=True):
                    self._set_momentum(group, high)
                    group["max_momentum"] = high
                    group["base_momentum"] = low
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _count_steps(total_steps, epochs, steps_per_epoch) -> int:
        def positive_int(name, value):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
            return int(value)

        if total_steps is not None:
            return positive_int("total_steps", total_steps)
        if epochs is not None and steps_per_epoch is not None:
            return positive_int("epochs", epochs) * positive_int("steps_per_epoch",
                                                                 steps_per_epoch)
        raise ValueError("OneCycleLR needs total_steps, or both epochs and steps_per_epoch")

    def _set_momentum(self, group, value) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list:
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise ValueError(f"tried to step {step_num} times; OneCycleLR was built for "
                             f"total_steps={self.total_steps}")
        lrs = []
        last_phase = len(self._schedule_phases) - 1
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for index, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or index == last_phase:
                    pct = (step_num - start_step) / (end_step - start_step)
                    lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]],
                                            pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[phase["start_momentum"]],
                                                               group[phase["end_momentum"]],
                                                               pct))
                    break
                start_step = end_step
        return lrs


class ReduceLROnPlateau(LRScheduler):
    """Divide the lr by ``1 / factor`` when a metric has stopped improving for ``patience`` epochs.

    Parameters
    ----------
    optimizer : Optimizer
    mode : {"min", "max"}, default "min"
        Whether the metric should fall (a loss) or rise (an accuracy).
    factor : float, default 0.1
        ``new_lr = max(lr * factor, min_lr)``; must be < 1.
    patience : int, default 10
        Epochs without improvement tolerated before reducing.
    threshold : float, default 1e-4
        Smallest change counted as an improvement.
    threshold_mode : {"rel", "abs"}, default "rel"
        ``rel``: better than ``best * (1 -/+ threshold)``; ``abs``: than ``best -/+ threshold``.
    cooldown : int, default 0
        Epochs after a reduction during which bad epochs are not counted.
    min_lr : float or list of float, default 0
    eps : float, default 1e-8
        Reductions smaller than this are skipped.

    Raises
    ------
    ValueError
        For ``factor >= 1``, an unknown mode or threshold mode, or a ``min_lr`` list of the
        wrong length.

    Example
    -------
    >>> import bpnn
    >>> opt = bpnn.optim.SGD(bpnn.nn.Linear(2, 1).parameters(), lr=1.0)
    >>> sched = bpnn.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5)
    >>> for loss in [1.0, 1.0, 1.0]:
    ...     sched.step(loss)
    >>> sched.get_last_lr()
    [0.5]
    """

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr=0, eps: float = 1e-8):
        if not factor < 1.0:
            raise ValueError(f"factor must be < 1.0 (it multiplies the lr), got {factor!r}")
        _check_optimizer(optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.optimizer = optimizer
        self.factor = factor
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) else min_lr
        self.min_lrs = _per_group("min_lr", optimizer, min_lr)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.last_epoch = 0
        self._last_lr = self._current_lrs()
        self._reset()

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def is_better(self, current: float, best: float) -> bool:
        """Whether ``current`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return current < best * (1.0 - self.threshold)
            return current < best - self.threshold
        if self.threshold_mode == "rel":
            return current > best * (self.threshold + 1.0)
        return current > best + self.threshold

    def step(self, metrics, epoch: int | None = None) -> None:
        """Record this epoch's ``metrics`` value and reduce the lr if it has plateaued."""
        current = float(metrics)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(f"the optimizer has {len(groups)} parameter groups but "
                                   f"min_lr gave {len(self.min_lrs)} values")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs, strict=True):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr


__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
           "LinearLR", "OneCycleLR", "ReduceLROnPlateau"]
