"""The same GridSearchCV on a dask.distributed cluster (two local worker processes)."""

import numpy as np
import pytest
from joblib import parallel_config
from sklearn_support import search_pipeline

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_grid_search_on_a_dask_cluster_equals_the_loky_search():
    loky = search_pipeline(n_jobs=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with parallel_config(backend="dask"):
            on_cluster = search_pipeline(n_jobs=-1)
        ran_on = client.run(lambda: __import__("os").getpid())
        # the workers ran bpnn: its module is loaded in both worker processes
        loaded = client.run(lambda: "bpnn.sklearn" in __import__("sys").modules)
    assert len(ran_on) == 2 and all(loaded.values())
    assert on_cluster.best_params_ == loky.best_params_
    np.testing.assert_array_equal(on_cluster.cv_results_["mean_test_score"],
                                  loky.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(on_cluster.cv_results_["std_test_score"],
                                  loky.cv_results_["std_test_score"])
