"""The schedules that follow the epoch count: step, multi-step, exponential, cosine, linear,
one-cycle (see the package docstring for the rules they share with PyTorch)."""

from __future__ import annotations

import math
import numbers

from bpnn.optim.lr_scheduler.base import LRScheduler, check_optimizer, per_group


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
        check_optimizer(optimizer)
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

        max_lrs = per_group("max_lr", optimizer, max_lr)
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
            max_momenta = per_group("max_momentum", optimizer, max_momentum)
            base_momenta = per_group("base_momentum", optimizer, base_momentum)
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
