"""Phone price range (4 classes) the scikit-learn way: Pipeline + GridSearchCV, bpnn vs sklearn.

The tutorials' phone-price table, split 80/20 (stratified), then
``Pipeline(StandardScaler, MLPClassifier)`` under ``GridSearchCV`` (3-fold, 2 workers) over
hidden sizes, alpha and the solver, once with bpnn's MLPClassifier (solvers adam, lbfgs and
Levenberg-Marquardt) and once with scikit-learn's (adam and lbfgs: it has no LM). Prints a
Markdown table: best parameters, cross-validation and test accuracy, search wall time, and
per solver the best CV accuracy and mean fit time.

The best bpnn model is saved in bpnn's safe format and read back (pickle is only how joblib
moves estimators between worker processes).

Run: python examples/sklearn_phone_price.py [--n-jobs 2]
To run the same search on a dask cluster, see the README ("Search on a cluster").
"""

import argparse
import os
import tempfile
import time
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import bpnn
import bpnn.sklearn
from bpnn.sklearn import MLPClassifier

GRID = {"mlp__hidden_layer_sizes": [(8,), (16,)], "mlp__alpha": [1e-4, 1e-1]}


def search(estimator, solvers, x_train, y_train, n_jobs):
    pipeline = Pipeline([("scale", StandardScaler()), ("mlp", estimator)])
    grid = {**GRID, "mlp__solver": solvers}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = GridSearchCV(pipeline, grid, cv=3, n_jobs=n_jobs).fit(x_train, y_train)
    return fitted, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    x, y = bpnn.datasets.phone_price()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, stratify=y,
                                                        random_state=42)
    runs = {
        "bpnn": search(MLPClassifier(max_iter=300, random_state=0), ["adam", "lbfgs", "lm"],
                       x_train, y_train, args.n_jobs),
        "scikit-learn": search(SklearnMLPClassifier(max_iter=300, random_state=0),
                               ["adam", "lbfgs"], x_train, y_train, args.n_jobs),
    }
    print("| library | best parameters | CV accuracy | test accuracy | search time (s) |")
    print("|---|---|---|---|---|")
    for library, (fitted, seconds) in runs.items():
        best = {k.removeprefix("mlp__"): v for k, v in fitted.best_params_.items()}
        print(f"| {library} | {best} | {fitted.best_score_:.4f} | "
              f"{fitted.score(x_test, y_test):.4f} | {seconds:.1f} |")

    print()
    print("| library | solver | best CV accuracy | mean fit time (s) |")
    print("|---|---|---|---|")
    for library, (fitted, _) in runs.items():
        results = fitted.cv_results_
        for solver in sorted(set(results["param_mlp__solver"])):
            rows = [i for i, s in enumerate(results["param_mlp__solver"]) if s == solver]
            print(f"| {library} | {solver} | {max(results['mean_test_score'][rows]):.4f} | "
                  f"{sum(results['mean_fit_time'][rows]) / len(rows):.2f} |")

    best_bpnn = runs["bpnn"][0].best_estimator_
    path = os.path.join(tempfile.mkdtemp(), "phone_price_mlp.bpnn")
    best_bpnn["mlp"].save(path)
    restored = bpnn.sklearn.load(path)
    same = (restored.predict(best_bpnn["scale"].transform(x_test)) ==
            best_bpnn.predict(x_test)).all()
    print(f"saved the best bpnn network to {path}; reloaded predictions identical: {same}")


if __name__ == "__main__":
    main()
