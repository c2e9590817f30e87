"""Keras-style training: ``Model`` (fit / evaluate / predict), metrics and progress display."""

from bpnn.train import metrics
from bpnn.train.ensemble import Ensemble
from bpnn.train.lr_finder import LRFinderResult
from bpnn.train.model import Model
from bpnn.train.network_summary import Summary, summary
from bpnn.train.progress import EpochLogger, ProgressBar

__all__ = ["Ensemble", "EpochLogger", "LRFinderResult", "Model", "ProgressBar", "Summary",
           "metrics", "summary"]
