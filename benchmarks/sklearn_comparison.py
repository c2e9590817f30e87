"""bpnn's MLPClassifier / MLPRegressor against scikit-learn's, both with default parameters.

Each estimator sits after a StandardScaler in a Pipeline; 5-fold CV on the same folds
(stratified for the classifiers): accuracy on load_digits, load_breast_cancer and load_wine,
R^2 on load_diabetes (where scikit-learn's MLPRegressor does not converge in its default 200
iterations, so it runs with max_iter=2000; bpnn's runs with max_iter=2000 too). Prints a
Markdown table: mean score (std) and mean fit time per fold.

Run: python benchmarks/sklearn_comparison.py [--datasets digits wine ...]
"""

from __future__ import annotations

import argparse
import platform
import warnings

import numpy as np
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.neural_network import MLPRegressor as SklearnMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bpnn.sklearn import MLPClassifier, MLPRegressor

#: name -> (loader, is_classification, extra parameters for both libraries)
DATASETS = {
    "digits": (datasets.load_digits, True, {}),
    "breast_cancer": (datasets.load_breast_cancer, True, {}),
    "wine": (datasets.load_wine, True, {}),
    "diabetes": (datasets.load_diabetes, False, {"max_iter": 2000}),
}


def compare(name: str, seed: int = 0) -> dict:
    """Mean / std of the CV score and mean fit time of both libraries on one data set."""
    loader, classification, extra = DATASETS[name]
    X, y = loader(return_X_y=True)
    folds = (StratifiedKFold if classification else KFold)(5, shuffle=True, random_state=seed)
    pairs = {"bpnn": MLPClassifier if classification else MLPRegressor,
             "scikit-learn": SklearnMLPClassifier if classification else SklearnMLPRegressor}
    results = {}
    for library, estimator in pairs.items():
        pipeline = make_pipeline(StandardScaler(), estimator(random_state=seed, **extra))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            scores = cross_validate(pipeline, X, y, cv=folds)
        results[library] = (scores["test_score"].mean(), scores["test_score"].std(),
                            scores["fit_time"].mean())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, numpy {np.__version__}")
    print("| data set | metric | bpnn | scikit-learn | bpnn fit (s) | scikit-learn fit (s) |")
    print("|---|---|---|---|---|---|")
    for name in args.datasets:
        results = compare(name)
        metric = "accuracy" if DATASETS[name][1] else "R^2"
        (b_mean, b_std, b_time), (s_mean, s_std, s_time) = results["bpnn"], \
            results["scikit-learn"]
        print(f"| {name} | {metric} | {b_mean:.4f} ({b_std:.3f}) | {s_mean:.4f} ({s_std:.3f}) "
              f"| {b_time:.2f} | {s_time:.2f} |", flush=True)


if __name__ == "__main__":
    main()
