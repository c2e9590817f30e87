"""Second-order optimizers on problems with known answers: quadratic, Rosenbrock, logistic
regression (against scipy), L-BFGS against torch.optim.LBFGS, and their failure modes."""

import importlib

import numpy as np
import pytest

import bpnn
import bpnn.functional as F
from bpnn.nn import Parameter
from bpnn.optim import BFGS, DFP, LBFGS, ConjugateGradient, LevenbergMarquardt, Newton

CG_VARIANTS = ["PR+", "PR", "FR", "HS", "DY"]


def _closure(opt, loss_fn, w):
    def closure():
        opt.zero_grad()
        loss = loss_fn(w)
        loss.backward()
        return loss
    return closure


def _run(opt, closure, grad_norm, tolerance, budget):
    """Step until ||grad|| < tolerance; return the number of iterations."""
    for _ in range(budget):
        opt.step(closure)
        if grad_norm() < tolerance:
            return opt.global_state["n_iter"]
    return None


# ---------------------------------------------------------------------- quadratic
N = 20


@pytest.fixture
def quadratic():
    rng = np.random.default_rng(0)
    m = rng.standard_normal((N, N))
    a = m @ m.T + 2.0 * np.eye(N)  # eigenvalues 2 .. 65: SPD, condition number ~ 30
    b = rng.standard_normal(N)
    a_t, b_t = bpnn.tensor(a), bpnn.tensor(b)

    def loss(w):
        return 0.5 * (w @ (a_t @ w)) - b_t @ w

    return a, b, loss


def test_newton_solves_a_quadratic_in_one_iteration(quadratic):
    a, b, loss = quadratic
    w = Parameter(np.zeros(N))
    opt = Newton([w])
    opt.step(_closure(opt, loss, w))
    np.testing.assert_allclose(w.data, np.linalg.solve(a, b), rtol=1e-8, atol=1e-10)
    assert opt.global_state["n_iter"] == 1


def test_newton_cg_solves_a_quadratic(quadratic):
    a, b, loss = quadratic
    w = Parameter(np.zeros(N))
    opt = Newton([w], hessian="cg", tolerance_change=0.0)
    iterations = _run(opt, _closure(opt, loss, w), lambda: np.linalg.norm(a @ w.data - b),
                      1e-6, 30)
    assert iterations is not None and iterations <= 12


@pytest.mark.parametrize("make", [
    lambda p: BFGS(p, c2=1e-3, tolerance_change=0.0),
    lambda p: DFP(p, c2=1e-3, tolerance_change=0.0),
    *[lambda p, v=v: ConjugateGradient(p, variant=v, c2=1e-3, tolerance_change=0.0)
      for v in CG_VARIANTS],
], ids=["BFGS", "DFP"] + [f"CG-{v}" for v in CG_VARIANTS])
def test_finite_termination_on_a_quadratic_with_exact_line_search(quadratic, make):
    """With a (nearly) exact line search these methods end in n steps in exact arithmetic."""
    a, b, loss = quadratic
    w = Parameter(np.zeros(N))
    opt = make([w])
    iterations = _run(opt, _closure(opt, loss, w), lambda: np.linalg.norm(a @ w.data - b),
                      1e-6, 200)
    assert iterations is not None and iterations <= N + 2


@pytest.mark.parametrize("make, budget", [
    (lambda p: BFGS(p, tolerance_change=0.0), 45),
    (lambda p: DFP(p, tolerance_change=0.0), 30),
    (lambda p: ConjugateGradient(p, tolerance_change=0.0), 45),
], ids=["BFGS", "DFP", "CG"])
def test_default_line_search_on_a_quadratic(quadratic, make, budget):
    """Default (inexact) searches cost a few more iterations; measured 41 / 21 / 38."""
    a, b, loss = quadratic
    w = Parameter(np.zeros(N))
    opt = make([w])
    iterations = _run(opt, _closure(opt, loss, w), lambda: np.linalg.norm(a @ w.data - b),
                      1e-6, 200)
    assert iterations is not None and iterations <= budget


# ---------------------------------------------------------------------- Rosenbrock
def rosenbrock(w):
    return (100.0 * (w[1:] - w[:-1] ** 2) ** 2 + (1.0 - w[:-1]) ** 2).sum()


def rosenbrock_gradient(x):
    grad = np.zeros_like(x)
    grad[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    grad[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return grad


ROSENBROCK_CASES = [
    # (name, factory, iteration budget) - budgets about twice the measured counts
    ("LBFGS", lambda p: LBFGS(p, tolerance_change=0.0, tolerance_grad=1e-10), 200),
    ("BFGS", lambda p: BFGS(p, tolerance_change=0.0), 250),
    ("DFP", lambda p: DFP(p, tolerance_change=0.0), 250),
    ("Newton", lambda p: Newton(p, tolerance_change=0.0), 80),
    ("CG-PR+", lambda p: ConjugateGradient(p, tolerance_change=0.0), 400),
]


@pytest.mark.parametrize("dim", [2, 10])
@pytest.mark.parametrize("name, make, budget", ROSENBROCK_CASES,
                         ids=[c[0] for c in ROSENBROCK_CASES])
def test_rosenbrock_float64(dim, name, make, budget):
    x0 = np.full(dim, -1.2)
    x0[1::2] = 1.0  # the classic start (-1.2, 1, -1.2, 1, ...)
    w = Parameter(x0.copy())
    opt = make([w])
    iterations = _run(opt, _closure(opt, rosenbrock, w),
                      lambda: np.linalg.norm(rosenbrock_gradient(w.data)), 1e-6, budget)
    assert iterations is not None and iterations <= budget, f"{name} did not converge"
    assert np.linalg.norm(rosenbrock_gradient(w.data)) < 1e-6
    if name != "Newton" or dim == 2:
        np.testing.assert_allclose(w.data, np.ones(dim), atol=1e-5)
    else:  # pure Newton heads for the other stationary point of the 10-D function
        assert rosenbrock(bpnn.tensor(w.data)).item() < 4.0


# ---------------------------------------------------------------------- logistic regression
L2 = 1e-2


@pytest.fixture(scope="module")
def breast_cancer():
    datasets = importlib.import_module("sklearn.datasets")
    x, y = datasets.load_breast_cancer(return_X_y=True)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    return x, y.astype(np.float64)


def _logistic_numpy(x, y):
    def value_and_grad(params):
        w, b = params[:-1], params[-1]
        z = x @ w + b
        loss = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * L2 * w @ w
        p = 1.0 / (1.0 + np.exp(-z))
        grad = np.concatenate([x.T @ (p - y) / len(y) + L2 * w, [np.mean(p - y)]])
        return loss, grad
    return value_and_grad


@pytest.fixture(scope="module")
def logistic_reference(breast_cancer):
    optimize = importlib.import_module("scipy.optimize")
    x, y = breast_cancer
    result = optimize.minimize(_logistic_numpy(x, y), np.zeros(x.shape[1] + 1), jac=True,
                               method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-15,
                                                           "maxiter": 10_000})
    assert np.linalg.norm(result.jac) < 1e-7
    return result.fun


LOGISTIC_CASES = [
    ("LBFGS", lambda p: LBFGS(p, max_iter=100, tolerance_change=0.0)),
    ("BFGS", lambda p: BFGS(p, max_iter=200, tolerance_change=0.0)),
    ("DFP", lambda p: DFP(p, max_iter=300, tolerance_change=0.0)),
    *[(f"CG-{v}", lambda p, v=v: ConjugateGradient(p, variant=v, max_iter=500,
                                                    tolerance_change=0.0))
      for v in CG_VARIANTS],
    ("Newton", lambda p: Newton(p, max_iter=20, tolerance_change=0.0)),
    ("Newton-CG", lambda p: Newton(p, hessian="cg", max_iter=30, tolerance_change=0.0)),
]


@pytest.mark.parametrize("name, make", LOGISTIC_CASES, ids=[c[0] for c in LOGISTIC_CASES])
def test_logistic_regression_reaches_scipys_minimum(breast_cancer, logistic_reference,
                                                    name, make):
    x, y = breast_cancer
    x_t, y_t = bpnn.tensor(x), bpnn.tensor(y)
    w = Parameter(np.zeros(x.shape[1]))
    b = Parameter(np.zeros(1))
    opt = make([w, b])

    def closure():
        opt.zero_grad()
        logits = x_t @ w + b
        loss = F.binary_cross_entropy_with_logits(logits, y_t) + 0.5 * L2 * (w * w).sum()
        loss.backward()
        return loss

    for _ in range(3):  # a few calls in case a call ends on its evaluation budget
        opt.step(closure)
    loss, grad = _logistic_numpy(x, y)(np.concatenate([w.data, b.data]))
    assert abs(loss - logistic_reference) <= 1e-6 * abs(logistic_reference), name
    assert np.linalg.norm(grad) < 1e-5


def test_levenberg_marquardt_reaches_the_ridge_least_squares_minimum(breast_cancer):
    """LM needs a sum of squares, which the logistic loss is not: on the same data it fits
    ridge regression, whose minimum numpy's lstsq gives in closed form."""
    x, y = breast_cancer
    n, d = x.shape
    augmented = np.block([[x, np.ones((n, 1))], [np.sqrt(L2 * n) * np.eye(d), np.zeros((d, 1))]])
    target = np.concatenate([y, np.zeros(d)])
    solution = np.linalg.lstsq(augmented, target, rcond=None)[0]
    reference = float(np.sum((augmented @ solution - target) ** 2))

    x_t, y_t = bpnn.tensor(x), bpnn.tensor(y)
    w, b = Parameter(np.zeros(d)), Parameter(np.zeros(1))

    def residuals():
        return bpnn.cat([x_t @ w + b - y_t, np.sqrt(L2 * n) * w])

    opt = LevenbergMarquardt([w, b], residual_fn=residuals, max_iter=50, tolerance_change=0.0)
    opt.step()
    found = float(np.sum(residuals().data ** 2))
    assert abs(found - reference) <= 1e-6 * reference
    np.testing.assert_allclose(np.concatenate([w.data, b.data]), solution, atol=1e-5)


# ---------------------------------------------------------------------- L-BFGS against torch
@pytest.mark.parametrize("dtype, tol", [("float64", 1e-9), ("float32", 2e-4)])
@pytest.mark.parametrize("line_search_fn, lr", [(None, 0.5), ("strong_wolfe", 1.0)])
def test_lbfgs_follows_torch_on_a_small_mlp(torch, dtype, tol, line_search_fn, lr):
    bpnn.set_default_dtype(dtype)
    torch_dtype = getattr(torch, dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3)).astype(dtype)
    y = np.sin(x.sum(axis=1, keepdims=True)).astype(dtype)
    net = bpnn.nn.Sequential(bpnn.nn.Linear(3, 5), bpnn.nn.Tanh(), bpnn.nn.Linear(5, 1))
    ref = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
    ref = ref.to(torch_dtype)
    with torch.no_grad():
        for p, q in zip(net.parameters(), ref.parameters(), strict=True):
            q.copy_(torch.from_numpy(p.data))
    settings = dict(lr=lr, max_iter=5, history_size=3, line_search_fn=line_search_fn)
    opt = LBFGS(net.parameters(), **settings)
    ref_opt = torch.optim.LBFGS(ref.parameters(), **settings)
    x_b, y_b = bpnn.tensor(x), bpnn.tensor(y)
    x_t, y_t = torch.from_numpy(x), torch.from_numpy(y)

    def closure():
        opt.zero_grad()
        loss = F.mse_loss(net(x_b), y_b)
        loss.backward()
        return loss

    def ref_closure():
        ref_opt.zero_grad()
        loss = torch.nn.functional.mse_loss(ref(x_t), y_t)
        loss.backward()
        return loss

    for step in range(4):
        loss = opt.step(closure)
        ref_loss = ref_opt.step(ref_closure)
        assert loss.item() == pytest.approx(ref_loss.item(), rel=tol, abs=tol)
        for p, q in zip(net.parameters(), ref.parameters(), strict=True):
            np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=tol, atol=tol,
                                       err_msg=f"step {step}")
        assert opt.global_state["func_evals"] == ref_opt.state[ref_opt._params[0]]["func_evals"]
    assert p.data.dtype == np.dtype(dtype)


# ---------------------------------------------------------------------- failure modes
ALL = [
    ("LBFGS", LBFGS),
    ("LBFGS-fixed", lambda p: LBFGS(p, max_iter=3, line_search_fn=None)),
    ("LBFGS-fixed-1", lambda p: LBFGS(p, max_iter=1, line_search_fn=None)),
    ("BFGS", BFGS), ("DFP", DFP), ("CG", ConjugateGradient), ("Newton", Newton),
    ("BFGS-fixed", lambda p: BFGS(p, line_search_fn=None)),
    ("Newton-fixed", lambda p: Newton(p, line_search_fn=None)),
]


@pytest.mark.parametrize("name, make", ALL, ids=[c[0] for c in ALL])
def test_non_finite_step_is_rejected_and_a_smaller_one_taken(name, make):
    """log(1 - w) is nan beyond w = 1: the first full step lands there and must be undone."""
    w = Parameter(np.array([0.0]))

    def loss_fn(v):
        return -bpnn.log(1.0 - v) - 3.0 * v  # minimum at w = 2/3, nan for w > 1

    opt = make([w])
    closure = _closure(opt, loss_fn, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        for _ in range(40):
            opt.step(closure)
    assert np.isfinite(w.data).all()
    np.testing.assert_allclose(w.data, [2.0 / 3.0], atol=1e-4)


@pytest.mark.parametrize("name, make", ALL, ids=[c[0] for c in ALL])
def test_loss_that_is_always_non_finite_raises(name, make):
    w = Parameter(np.array([0.5]))
    calls = {"n": 0}

    def closure():
        opt.zero_grad()
        calls["n"] += 1
        loss = (w * w).sum()
        if calls["n"] > 1:  # finite at the start, nan at every trial point
            loss = loss * float("nan")
        loss.backward()
        return loss

    opt = make([w])
    with pytest.raises(FloatingPointError, match="non-finite|not finite"):
        for _ in range(2):  # an unevaluated last fixed step (torch's LBFGS) is caught next call
            opt.step(closure)
    assert w.data[0] == 0.5  # left at the last finite point


def test_non_finite_start_is_reported():
    w = Parameter(np.array([np.inf]))
    opt = BFGS([w])
    with pytest.raises(FloatingPointError, match="before any step"):
        opt.step(_closure(opt, lambda v: (v * v).sum(), w))


@pytest.mark.parametrize("cls", [BFGS, DFP, LevenbergMarquardt])
def test_dense_methods_refuse_large_models(cls):
    big = Parameter(np.zeros((71, 71)))  # 5,041 parameters > 5,000
    with pytest.raises(ValueError, match=r"5041 parameters, more than max_params=5000"):
        cls([big])
    cls([big], max_params=6000)  # settable
    with pytest.raises(ValueError, match="max_params=100"):
        cls([Parameter(np.zeros(101))], max_params=100)


def test_closure_is_required_and_checked():
    w = Parameter(np.zeros(2))
    with pytest.raises(TypeError, match="needs a closure"):
        BFGS([w]).step()
    with pytest.raises(TypeError, match="must return the loss"):
        BFGS([w]).step(lambda: None)
    with pytest.raises(TypeError, match="residuals"):
        LevenbergMarquardt([w]).step(lambda: 0.0)


def test_bad_arguments_are_refused():
    w = Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="variant"):
        ConjugateGradient([w], variant="XX")
    with pytest.raises(ValueError, match="line_search_fn"):
        LBFGS([w], line_search_fn="armijo")
    with pytest.raises(ValueError, match="hessian"):
        Newton([w], hessian="exact")
    with pytest.raises(ValueError, match="parameter groups"):
        BFGS([{"params": [w]}, {"params": [Parameter(np.zeros(1))]}])
    with pytest.raises(TypeError, match="share one dtype"):
        BFGS([w, Parameter(np.zeros(1, dtype=np.float32))])
    with pytest.raises(ValueError, match="mu_increase"):
        LevenbergMarquardt([w], mu_increase=0.5)


@pytest.mark.parametrize("cls", [BFGS, Newton, LBFGS, LevenbergMarquardt])
def test_frozen_parameters_stay_out_of_the_flat_vector(cls):
    bpnn.set_default_dtype("float64")
    net = bpnn.nn.Sequential(bpnn.nn.Linear(2, 3), bpnn.nn.Tanh(), bpnn.nn.Linear(3, 1))
    net[0].weight.requires_grad_(False)
    frozen = net[0].weight.data.copy()
    x = bpnn.tensor(np.random.default_rng(0).standard_normal((8, 2)))
    y = bpnn.tensor(np.ones((8, 1)))
    opt = cls(net.parameters())
    assert opt._flat.numel == 3 + 3 + 1

    def closure():
        opt.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        return loss

    closure.residuals = lambda: net(x) - y
    before = closure().item()
    for _ in range(3):
        opt.step(closure)
    np.testing.assert_array_equal(net[0].weight.data, frozen)
    assert closure().item() < before


def test_state_dict_round_trip_continues_the_same_trajectory():
    def fresh():
        return Parameter(np.array([-1.2, 1.0, -1.2, 1.0]))

    w = fresh()
    opt = BFGS([w])
    closure = _closure(opt, rosenbrock, w)
    for _ in range(5):
        opt.step(closure)
    saved_state, saved_w = opt.state_dict(), w.data.copy()
    for _ in range(5):
        opt.step(closure)
    w2 = fresh()
    w2.data[...] = saved_w
    opt2 = BFGS([w2])
    opt2.load_state_dict(saved_state)
    closure2 = _closure(opt2, rosenbrock, w2)
    for _ in range(5):
        opt2.step(closure2)
    np.testing.assert_array_equal(w2.data, w.data)


@pytest.mark.parametrize("name, cls", [
    ("lbfgs", LBFGS), ("bfgs", BFGS), ("dfp", DFP), ("cg", ConjugateGradient),
    ("conjugate_gradient", ConjugateGradient), ("newton", Newton), ("lm", LevenbergMarquardt),
    ("levenberg_marquardt", LevenbergMarquardt),
])
def test_registered_by_name_and_rebuilt_from_config(name, cls):
    w = Parameter(np.zeros(3))
    opt = bpnn.optim.get(name, [w])
    assert type(opt) is cls and opt.requires_closure
    config = bpnn.optim.optimizer_config(opt)
    again = bpnn.optim.optimizer_from_config(config["name"], [w], config["defaults"],
                                             opt.state_dict())
    assert type(again) is cls and again.defaults == opt.defaults


@pytest.mark.parametrize("module", [
    "bpnn.optim.line_search", "bpnn.optim.lbfgs", "bpnn.optim.bfgs", "bpnn.optim.dfp",
    "bpnn.optim.conjugate_gradient", "bpnn.optim.newton", "bpnn.optim.levenberg_marquardt",
])
def test_docstring_examples_run(module):
    import doctest

    failures, tried = doctest.testmod(importlib.import_module(module),
                                      optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0 and tried > 0
