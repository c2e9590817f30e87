"""Safe files for the estimators: bpnn's format (safetensors + JSON), never pickle."""

from __future__ import annotations

from bpnn import io
from bpnn.sklearn.mlp import MLPClassifier, MLPRegressor
from bpnn.sklearn.neural_net import NeuralNetClassifier, NeuralNetRegressor

ESTIMATORS = (MLPClassifier, MLPRegressor, NeuralNetClassifier, NeuralNetRegressor)
for _cls in ESTIMATORS:
    io.register_kind(_cls.__name__, _cls._from_checkpoint)


def load(path):
    """Read an estimator written by ``est.save(path)``.

    Never unpickles: the network comes from bpnn's layer registry. A ``NeuralNet*``
    estimator comes back with the saved network as its ``module`` (builder functions and
    callbacks are code, which a file does not hold).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    MLPClassifier, MLPRegressor, NeuralNetClassifier or NeuralNetRegressor
        Fitted; ``predict`` gives what the saved estimator gave.

    Raises
    ------
    bpnn.SerializationError
        If the file is not a bpnn file or holds something other than an estimator.

    Example
    -------
    >>> import os, tempfile
    >>> from sklearn.datasets import load_iris
    >>> import bpnn.sklearn
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = bpnn.sklearn.MLPClassifier((8,), solver="lbfgs", random_state=0).fit(X, y)
    >>> path = clf.save(os.path.join(tempfile.mkdtemp(), "iris.bpnn"))
    >>> bool((bpnn.sklearn.load(path).predict(X) == clf.predict(X)).all())
    True
    """
    estimator = io.load(path)
    if not isinstance(estimator, ESTIMATORS):
        raise io.SerializationError(f"{path}: holds a {type(estimator).__name__}, not a "
                                    "bpnn.sklearn estimator (read it with bpnn.load)")
    return estimator
