"""bpnn estimators inside scikit-learn's tools: pipelines, searches, calibration, targets."""

import warnings

import joblib
import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import (
    GridSearchCV,
    RandomizedSearchCV,
    StratifiedKFold,
    cross_val_score,
)
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn_support import search_pipeline

from bpnn.sklearn import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_column_transformer_pipeline_on_a_mixed_dataframe():
    pd = pytest.importorskip("pandas")
    X, y = load_iris(return_X_y=True, as_frame=True)
    frame = X.copy()
    # a categorical column that carries the class (with noise), next to the numeric ones
    rng = np.random.default_rng(0)
    noisy = np.where(rng.random(len(y)) < 0.3, rng.integers(0, 3, len(y)), y)
    frame["shade"] = pd.Categorical(np.array(["pale", "mid", "dark"])[noisy])
    columns = ColumnTransformer([("category", OneHotEncoder(), ["shade"]),
                                 ("numbers", StandardScaler(), list(X.columns))])
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    ours = cross_val_score(make_pipeline(columns, MLPClassifier((16,), random_state=0)),
                           frame, y, cv=folds)
    theirs = cross_val_score(make_pipeline(columns, SklearnMLPClassifier((16,),
                                                                         random_state=0)),
                             frame, y, cv=folds)
    assert ours.mean() >= theirs.mean() - 0.02
    fitted = make_pipeline(columns, MLPClassifier((16,), random_state=0)).fit(frame, y)
    assert fitted[-1].n_features_in_ == 3 + 4


def test_default_classifier_scores_like_sklearn_on_wine():
    """The README table's claim, on its cheapest data set: same folds, within 0.01."""
    X, y = load_wine(return_X_y=True)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    ours = cross_val_score(make_pipeline(StandardScaler(), MLPClassifier(random_state=0)),
                           X, y, cv=folds)
    theirs = cross_val_score(make_pipeline(StandardScaler(),
                                           SklearnMLPClassifier(random_state=0)), X, y, cv=folds)
    assert ours.mean() >= theirs.mean() - 0.01


def test_grid_search_in_two_loky_workers_equals_the_serial_search():
    serial, parallel = search_pipeline(1), search_pipeline(2)
    assert parallel.best_params_ == serial.best_params_
    np.testing.assert_array_equal(parallel.cv_results_["mean_test_score"],
                                  serial.cv_results_["mean_test_score"])
    assert parallel.best_score_ > 0.85
    assert len(set(serial.cv_results_["mean_test_score"])) > 1  # the grid matters


def _blas_threads(estimator, X, y):
    """A 'score' that reports how many BLAS threads the worker process may use."""
    from threadpoolctl import threadpool_info

    return max(pool["num_threads"] for pool in threadpool_info()
               if pool["user_api"] == "blas")


def test_loky_workers_get_a_share_of_the_blas_threads():
    X, y = load_iris(return_X_y=True)
    search = GridSearchCV(MLPClassifier((4,), max_iter=2), {"alpha": [1e-4, 1e-3]}, cv=2,
                          scoring=_blas_threads, n_jobs=2).fit(X, y)
    expected = max(joblib.cpu_count() // 2, 1)
    assert max(search.cv_results_["mean_test_score"]) <= expected


def test_randomized_search_and_cross_val_score_agree():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    search = RandomizedSearchCV(MLPClassifier(max_iter=40, random_state=0),
                                {"hidden_layer_sizes": [(4,), (8,), (12,)],
                                 "learning_rate_init": [1e-3, 1e-2]},
                                n_iter=3, cv=3, random_state=0, n_jobs=2).fit(X, y)
    best = MLPClassifier(max_iter=40, random_state=0).set_params(**search.best_params_)
    scores = cross_val_score(best, X, y, cv=3)
    assert scores.mean() == pytest.approx(search.best_score_)


def test_calibrated_classifier():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    calibrated = CalibratedClassifierCV(MLPClassifier((8,), max_iter=50, random_state=0),
                                        cv=3).fit(X[::2], y[::2])
    proba = calibrated.predict_proba(X[1::2])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert len(calibrated.calibrated_classifiers_) == 3
    assert calibrated.score(X[1::2], y[1::2]) > 0.9


def test_transformed_target_regressor_on_diabetes():
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = MLPRegressor(hidden_layer_sizes=(16,), max_iter=200, random_state=0)
        wrapped = TransformedTargetRegressor(plain, transformer=StandardScaler())
        scores = cross_val_score(wrapped, X, y, cv=3)
        raw = cross_val_score(plain, X, y, cv=3)
    # without scaling y (values ~150) 200 Adam epochs cannot reach the targets
    assert scores.mean() > 0.35 and scores.mean() > raw.mean() + 0.2
