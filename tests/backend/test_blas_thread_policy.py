"""Small-inner-dimension products run on one BLAS thread, and the user's setting comes back."""

import numpy as np
import pytest

import bpnn
from bpnn import backend


class _Recorder:
    def __init__(self, threads):
        self.threads, self.calls = threads, []

    def get(self):
        return self.threads

    def set(self, threads):
        self.calls.append(threads)
        self.threads = threads


@pytest.fixture
def recorder(monkeypatch):
    fake = _Recorder(4)
    monkeypatch.setattr(backend, "_openblas", (fake.get, fake.set))
    return fake


def _operands(inner, rows=128, columns=784):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((rows, inner)).astype(np.float32),
            rng.standard_normal((inner, columns)).astype(np.float32))


def test_small_inner_dimension_runs_on_one_thread_and_restores(recorder):
    a, b = _operands(32)
    np.testing.assert_array_equal(backend.matmul(a, b), a @ b)
    assert recorder.calls == [1, 4] and recorder.threads == 4


@pytest.mark.parametrize(("inner", "rows"), [(65, 128), (32, 8)],
                         ids=["large-inner", "tiny-product"])
def test_other_products_keep_the_users_setting(recorder, inner, rows):
    a, b = _operands(inner, rows=rows)
    np.testing.assert_array_equal(backend.matmul(a, b), a @ b)
    assert recorder.calls == []


def test_the_policy_can_be_switched_off(recorder):
    a, b = _operands(32)
    backend.set_blas_thread_policy(False)
    try:
        backend.matmul(a, b)
    finally:
        backend.set_blas_thread_policy(True)
    assert recorder.calls == []
    with pytest.raises(TypeError, match="expects True or False"):
        backend.set_blas_thread_policy(1)


def test_a_dense_layer_weight_gradient_uses_it_and_matches_torch(recorder, torch):
    x = np.random.default_rng(1).standard_normal((32, 784)).astype(np.float32)
    layer = bpnn.nn.Linear(784, 128)
    layer(bpnn.tensor(x)).sum().backward()
    assert recorder.calls == [1, 4]
    weight = torch.from_numpy(layer.weight.data.copy()).requires_grad_()
    torch.nn.functional.linear(torch.from_numpy(x), weight).sum().backward()
    np.testing.assert_allclose(layer.weight.grad, weight.grad.numpy(), rtol=1e-5, atol=1e-4)


def test_the_real_openblas_thread_count_is_unchanged_afterwards():
    import threadpoolctl  # in the test extra

    before = [p["num_threads"] for p in threadpoolctl.threadpool_info()
              if p["user_api"] == "blas"]
    a, b = _operands(32)
    np.testing.assert_array_equal(backend.matmul(a, b), a @ b)
    after = [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    assert after == before
