"""The strong-Wolfe line search: its conditions hold, it matches torch's port of minFunc, and
it refuses bad input."""

import importlib
import math

import numpy as np
import pytest

from bpnn.optim.line_search import cubic_interpolate, strong_wolfe


def _rosenbrock(x):
    value = np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    grad = np.zeros_like(x)
    grad[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    grad[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return float(value), grad


def _quartic(x):
    return float(np.sum(x ** 4) + np.sum(x ** 2)), 4 * x ** 3 + 2 * x


def _cases():
    rng = np.random.default_rng(3)
    cases = []
    for function in (_rosenbrock, _quartic):
        for _ in range(6):
            x = rng.standard_normal(5)
            f, g = function(x)
            # random descent directions, some far too long and some far too short
            d = -g * 10.0 ** rng.uniform(-3, 1) + 0.3 * np.linalg.norm(g) * rng.standard_normal(5)
            if g @ d >= 0:
                d = -g
            cases.append((function, x, d, float(10.0 ** rng.uniform(-2, 1))))
    return cases


CASES = _cases()


def _phi(function, x, d):
    return lambda t: function(x + t * d)


@pytest.mark.parametrize("c2", [0.9, 0.1])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_accepted_step_satisfies_the_strong_wolfe_conditions(case, c2):
    function, x, d, t0 = CASES[case]
    f, g = function(x)
    slope = float(g @ d)
    result = strong_wolfe(_phi(function, x, d), t0, f, g, slope, d, c1=1e-4, c2=c2,
                          tolerance_change=0.0, max_ls=50)
    f_t, g_t = function(x + result.step * d)
    assert result.loss == pytest.approx(f_t)
    np.testing.assert_allclose(result.grad, g_t)
    assert f_t <= f + 1e-4 * result.step * slope  # sufficient decrease
    assert abs(g_t @ d) <= c2 * abs(slope)  # curvature
    assert result.evaluations <= 50


@pytest.mark.parametrize("case", range(len(CASES)))
def test_matches_torchs_strong_wolfe(torch, case):
    from torch.optim.lbfgs import _strong_wolfe

    function, x, d, t0 = CASES[case]
    f, g = function(x)

    def torch_objective(x_t, t, d_t):
        value, grad = function(x_t.numpy() + float(t) * d_t.numpy())
        return value, torch.from_numpy(grad)

    ref_f, ref_g, ref_t, ref_evals = _strong_wolfe(
        torch_objective, torch.from_numpy(x), t0, torch.from_numpy(d), f, torch.from_numpy(g),
        torch.tensor(float(g @ d), dtype=torch.float64))
    result = strong_wolfe(_phi(function, x, d), t0, f, g, float(g @ d), d)
    assert result.step == pytest.approx(float(ref_t), rel=1e-10)
    assert result.loss == pytest.approx(float(ref_f), rel=1e-10)
    np.testing.assert_allclose(result.grad, ref_g.numpy(), rtol=1e-10)
    assert result.evaluations == ref_evals


def test_agrees_with_scipy_on_the_acceptable_set():
    """scipy's Moré-Thuente search and ours may pick different points; both must be Wolfe."""
    optimize = importlib.import_module("scipy.optimize")
    x = np.array([-1.2, 1.0])
    f, g = _rosenbrock(x)
    d = -g
    ours = strong_wolfe(_phi(_rosenbrock, x, d), 1.0, f, g, float(g @ d), d)
    theirs = optimize.line_search(lambda z: _rosenbrock(z)[0], lambda z: _rosenbrock(z)[1],
                                  x, d, g, f, c1=1e-4, c2=0.9)[0]
    for step in (ours.step, theirs):
        f_t, g_t = _rosenbrock(x + step * d)
        assert f_t <= f + 1e-4 * step * (g @ d) and abs(g_t @ d) <= 0.9 * abs(g @ d)


def test_quadratic_minimum_found_by_one_interpolation():
    """Along a quadratic the cubic through two points is the parabola: its minimum is exact."""
    x, d = np.array([3.0]), np.array([-1.0])

    def function(z):
        return float(z @ z), 2 * z

    f, g = function(x)
    result = strong_wolfe(_phi(function, x, d), 10.0, f, g, float(g @ d), d, c2=0.01)
    assert result.step == pytest.approx(3.0, rel=1e-12)
    assert result.evaluations == 2


def test_cubic_interpolate_finds_a_cubics_minimum_and_falls_back_to_bisection():
    def cubic(t):  # local minimum at t = 2
        return t ** 3 - 12 * t, 3 * t ** 2 - 12

    f1, g1 = cubic(0.0)
    f2, g2 = cubic(3.0)
    assert cubic_interpolate(0.0, f1, g1, 3.0, f2, g2) == pytest.approx(2.0)
    # clipped to the bounds
    assert cubic_interpolate(0.0, f1, g1, 3.0, f2, g2, bounds=(2.5, 3.0)) == 2.5
    # concave (no minimum): the middle of the bounds
    assert cubic_interpolate(0.0, 0.0, 1.0, 1.0, 0.0, -1.0) == 0.5
    # coincident points: no cubic, bisect
    assert cubic_interpolate(1.0, 0.0, -1.0, 1.0, 0.0, -1.0, bounds=(0.0, 4.0)) == 2.0


def test_non_finite_trial_point_is_reported_not_interpolated():
    d = np.array([1.0])

    def phi(t):
        return (math.nan, np.array([math.nan])) if t > 0.5 else (-t, np.array([-1.0]))

    result = strong_wolfe(phi, 1.0, 0.0, np.array([-1.0]), -1.0, d)
    assert math.isnan(result.loss) and result.evaluations == 1


def test_bad_input_is_refused():
    g = np.array([1.0])
    with pytest.raises(ValueError, match="descent direction"):
        strong_wolfe(lambda t: (0.0, g), 1.0, 0.0, g, 1.0, g)
    with pytest.raises(ValueError, match="0 < c1 < c2 < 1"):
        strong_wolfe(lambda t: (0.0, g), 1.0, 0.0, g, -1.0, -g, c1=0.5, c2=0.1)
