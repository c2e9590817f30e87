"""Optimizers and learning-rate schedules (``torch.optim``'s names, arguments and rules)."""

from bpnn.optim.optimizer import Optimizer

__all__ = ["Optimizer"]
