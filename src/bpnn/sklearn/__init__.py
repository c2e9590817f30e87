"""scikit-learn estimators backed by bpnn (optional extra ``bpnn[sklearn]``).

``MLPClassifier`` / ``MLPRegressor`` are drop-ins for ``sklearn.neural_network``'s;
``NeuralNetClassifier`` / ``NeuralNetRegressor`` wrap any ``bpnn.nn.Module``. All work in
``Pipeline``, ``GridSearchCV`` (``n_jobs``, loky or a dask cluster), ``cross_val_score`` and
``CalibratedClassifierCV``. Pickle is what joblib uses to move estimators between processes;
files on disk use bpnn's safe format: ``est.save(path)`` and :func:`load`.
"""

try:
    import sklearn  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the installation
    raise ImportError("bpnn.sklearn needs scikit-learn: pip install 'bpnn[sklearn]'") from error

from bpnn.sklearn.mlp import MLPClassifier, MLPRegressor
from bpnn.sklearn.neural_net import NeuralNetClassifier, NeuralNetRegressor
from bpnn.sklearn.persistence import load

__all__ = ["MLPClassifier", "MLPRegressor", "NeuralNetClassifier", "NeuralNetRegressor", "load"]
