"""The Examples in the docstrings of the convolution, pooling, batch-norm and transform code run."""

import doctest
import importlib

import pytest

MODULES = [
    "bpnn.functional.conv", "bpnn.functional.pooling", "bpnn.functional.normalization",
    "bpnn.nn.conv", "bpnn.nn.pooling", "bpnn.nn.normalization", "bpnn.transforms",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failures, attempted = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted > 0 and failures == 0
