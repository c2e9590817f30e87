"""Optimizers and learning-rate schedules (``torch.optim``'s names, arguments and rules)."""

from bpnn.optim import line_search, lr_scheduler
from bpnn.optim.adagrad import Adagrad
from bpnn.optim.adam import Adam
from bpnn.optim.adamw import AdamW
from bpnn.optim.bayesian_regularization import BayesianRegularization
from bpnn.optim.bfgs import BFGS
from bpnn.optim.conjugate_gradient import ConjugateGradient
from bpnn.optim.dfp import DFP
from bpnn.optim.lbfgs import LBFGS
from bpnn.optim.levenberg_marquardt import LevenbergMarquardt
from bpnn.optim.lion import Lion
from bpnn.optim.newton import Newton
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

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Lion", "lr_scheduler",
           "OPTIMIZERS", "get", "get_optimizer_class", "optimizer_config",
           "optimizer_from_config", "register_optimizer"]
__all__ += ["LBFGS", "BFGS", "DFP", "ConjugateGradient", "Newton", "LevenbergMarquardt",
            "BayesianRegularization", "line_search"]
