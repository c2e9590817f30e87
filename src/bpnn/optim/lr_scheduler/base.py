"""The base of the learning-rate schedulers: ``LRScheduler`` and its argument checks."""

from __future__ import annotations

import copy

from bpnn.optim.optimizer import Optimizer


def per_group(name: str, optimizer: Optimizer, value) -> list:
    """One value per parameter group: a scalar repeated, or a list checked for its length."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"{name} must have one value per parameter group: got {len(value)} "
                             f"values for {len(optimizer.param_groups)} groups")
        return list(value)
    return [value] * len(optimizer.param_groups)


def check_optimizer(optimizer) -> None:
    """``TypeError`` unless ``optimizer`` is a bpnn optimizer."""
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
        check_optimizer(optimizer)
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
