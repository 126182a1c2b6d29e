"""Gradient descent from a random start, docs/theory.md Section 8 (issue 7, part A).

* ``init`` changes nothing when the objective is strictly convex (``ridge > 0`` or ``kappa > 1``):
  results are bitwise equal to ``init = 0``.
* Min-norm from ``b0``: the isotropic dense risk is the HMRT formula with ``r^2 + s0^2`` (typed here),
  and every criterion, both signal laws, with and without a fresh refit, agrees with an independent
  computation that conditions on the initial value ``s`` and integrates over it by Gauss-Hermite
  quadrature (no regression decomposition, no truncated-moment code of the package).
* The whole of Section 8, the fresh-refit statement included, against a plain-NumPy Monte Carlo
  (``tests/mc_reference.py``) with a pre-registered bound.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.optimize import brentq
from scipy.special import ndtr

from asymptotics import CRITERIA, Spectrum, dense_risk, pruned_risk, solve_pruned
from asymptotics import pruning as pruning_module
from mc_reference import monte_carlo_init
from test_asymptotics_pruning import ref_fixed_point

SPEC_ARGS = ([25.0, 1.0], [0.3, 1.0], [0.5, 0.5])


@pytest.mark.parametrize("dist", ["fixed", "gaussian"])
@pytest.mark.parametrize("kappa,ridge", [(2.0, 0.0), (0.5, 0.2), (2.0, 0.3), (0.5, 1e-9)])
def test_init_changes_nothing_when_strictly_convex(dist, kappa, ridge):
    spec = Spectrum(*SPEC_ARGS, dist)
    keep = np.array([0.1, 0.3, 0.8, 1.0])
    assert dense_risk(spec, kappa, 0.5, ridge=ridge, init=3.0) == dense_risk(spec, kappa, 0.5, ridge=ridge)
    for c in CRITERIA:
        for retrain in ("none", "fresh"):
            a = pruned_risk(spec, kappa, 0.5, keep=keep, criterion=c, ridge=ridge, retrain=retrain, init=3.0)
            b = pruned_risk(spec, kappa, 0.5, keep=keep, criterion=c, ridge=ridge, retrain=retrain)
            assert np.array_equal(a, b), (c, retrain)


@pytest.mark.parametrize("kappa", [0.2, 0.5, 0.9])
@pytest.mark.parametrize("s0", [0.0, 0.5, 3.0])
def test_isotropic_dense_risk_adds_init_to_the_signal(kappa, s0):
    """lam = 1: tau = 1/kappa - 1, the min-norm fit from b0 fits the target beta - b0 whose norm is
    r^2 + s0^2: HMRT excess r^2 (1 - kappa) + sigma^2 kappa/(1 - kappa) with r^2 -> r^2 + s0^2."""
    r, sigma = 1.3, 0.4
    want = sigma**2 + (r**2 + s0**2) * (1 - kappa) + sigma**2 * kappa / (1 - kappa)
    assert_allclose(dense_risk(Spectrum.isotropic(r), kappa, sigma, init=s0), want, rtol=1e-12)


# ------------------------------------------------------------------ independent quadrature
GH_NODES, GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(120)   # E f(g), g ~ N(0, 1)
GH_WEIGHTS = GH_WEIGHTS / GH_WEIGHTS.sum()


def ref_init(lam, b, pi, dist, kappa, noise, alpha, criterion, retrain, s0):
    """Min-norm from b0, by conditioning: given the signal u (gaussian: b = b_k u) and the initial
    value s, sqrt(p) b_hat ~ N((lam b + tau s)/(lam + tau), lam rho0^2/kappa/(lam + tau)^2); kept
    probabilities and moments given (u, s) are normal cdfs, then averaged over (u, s) by
    Gauss-Hermite quadrature. Every moment is integrated directly (no regression on Y)."""
    lam, b, pi = map(np.asarray, (lam, b, pi))
    tau, rho2 = ref_fixed_point(pi, lam, b**2 + s0**2, kappa, noise**2, 0.0)
    K = lam.size
    wk = np.ones(K) if criterion == "magnitude" else np.sqrt(lam)
    if dist == "fixed":
        U, Uw = np.array([1.0]), np.array([1.0])
    else:
        U, Uw = GH_NODES, GH_WEIGHTS
    Sn, Sw = s0 * GH_NODES, GH_WEIGHTS
    bv = b[:, None, None] * U[None, :, None]                       # (K, u, 1)
    sv = Sn[None, None, :]                                          # (1, 1, s)
    wt = Uw[:, None] * Sw[None, :]                                   # (u, s)
    m = (lam[:, None, None] * bv + tau * sv) / (lam + tau)[:, None, None]
    cn = (np.sqrt(lam * rho2 / kappa) / (lam + tau))[:, None, None]

    def kept_prob(t):
        if criterion == "random":
            return np.full(m.shape[:1] + wt.shape, alpha)
        u = t / wk[:, None, None]
        return ndtr((m - u) / cn) + ndtr((-u - m) / cn)
    if criterion == "random":
        t = None
    else:
        total = lambda t: float(np.sum(pi * np.sum(kept_prob(t) * wt, axis=(1, 2)))) - alpha
        t = 0.0 if alpha == 1 else brentq(total, 0.0, 100.0, xtol=1e-300, rtol=1e-14)
    P = kept_prob(t)
    phi = lambda x: np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)
    if criterion == "random":
        EY1, EY2 = alpha * m, alpha * (m**2 + cn**2)
    else:
        u = t / wk[:, None, None]
        zu, zl = (u - m) / cn, (-u - m) / cn                          # kept iff g >= zu or g <= zl
        EY1 = m * P + cn * (phi(zu) - phi(zl))
        EY2 = m**2 * P + 2 * m * cn * (phi(zu) - phi(zl)) + cn**2 * (zu * phi(zu) + ndtr(-zu) - zl * phi(zl) + ndtr(zl))
    avg = lambda f: np.sum(f * wt, axis=(1, 2))
    q = avg(P)
    r = avg(EY2 - 2 * bv * EY1 + bv**2)                              # E[(Y 1{kept} - b)^2]
    if retrain == "none":
        return noise**2 + np.sum(pi * lam * r)
    kept_b2 = avg(bv**2 * P)
    kept_target = avg((bv - sv) ** 2 * P)                            # E[(b - s)^2 1{kept}]
    sig2 = noise**2 + np.sum(pi * lam * (b**2 - kept_b2))
    mom = np.where(q > 0, kept_target / np.where(q > 0, q, 1), 0.0)
    mass = np.sum(pi * q)
    if mass <= kappa:                                                 # OLS refit: init irrelevant
        mom = np.where(q > 0, kept_b2 / np.where(q > 0, q, 1), 0.0)
    return ref_fixed_point(pi * q, lam, mom, kappa, sig2, 0.0)[1]


@pytest.mark.parametrize("dist", ["fixed", "gaussian"])
@pytest.mark.parametrize("criterion", ["magnitude", "hessian", "random"])
@pytest.mark.parametrize("retrain", ["none", "fresh"])
def test_min_norm_init_matches_conditional_quadrature(dist, criterion, retrain):
    spec = Spectrum(*SPEC_ARGS, dist)
    keep = np.array([0.3, 0.8])
    for s0 in (1.0, 3.0):
        got = pruned_risk(spec, 0.5, 0.5, keep=keep, criterion=criterion, retrain=retrain, init=s0)
        want = [ref_init(*SPEC_ARGS, dist, 0.5, 0.5, a, criterion, retrain, s0) for a in keep]
        assert_allclose(got, want, rtol=1e-9, err_msg=f"s0={s0}")


@pytest.mark.parametrize("dist", ["fixed", "gaussian"])
def test_oracle_mask_ignores_init_but_the_refit_does_not(dist):
    """Oracle scores do not see b0: the kept fractions do not move with s0; the no-retrain risk grows
    by the init's share tau^2 s0^2/(lam+tau)^2 per kept coordinate; an underdetermined refit fits
    beta - b0 with E[(b - s)^2 | kept] = E[b^2 | kept] + s0^2."""
    spec = Spectrum(*SPEC_ARGS, dist)
    keep = np.array([0.3, 0.8])
    base = solve_pruned(spec, 0.5, 0.5, keep=keep, criterion="oracle")
    for s0 in (1.0, 3.0):
        res = solve_pruned(spec, 0.5, 0.5, keep=keep, criterion="oracle", init=s0)
        assert_allclose(res.kept_fraction, base.kept_fraction, rtol=1e-12)
        assert np.all(res.risk > base.risk)


# ------------------------------------------------------------------ Monte Carlo, Section 8
P_MC, KAPPA_MC, NOISE_MC, TRIALS_MC = 400, 0.5, 0.5, 300
KEEP_MC = (0.3, 0.8)
# 4 runs (2 signal laws x s0 in {1, 3}) x 17 z-values (dense + 4 criteria x 2 keep x {none, fresh})
# = 68 z-values. Bonferroni at 1% family-wise: Phi^-1(1 - 0.01/136) = 3.80; a correct formula
# passes the whole test with probability >= 99% for any seed.
Z_BOUND_MC = 3.8


@pytest.mark.slow
@pytest.mark.parametrize("dist", ["fixed", "gaussian"])
@pytest.mark.parametrize("s0", [1.0, 3.0])
def test_section8_against_monte_carlo(dist, s0, record_z, monkeypatch):
    seed = 7000 + 10 * ["fixed", "gaussian"].index(dist) + int(s0)
    mc = monte_carlo_init(*SPEC_ARGS, dist, P_MC, KAPPA_MC, NOISE_MC, 0.0, s0, KEEP_MC, CRITERIA, TRIALS_MC, seed)
    spec = Spectrum(*SPEC_ARGS, dist)
    sem = lambda x: x.std(axis=0, ddof=1) / np.sqrt(x.shape[0])
    zs = {"dense": (mc["dense"].mean() - dense_risk(spec, KAPPA_MC, NOISE_MC, init=s0)) / sem(mc["dense"])}
    for c in CRITERIA:
        for retrain in ("none", "fresh"):
            th = pruned_risk(spec, KAPPA_MC, NOISE_MC, keep=np.array(KEEP_MC), criterion=c, retrain=retrain, init=s0)
            zs[f"{c} {retrain}"] = (mc[(c, retrain)].mean(axis=0) - th) / sem(mc[(c, retrain)])
    for label, z in zs.items():
        record_z(f"init s0={s0} {dist} {label}", z)
    print({k: np.round(np.atleast_1d(v), 2).tolist() for k, v in zs.items()})
    worst = max(float(np.max(np.abs(z))) for z in zs.values())
    assert worst < Z_BOUND_MC, zs
    if s0 == 3.0:
        # power: the naive refit target E[b^2 | kept] + s0^2 (the mask taken as independent of b0)
        # must be rejected where the mask sees b0 (hessian, keep 0.8: underdetermined refit)
        real = pruning_module._coefficients

        def naive(spectrum, criterion, fp, a, c, nvar, s0_mask, s0_refit):
            r, sk, _ = real(spectrum, criterion, fp, a, c, nvar, s0_mask, s0_refit)
            return r, sk, real(spectrum, criterion, fp, a, c, nvar, 0.0, s0_refit)[2]
        monkeypatch.setattr(pruning_module, "_coefficients", naive)
        th = pruned_risk(spec, KAPPA_MC, NOISE_MC, keep=np.array(KEEP_MC), criterion="hessian", retrain="fresh",
                         init=s0)
        x = mc[("hessian", "fresh")]
        z_naive = (x.mean(axis=0) - th) / sem(x)
        print("naive z (hessian, fresh):", np.round(z_naive, 2))
        assert z_naive[1] > Z_BOUND_MC
