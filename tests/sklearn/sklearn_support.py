"""What several bpnn.sklearn test files share."""

from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bpnn.sklearn import MLPClassifier


def search_pipeline(n_jobs: int):
    """A small search: scaler + MLP over hidden sizes and alpha, 3-fold on iris."""
    X, y = load_iris(return_X_y=True)
    pipeline = make_pipeline(StandardScaler(), MLPClassifier(
        max_iter=40, learning_rate_init=0.02, random_state=0))
    grid = {"mlpclassifier__hidden_layer_sizes": [(2,), (16,)],
            "mlpclassifier__alpha": [1e-4, 10.0]}
    return GridSearchCV(pipeline, grid, cv=3, n_jobs=n_jobs).fit(X, y)
