"""The Examples in the toolkit's docstrings run and print what they say."""

import doctest
import importlib

import pytest

MODULES = ["bpnn.train.network_summary", "bpnn.optim.bayesian_regularization", "bpnn.plot"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failures, attempted = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0 and attempted > 0
