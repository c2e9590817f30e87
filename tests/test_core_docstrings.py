"""The Examples in the core's docstrings run and print what they say."""

import doctest
import importlib

import pytest

CORE_MODULES = [
    "bpnn", "bpnn.backend", "bpnn.autograd.tensor", "bpnn.autograd.gradcheck",
    "bpnn.functional.activation", "bpnn.functional.loss", "bpnn.functional.linear",
    "bpnn.nn.module", "bpnn.nn.linear", "bpnn.nn.container", "bpnn.nn.registry",
    "bpnn.optim.optimizer", "bpnn.autograd.creation", "bpnn.autograd.function", "bpnn.nn.loss",
    "bpnn.nn.activation", "bpnn.optim.lr_scheduler.plateau", "bpnn.preprocessing",
]


@pytest.mark.parametrize("name", CORE_MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failures, _ = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
