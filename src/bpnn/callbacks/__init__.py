"""Training callbacks (Keras 3's names and hooks), one class per file."""

from bpnn.callbacks.callback import Callback, CallbackList
from bpnn.callbacks.csv_logger import CSVLogger
from bpnn.callbacks.early_stopping import EarlyStopping
from bpnn.callbacks.history import History
from bpnn.callbacks.learning_rate_scheduler import LearningRateScheduler
from bpnn.callbacks.model_checkpoint import ModelCheckpoint
from bpnn.callbacks.monitor import MonitorCallback
from bpnn.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from bpnn.callbacks.terminate_on_nan import TerminateOnNaN

__all__ = [
    "CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History", "LearningRateScheduler",
    "ModelCheckpoint", "MonitorCallback", "ReduceLROnPlateau", "TerminateOnNaN",
]
