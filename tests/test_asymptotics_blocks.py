"""Block spectra (docs/theory.md Section 10): the diagonal-block identity, the deterministic pattern
integrals against a direct Monte Carlo of the Gaussian per-block law, quadrature self-convergence,
exact structural facts, and bad input.

The Monte Carlo below is written independently of the package: it solves the fixed point with
scalar brentq on the matrix traces, forms ``A_k`` and ``C_k`` from matrix square roots, draws
``Y = A b + C g`` with numpy, applies each criterion's rule by brute force (the joint rule by
enumerating all patterns) at the threshold the theory solved, and for fresh refits estimates the
absorbed signal and the extra noise per pattern and solves the refit fixed point with brentq.
"""


import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.linalg import sqrtm
from scipy.optimize import brentq
from scipy.stats import norm

import asymptotics._rays as rays
from asymptotics import (BLOCK_CRITERIA, CRITERIA, BlockSpectrum, Spectrum, dense_risk, pruned_risk,
                         solve_fixed_point, solve_pruned)

# ------------------------------------------------------------------ the diagonal-block identity

IDENTITY_RTOL = 1e-10
KEEP_GRID = np.array([0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 1.0])
FITS = {"ols": (2.0, 0.0), "minnorm": (0.5, 0.0), "ridge": (0.8, 0.3), "ridge-ols-side": (3.0, 0.05)}
SPECTRA = {
    "two-atom": ([1.0, 25.0], [1.0, 0.3], [0.4, 0.6]),
    "three-atom-null": ([1.0, 0.1, 4.0], [1.0, 0.0, 0.8], [0.3, 0.4, 0.3]),
}


def rel_dev(got, ref):
    """Largest relative deviation; equal infinities (a refit at its interpolation threshold) count as 0."""
    got, ref = np.asarray(got, float), np.asarray(ref, float)
    same_inf = np.isinf(got) & (got == ref)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(same_inf, 0.0, np.abs(got / ref - 1))
    return float(np.max(np.where(np.isnan(d), np.inf, d)))


@pytest.mark.parametrize("fit", list(FITS))
@pytest.mark.parametrize("dist", ["fixed", "gaussian"])
@pytest.mark.parametrize("name", list(SPECTRA))
def test_diagonal_blocks_equal_the_spectrum(name, dist, fit):
    lam, b, w = SPECTRA[name]
    if dist == "gaussian" and name == "three-atom-null":
        b = [1.0, 0.05, 0.8]                 # gaussian oracle needs a non-singular signal law in blocks
    spec = Spectrum(lam, b, w, dist)
    kappa, ridge = FITS[fit]
    worst = 0.0
    for B in (1, 2, 3):
        bs = BlockSpectrum.from_spectrum(spec, block_size=B)
        d0, d1 = dense_risk(spec, kappa, 0.5, ridge=ridge), dense_risk(bs, kappa, 0.5, ridge=ridge)
        assert abs(d1 / d0 - 1) <= IDENTITY_RTOL
        for crit in CRITERIA:
            if B == 3 and not (crit == "random" or (crit == "oracle" and dist == "fixed")):
                continue                     # B = 3 quadrature is accurate to ~1e-6 only (see _rays)
            for retrain in ("none", "fresh"):
                ref = pruned_risk(spec, kappa, 0.5, keep=KEEP_GRID, criterion=crit, ridge=ridge, retrain=retrain)
                for update in ("none", "obs"):
                    got = pruned_risk(bs, kappa, 0.5, keep=KEEP_GRID, criterion=crit, ridge=ridge,
                                      retrain=retrain, update=update)
                    dev = rel_dev(got, ref)
                    worst = max(worst, dev)
                    assert dev <= IDENTITY_RTOL, (B, crit, retrain, update, dev)
        if B == 2:                           # with a diagonal Hessian obs and joint are hessian (OBD)
            ref = pruned_risk(spec, kappa, 0.5, keep=KEEP_GRID, criterion="hessian", ridge=ridge)
            for crit in ("obs", "joint"):
                got = pruned_risk(bs, kappa, 0.5, keep=KEEP_GRID, criterion=crit, ridge=ridge)
                assert rel_dev(got, ref) <= IDENTITY_RTOL, crit
    print(f"diagonal identity {name} {dist} {fit}: max relative deviation {worst:.2e}")


def test_mixed_diagonal_block_equals_two_atoms():
    """One diagonal block type holding two different atoms = the two-atom Spectrum of equal weights."""
    for dist in ("fixed", "gaussian"):
        spec = Spectrum([1.0, 9.0], [1.0, -0.4], [0.5, 0.5], dist)
        bs = BlockSpectrum([np.diag([1.0, 9.0])], [[1.0, -0.4]], [1.0], dist)
        for crit in CRITERIA:
            for retrain in ("none", "fresh"):
                for kappa, ridge in FITS.values():
                    ref = pruned_risk(spec, kappa, 0.3, keep=KEEP_GRID, criterion=crit, ridge=ridge, retrain=retrain)
                    got = pruned_risk(bs, kappa, 0.3, keep=KEEP_GRID, criterion=crit, ridge=ridge, retrain=retrain,
                                      update="obs")
                    assert rel_dev(got, ref) <= IDENTITY_RTOL, (dist, crit, retrain, kappa)


# ------------------------------------------------------------------ exact structure


def test_keep_one_is_dense_and_update_changes_nothing_there():
    bs = BlockSpectrum.correlated_pair(0.7, scale=3.0, signal=(1.0, -0.5))
    d = dense_risk(bs, 1.7, 0.4, ridge=0.1)
    for crit in BLOCK_CRITERIA:
        for update in ("none", "obs"):
            assert abs(pruned_risk(bs, 1.7, 0.4, keep=1.0, criterion=crit, ridge=0.1, update=update) / d - 1) < 1e-13


def test_dense_risk_is_the_trace_formula():
    """The fixed point through eigen-atoms equals the matrix-trace formula of Section 10."""
    bs = BlockSpectrum([[[2.0, 0.9], [0.9, 1.0]], [[1.0, -0.3], [-0.3, 0.5]]], [[1.0, 0.5], [-0.2, 1.0]],
                       [0.3, 0.7], "fixed")
    for kappa, ridge in FITS.values():
        tau, rho2 = ref_fixed_point_blocks(bs, kappa, 0.5**2, ridge)
        fp = solve_fixed_point(bs, kappa, 0.5, ridge=ridge)
        assert abs(fp.tau - tau) <= 1e-12 * max(tau, 1.0) and abs(fp.rho2 / rho2 - 1) < 1e-12


def test_obs_ranks_like_hessian_with_one_pair_type_but_not_two():
    """Section 10: with one 2 x 2 block type obs = hessian ([Sigma^-1]_ii = Sigma_jj / det); across two
    block types they differ."""
    one = BlockSpectrum.correlated_pair(0.6, scale=5.0, signal=(1.0, 0.2))
    keep = np.array([0.2, 0.5, 0.8])
    a = pruned_risk(one, 2.0, 0.5, keep=keep, criterion="obs")
    b = pruned_risk(one, 2.0, 0.5, keep=keep, criterion="hessian")
    assert_allclose(a, b, rtol=1e-12)
    two = BlockSpectrum([[[1.0, 0.8], [0.8, 1.0]], [[1.0, 0.0], [0.0, 1.0]]], [[1.0, 1.0], [1.0, 1.0]], [0.5, 0.5])
    a = pruned_risk(two, 2.0, 0.5, keep=keep, criterion="obs")
    b = pruned_risk(two, 2.0, 0.5, keep=keep, criterion="hessian")
    assert np.all(np.abs(a / b - 1) > 1e-4)


def test_ols_fresh_refit_is_noise_over_one_minus_load():
    """Section 10: for OLS refits (tau = 0) the fresh refit risk is sigma_S^2 / (1 - keep / kappa)."""
    bs = BlockSpectrum.correlated_pair(0.9, scale=2.0, signal=(1.0, 1.0))
    res = solve_pruned(bs, 3.0, 0.5, keep=np.array([0.3, 0.6]), criterion="hessian", retrain="fresh")
    for f, a in zip(res.refit, res.keep):
        assert f.tau == 0.0 and abs(f.rho2 / (f.noise_var / (1 - a / 3.0)) - 1) < 1e-12


@pytest.mark.parametrize("criterion", ["magnitude", "joint"])
def test_quadrature_self_convergence(criterion, monkeypatch):
    """The B = 2 rule at twice its order and pieces agrees to 1e-10 (relative): the stated accuracy."""
    bs = BlockSpectrum([[[1.0, 0.95 * 5], [0.95 * 5, 25.0]], [[1.0, -0.5], [-0.5, 2.0]]], [[1.0, 0.2], [0.5, 0.5]],
                       [0.5, 0.5])
    keep = np.array([0.05, 0.3, 0.6, 0.95, 0.999])
    for dist_spec in (bs, BlockSpectrum(bs.covariances, bs.signal, bs.weights, "gaussian")):
        for kappa, ridge in ((2.0, 0.0), (0.6, 0.0)):
            base = solve_pruned(dist_spec, kappa, 0.3, keep=keep, criterion=criterion, ridge=ridge, update="obs")
            with monkeypatch.context() as m:
                m.setattr(rays, "ANGLE_GL_ORDER", 2 * rays.ANGLE_GL_ORDER)
                m.setattr(rays, "ANGLE_BASE_PIECES", 2 * rays.ANGLE_BASE_PIECES)
                m.setattr(rays, "REFINE_GL_ORDER", 2 * rays.REFINE_GL_ORDER)
                m.setattr(rays, "ADAPT_ATOL", rays.ADAPT_ATOL / 100)
                fine = solve_pruned(dist_spec, kappa, 0.3, keep=keep, criterion=criterion, ridge=ridge, update="obs")
            assert_allclose(base.risk, fine.risk, rtol=1e-10, atol=0)
            assert base.quadrature_keep_error < 1e-10


def test_radial_integrals_against_quad():
    """The radial recurrence (numpy and compiled versions) against adaptive quadrature. On rays pointing away
    from the mean (mu << 0) the recurrence cancels: relative accuracy drops to ~1e-9 on values of 1e-11,
    an absolute error below 1e-18 of a unit mass."""
    from scipy.integrate import quad
    out = np.empty(6)
    for mu, a, b in ((0.3, 0.0, np.inf), (-2.5, 0.1, 1.7), (4.0, 3.5, np.inf), (-6.0, 0.0, np.inf), (1.0, 0.2, 0.9)):
        ref = [quad(lambda r: r**n * np.exp(-0.5 * (r - mu) ** 2) / np.sqrt(2 * np.pi), a, b,
                    epsabs=1e-300, epsrel=1e-13, limit=200)[0] for n in range(6)]
        rays._radial_one(mu, a, b, 5, out)
        vec = rays._radial(np.array(mu), np.array(a), np.array(b), 5)
        assert_allclose(out, ref, rtol=1e-10, atol=1e-18)
        assert_allclose(vec, ref, rtol=1e-10, atol=1e-18)


@pytest.mark.parametrize("criterion", ["magnitude", "obs", "joint"])
def test_quadrature_low_noise_strong_correlation(criterion, monkeypatch):
    """A narrow, strongly anisotropic law near interpolation (noise 1e-3, r = 0.99, kappa = 1, ridge 1e-3):
    before adaptive bisection the B = 2 rule was off by 2.4e-5 here; now within 1e-8 of a finer rule."""
    bs = BlockSpectrum([[[1.0, 4.95], [4.95, 25.0]], [[2.0, 0.3], [0.3, 0.5]]], [[1.0, 0.2], [0.5, -1.0]], [0.5, 0.5])
    keep = np.array([0.001, 0.2, 0.5, 0.8, 0.999])
    args = dict(keep=keep, criterion=criterion, ridge=1e-3, update="obs", retrain="fresh")
    base = solve_pruned(bs, 1.0, 1e-3, **args)
    with monkeypatch.context() as m:
        m.setattr(rays, "ANGLE_GL_ORDER", 2 * rays.ANGLE_GL_ORDER)
        m.setattr(rays, "ANGLE_BASE_PIECES", 2 * rays.ANGLE_BASE_PIECES)
        m.setattr(rays, "REFINE_GL_ORDER", 2 * rays.REFINE_GL_ORDER)
        m.setattr(rays, "ADAPT_ATOL", rays.ADAPT_ATOL / 100)
        fine = solve_pruned(bs, 1.0, 1e-3, **args)
    assert_allclose(base.risk, fine.risk, rtol=1e-8, atol=0)


def test_separable_kept_fraction_from_quadrature_matches_marginals():
    bs = BlockSpectrum.correlated_pair(-0.8, scale=5.0, signal=(1.0, -0.2))
    res = solve_pruned(bs, 2.0, 0.5, keep=np.linspace(0.05, 0.95, 10), criterion="hessian")
    assert res.quadrature_keep_error < 1e-11


# ------------------------------------------------------------------ independent Monte Carlo of the Gaussian law


def ref_fixed_point_blocks(spec, kappa, s2, ridge, sub=None):
    """tau, rho^2 from the matrix traces of Section 10 (brentq on scalars). ``sub``: list of
    (weight per coordinate, Sigma_sub, E[b b'] conditional) for refits instead of the spectrum's blocks."""
    if sub is None:
        B = spec.block_size
        sub = [(spec.weights[k] / B, spec.covariances[k], spec.signal_second_moment[k]) for k in range(spec.n_types)]
    mass = sum(w * S.shape[0] for w, S, _ in sub)

    def tr(t, power):
        out = 0.0
        for w, S, _ in sub:
            Ri = np.linalg.inv(S + t * np.eye(S.shape[0]))
            out += w * np.trace(np.linalg.matrix_power(S @ Ri, power))
        return out / kappa
    if ridge > 0:
        lo = 0.0 if kappa >= mass else brentq(lambda t: tr(t, 1) - 1, 0, 1e6, xtol=1e-300, rtol=1e-15)
        tau = brentq(lambda t: t * (1 - tr(t, 1)) - ridge, lo, 1e6, xtol=1e-300, rtol=1e-15)
    elif kappa < mass:
        tau = brentq(lambda t: tr(t, 1) - 1, 1e-300, 1e6, xtol=1e-300, rtol=1e-15)
    else:
        tau = 0.0
    d2 = tr(tau, 2)
    B0 = 0.0
    for w, S, M in sub:
        Ri = np.linalg.inv(S + tau * np.eye(S.shape[0]))
        B0 += w * np.trace(S @ Ri @ Ri @ M)
    return tau, (s2 + tau**2 * B0) / (1 - d2)


def _pattern_costs(Y, Sigma, t):
    """Joint rule: cost of every pattern (N, 2^B), bit i of the index = coordinate i kept."""
    B = Sigma.shape[0]
    inv = np.linalg.inv(Sigma)
    costs = []
    for s in range(2**B):
        kept = [(s >> i) & 1 for i in range(B)]
        P = [i for i in range(B) if not kept[i]]
        c = np.full(Y.shape[0], t * sum(kept))
        if P:
            H = np.linalg.inv(inv[np.ix_(P, P)])
            c = c + np.einsum("ni,ij,nj->n", Y[:, P], H, Y[:, P])
        costs.append(c)
    return np.stack(costs, 1)


def mc_block_stats(spec, kappa, noise, ridge, criterion, update, t, q_point, keep, n_draws, rng):
    """One batch: returns per block type (risk sum of E[(w - b)' Sigma (w - b)], pattern counts (2^B,),
    E[T b b' T' 1{S}] per pattern, extra noise per pattern), all as batch means."""
    tau, rho2 = ref_fixed_point_blocks(spec, kappa, noise**2, ridge)
    B = spec.block_size
    out = []
    for k in range(spec.n_types):
        Sig = spec.covariances[k]
        Ri = np.linalg.inv(Sig + tau * np.eye(B))
        A = Ri @ Sig
        C = np.sqrt(rho2 / kappa) * Ri @ np.real(sqrtm(Sig))
        if spec.signal_dist == "fixed":
            s = rng.choice([-1.0, 1.0], size=(n_draws, 1))
            b = s * spec.signal[k][None, :]
        else:
            w_, V_ = np.linalg.eigh(spec.signal_second_moment[k])
            b = rng.standard_normal((n_draws, B)) @ (V_ * np.sqrt(np.maximum(w_, 0))).T
        g = rng.standard_normal((n_draws, B))
        u = rng.random((n_draws, B))
        Y = b @ A.T + g @ C.T
        d = np.diag(Sig)
        if criterion == "magnitude":
            keepm = np.abs(Y) >= t
        elif criterion == "hessian":
            keepm = np.sqrt(d) * np.abs(Y) >= t
        elif criterion == "obs":
            keepm = np.abs(Y) / np.sqrt(np.diag(np.linalg.inv(Sig))) >= t
        elif criterion == "oracle":
            if spec.signal_dist == "fixed":
                keepm = u < q_point[k][None, :]          # point masses: the solved kept share (ties)
            else:
                keepm = np.sqrt(d) * np.abs(b) >= t
        elif criterion == "random":
            keepm = u < keep
        else:
            pat = np.argmin(_pattern_costs(Y, Sig, t), axis=1)
            keepm = ((pat[:, None] >> np.arange(B)[None, :]) & 1).astype(bool)
        pat = (keepm * (1 << np.arange(B))[None, :]).sum(1)
        w = np.where(keepm, Y, 0.0)
        tb = {}
        for s_ in range(2**B):
            sel = pat == s_
            S = [i for i in range(B) if (s_ >> i) & 1]
            P = [i for i in range(B) if not (s_ >> i) & 1]
            if S and P:
                X = np.linalg.solve(Sig[np.ix_(S, S)], Sig[np.ix_(S, P)])
                if update == "obs" and sel.any():
                    w[np.ix_(sel, S)] = Y[np.ix_(sel, S)] + Y[np.ix_(sel, P)] @ X.T
                cond = Sig[np.ix_(P, P)] - Sig[np.ix_(P, S)] @ X
                Tb = b[sel][:, S] + b[sel][:, P] @ X.T
            elif S:
                cond, Tb = None, b[sel][:, S]
            else:
                cond, Tb = Sig, None
            extra = 0.0 if cond is None else np.einsum("ni,ij,nj->", b[sel][:, P], cond, b[sel][:, P]) / n_draws
            tbb = None if Tb is None else Tb.T @ Tb / n_draws
            tb[s_] = (sel.mean(), tbb, extra)
        e = w - b
        out.append((np.einsum("ni,ij,nj->", e, Sig, e) / n_draws, tb))
    return out, (tau, rho2)


def mc_statistic(spec, kappa, noise, ridge, refit_ridge, retrain, batch):
    """The risk of one batch: no retraining (linear in the batch means) or the fresh refit's fixed point."""
    B = spec.block_size
    pi = spec.weights
    stats, _ = batch
    if retrain == "none":
        return noise**2 + sum(pi[k] / B * stats[k][0] for k in range(spec.n_types))
    sub, extra = [], 0.0
    for k in range(spec.n_types):
        for s_, (p, tbb, ex) in stats[k][1].items():
            extra += pi[k] / B * ex
            S = [i for i in range(B) if (s_ >> i) & 1]
            if S and p > 0:
                sub.append((pi[k] / B * p, spec.covariances[k][np.ix_(S, S)], tbb / p))
    return ref_fixed_point_blocks(spec, kappa, noise**2 + extra, refit_ridge, sub=sub)[1]


MC_SPECTRA = {
    "pair+0.6-same": dict(cov=[[[1.0, 3.0], [3.0, 25.0]]], signal=[[1.0, 0.2]], weights=[1.0]),
    "pair-0.8-opposite": dict(cov=[[[1.0, -4.0], [-4.0, 25.0]]], signal=[[1.0, -0.2]], weights=[1.0]),
    "two-types": dict(cov=[[[1.0, 0.8], [0.8, 1.0]], [[4.0, -1.2], [-1.2, 1.0]]], signal=[[1.0, 0.5], [0.3, -1.0]],
                      weights=[0.5, 0.5]),
    "ar1-B3": dict(cov=[[[1.0, 0.7, 0.49], [0.7, 1.0, 0.7], [0.49, 0.7, 1.0]]], signal=[[1.0, -0.5, 0.3]],
                   weights=[1.0]),
}
MC_LAWS = [("pair+0.6-same", "fixed"), ("pair+0.6-same", "gaussian"), ("pair-0.8-opposite", "fixed"),
           ("two-types", "fixed"), ("two-types", "gaussian"), ("ar1-B3", "fixed"), ("ar1-B3", "gaussian")]
MC_FITS = [(2.0, 0.0), (0.6, 0.0), (1.5, 0.2)]            # OLS, min-norm, ridge
MC_KEEPS = (0.3, 0.5, 0.7)
MC_MODES = [("none", "none"), ("obs", "none"), ("none", "fresh")]   # (update, retrain)
MC_NOISE = 0.5
MC_BATCHES = 50


def _mc_configs():
    out = []
    for i, (name, dist) in enumerate(MC_LAWS):
        for j, crit in enumerate(BLOCK_CRITERIA):
            for l, (update, retrain) in enumerate(MC_MODES):
                kappa, ridge = MC_FITS[(i + j + l) % 3]
                keep = MC_KEEPS[(i + 2 * j + l) % 3]
                out.append((name, dist, crit, update, retrain, kappa, ridge, keep))
    return out


MC_CONFIGS = _mc_configs()                        # 7 laws x 6 criteria x 3 modes = 126 z-values
# Pre-registered (before any run): 126 z-values per run, Bonferroni at 1% family-wise:
# norm.isf(0.005 / 126) = 3.946. A correct formula passes each whole run with probability >= 99%.
MC_Z_BOUND = 3.95
assert len(MC_CONFIGS) == 126 and abs(MC_Z_BOUND - norm.isf(0.005 / len(MC_CONFIGS))) < 0.01


def _spec(name, dist):
    d = MC_SPECTRA[name]
    return BlockSpectrum(d["cov"], d["signal"], d["weights"], dist)


def _mc_config(c, draws_per_batch, seed0, batches):
    """Theory and the ``batches`` Monte Carlo statistics of configuration ``c`` (its own stream ``[seed0, c]``)."""
    name, dist, crit, update, retrain, kappa, ridge, keep = MC_CONFIGS[c]
    spec = _spec(name, dist)
    res = solve_pruned(spec, kappa, MC_NOISE, keep=keep, criterion=crit, ridge=ridge, retrain=retrain,
                       update=update)
    rng = np.random.default_rng([seed0, c])
    vals = np.array([mc_statistic(spec, kappa, MC_NOISE, ridge, ridge, retrain,
                                  mc_block_stats(spec, kappa, MC_NOISE, ridge, crit, update, float(res.threshold),
                                                 res.kept_fraction, keep, draws_per_batch, rng))
                     for _ in range(batches)])
    return float(res.risk), vals


def run_mc(draws_per_batch, seed0, batches=MC_BATCHES, n_jobs=None):
    """z-values of every configuration; a statistic with no randomness at all (zero spread over the batches,
    e.g. a fresh OLS refit after fixed-signal oracle pruning: mask and refit law are deterministic) has no
    z-value and is compared exactly instead (returned in ``exact``). Each configuration draws from its own
    stream, so ``n_jobs`` processes give the serial numbers bit for bit."""
    from simulations.runtime.workers import map_ordered

    zs, rows, exact = [], [], []
    out = map_ordered(_mc_config, [(c, draws_per_batch, seed0, batches) for c in range(len(MC_CONFIGS))], n_jobs)
    for c, (risk, vals) in enumerate(out):
        name, dist, crit, update, retrain, kappa, ridge, keep = MC_CONFIGS[c]
        se = vals.std(ddof=1) / np.sqrt(batches)
        if se <= 1e-12 * abs(vals.mean()):
            exact.append((c, risk, vals.mean()))
            z = np.nan
        else:
            z = (vals.mean() - risk) / se
            zs.append(z)
        rows.append((name, dist, crit, update, retrain, kappa, ridge, keep, risk, vals.mean(), se, z))
    return np.array(zs), rows, exact


def _report(rows, label):
    print(f"\n{label}: theory vs Monte Carlo of the Gaussian block law")
    for name, dist, crit, update, retrain, kappa, ridge, keep, th, mc, se, z in rows:
        print(f"  {name:18s} {dist:8s} {crit:9s} upd={update:4s} {retrain:5s} kappa={kappa} ridge={ridge} "
              f"keep={keep}: theory {th:.6f} mc {mc:.6f} +- {se:.1e}  z = {z:+.2f}")
    zs = np.array([r[-1] for r in rows])
    print(f"  max |z| = {np.nanmax(np.abs(zs)):.2f} over {np.isfinite(zs).sum()} z-values")


# The default run's outcome against its pre-registered bound (recorded, not re-run with other seeds):
# 125 of the 126 statistics are random, and one of them exceeded the bound, z = +4.25, at
# DEFAULT_RUN_EXCEPTION below. Investigation: that risk involves no integral (fixed-signal oracle masks
# are independent of the noise); the theory equals the closed form sum_S P(S) [(L_S m - b)' Sigma
# (L_S m - b) + tr(Sigma L_S G L_S')] computed here from the test's own fixed point to 1e-15
# (test_fixed_oracle_update_closed_form), and a separate 4e6-draw run of the same configuration gives
# z = +0.69. The per-draw risk is strongly right-skewed (max 70 for a mean 3.6) and the standard error
# comes from 50 batches (t with 49 degrees of freedom, whose tail at 3.95 is 3x the normal one): the
# bound was too tight for this design, which the 1e7-draw run (fixed before it ran) corrects with 200
# batches. The other statistic (two-types fixed oracle fresh, OLS) has no randomness at all and is
# compared exactly. Both facts were found after the first run; the seed, points and sizes are unchanged.
DEFAULT_RUN_EXCEPTION = ("pair-0.8-opposite", "fixed", "oracle", "obs", "none")


def test_block_integrals_agree_with_monte_carlo(record_z):
    """Default size: 50 batches x 4,000 draws per block type and configuration (2e5 draws)."""
    zs, rows, exact = run_mc(4_000, 20261203, n_jobs=2)
    _report(rows, "default")
    record_z("blocks: Gaussian block law, 125 random configurations (2e5 draws)", zs, MC_Z_BOUND)
    for c, th, mc in exact:
        assert abs(mc / th - 1) < 1e-12, MC_CONFIGS[c]
    others = [r[-1] for r in rows if tuple(r[:5]) != DEFAULT_RUN_EXCEPTION and np.isfinite(r[-1])]
    assert len(others) == 124 and np.max(np.abs(others)) < MC_Z_BOUND
    exc = [r[-1] for r in rows if tuple(r[:5]) == DEFAULT_RUN_EXCEPTION]
    assert abs(exc[0] - 4.2545) < 1e-3        # the recorded exceedance (see above), reproduced bit for bit


def test_fixed_oracle_update_closed_form():
    """The configuration of DEFAULT_RUN_EXCEPTION against its closed form (no integral involved)."""
    name, dist, crit, update, retrain = DEFAULT_RUN_EXCEPTION
    c = [i for i, x in enumerate(MC_CONFIGS) if tuple(x[:5]) == DEFAULT_RUN_EXCEPTION][0]
    kappa, ridge, keep = MC_CONFIGS[c][5:]
    spec = _spec(name, dist)
    res = solve_pruned(spec, kappa, MC_NOISE, keep=keep, criterion=crit, ridge=ridge, update=update)
    tau, rho2 = ref_fixed_point_blocks(spec, kappa, MC_NOISE**2, ridge)
    Sig, b = spec.covariances[0], spec.signal[0]
    Ri = np.linalg.inv(Sig + tau * np.eye(2))
    A, C = Ri @ Sig, np.sqrt(rho2 / kappa) * Ri @ np.real(sqrtm(Sig))
    q = res.kept_fraction[0]
    total = 0.0
    for s_ in range(4):
        S = [i for i in range(2) if (s_ >> i) & 1]
        P = [i for i in range(2) if not (s_ >> i) & 1]
        L = np.zeros((2, 2))
        L[S, S] = 1.0
        if S and P:
            L[np.ix_(S, P)] = np.linalg.solve(Sig[np.ix_(S, S)], Sig[np.ix_(S, P)])
        prob = np.prod([q[i] if i in S else 1 - q[i] for i in range(2)])
        d = L @ A @ b - b
        total += prob * (d @ Sig @ d + np.trace(Sig @ L @ C @ C.T @ L.T))
    assert abs(float(res.risk) / (MC_NOISE**2 + total / 2) - 1) < 1e-13


# The 1e7-draw run, designed before it was run: 200 batches x 50,000 draws per block type and
# configuration; 125 random statistics (the deterministic one is compared exactly), bound
# norm.isf(0.005 / 125) = 3.946 -> 3.95, family-wise 1%.
SLOW_BATCHES = 200


@pytest.mark.slow
def test_block_integrals_agree_with_monte_carlo_1e7(record_z):
    zs, rows, exact = run_mc(50_000, 20261204, batches=SLOW_BATCHES, n_jobs=2)
    _report(rows, "1e7 draws")
    record_z("blocks: Gaussian block law, 125 random configurations (1e7 draws)", zs, MC_Z_BOUND)
    for c, th, mc in exact:
        assert abs(mc / th - 1) < 1e-12, MC_CONFIGS[c]
    assert zs.size == 125 and abs(MC_Z_BOUND - norm.isf(0.005 / zs.size)) < 0.01
    assert np.max(np.abs(zs)) < MC_Z_BOUND, rows[int(np.nanargmax(np.abs([r[-1] for r in rows])))]


# A second family, registered after the first runs and before its own: gaussian signal with a full
# signal covariance (correlated true weights inside a block), 6 criteria x 3 modes = 18 z-values,
# 200 batches x 2,000 draws, bound norm.isf(0.005 / 18) = 3.45 (1% family-wise).
SIGCOV_SPEC = dict(cov=[[[1.0, 1.0], [1.0, 4.0]]], signal_cov=[[[1.0, 0.6], [0.6, 0.5]]])
SIGCOV_Z_BOUND = 3.45


def test_full_signal_covariance_agrees_with_monte_carlo(record_z):
    spec = BlockSpectrum(SIGCOV_SPEC["cov"], None, None, "gaussian", SIGCOV_SPEC["signal_cov"])
    zs, rows = [], []
    for j, crit in enumerate(BLOCK_CRITERIA):
        for l, (update, retrain) in enumerate(MC_MODES):
            kappa, ridge = MC_FITS[(j + l) % 3]
            keep = MC_KEEPS[(2 * j + l) % 3]
            res = solve_pruned(spec, kappa, MC_NOISE, keep=keep, criterion=crit, ridge=ridge, retrain=retrain,
                               update=update)
            rng = np.random.default_rng([777, j, l])
            vals = np.array([mc_statistic(spec, kappa, MC_NOISE, ridge, ridge, retrain,
                                          mc_block_stats(spec, kappa, MC_NOISE, ridge, crit, update,
                                                         float(res.threshold), res.kept_fraction, keep, 2_000, rng))
                             for _ in range(200)])
            se = vals.std(ddof=1) / np.sqrt(200)
            zs.append((vals.mean() - float(res.risk)) / se)
            rows.append(("signal_cov", "gaussian", crit, update, retrain, kappa, ridge, keep, float(res.risk),
                         vals.mean(), se, zs[-1]))
    _report(rows, "full signal covariance")
    assert len(zs) == 18 and abs(SIGCOV_Z_BOUND - norm.isf(0.005 / 18)) < 0.01
    record_z("blocks: full gaussian signal covariance, 18 configurations (4e5 draws)", zs, SIGCOV_Z_BOUND)
    assert np.max(np.abs(zs)) < SIGCOV_Z_BOUND


# ------------------------------------------------------------------ bad input

GOOD = dict(covariances=[[[1.0, 0.5], [0.5, 2.0]]], signal=[[1.0, 0.5]])


@pytest.mark.parametrize("kwargs,match", [
    (dict(GOOD, covariances=[[[1.0, 0.5], [0.4, 2.0]]]), r"covariances\[0\] is not symmetric"),
    (dict(GOOD, covariances=[[[1.0, 2.0], [2.0, 2.0]]]), r"covariances\[0\] is not positive definite"),
    (dict(GOOD, covariances=[[[1.0, np.nan], [np.nan, 2.0]]]), r"covariances\[0, 0, 1\] == nan, must be finite"),
    (dict(GOOD, covariances=[[[1.0, 0.5, 0.0], [0.5, 2.0, 0.0]]]), r"covariances must be a non-empty sequence of square"),
    (dict(GOOD, covariances=np.eye(5)), r"covariances has blocks of size 5, must be at most 4"),
    (dict(GOOD, signal=[[1.0, 0.5, 0.1]]), r"signal has shape \(1, 3\) .* must have shape \(1, 2\)"),
    (dict(GOOD, signal=[[1.0, np.inf]]), r"signal\[0, 1\] == inf, must be finite"),
    (dict(GOOD, weights=[0.5, 0.5]), r"weights has 2 entries but covariances has 1 blocks"),
    (dict(GOOD, weights=[0.9]), r"weights sum to 0.9, must sum to 1"),
    (dict(GOOD, signal_dist="laplace"), r"signal_dist == 'laplace', must be one of 'fixed', 'gaussian'"),
    (dict(GOOD, signal_cov=[[[1.0, 0.0], [0.0, 0.25]]]), r"signal_cov is given but signal_dist == 'fixed'"),
    (dict(GOOD, signal_dist="gaussian", signal_cov=[[[1.0, 2.0], [2.0, 0.25]]]), r"signal_cov\[0\] is not positive semi-definite"),
    (dict(GOOD, signal_dist="gaussian", signal_cov=[[[1.0, 0.1], [0.2, 0.25]]]), r"signal_cov\[0\] is not symmetric"),
    (dict(GOOD, signal_dist="gaussian", signal_cov=[[[2.0, 0.1], [0.1, 0.25]]]), r"signal\*\*2 does not match"),
    (dict(GOOD, signal=None), r"signal is None"),
])
def test_block_spectrum_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BlockSpectrum(**kwargs)


def test_block_spectrum_rejects_non_numbers():
    with pytest.raises(TypeError, match="covariances must be a sequence of real numbers"):
        BlockSpectrum([["a", "b"], ["c", "d"]], [1.0, 1.0])


@pytest.mark.parametrize("call,match", [
    (lambda: BlockSpectrum.correlated_pair(1.0), r"r == 1.0, must be < 1"),
    (lambda: BlockSpectrum.correlated_pair(0.5, scale=0.0), r"scale == 0.0, must be > 0"),
    (lambda: BlockSpectrum.correlated_pair(0.5, signal=(1.0,)), r"signal has 1 entries, must have 2"),
    (lambda: BlockSpectrum.ar1(5, 0.5), r"B == 5, must be an integer <= 4"),
    (lambda: BlockSpectrum.ar1(3, -1.0), r"rho == -1.0, must be > -1"),
    (lambda: BlockSpectrum.ar1(3, 0.5, signal=[1.0, 2.0]), r"signal has 2 entries, must have 1 or B == 3"),
    (lambda: BlockSpectrum.from_arrays(np.eye(4), np.ones(4)), r"give block_size="),
    (lambda: BlockSpectrum.from_arrays(np.ones((4, 4)) + 3 * np.eye(4), np.ones(4), block_size=2),
     r"covariance is not block-diagonal with block_size == 2: covariance\[0, 2\]"),
    (lambda: BlockSpectrum.from_arrays(np.eye(4), np.ones(3), block_size=2), r"beta has 3 entries but covariance has 4"),
])
def test_constructors_reject(call, match):
    with pytest.raises(ValueError, match=match):
        call()


SPEC2 = BlockSpectrum(**GOOD)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(criterion="cbs"), ValueError, r"criterion == 'cbs', must be one of 'magnitude', 'hessian', 'obs', 'joint'"),
    (dict(update="woodfisher"), ValueError, r"update == 'woodfisher', must be one of 'none', 'obs'"),
    (dict(init=0.5), ValueError, r"init == 0.5: a gradient-descent initialization is not supported for a BlockSpectrum"),
    (dict(keep=1), TypeError, r"keep == 1 is an integer"),
    (dict(kappa=-1.0), ValueError, r"kappa == -1.0, must be > 0"),
    (dict(refit_ridge=0.1), ValueError, r"refit_ridge == 0.1 has no effect"),
])
def test_block_pruned_risk_rejects(kwargs, exc, match):
    args = dict(kappa=2.0, noise=0.5, keep=0.5, criterion="magnitude")
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        pruned_risk(SPEC2, **args)


def test_spectrum_refuses_block_only_criteria_and_accepts_update():
    spec = Spectrum([1.0, 4.0], [1.0, 0.5])
    with pytest.raises(ValueError, match=r"criterion == 'joint', must be one of 'magnitude', 'hessian', 'oracle'"):
        pruned_risk(spec, 2.0, 0.5, keep=0.5, criterion="joint")
    assert pruned_risk(spec, 2.0, 0.5, keep=0.5, update="obs") == pruned_risk(spec, 2.0, 0.5, keep=0.5)
    with pytest.raises(ValueError, match=r"update == 'x'"):
        pruned_risk(spec, 2.0, 0.5, keep=0.5, update="x")


def test_degenerate_block_laws_are_refused():
    bs = BlockSpectrum.correlated_pair(0.5, signal=(1.0, 0.5))
    with pytest.raises(ValueError, match="point-mass block laws are not supported"):
        pruned_risk(bs, 2.0, 0.0, keep=0.5, criterion="magnitude")          # noiseless OLS
    g = BlockSpectrum(np.eye(2), None, signal_dist="gaussian", signal_cov=[[[1.0, 1.0], [1.0, 1.0]]])
    with pytest.raises(ValueError, match="point-mass block laws are not supported"):
        pruned_risk(g, 2.0, 0.5, keep=0.5, criterion="oracle")              # singular signal law


def test_constructors():
    p = BlockSpectrum.correlated_pair(-0.3, scale=2.0, signal=(1.0, -1.0))
    assert_allclose(p.covariances[0], [[1.0, -0.6], [-0.6, 4.0]])
    a = BlockSpectrum.ar1(3, 0.5, variance=2.0)
    assert_allclose(a.covariances[0], 2.0 * np.array([[1, 0.5, 0.25], [0.5, 1, 0.5], [0.25, 0.5, 1]]))
    cov = np.kron(np.eye(3), [[1.0, 0.3], [0.3, 2.0]])
    beta = np.arange(1.0, 7.0) / 10
    f = BlockSpectrum.from_arrays(cov, beta, block_size=2)
    assert f.n_types == 3 and f.block_size == 2
    assert_allclose(f.signal.ravel(), np.sqrt(6) * beta)
    f3 = BlockSpectrum.from_arrays(np.stack([cov[:2, :2]] * 3), beta)
    assert_allclose(dense_risk(f, 2.0, 0.5), dense_risk(f3, 2.0, 0.5), rtol=1e-14)
    s = BlockSpectrum.from_spectrum(Spectrum([1.0, 4.0], [1.0, 0.5], signal_dist="gaussian"), block_size=2)
    assert s.is_diagonal and s.signal_dist == "gaussian"
    assert_allclose(s.signal_second_moment[1], 0.25 * np.eye(2))
