"""Safe files for the estimators (est.save / bpnn.sklearn.load), pickle only for transport."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_multilabel_classification, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError

import bpnn
from bpnn import nn
from bpnn.sklearn import (
    MLPClassifier,
    MLPRegressor,
    NeuralNetClassifier,
    NeuralNetRegressor,
    load,
)


def _fitted():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]
    Xr, yr = make_regression(50, 4, n_targets=2, random_state=0)
    Xm, Ym = make_multilabel_classification(50, 4, n_classes=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return [
            (MLPClassifier((5,), max_iter=5, random_state=0).fit(X, names), X),
            (MLPClassifier((5,), max_iter=5, solver="lm", random_state=0).fit(X, y), X),
            (MLPClassifier((5,), max_iter=5, batch_norm=True, dropout=0.1,
                           random_state=0).fit(Xm, Ym), Xm),
            (MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(Xr, yr),
             Xr),
            (NeuralNetClassifier(nn.Sequential(nn.Linear(4, 3)), epochs=2,
                                 random_state=0).fit(X, y), X),
            (NeuralNetRegressor(nn.Linear(4, 2), epochs=2, random_state=0).fit(Xr, yr), Xr),
        ]


@pytest.mark.parametrize("index", range(6))
def test_save_and_load_give_the_same_predictions(tmp_path, index):
    estimator, X = _fitted()[index]
    path = estimator.save(tmp_path / "estimator.bpnn")
    data = (tmp_path / "estimator.bpnn").read_bytes()
    # Not a pickle (which opens with 0x80 and a protocol number 2-5): a safetensors header.
    assert not (data[:1] == b"\x80" and data[1] in range(2, 6))
    header_length = int.from_bytes(data[:8], "little")
    assert data[8:9] == b"{" and data[8 + header_length - 1:8 + header_length].strip() in (b"}",
                                                                                          b"")
    state = bpnn.get_rng_state()
    loaded = load(path)
    assert bpnn.get_rng_state() == state
    assert type(loaded) is type(estimator)
    np.testing.assert_array_equal(loaded.predict(X), estimator.predict(X))
    if hasattr(estimator, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), estimator.predict_proba(X))
        np.testing.assert_array_equal(loaded.classes_, estimator.classes_)
    for name in ("n_features_in_", "n_iter_", "loss_curve_", "n_outputs_", "out_activation_"):
        if hasattr(estimator, name):
            assert getattr(loaded, name) == getattr(estimator, name), name
    params = {k: v for k, v in estimator.get_params().items()
              if k not in ("module", "callbacks", "random_state")}
    assert {k: loaded.get_params()[k] for k in params} == params


def test_pickle_is_for_transport_and_round_trips():
    estimator, X = _fitted()[0]
    copy = pickle.loads(pickle.dumps(estimator))
    np.testing.assert_array_equal(copy.predict_proba(X), estimator.predict_proba(X))


def test_load_refuses_what_is_not_an_estimator(tmp_path):
    module_file = bpnn.save(nn.Linear(2, 1), tmp_path / "module.bpnn")
    with pytest.raises(bpnn.SerializationError, match="not a bpnn.sklearn estimator"):
        load(module_file)
    (tmp_path / "pickled.bpnn").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(bpnn.SerializationError):
        load(tmp_path / "pickled.bpnn")
    with pytest.raises(NotFittedError):
        MLPClassifier().save(tmp_path / "unfitted.bpnn")
    assert not (tmp_path / "unfitted.bpnn").exists()
