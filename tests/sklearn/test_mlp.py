"""MLPClassifier / MLPRegressor against scikit-learn's MLP: same steps, same attributes."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_multilabel_classification, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

import bpnn
from bpnn.sklearn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def test_import_bpnn_does_not_import_sklearn():
    code = "import sys, bpnn; sys.exit('sklearn' in sys.modules or 'dask' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def _set_weights(estimator, coefs, intercepts):
    layers = [m for m in estimator.model_.network if isinstance(m, bpnn.nn.Linear)]
    for layer, coef, intercept in zip(layers, coefs, intercepts, strict=True):
        layer.weight.data[...] = coef.T
        layer.bias.data[...] = intercept


PROBLEMS = {
    "multiclass": lambda: (load_iris(return_X_y=True)[0], load_iris(return_X_y=True)[1]),
    "binary": lambda: (load_iris(return_X_y=True)[0][:100], load_iris(return_X_y=True)[1][:100]),
    "regression": lambda: make_regression(60, 4, noise=1.0, random_state=0)[:2],
    "multitarget": lambda: make_regression(60, 4, n_targets=3, noise=1.0, random_state=0)[:2],
}


@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic"])
@pytest.mark.parametrize("weighted", [False, True])
def test_sgd_steps_match_sklearn(problem, activation, weighted):
    """From the same weights, full-batch SGD epochs give scikit-learn's loss_ and weights."""
    X, y = PROBLEMS[problem]()
    X = StandardScaler().fit_transform(X)
    if regression := problem in ("regression", "multitarget"):
        y = y / 100.0
    options = dict(hidden_layer_sizes=(5, 4), activation=activation, solver="sgd",
                   momentum=0.0, alpha=0.01, batch_size=len(X), shuffle=False,
                   learning_rate_init=0.1, random_state=0)
    ours = (MLPRegressor if regression else MLPClassifier)(dtype="float64", **options)
    theirs = (SklearnMLPRegressor if regression else SklearnMLPClassifier)(**options)
    weights = np.random.default_rng(0).uniform(0.2, 3.0, len(X)) if weighted else None
    partial = {} if regression else {"classes": np.unique(y)}
    theirs.partial_fit(X, y, sample_weight=weights, **partial)
    ours.partial_fit(X, y, sample_weight=weights, **partial)
    _set_weights(ours, theirs.coefs_, theirs.intercepts_)
    for _ in range(3):
        theirs.partial_fit(X, y, sample_weight=weights)
        ours.partial_fit(X, y, sample_weight=weights)
        if problem != "multitarget":  # there scikit-learn's loss_ averages over targets, but
            # its gradient sums over them; bpnn follows the gradient (same steps)
            assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-10)
    for mine, reference in zip(ours.coefs_ + ours.intercepts_,
                               theirs.coefs_ + theirs.intercepts_, strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-9, atol=1e-12)
    assert ours.out_activation_ == theirs.out_activation_
    assert ours.n_outputs_ == theirs.n_outputs_
    assert [c.shape for c in ours.coefs_] == [c.shape for c in theirs.coefs_]
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9)
    if not regression:
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-9)
        np.testing.assert_array_equal(ours.classes_, theirs.classes_)


def test_lbfgs_matches_sklearn_accuracy(iris):
    X, y = iris
    for seed in range(3):
        ours = MLPClassifier((8,), solver="lbfgs", random_state=seed).fit(X, y)
        theirs = SklearnMLPClassifier((8,), solver="lbfgs", random_state=seed).fit(X, y)
        assert ours.score(X, y) >= theirs.score(X, y) - 0.02


@pytest.mark.parametrize("solver", ["adam", "adamw", "rmsprop", "sgd", "lbfgs", "bfgs", "cg",
                                    "lm"])
def test_every_solver_learns_iris(iris, solver):
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier((6,), solver=solver, learning_rate_init=0.01, max_iter=150,
                            random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert clf.n_iter_ == len(clf.loss_curve_) <= 150
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_int_random_state_is_bit_identical_and_leaves_global_generator(iris):
    X, y = iris
    state = bpnn.get_rng_state()
    options = dict(hidden_layer_sizes=(10,), dropout=0.2, batch_norm=True, max_iter=30,
                   early_stopping=True, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first, second = MLPClassifier(**options).fit(X, y), MLPClassifier(**options).fit(X, y)
        other = MLPClassifier(**{**options, "random_state": 4}).fit(X, y)
    assert bpnn.get_rng_state() == state
    for a, b in zip(first.coefs_, second.coefs_, strict=True):
        np.testing.assert_array_equal(a, b)
    assert first.loss_curve_ == second.loss_curve_
    assert not np.array_equal(first.coefs_[0], other.coefs_[0])


def test_early_stopping_restores_the_best_validation_weights(iris):
    X, y = iris
    clf = MLPClassifier((4,), early_stopping=True, n_iter_no_change=3, max_iter=200,
                        learning_rate_init=0.05, validation_fraction=0.3, random_state=1)
    clf.fit(X, y)
    assert clf.best_loss_ is None and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    _, X_val, _, y_val = train_test_split(X, y, random_state=clf.seed_, test_size=0.3,
                                          stratify=y)
    assert clf.score(X_val, y_val) == pytest.approx(clf.best_validation_score_)
    assert clf.n_iter_ < 200  # it stopped on patience


def test_stops_after_n_iter_no_change_like_sklearn(iris):
    X, y = iris
    clf = MLPClassifier((8,), solver="lbfgs", max_iter=3, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
        clf.fit(X, y)
    # tol=10: only the first epoch counts as an improvement; both stop at the same epoch
    reg = MLPRegressor(hidden_layer_sizes=(8,), tol=10.0, n_iter_no_change=2, random_state=0)
    theirs = SklearnMLPRegressor(hidden_layer_sizes=(8,), tol=10.0, n_iter_no_change=2,
                                 random_state=0)
    reg.fit(X, y.astype(float))
    theirs.fit(X, y.astype(float))
    assert reg.n_iter_ == theirs.n_iter_ == 4 and reg.best_loss_ == min(reg.loss_curve_)


def test_class_weight_equals_the_sample_weights_it_stands_for(iris):
    X, y = iris
    X, y = X[:120], y[:120]  # unbalanced: 50 / 50 / 20
    options = dict(hidden_layer_sizes=(6,), max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = MLPClassifier(class_weight="balanced", **options).fit(X, y)
        explicit = MLPClassifier(**options).fit(
            X, y, sample_weight=compute_sample_weight("balanced", y))
        plain = MLPClassifier(**options).fit(X, y)
    np.testing.assert_array_equal(weighted.coefs_[0], explicit.coefs_[0])
    assert not np.array_equal(weighted.coefs_[0], plain.coefs_[0])


def test_multilabel_and_multioutput_as_sklearn_does_them():
    X, Y = make_multilabel_classification(120, 6, n_classes=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier((16,), max_iter=300, learning_rate_init=0.01,
                            random_state=0).fit(X, Y)
        theirs = SklearnMLPClassifier((16,), max_iter=300, learning_rate_init=0.01,
                                      random_state=0).fit(X, Y)
    assert clf.predict(X).shape == Y.shape and clf.predict_proba(X).shape == Y.shape
    assert clf.out_activation_ == theirs.out_activation_ == "logistic"
    assert clf.score(X, Y) >= theirs.score(X, Y) - 0.1
    X, Y = make_regression(80, 5, n_targets=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=500, learning_rate_init=0.01,
                           random_state=0)
        reg.fit(X, Y / 100)
    assert reg.predict(X).shape == (80, 3) and reg.score(X, Y / 100) > 0.9


def test_partial_fit_needs_classes_first_and_dataframe_names_are_kept(iris):
    pd = pytest.importorskip("pandas")
    X, y = iris
    clf = MLPClassifier((4,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    frame = pd.DataFrame(X, columns=["sepal_l", "sepal_w", "petal_l", "petal_w"])
    clf.partial_fit(frame, y, classes=[0, 1, 2])
    assert clf.n_iter_ == 1 and list(clf.feature_names_in_) == list(frame.columns)
    clf.partial_fit(frame, y)
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 2
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(frame, y + 1)


@pytest.mark.parametrize(("params", "message"), [
    ({"solver": "newton"}, "solver must be one of"),
    ({"hidden_layer_sizes": (4, 0)}, "hidden_layer_sizes must hold positive integers"),
    ({"max_iter": 0}, "max_iter must be a positive integer"),
    ({"dropout": 1.0}, "dropout must be in"),
    ({"early_stopping": True, "validation_fraction": 1.5}, "validation_fraction must be in"),
])
def test_bad_parameters_are_named_before_training(iris, params, message):
    with pytest.raises(ValueError, match=message):
        MLPClassifier(**params).fit(*iris)


def test_not_fitted_and_missing_attributes(iris):
    clf = MLPClassifier()
    with pytest.raises(NotFittedError):
        clf.predict(iris[0])
    assert not hasattr(clf, "coefs_")
    assert not hasattr(MLPRegressor(), "predict_proba")


def test_warm_start_and_partial_fit_continue_like_sklearn(iris):
    X, y = iris
    options = dict(hidden_layer_sizes=(6,), max_iter=5, random_state=0, warm_start=True)
    ours, theirs = MLPClassifier(**options), SklearnMLPClassifier(**options)
    for _ in range(2):
        ours.fit(X, y)
        theirs.fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 5  # counted per call, as in scikit-learn
    assert len(ours.loss_curve_) == len(theirs.loss_curve_) == 10
    assert ours.loss_curve_[-1] < ours.loss_curve_[0]
    reg = MLPRegressor(hidden_layer_sizes=(6,), random_state=0)
    for _ in range(3):
        reg.partial_fit(X[:, :3], X[:, 3])
    assert reg.n_iter_ == 1 and reg.t_ == 3 * len(X) and len(reg.loss_curve_) == 3
    with pytest.raises(ValueError, match="2 target columns, but the network was fitted with 1"):
        reg.partial_fit(X[:, :3], X[:, 2:])
