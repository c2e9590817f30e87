"""Keras-style training: ``Model`` (fit / evaluate / predict), metrics and progress display."""

from bpnn.train import metrics
from bpnn.train.ensemble import Ensemble
from bpnn.train.model import Model
from bpnn.train.progress import EpochLogger, ProgressBar

__all__ = ["Ensemble", "EpochLogger", "Model", "ProgressBar", "metrics"]
