"""trainbr (``BayesianRegularization``): MacKay's evidence updates against closed forms."""

import numpy as np
import pytest

import bpnn
from bpnn import nn
from bpnn.optim import BayesianRegularization


@pytest.fixture(autouse=True)
def _float64():
    bpnn.set_default_dtype("float64")


def _linear_problem(n_samples=30, seed=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_samples, 3))
    y = x @ np.array([[1.5], [-2.0], [0.5]]) + 0.3 + 0.4 * rng.normal(size=(n_samples, 1))
    return x, y


def _linear_optimizer(x, y):
    layer = nn.Linear(3, 1)
    xt, yt = bpnn.tensor(x), bpnn.tensor(y)
    optimizer = BayesianRegularization(layer.parameters(), residual_fn=lambda: layer(xt) - yt)
    design = np.hstack([x, np.ones((len(x), 1))])  # flat order: weight (1, 3), then bias
    return layer, optimizer, design


def test_one_iteration_follows_the_equations():
    x, y = _linear_problem()
    layer, optimizer, J = _linear_optimizer(x, y)
    w0 = np.concatenate([layer.weight.data.ravel(), layer.bias.data])
    n, N = 4, len(y)
    r0 = J @ w0 - y.ravel()
    alpha, beta, mu = n / (2 * w0 @ w0), (N - n) / (2 * r0 @ r0), 5e-3  # trainbr's start
    assert beta > 0
    optimizer.step()

    w1 = w0 + np.linalg.solve(beta * J.T @ J + (alpha + mu) * np.eye(n),
                              -(beta * J.T @ r0 + alpha * w0))
    np.testing.assert_allclose(np.concatenate([layer.weight.data.ravel(), layer.bias.data]),
                               w1, rtol=1e-10)
    r1 = J @ w1 - y.ravel()
    gamma = n - alpha * np.trace(np.linalg.inv(beta * J.T @ J + alpha * np.eye(n)))
    record = optimizer.record
    assert record["gamma"] == [pytest.approx(gamma, rel=1e-10)]
    assert record["alpha"] == [pytest.approx(gamma / (2 * w1 @ w1), rel=1e-10)]
    assert record["beta"] == [pytest.approx((N - gamma) / (2 * r1 @ r1), rel=1e-10)]
    assert record["sse"] == [pytest.approx(r1 @ r1)] and record["ssw"] == [pytest.approx(w1 @ w1)]
    assert optimizer.alpha == record["alpha"][0] and optimizer.gamma == record["gamma"][0]


def _log_evidence(log_alpha, log_beta, J, y):
    """log p(D | alpha, beta) of the linear model, prior exp(-alpha |w|^2), noise exp(-beta E_D)."""
    alpha, beta = np.exp(log_alpha), np.exp(log_beta)
    n, N = J.shape[1], len(y)
    w = np.linalg.solve(beta * J.T @ J + alpha * np.eye(n), beta * J.T @ y)
    residual = J @ w - y
    A = 2 * beta * J.T @ J + 2 * alpha * np.eye(n)
    return (n / 2 * np.log(alpha) + N / 2 * np.log(beta) - beta * residual @ residual
            - alpha * w @ w - 0.5 * np.linalg.slogdet(A)[1] + n / 2 * np.log(2 * np.pi)
            - (n + N) / 2 * np.log(np.pi))


def test_fixed_point_maximises_the_evidence_of_a_linear_model():
    from scipy.optimize import minimize

    x, y = _linear_problem(n_samples=25, seed=9)
    layer, optimizer, J = _linear_optimizer(x, y)
    for _ in range(60):
        optimizer.step()
    best = minimize(lambda v: -_log_evidence(v[0], v[1], J, y.ravel()), x0=[0.0, 0.0],
                    method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12,
                                                   "maxiter": 4000})
    assert best.success
    assert np.log(optimizer.alpha) == pytest.approx(best.x[0], abs=1e-4)
    assert np.log(optimizer.beta) == pytest.approx(best.x[1], abs=1e-4)
    # the weights are the posterior mode for those hyper-parameters
    alpha, beta = optimizer.alpha, optimizer.beta
    mode = np.linalg.solve(beta * J.T @ J + alpha * np.eye(4), beta * J.T @ y.ravel())
    np.testing.assert_allclose(np.concatenate([layer.weight.data.ravel(), layer.bias.data]),
                               mode, rtol=1e-6)
    assert 3 < optimizer.gamma < 4  # four well-determined parameters, a little shrinkage


def _sine(seed=0):
    rng = np.random.default_rng(seed)
    x = np.linspace(-3, 3, 40).reshape(-1, 1)
    return x, np.sin(x) + 0.1 * rng.normal(size=x.shape)


def _fit_sine(optimizer, iterations, seed=0):
    x, y = _sine(seed)
    bpnn.manual_seed(seed)
    network = nn.Sequential(nn.Linear(1, 20), nn.Tanh(), nn.Linear(20, 1))
    model = bpnn.Model(network, "mse", optimizer)
    model.fit(x, y, epochs=iterations, verbose=0)
    clean = np.linspace(-3, 3, 1000).reshape(-1, 1)
    return model, float(np.mean((model.predict(clean) - np.sin(clean)) ** 2))


def test_trainbr_generalises_better_than_lm_on_noisy_sine():
    regularised, regularised_mse = _fit_sine("trainbr", 300)
    plain, plain_mse = _fit_sine("lm", 300)
    assert regularised_mse < plain_mse
    optimizer = regularised.optimizer
    assert len(optimizer.record["gamma"]) == 300  # one full-batch iteration per epoch
    assert 2 < optimizer.gamma < regularised.network.count_parameters()  # 61
    # 1 / (2 beta) estimates the noise variance (0.1^2 = 0.01) from 40 samples: 0.0045 here
    assert 0.01 / 3 < 1 / (2 * optimizer.beta) < 0.01 * 3
    assert plain.history.history["loss"][-1] < regularised.history.history["loss"][-1]


def test_resume_through_a_model_file_is_bit_identical(tmp_path):
    straight, _ = _fit_sine("trainbr", 6)
    x, y = _sine()
    bpnn.manual_seed(0)
    network = nn.Sequential(nn.Linear(1, 20), nn.Tanh(), nn.Linear(20, 1))
    first = bpnn.Model(network, "mse", "trainbr")
    first.fit(x, y, epochs=3, verbose=0)
    bpnn.save(first, tmp_path / "m.bpnn")
    resumed = bpnn.load(tmp_path / "m.bpnn")
    assert isinstance(resumed.optimizer, BayesianRegularization)
    resumed.fit(x, y, epochs=6, initial_epoch=3, verbose=0)
    for key, value in straight.get_weights().items():
        assert resumed.get_weights()[key].tobytes() == value.tobytes(), key
    assert resumed.optimizer.record == straight.optimizer.record


def test_needs_a_sum_of_squares_loss():
    network = nn.Sequential(nn.Linear(2, 3))
    model = bpnn.Model(network, "cross_entropy", "trainbr")
    with pytest.raises(ValueError, match="needs MSELoss"):
        model.fit(np.zeros((4, 2)), np.array([0, 1, 2, 0]), epochs=1, verbose=0)


def test_registered_names():
    layer = nn.Linear(2, 1)
    assert type(bpnn.optim.get("trainbr", layer.parameters())) is BayesianRegularization
    assert bpnn.optim.get_optimizer_class("bayesian_regularization") is BayesianRegularization
