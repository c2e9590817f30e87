"""NeuralNetClassifier / NeuralNetRegressor: any bpnn module, nested parameters, callbacks."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris, make_regression
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

import bpnn
from bpnn import nn
from bpnn.callbacks import EarlyStopping
from bpnn.sklearn import NeuralNetClassifier, NeuralNetRegressor


class TwoLayer(nn.Module):
    """A module class whose constructor takes the sizes bpnn.sklearn fills in."""

    def __init__(self, n_features_in, n_classes, hidden=8):
        super().__init__()
        self.hidden = nn.Linear(n_features_in, hidden)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x):
        return self.out(self.hidden(x).relu())


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X).astype("float32"), y


def test_fit_is_the_bpnn_model_fit_it_wraps(iris):
    """Same seed, same module, same data: the wrapper's weights are Model.fit's."""
    X, y = iris
    clf = NeuralNetClassifier(TwoLayer, lr=0.05, epochs=5, batch_size=16, shuffle=False,
                              random_state=0).fit(X, y)
    bpnn.manual_seed(clf.seed_)
    module = TwoLayer(4, 3)
    model = bpnn.Model(module, "cross_entropy", "adam", lr=0.05)
    model.fit(X, y, batch_size=16, epochs=5, shuffle=False, verbose=0)
    for (name, ours), (_, reference) in zip(clf.module_.state_dict().items(),
                                            module.state_dict().items(), strict=True):
        np.testing.assert_array_equal(ours, reference, err_msg=name)
    assert clf.history_["loss"] == model.history.history["loss"]
    assert clf.n_iter_ == 5


def test_nested_parameters_reach_the_module_and_the_optimizer(iris):
    X, y = iris
    clf = NeuralNetClassifier(TwoLayer, optimizer="sgd", epochs=2, random_state=0,
                              module__hidden=5, optimizer__momentum=0.9)
    assert clf.get_params()["module__hidden"] == 5
    clf.set_params(module__hidden=7).fit(X, y)
    assert clf.module_.hidden.out_features == 7
    assert clf.model_.optimizer.param_groups[0]["momentum"] == 0.9
    copy = clone(clf)
    assert copy.get_params()["module__hidden"] == 7 and not hasattr(copy, "module_")
    search = GridSearchCV(NeuralNetClassifier(TwoLayer, lr=0.05, epochs=20, random_state=0),
                          {"module__hidden": [1, 16]}, cv=3).fit(X, y)
    assert search.best_params_ == {"module__hidden": 16}
    assert search.best_estimator_.module_.hidden.out_features == 16


def test_module_instance_is_copied_and_builder_output_checked(iris):
    X, y = iris
    net = nn.Sequential(nn.Linear(4, 3))
    before = {k: v.copy() for k, v in net.state_dict().items()}
    clf = NeuralNetClassifier(net, epochs=3, random_state=0).fit(X, y)
    assert clf.module_ is not net
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    with pytest.raises(ValueError, match="need a module class"):
        NeuralNetClassifier(net, module__hidden=3).fit(X, y)
    with pytest.raises(TypeError, match="not a bpnn.nn.Module"):
        NeuralNetClassifier(lambda: "not a module").fit(X, y)
    with pytest.raises(ValueError, match="unknown parameter"):
        NeuralNetClassifier(TwoLayer, hiden=3).fit(X, y)
    with pytest.raises(ValueError, match="output layer has 2 units"):
        NeuralNetClassifier(nn.Linear(4, 2)).fit(X, y)


def test_early_stopping_callback_with_a_validation_fraction_restores_best(iris):
    X, y = iris
    stop = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    clf = NeuralNetClassifier(TwoLayer, lr=0.5, epochs=200, validation_fraction=0.3,
                              callbacks=[stop], random_state=0).fit(X, y)
    val_loss = clf.history_["val_loss"]
    # it stopped `patience` epochs after the best one, and the caller's callback is untouched
    assert clf.n_iter_ < 200 and len(val_loss) - 1 - int(np.argmin(val_loss)) == 2
    assert stop.state_dict() == EarlyStopping(monitor="val_loss", patience=2,
                                              restore_best_weights=True).state_dict()


def test_regressor_multioutput_and_float64():
    X, Y = make_regression(100, 3, n_targets=2, noise=0.1, random_state=0)
    reg = NeuralNetRegressor(nn.Linear(3, 2), lr=0.1, epochs=100, random_state=0,
                             dtype="float64").fit(X, Y / 100)
    assert reg.predict(X).shape == (100, 2) and reg.predict(X).dtype == np.float64
    assert reg.score(X, Y / 100) > 0.99
    assert not hasattr(reg, "predict_proba")
