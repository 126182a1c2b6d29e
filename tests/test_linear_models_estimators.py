"""Estimators: closed forms, gradient descent's implicit bias, and the exact OLS risk."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from linear_models import LinearProblem, fit, gradient_descent, min_norm, ols, ridge


def test_ols_and_min_norm_match_pseudoinverse():
    rng = np.random.default_rng(1)
    for n, p in [(30, 10), (10, 30)]:
        X, y = rng.standard_normal((n, p)), rng.standard_normal(n)
        assert_allclose(fit(X, y), np.linalg.pinv(X) @ y, rtol=1e-9, atol=1e-12)
    X, y = rng.standard_normal((30, 10)), rng.standard_normal(30)
    assert_allclose(ols(X, y), np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-10)
    X = rng.standard_normal((10, 30))
    assert_allclose(min_norm(X, y[:10]), np.linalg.lstsq(X, y[:10], rcond=None)[0], rtol=1e-9)


@pytest.mark.parametrize("n,p", [(40, 15), (15, 40)])
def test_ridge_matches_normal_equations_on_both_sides(n, p):
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((n, p)), rng.standard_normal(n)
    mu = 0.3
    want = np.linalg.inv(X.T @ X / n + mu * np.eye(p)) @ X.T @ y / n   # plain inverse, test only
    assert_allclose(ridge(X, y, mu), want, rtol=1e-10)


def test_gradient_descent_converges_to_interpolator_closest_to_init():
    rng = np.random.default_rng(3)
    n, p = 20, 50
    X, y, b0 = rng.standard_normal((n, p)), rng.standard_normal(n), rng.standard_normal(p)
    closest = b0 + np.linalg.pinv(X) @ (y - X @ b0)
    got = gradient_descent(X, y, steps=20000, init=b0)
    assert_allclose(got, closest, rtol=1e-8, atol=1e-10)
    # early stopping is not converged: the step count matters
    assert np.linalg.norm(gradient_descent(X, y, steps=5, init=b0) - closest) > 1e-2


def test_fit_with_init_is_the_limit_of_plain_gradient_descent():
    """docs/theory.md Section 8: GD from b0 on an underdetermined least-squares problem converges to b0 + X^+(y - X b0).

    The reference is a plain NumPy loop (not the library's gradient_descent). The error contracts by at least
    1 - eig_min(XX')/eig_max(XX') per step along the row space and is exactly zero off it, so 3000 steps
    reach rounding level for this design (condition number ~ 20).
    """
    rng = np.random.default_rng(9)
    n, p = 20, 50
    X, y, b0 = rng.standard_normal((n, p)), rng.standard_normal(n), 3.0 * rng.standard_normal(p)
    b = b0.copy()
    lr = n / (2 * np.linalg.norm(X, 2) ** 2)
    for _ in range(3000):
        b -= lr * (2 / n) * X.T @ (X @ b - y)
    got = fit(X, y, init=b0)
    assert_allclose(got, b, rtol=0, atol=1e-10)
    assert_allclose(X @ got, y, rtol=0, atol=1e-10)                     # an interpolator ...
    P = np.linalg.pinv(X) @ X                                            # ... whose null-space part is b0's
    assert_allclose(got - P @ got, b0 - P @ b0, rtol=0, atol=1e-10)
    assert np.linalg.norm(got - fit(X, y)) > 1.0                         # and it is not the min-norm one
    assert_allclose(fit(X, y, init=np.zeros(p)), fit(X, y), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("n,p,mu", [(40, 15, 0.0), (40, 15, 0.3), (15, 40, 0.3)])
def test_init_has_no_effect_when_the_objective_is_strictly_convex(n, p, mu):
    rng = np.random.default_rng(10)
    X, y = rng.standard_normal((n, p)), rng.standard_normal(n)
    b0 = 5.0 * rng.standard_normal(p)
    assert np.array_equal(fit(X, y, mu, init=b0), fit(X, y, mu))      # identical, not merely close
    # and it is what GD from b0 converges to (plain loop, 4000 steps at 1/L)
    b = b0.copy()
    lr = 1.0 / (2 * np.linalg.norm(X, 2) ** 2 / n + 2 * mu)
    for _ in range(4000):
        b -= lr * ((2 / n) * X.T @ (X @ b - y) + 2 * mu * b)
    assert_allclose(fit(X, y, mu, init=b0), b, rtol=0, atol=1e-9)


def test_gradient_descent_on_a_support_keeps_the_rest_frozen():
    rng = np.random.default_rng(4)
    X, y, b0 = rng.standard_normal((60, 8)), rng.standard_normal(60), rng.standard_normal(8)
    mask = np.array([1, 1, 0, 1, 0, 1, 1, 0], bool)
    got = gradient_descent(X, y, steps=20000, init=b0, mask=mask)
    assert_allclose(got[~mask], b0[~mask], rtol=0, atol=0)
    target = y - X[:, ~mask] @ b0[~mask]
    assert_allclose(got[mask], np.linalg.lstsq(X[:, mask], target, rcond=None)[0], rtol=1e-8)


Z_BOUND_OLS = 3.0   # one z-value: a correct formula passes with probability 0.9973 (normal approximation)


def test_ols_finite_sample_risk_matches_exact_formula(record_z):
    """E[excess risk of OLS] = sigma^2 p / (n - p - 1) for Gaussian design (docs/theory.md Section 2).

    One z-value against the pre-registered bound Z_BOUND_OLS (seed and trials fixed before the run).
    """
    p, n, sigma, trials = 40, 100, 0.7, 2000
    prob = LinearProblem.diagonal(np.linspace(0.5, 3, p), np.ones(p) / np.sqrt(p), sigma)
    rng = np.random.default_rng(5)
    excess = np.empty(trials)
    for t in range(trials):
        X, y = prob.sample(n, rng)
        excess[t] = prob.risk(ols(X, y)) - sigma**2
    z = (excess.mean() - sigma**2 * p / (n - p - 1)) / (excess.std(ddof=1) / np.sqrt(trials))
    record_z("linear_models OLS excess risk vs sigma^2 p/(n-p-1)", z, Z_BOUND_OLS)
    assert abs(z) < Z_BOUND_OLS


@pytest.mark.parametrize("call,match", [
    (lambda: ols(np.ones((3, 5)), np.ones(3)), "ols needs n >= p"),
    (lambda: min_norm(np.ones((5, 3)), np.ones(5)), "min_norm needs n <= p"),
    (lambda: ridge(np.eye(3), np.ones(3), -1.0), "ridge == -1.0, must be > 0"),
    (lambda: ridge(np.eye(3), np.ones(3), 0.0), "ridge == 0.0, must be > 0"),
    (lambda: fit(np.eye(3), np.ones(3), -0.5), "ridge == -0.5, must be >= 0"),
    (lambda: fit(np.ones((2, 3)), np.ones(2), init=np.ones(2)), r"init has shape \(2,\); axis 0 must have length 3"),
    (lambda: fit(np.eye(3), np.ones(3), 0.1, init=[0.0, np.nan, 0.0]), r"init\[1\] == nan, must be finite"),
    (lambda: fit(np.eye(3), np.ones(4)), r"y has shape \(4,\); axis 0 must have length 3"),
    (lambda: fit(np.array([[1.0, np.nan], [0, 1]]), np.ones(2)), r"X\[0, 1\] == nan, must be finite"),
    (lambda: ols(np.ones((4, 2)), np.ones(4)), r"X has rank 1 < 2 columns .*; use ridge > 0"),
    (lambda: gradient_descent(np.eye(3), np.ones(3), steps=-1), "steps == -1, must be an integer >= 0"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_inputs_not_modified():
    rng = np.random.default_rng(6)
    X, y, b0 = rng.standard_normal((10, 4)), rng.standard_normal(10), rng.standard_normal(4)
    copies = X.copy(), y.copy(), b0.copy()
    fit(X, y)
    ridge(X, y, 0.1)
    gradient_descent(X, y, steps=10, init=b0)
    for a, b in zip((X, y, b0), copies):
        assert np.array_equal(a, b)
