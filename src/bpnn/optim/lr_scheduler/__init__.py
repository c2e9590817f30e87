"""Learning-rate schedules with ``torch.optim.lr_scheduler``'s names, arguments and numbers.

As in PyTorch, building a scheduler performs its initial step (``last_epoch`` goes from -1 to
0 and the group learning rates take their epoch-0 values) and records each group's
``initial_lr``; call ``scheduler.step()`` after ``optimizer.step()``. Schedules are computed
in torch's chainable (recursive) form from the current group ``lr``, so that two schedulers
on one optimizer compose as they do in torch; ``step(epoch)`` uses the closed form.
``state_dict()`` holds plain numbers, lists and dicts (JSON-friendly).
"""

from bpnn.optim.lr_scheduler.base import LRScheduler
from bpnn.optim.lr_scheduler.plateau import ReduceLROnPlateau, is_improvement
from bpnn.optim.lr_scheduler.schedules import (
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    MultiStepLR,
    OneCycleLR,
    StepLR,
)

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
           "LinearLR", "OneCycleLR", "ReduceLROnPlateau", "is_improvement"]
