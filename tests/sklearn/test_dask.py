"""The same GridSearchCV on a dask.distributed cluster (two local worker processes)."""

import sys

import numpy as np
import pytest
from joblib import parallel_config
from sklearn_support import search_pipeline

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _blas_threads():
    from threadpoolctl import threadpool_info

    return max(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")


def test_grid_search_on_a_dask_cluster_equals_the_loky_search():
    loky = search_pipeline(n_jobs=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with parallel_config(backend="dask"):
            on_cluster = search_pipeline(n_jobs=-1)
        # both worker processes ran bpnn, each with one BLAS thread (no oversubscription)
        loaded = client.run(lambda: "bpnn.sklearn" in sys.modules)
        blas_threads = client.run(_blas_threads)
    assert len(loaded) == 2 and all(loaded.values())
    assert set(blas_threads.values()) == {1}
    assert on_cluster.best_params_ == loky.best_params_
    np.testing.assert_array_equal(on_cluster.cv_results_["mean_test_score"],
                                  loky.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(on_cluster.cv_results_["std_test_score"],
                                  loky.cv_results_["std_test_score"])
