"""Pruned risk (docs/theory.md Sections 3-4) against an independent quadrature implementation,
exact invariants, and extreme inputs."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import ndtr
from scipy.stats import norm

from asymptotics import CRITERIA, Spectrum, dense_risk, pruned_risk, solve_pruned

# ---------------------------------------------------------------------------------------------
# An independent reference: scalar brentq for tau and t, quadrature over the signal law for the
# gaussian case (conditionally on s the coordinate is a fixed-signal one), nothing vectorized.


def ref_fixed_point(pi, lam, eb2, kappa, s2, ridge):
    df = lambda t: np.sum(pi * lam / (lam + t)) / kappa
    mass = pi.sum()
    if ridge > 0:
        lo = 0.0 if kappa >= mass else brentq(lambda t: df(t) - 1, 0, 1e8, xtol=1e-300, rtol=1e-15)
        tau = brentq(lambda t: t * (1 - df(t)) - ridge, lo, 1e8, xtol=1e-300, rtol=1e-15)
    elif kappa < mass:
        tau = brentq(lambda t: df(t) - 1, 0, 1e8, xtol=1e-300, rtol=1e-15)
    else:
        tau = 0.0
    d2 = np.sum(pi * lam**2 / (lam + tau) ** 2) / kappa
    return tau, (s2 + tau**2 * np.sum(pi * lam * eb2 / (lam + tau) ** 2)) / (1 - d2)


def _tails(f, lo, hi):
    """int over g <= lo and g >= hi of f(g) phi(g) dg, by adaptive quadrature."""
    opts = dict(epsabs=1e-15, epsrel=1e-13, limit=200)
    h = lambda g: f(g) * _pdf(g)
    return quad(h, -np.inf, lo, **opts)[0] + quad(h, hi, np.inf, **opts)[0]


def _pdf(x):
    return np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)


def coord_stats(bval, lam, tau, rho2, kappa, wk, t):
    """Fixed-signal coordinate with scaled true weight bval, kept iff wk |Y| >= t:
    (P kept, E[(Y 1{kept} - b)^2], E[b^2 1{kept}]) from docs/theory.md Section 3's printed formulas
    (expanded square), written here with scipy.special.ndtr."""
    a, c = lam * bval / (lam + tau), np.sqrt(lam * rho2 / kappa) / (lam + tau)
    U, L = (t / wk - a) / c, (-t / wk - a) / c
    P = ndtr(-U) + ndtr(L)
    m1 = a * P + c * (_pdf(U) - _pdf(L))
    m2 = a**2 * P + 2 * a * c * (_pdf(U) - _pdf(L)) + c**2 * (U * _pdf(U) + ndtr(-U) - L * _pdf(L) + ndtr(L))
    return P, m2 - 2 * bval * m1 + bval**2, P * bval**2


def ref_pruned(lam, b, pi, dist, kappa, noise, ridge, alpha, criterion, retrain, refit_ridge=None):
    lam, b, pi = map(np.asarray, (lam, b, pi))
    tau, rho2 = ref_fixed_point(pi, lam, b**2, kappa, noise**2, ridge)
    K = lam.size
    e2 = (tau**2 * b**2 + lam * rho2 / kappa) / (lam + tau) ** 2     # E[(Y - b)^2] per unit s^2-weight

    def over_s(f):
        """E_s f(s): s = 1 for fixed signal (sign symmetry), s ~ N(0, 1) by quadrature otherwise."""
        if dist == "fixed":
            return f(1.0)
        return quad(lambda s: f(s) * _pdf(s), -np.inf, np.inf, epsabs=1e-15, epsrel=1e-13, limit=500)[0]
    wk = np.ones(K) if criterion == "magnitude" else np.sqrt(lam)

    if criterion == "random":
        q, s2 = np.full(K, alpha), alpha * b**2
        r = alpha * e2 + (1 - alpha) * b**2
    elif criterion == "oracle" and dist == "fixed":
        # the most important atoms are kept whole, the boundary atom partially
        q = np.zeros(K)
        left = alpha
        for k in np.argsort(-lam * b**2, kind="stable"):
            q[k] = min(1.0, left / pi[k])
            left -= q[k] * pi[k]
            if left <= 0:
                break
        s2 = q * b**2
        r = q * e2 + (1 - q) * b**2
    elif criterion == "oracle":
        # kept iff sqrt(lam) |b_k s| >= t: an event on s alone
        def w_of(t, k):
            return t / (np.sqrt(lam[k]) * abs(b[k])) if b[k] != 0 else (np.inf if t > 0 else 0.0)
        total = lambda t: sum(pi[k] * 2 * norm.sf(w_of(t, k)) for k in range(K)) - alpha
        t = 0.0 if alpha == 1 else brentq(total, 1e-300, 100.0, xtol=1e-300, rtol=1e-14)
        q = np.array([2 * norm.sf(w_of(t, k)) for k in range(K)])
        s2 = np.array([b[k] ** 2 * _tails(lambda s: s * s, -w_of(t, k), w_of(t, k)) for k in range(K)])
        r = (tau**2 * s2 + q * lam * rho2 / kappa) / (lam + tau) ** 2 + (b**2 - s2)
    else:
        def kept_at(t, k):
            return over_s(lambda s: coord_stats(s * b[k], lam[k], tau, rho2, kappa, wk[k], t)[0])
        total = lambda t: sum(pi[k] * kept_at(t, k) for k in range(K)) - alpha
        t = 0.0 if alpha == 1 else brentq(total, 0.0, 100.0, xtol=1e-300, rtol=1e-14)
        q = np.array([kept_at(t, k) for k in range(K)])
        r = np.array([over_s(lambda s: coord_stats(s * b[k], lam[k], tau, rho2, kappa, wk[k], t)[1])
                      for k in range(K)])
        s2 = np.array([over_s(lambda s: coord_stats(s * b[k], lam[k], tau, rho2, kappa, wk[k], t)[2])
                       for k in range(K)])
    if retrain == "none":
        return noise**2 + np.sum(pi * lam * r)
    sig2 = noise**2 + np.sum(pi * lam * (b**2 - s2))
    m = np.where(q > 0, s2 / np.where(q > 0, q, 1), 0.0)
    return ref_fixed_point(pi * q, lam, m, kappa, sig2, ridge if refit_ridge is None else refit_ridge)[1]


CASES = [
    # variances, signal, weights, dist, kappa, noise, ridge
    ([1.0, 25.0], [1.0, 0.5], [0.5, 0.5], "fixed", 2.0, 0.5, 0.0),
    ([1.0, 25.0], [1.0, 0.5], [0.5, 0.5], "fixed", 0.5, 0.5, 0.0),
    ([1.0, 4.0, 0.2], [0.8, 0.3, 1.5], [0.3, 0.3, 0.4], "fixed", 0.7, 0.3, 0.2),
    ([1.0, 9.0], [1.0, 0.5], [0.7, 0.3], "gaussian", 0.6, 0.3, 0.1),
    ([1.0, 9.0], [1.0, 0.5], [0.7, 0.3], "gaussian", 3.0, 0.3, 0.0),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[3]}-kappa{c[4]}-ridge{c[6]}")
@pytest.mark.parametrize("criterion", CRITERIA)
@pytest.mark.parametrize("retrain", ["none", "fresh"])
def test_matches_independent_quadrature(case, criterion, retrain):
    lam, b, pi, dist, kappa, noise, ridge = case
    spec = Spectrum(lam, b, pi, dist)
    keep = np.array([0.15, 0.45, 0.8])
    got = pruned_risk(spec, kappa, noise, keep=keep, criterion=criterion, ridge=ridge, retrain=retrain)
    want = [ref_pruned(lam, b, pi, dist, kappa, noise, ridge, a, criterion, retrain) for a in keep]
    assert_allclose(got, want, rtol=2e-8)


@pytest.mark.parametrize("dist", ["fixed", "gaussian"])
@pytest.mark.parametrize("kappa,ridge", [(0.5, 0.0), (2.0, 0.0), (0.5, 0.3)])
@pytest.mark.parametrize("retrain", ["none", "fresh"])
def test_keep_one_is_dense(dist, kappa, ridge, retrain):
    spec = Spectrum([1.0, 25.0, 0.1], [1.0, 0.3, 0.0], [0.4, 0.4, 0.2], dist)
    dense = dense_risk(spec, kappa, 0.5, ridge=ridge)
    for c in CRITERIA:
        assert_allclose(pruned_risk(spec, kappa, 0.5, keep=1.0, criterion=c, ridge=ridge, retrain=retrain), dense, rtol=1e-12)


@pytest.mark.parametrize("dist", ["fixed", "gaussian"])
def test_equal_variances_make_magnitude_and_hessian_identical(dist):
    spec = Spectrum([3.0, 3.0], [1.0, 0.2], [0.6, 0.4], dist)
    keep = np.linspace(0.01, 1, 50)
    for retrain in ("none", "fresh"):
        for kappa, ridge in [(0.4, 0.0), (2.5, 0.1)]:
            mag = solve_pruned(spec, kappa, 0.3, keep=keep, criterion="magnitude", ridge=ridge, retrain=retrain)
            hes = solve_pruned(spec, kappa, 0.3, keep=keep, criterion="hessian", ridge=ridge, retrain=retrain)
            assert_allclose(hes.risk, mag.risk, rtol=1e-12)
            assert_allclose(hes.kept_fraction, mag.kept_fraction, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dist", ["fixed", "gaussian"])
def test_oracle_is_best_where_it_must_be(dist):
    """OLS (tau = 0): every coordinate's kept error is rho^2/kappa, so among data-independent
    selections the one dropping least importance (oracle) is best, without retraining; and a
    fresh OLS refit's risk sigma_S^2/(1 - alpha/kappa) depends on the support only through the
    dropped importance, so oracle beats every criterion there."""
    spec = Spectrum([1.0, 25.0, 4.0], [1.0, 0.5, 0.1], [0.3, 0.3, 0.4], dist)
    keep = np.linspace(0.02, 1, 40)
    orc = pruned_risk(spec, 3.0, 0.5, keep=keep, criterion="oracle")
    assert np.all(orc <= pruned_risk(spec, 3.0, 0.5, keep=keep, criterion="random") * (1 + 1e-12))
    orc_fresh = pruned_risk(spec, 3.0, 0.5, keep=keep, criterion="oracle", retrain="fresh")
    for c in ("magnitude", "hessian", "random"):
        assert np.all(orc_fresh <= pruned_risk(spec, 3.0, 0.5, keep=keep, criterion=c, retrain="fresh") * (1 + 1e-12))


def test_hessian_beats_magnitude_under_covariance_scaling():
    """Scaled-up features carry small weights (0.3 < 1) but more importance (100 * 0.3^2 = 9 > 1):
    magnitude drops them first, hessian keeps them."""
    spec = Spectrum.two_level(variances=(1.0, 100.0), signal=(1.0, 0.3))
    keep = np.linspace(0.1, 0.9, 9)
    mag = pruned_risk(spec, 2.0, 0.3, keep=keep, criterion="magnitude")
    hes = pruned_risk(spec, 2.0, 0.3, keep=keep, criterion="hessian")
    assert np.all(hes < mag)


def test_many_atom_spectrum_equals_grouped():
    """from_arrays with repeated values (ties for oracle) equals the grouped spectrum."""
    p = 200
    lam = np.repeat([1.0, 16.0, 0.5], [100, 60, 40])
    b = np.repeat([1.0, 0.25, 0.0], [100, 60, 40])
    fine = Spectrum.from_arrays(lam, b / np.sqrt(p))
    coarse = Spectrum([1.0, 16.0, 0.5], [1.0, 0.25, 0.0], [0.5, 0.3, 0.2])
    keep = np.array([0.1, 0.5, 0.6, 0.75, 0.9, 1.0])
    for c in CRITERIA:
        for kappa, ridge in [(0.6, 0.0), (2.0, 0.1)]:
            assert_allclose(pruned_risk(fine, kappa, 0.4, keep=keep, criterion=c, ridge=ridge),
                            pruned_risk(coarse, kappa, 0.4, keep=keep, criterion=c, ridge=ridge), rtol=1e-9)


def test_kept_fractions_sum_to_keep():
    spec = Spectrum([1.0, 25.0, 0.1], [1.0, 0.3, 0.0], [0.4, 0.4, 0.2], "gaussian")
    keep = np.geomspace(1e-4, 1, 30)
    for c in CRITERIA:
        res = solve_pruned(spec, 0.8, 0.5, keep=keep, criterion=c)
        assert_allclose(res.kept_fraction @ spec.weights, keep, rtol=1e-11)


def test_shapes_and_scalar():
    spec = Spectrum.isotropic()
    assert isinstance(pruned_risk(spec, 2.0, 0.5, keep=0.3), float)
    keep = np.full((2, 3), 0.5)
    assert pruned_risk(spec, 2.0, 0.5, keep=keep).shape == (2, 3)


def test_interpolation_threshold():
    spec = Spectrum.two_level()
    assert pruned_risk(spec, 1.0, 0.5, keep=0.5, criterion="magnitude") == np.inf
    # a fresh refit of half of the features at kappa = 1 is an OLS fit with n = 2 |S|: finite
    assert np.isfinite(pruned_risk(spec, 1.0, 0.5, keep=0.5, criterion="random", retrain="fresh"))
    assert np.isfinite(pruned_risk(spec, 1.0, 0.5, keep=0.5, criterion="hessian", retrain="fresh"))
    # refit at |S| = n with min-norm: infinite
    assert pruned_risk(spec, 0.5, 0.5, keep=0.5, criterion="hessian", retrain="fresh") == np.inf


@pytest.mark.parametrize("kappa", [1e-3, 1e3])
@pytest.mark.parametrize("dist", ["fixed", "gaussian"])
def test_extreme_valid_inputs_are_finite(kappa, dist):
    spec = Spectrum(np.geomspace(1e-6, 1e6, 5), [1.0, 0.5, 2.0, 0.0, 1e-3], None, dist)
    keep = np.array([1e-4, 0.01, 0.5, 1.0])
    for c in CRITERIA:
        for retrain in ("none", "fresh"):
            for ridge in (0.0, 1e-8, 1e3):
                r = pruned_risk(spec, kappa, 1e-3, keep=keep, criterion=c, ridge=ridge, retrain=retrain)
                assert np.all(np.isfinite(r)) and np.all(r > 0), (c, retrain, ridge, r)


def test_noiseless_ols_point_masses():
    """noise 0, kappa > 1, ridge 0: b_hat = beta exactly, every score is a point mass."""
    spec = Spectrum([1.0, 4.0], [1.0, 2.0], [0.5, 0.5])
    imp_dropped = lambda a: 0.5 * 4 * 4 * max(0.0, 0.5 - a) / 0.5 + 0.5 * 1 * min(1.0, (1 - a) / 0.5)
    for c in ("magnitude", "hessian", "oracle"):
        for a in (0.25, 0.5, 0.75):
            assert_allclose(pruned_risk(spec, 2.0, 0.0, keep=a, criterion=c), imp_dropped(a), rtol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[3]}-kappa{c[4]}-ridge{c[6]}")
@pytest.mark.parametrize("criterion", CRITERIA)
def test_separate_refit_ridge_matches_quadrature(case, criterion):
    """Issue 9 A: the mask from the fit at ridge mu, the fresh refit at a separate mu_r."""
    lam, b, pi, dist, kappa, noise, ridge = case
    spec = Spectrum(lam, b, pi, dist)
    keep = np.array([0.15, 0.45, 0.8])
    same = pruned_risk(spec, kappa, noise, keep=keep, criterion=criterion, ridge=ridge, retrain="fresh")
    assert np.array_equal(same, pruned_risk(spec, kappa, noise, keep=keep, criterion=criterion, ridge=ridge,
                                            retrain="fresh", refit_ridge=ridge))
    for mask_ridge, refit_ridge in [(ridge + 0.5, 0.0), (ridge, 0.3)]:
        got = pruned_risk(spec, kappa, noise, keep=keep, criterion=criterion, ridge=mask_ridge, retrain="fresh",
                          refit_ridge=refit_ridge)
        want = [ref_pruned(lam, b, pi, dist, kappa, noise, mask_ridge, a, criterion, "fresh", refit_ridge)
                for a in keep]
        assert_allclose(got, want, rtol=2e-8)


def test_refit_ridge_requires_a_refit():
    with pytest.raises(ValueError, match="refit_ridge == 0.5 has no effect with retrain == 'none'"):
        pruned_risk(Spectrum.two_level(), 2.0, 0.5, keep=0.5, refit_ridge=0.5)
