"""Optimizers and learning-rate schedules (``torch.optim``'s names, arguments and rules)."""

from bpnn.optim import lr_scheduler
from bpnn.optim.adagrad import Adagrad
from bpnn.optim.adam import Adam
from bpnn.optim.adamw import AdamW
from bpnn.optim.optimizer import Optimizer
from bpnn.optim.registry import (
    OPTIMIZERS,
    get,
    get_optimizer_class,
    optimizer_config,
    optimizer_from_config,
    register_optimizer,
)
from bpnn.optim.rmsprop import RMSprop
from bpnn.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "lr_scheduler",
           "OPTIMIZERS", "get", "get_optimizer_class", "optimizer_config",
           "optimizer_from_config", "register_optimizer"]
