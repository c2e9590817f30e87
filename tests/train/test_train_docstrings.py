"""The Examples in the training and data layers' docstrings run and print what they say."""

import doctest
import importlib

import pytest

MODULES = [
    "bpnn.data.dataset", "bpnn.data.loader", "bpnn.preprocessing", "bpnn.datasets",
    "bpnn.train.model", "bpnn.train.metrics", "bpnn.callbacks.callback",
    "bpnn.callbacks.history", "bpnn.callbacks.early_stopping", "bpnn.callbacks.model_checkpoint",
    "bpnn.callbacks.learning_rate_scheduler", "bpnn.callbacks.reduce_lr_on_plateau",
    "bpnn.callbacks.csv_logger", "bpnn.callbacks.terminate_on_nan",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failures, attempted = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0 and attempted > 0
