"""Fixed point and dense risk against closed forms (docs/theory.md Section 2)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from asymptotics import Spectrum, dense_risk, solve_fixed_point
from asymptotics.moments import isotropic_risk

KAPPAS = [0.05, 0.3, 0.5, 0.8, 0.95, 1.05, 1.5, 2.0, 5.0, 50.0]
RIDGES = [0.0, 1e-3, 0.1, 1.0, 10.0]


def hmrt_minnorm(kappa, noise, r):
    """Hastie-Montanari-Rosset-Tibshirani (2019), typed from the paper: gamma = 1/kappa."""
    g = 1.0 / kappa
    excess = noise**2 * g / (1 - g) if g < 1 else r**2 * (1 - 1 / g) + noise**2 / (g - 1)
    return noise**2 + excess


def brute_isotropic_ridge(kappa, noise, r, ridge):
    """Positive root of the quadratic tau^2 + tau (1 - 1/kappa - mu) - mu = 0, by hand."""
    bq = 1 - 1 / kappa - ridge
    tau = (-bq + np.sqrt(bq**2 + 4 * ridge)) / 2
    d2 = 1 / (kappa * (1 + tau) ** 2)
    return (noise**2 + tau**2 * r**2 / (1 + tau) ** 2) / (1 - d2)


@pytest.mark.parametrize("kappa", KAPPAS)
@pytest.mark.parametrize("ridge", RIDGES)
def test_isotropic_matches_closed_forms(kappa, ridge):
    noise, r = 0.7, 1.3
    got = dense_risk(Spectrum.isotropic(r), kappa, noise, ridge=ridge)
    assert_allclose(got, isotropic_risk(kappa, noise, r, ridge), rtol=1e-10)   # sympy-derived
    expected = hmrt_minnorm(kappa, noise, r) if ridge == 0 else brute_isotropic_ridge(kappa, noise, r, ridge)
    assert_allclose(got, expected, rtol=1e-10)


def test_interpolation_threshold_is_infinite():
    assert dense_risk(Spectrum.isotropic(1.0), 1.0, 0.5, ridge=0.0) == np.inf
    assert isotropic_risk(1.0, 0.5, 1.0, 0.0) == np.inf
    assert np.isfinite(dense_risk(Spectrum.isotropic(1.0), 1.0, 0.5, ridge=1e-3))


@pytest.mark.parametrize("kappa", [0.2, 0.7, 3.0])
@pytest.mark.parametrize("ridge", [0.0, 0.05, 2.0])
def test_fixed_point_equations_hold(kappa, ridge):
    rng = np.random.default_rng(0)
    lam = rng.uniform(0.01, 10, 7)
    w = rng.dirichlet(np.ones(7))
    b = rng.normal(size=7)
    res = solve_fixed_point(Spectrum(lam, b, w, "gaussian"), kappa, 0.4, ridge=ridge)
    df = np.sum(w * lam / (lam + res.tau)) / kappa
    if ridge > 0:
        assert_allclose(res.tau * (1 - df), ridge, rtol=1e-12)
    elif kappa < 1:
        assert_allclose(df, 1.0, rtol=1e-12)
    else:
        assert res.tau == 0.0
    d2 = np.sum(w * lam**2 / (lam + res.tau) ** 2) / kappa
    b0 = res.tau**2 * np.sum(w * lam * b**2 / (lam + res.tau) ** 2)
    assert_allclose(res.rho2, (0.16 + b0) / (1 - d2), rtol=1e-12)
    assert res.converged


def test_finite_problem_equals_grouped_atoms():
    """p atoms of weight 1/p that repeat two values equal the two-atom spectrum."""
    p = 300
    lam = np.repeat([1.0, 16.0], [200, 100])
    beta = np.repeat([1.0, 0.25], [200, 100]) / np.sqrt(p)
    fine = Spectrum.from_arrays(lam, beta)
    coarse = Spectrum([1.0, 16.0], [1.0, 0.25], [2 / 3, 1 / 3])
    for kappa, ridge in [(0.5, 0.0), (2.0, 0.0), (0.8, 0.3)]:
        assert_allclose(dense_risk(fine, kappa, 0.5, ridge=ridge), dense_risk(coarse, kappa, 0.5, ridge=ridge), rtol=1e-10)


def test_covariance_scaling_changes_ridge_but_not_ols():
    """OLS is equivariant (risk unchanged); min-norm and ridge are not (docs/theory.md Section 1)."""
    spec = Spectrum([1.0, 1.0], [1.0, 1.0], [0.5, 0.5])
    scaled = spec.scaled([1.0, 10.0])
    assert_allclose(scaled.importance, spec.importance, rtol=1e-15)
    assert_allclose(dense_risk(scaled, 2.0, 0.5), dense_risk(spec, 2.0, 0.5), rtol=1e-12)
    assert abs(dense_risk(scaled, 0.5, 0.5) - dense_risk(spec, 0.5, 0.5)) > 1e-3
    assert abs(dense_risk(scaled, 2.0, 0.5, ridge=0.5) - dense_risk(spec, 2.0, 0.5, ridge=0.5)) > 1e-3
