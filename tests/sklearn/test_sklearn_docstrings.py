"""The Examples in bpnn.sklearn's docstrings run and print what they say."""

import doctest
import importlib
import warnings

import pytest

MODULES = ["bpnn.sklearn.mlp", "bpnn.sklearn.neural_net", "bpnn.sklearn.persistence"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        failures, attempted = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0 and attempted > 0
