"""Limiting test risk of pruned ridge / min-norm fits of block spectra (docs/theory.md Section 10).

Reached through :func:`asymptotics.pruned_risk` and :func:`asymptotics.solve_pruned` with a
:class:`~asymptotics.BlockSpectrum`. In block type ``k`` the fitted block is (Section 10,
Gaussian equivalent)

    Y = sqrt(p) b_hat_block = A_k b + C_k g,   A_k = (Sigma_k + tau)^-1 Sigma_k,
    C_k C_k' = G_k = (rho^2 / kappa) (Sigma_k + tau)^-1 Sigma_k (Sigma_k + tau)^-1,

with ``tau``, ``rho^2`` the fixed point of the block spectrum (its eigen-atoms,
:meth:`BlockSpectrum.eigen_atoms`). Criteria and rules (Section 10):

========== ============================================================================
magnitude  keep ``i`` iff ``abs(Y_i) >= t``
hessian    ``sqrt(Sigma_ii) abs(Y_i) >= t`` (OBD: the diagonal of the Hessian only)
obs        ``abs(Y_i) / sqrt([Sigma^-1]_ii) >= t`` (OBS saliency, population Hessian)
joint      per block the pattern ``S`` minimising ``Y_P' ([Sigma^-1]_PP)^-1 Y_P + t |S|``
oracle     ``sqrt(Sigma_ii) abs(b_i) >= t`` (single-weight ablation importance at ``beta*``)
random     each coordinate kept with probability ``keep``, independently
========== ============================================================================

``t`` solves ``sum_k (pi_k / B) sum_i P_k(i kept) = keep``. With ``update="obs"`` the kept
weights of each block then move by the population OBS update
``w_S <- Y_S + (Sigma_k)_SS^-1 (Sigma_k)_SP Y_P`` (``w_P <- 0``). Without retraining the
risk is ``sigma^2 + sum_k (pi_k / B) E[(w - b)' Sigma_k (w - b)]``; ``w = L_S Y`` is linear
in ``Y`` on each pattern, so the risk needs only ``P(S)``, ``E[Y 1{S}]``, ``E[Y Y' 1{S}]``
per pattern, from :mod:`asymptotics._rays` (accuracy there). For gaussian signal ``(b, Y)``
is jointly Gaussian and ``b = K Y + e`` with ``e`` independent of ``Y``; for fixed signal the
rules are even in ``Y`` so the sign ``s = +1`` may be fixed.

**Fresh-data refit** (``retrain="fresh"``, Section 10): the kept features of a block
absorb part of the dropped signal; the refit risk is the dense risk of the sub-block
spectrum ``(k, S)`` with weights ``pi_k P_k(S) |S| / B``, signal ``T_S b`` with
``T_S = [I, (Sigma_k)_SS^-1 (Sigma_k)_SP]`` and noise
``sigma^2 + sum_k (pi_k / B) sum_S tr(Sigma_{P|S} E[b_P b_P' 1{S}])``.

Example
-------
>>> import numpy as np
>>> from asymptotics import BlockSpectrum, pruned_risk
>>> spec = BlockSpectrum.correlated_pair(0.9, scale=5.0, signal=(1.0, 0.2))
>>> obd = pruned_risk(spec, 2.0, 0.5, keep=0.5, criterion="hessian")
>>> obs = pruned_risk(spec, 2.0, 0.5, keep=0.5, criterion="obs")      # one 2 x 2 type: same ranking
>>> bool(np.isclose(obd, obs, rtol=1e-12))
True
>>> upd = pruned_risk(spec, 2.0, 0.5, keep=0.5, criterion="joint", update="obs")
>>> bool(upd < obd)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from pruning_checks import check_choice, check_scalar

from ._rays import RayRule, patterns
from .checks import RiskCurve, check_keep_fraction, check_refit_ridge, check_retrain, check_update
from .fixed_point import ConvergenceError, FixedPointResult, check_problem, solve_atoms
from .thresholds import KEEP_VERIFY_RTOL, solve_thresholds

BLOCK_CRITERIA = ("magnitude", "hessian", "obs", "joint", "oracle", "random")
SEPARABLE = ("magnitude", "hessian", "obs", "oracle")
JOINT_RTOL = 1e-13          # joint threshold: kept fraction to this (relative)
JOINT_MAXITER = 200         # safeguarded Newton / bisection iterations (log multiplier)
JOINT_GRID = 96             # starting grid of log multipliers ...
JOINT_GRID_DECADES = (-30.0, 6.0)   # ... spanning these decades around the cost scale
JOINT_PROBE_DECADES = (-6.0, 2.0)   # first-pass adaptivity probes: cost scale x 10^(-6..2)
ADAPT_PROBES_JOINT = 24
JOINT_PROBE_RTOL = 1e-6     # first pass: multipliers only to place the adaptivity probes
DEGENERATE_RTOL = 1e-14     # a law whose covariance has eigenvalues below this (relative) is a point mass


@dataclass(frozen=True)
class BlockPrunedRiskResult(RiskCurve):
    """Everything the limit says about one pruning curve of a block spectrum.

    Attributes
    ----------
    keep : ndarray
        Kept fractions (as given).
    risk : ndarray
        Limiting test risk (noise included), same shape as ``keep``.
    threshold : ndarray
        ``t`` of the rule (score units for separable criteria, the multiplier for ``joint``;
        NaN for random).
    kept_fraction : ndarray, shape ``keep.shape + (K, B)``
        Probability that coordinate ``i`` of block type ``k`` is kept.
    pattern_probability : ndarray, shape ``keep.shape + (K, 2^B)``
        ``P_k(S)``; bit ``i`` of the pattern index is coordinate ``i`` kept.
    dense : FixedPointResult
    refit : tuple of FixedPointResult or None
    criterion, retrain, update : str
    refit_ridge : float
    iterations : int
        Threshold-solver iterations.
    keep_error : float
        Largest relative gap between the kept fraction reached and ``keep``.
    quadrature_keep_error : float
        Largest relative gap between ``keep`` and the kept fraction recomputed from the pattern
        integrals (a self-check of the quadrature; 0 where no quadrature is used).
    converged : bool
    """

    keep: np.ndarray
    risk: np.ndarray
    threshold: np.ndarray
    kept_fraction: np.ndarray
    pattern_probability: np.ndarray
    dense: FixedPointResult
    refit: tuple | None
    criterion: str
    retrain: str
    update: str
    refit_ridge: float
    iterations: int
    keep_error: float
    quadrature_keep_error: float
    converged: bool


def solve_block_fixed_point(spectrum, kappa, noise, ridge, init=0.0) -> FixedPointResult:
    """Fixed point of docs/theory.md Section 10 (per-block traces = the eigen-atoms of the blocks)."""
    if init != 0.0:
        raise ValueError(f"init == {init!r}: a gradient-descent initialization is not supported for a "
                         f"BlockSpectrum (docs/theory.md Section 10 covers init = 0); use init=0.0.")
    w, lam, m2 = spectrum.eigen_atoms()
    return solve_atoms(w, lam, m2, kappa, noise**2, ridge)


def _block_laws(spectrum, fp, kappa):
    """Per block type: ``A`` (K, B, B) and the noise covariance ``G`` (K, B, B) of ``Y``."""
    e, V = spectrum.eigenvalues, spectrum.eigenvectors
    tau = np.float64(fp.tau)
    frac = e / (e + tau)
    A = np.einsum("kij,kj,klj->kil", V, frac, V)
    G = (fp.rho2 / kappa) * np.einsum("kij,kj,klj->kil", V, frac / (e + tau), V)
    return A, 0.5 * (G + np.swapaxes(G, 1, 2))


def _weights(criterion, Sigma):
    """Separable score weights ``w_i`` (score ``w_i abs(X_i)``) per block type, shape (K, B)."""
    d = np.diagonal(Sigma, axis1=1, axis2=2)
    if criterion == "magnitude":
        return np.ones_like(d)
    if criterion == "obs":
        return 1.0 / np.sqrt(np.diagonal(np.linalg.inv(Sigma), axis1=1, axis2=2))
    return np.sqrt(d)                                   # hessian, oracle


def _cost_matrices(criterion, Sigma_k, w_k, kept):
    """``Q_S`` (2^B, B, B) of the rule ``min_S X' Q_S X + lam |S|`` for one block type."""
    B = Sigma_k.shape[0]
    Q = np.zeros((kept.shape[0], B, B))
    if criterion == "joint":
        inv = np.linalg.inv(Sigma_k)
        for s, k in enumerate(kept):
            P = np.flatnonzero(~k)
            if P.size:
                Q[s][np.ix_(P, P)] = np.linalg.inv(inv[np.ix_(P, P)])
    else:
        for s, k in enumerate(kept):
            Q[s] = np.diag(w_k**2 * ~k)
    return Q


def _update_matrices(Sigma_k, kept, update):
    """``L_S`` (2^B, B, B): the pruned (and updated) block is ``w = L_S Y``."""
    NS, B = kept.shape
    L = np.zeros((NS, B, B))
    for s, k in enumerate(kept):
        S, P = np.flatnonzero(k), np.flatnonzero(~k)
        L[s][S, S] = 1.0
        if update == "obs" and S.size and P.size:
            L[s][np.ix_(S, P)] = np.linalg.solve(Sigma_k[np.ix_(S, S)], Sigma_k[np.ix_(S, P)])
    return L


def _check_law(G, what, k):
    e = np.linalg.eigvalsh(G)
    if not e.min() > DEGENERATE_RTOL * max(e.max(), np.finfo(float).tiny):
        raise ValueError(f"the law of the {what} of block type {k} is degenerate (covariance eigenvalues "
                         f"{e.min():.3g}..{e.max():.3g}); point-mass block laws are not supported (use noise > 0 "
                         f"or ridge > 0, and a non-singular gaussian signal covariance for oracle pruning).")


def _selection_laws(spectrum, criterion, A, G):
    """Mean and covariance of the selection variable per block type (``Y``, or ``b`` for oracle)."""
    K, B = spectrum.n_types, spectrum.block_size
    S = spectrum.signal_second_moment
    if criterion == "oracle":
        return np.zeros((K, B)), S
    if spectrum.signal_dist == "gaussian":
        return np.zeros((K, B)), np.einsum("kij,kjl,kml->kim", A, S, A) + G
    return np.einsum("kij,kj->ki", A, spectrum.signal), G


def _marginal_thresholds(alpha, spectrum, criterion, mX, GX):
    """Thresholds of a separable criterion from the exact marginal laws; kept probabilities (n, K, B)."""
    K, B = spectrum.n_types, spectrum.block_size
    w = _weights(criterion, spectrum.covariances)
    pi = np.repeat(spectrum.weights / B, B)
    if criterion == "oracle" and spectrum.signal_dist == "fixed":
        Am, Cm = (w * np.abs(spectrum.signal)).ravel(), np.zeros(K * B)
    else:
        Am, Cm = (w * mX).ravel(), (w * np.sqrt(np.diagonal(GX, axis1=1, axis2=2))).ravel()
    th = solve_thresholds(alpha, Am, Cm, pi)
    q = np.empty((alpha.size, K * B))
    cont = Cm > 0
    if cont.any():
        U, Lo = th.z_values(np.abs(Am[cont]), Cm[cont])
        q[:, cont] = ndtr(-U) + ndtr(Lo)
    if (~cont).any():
        q[:, ~cont] = th.point_kept(np.abs(Am[~cont]))
    q[alpha >= 1.0] = 1.0
    return th, q.reshape(alpha.size, K, B), w


def _solve_joint(alpha, rules, weights, B, rtol=JOINT_RTOL):
    """Multipliers ``lam`` with ``sum_k weights_k kept_k(lam) / B = alpha`` (safeguarded Newton in log lam)."""
    n = alpha.size
    lam = np.zeros(n)
    todo = np.flatnonzero(alpha < 1.0)
    if not todo.size:
        return lam, 0

    def total(l, density=False):
        vals = [r.kept(l, density) for r in rules]
        if not density:
            return sum(wk * v for wk, v in zip(weights, vals)) / B
        return (sum(wk * v[0] for wk, v in zip(weights, vals)) / B,
                sum(wk * v[1] for wk, v in zip(weights, vals)) / B)

    scale = max(r.scale for r in rules)
    grid = np.log(scale) + np.log(10.0) * np.linspace(*JOINT_GRID_DECADES, JOINT_GRID)
    g = total(np.exp(grid))
    a = alpha[todo]
    if not (g[0] > a.max() and g[-1] < a.min()):
        raise ConvergenceError(f"joint threshold: the kept fraction {g[0]!r}..{g[-1]!r} over the multiplier grid "
                               f"does not bracket keep {a.min()!r}..{a.max()!r}.")
    j = np.searchsorted(-g, -a)                        # g[j-1] > a >= g[j]
    lo, hi = grid[j - 1], grid[j]
    x = lo + (g[j - 1] - a) / (g[j - 1] - g[j]) * (hi - lo)
    active = np.ones(a.size, bool)
    its = 0
    for its in range(1, JOINT_MAXITER + 1):
        idx = np.flatnonzero(active)
        f, d = total(np.exp(x[idx]), density=True)
        err = f - a[idx]
        ok = np.abs(err) <= rtol * a[idx]
        right = err > 0                                # too much kept: increase lam
        lo[idx] = np.where(right & ~ok, x[idx], lo[idx])
        hi[idx] = np.where(~right & ~ok, x[idx], hi[idx])
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = x[idx] - err / d                  # d = dkept/dlog lam <= 0
        mid = 0.5 * (lo[idx] + hi[idx])
        use = np.isfinite(newton) & (newton > lo[idx]) & (newton < hi[idx])
        new = np.where(use, newton, mid)
        stuck = ~ok & (hi[idx] - lo[idx] <= 4 * np.spacing(np.abs(x[idx]) + 1.0))
        x[idx] = np.where(ok, x[idx], new)
        active[idx[ok | stuck]] = False
        if not active.any():
            break
    else:
        raise ConvergenceError(f"joint threshold did not converge in {JOINT_MAXITER} iterations")
    lam[todo] = np.exp(x)
    return lam, its


def _independent_patterns(q, kept):
    """``P(S)`` (n, NS) of independent coordinates kept with probabilities ``q`` (n, B)."""
    return np.prod(np.where(kept[None], q[:, None, :], 1.0 - q[:, None, :]), axis=2)


def solve_pruned_blocks(spectrum, kappa, noise, *, keep, criterion="magnitude", ridge=0.0, retrain="none",
                        update="none", init=0.0, refit_ridge=None) -> BlockPrunedRiskResult:
    """Pruned risk of a :class:`BlockSpectrum` (see :func:`asymptotics.pruned_risk` for the parameters)."""
    kappa, noise, ridge = check_problem(spectrum, kappa, noise, ridge)
    keep_arr, _ = check_keep_fraction(keep)
    check_choice(criterion, "criterion", BLOCK_CRITERIA)
    retrain = check_retrain(retrain)
    update = check_update(update)
    init = check_scalar(init, "init", low=0)
    refit_ridge = check_refit_ridge(refit_ridge, ridge, retrain)
    fp = solve_block_fixed_point(spectrum, kappa, noise, ridge, init)
    alpha = keep_arr.ravel()
    n, K, B = alpha.size, spectrum.n_types, spectrum.block_size
    kept, sizes = patterns(B)
    NS = kept.shape[0]
    shape = keep_arr.shape
    if not np.isfinite(fp.rho2):
        if retrain == "fresh":
            raise ValueError(f"the dense fit is at the interpolation threshold (kappa == {kappa!r}, ridge == 0): "
                             f"a fresh refit of a BlockSpectrum needs a finite dense law; use ridge > 0.")
        nan = np.full(shape, np.nan)
        return BlockPrunedRiskResult(keep_arr, np.full(shape, np.inf), nan, np.full(shape + (K, B), np.nan),
                                     np.full(shape + (K, NS), np.nan), fp, None, criterion, retrain, update,
                                     refit_ridge, 0, 0.0, 0.0, bool(fp.converged))
    Sigma = spectrum.covariances
    A, G = _block_laws(spectrum, fp, kappa)
    mX, GX = _selection_laws(spectrum, criterion, A, G)
    S2 = spectrum.signal_second_moment
    gaussian = spectrum.signal_dist == "gaussian"
    pi = spectrum.weights
    threshold = np.full(n, np.nan)
    its = 0
    Pk = np.empty((n, K, NS))
    MYY = np.empty((n, K, NS, B, B))
    MYb = np.empty((n, K, NS, B, B))
    Mbb = np.empty((n, K, NS, B, B))
    independent = criterion == "random" or (criterion == "oracle" and not gaussian)
    q_exact = None
    if criterion in SEPARABLE:
        th, q_exact, w = _marginal_thresholds(alpha, spectrum, criterion, mX, GX)
        threshold, its = th.t.copy(), th.iterations
        lam = threshold**2
    elif criterion == "random":
        q_exact = np.broadcast_to(alpha[:, None, None], (n, K, B)).copy()
    rules = None
    if not independent:
        w = _weights(criterion, Sigma) if criterion != "joint" else np.ones((K, B))
        for k in range(K):
            _check_law(GX[k], "signal" if criterion == "oracle" else "fitted coefficients", k)
        Qs = [_cost_matrices(criterion, Sigma[k], w[k], kept) for k in range(K)]
        scale = [float(np.trace(Qs[k][0] @ (GX[k] + np.outer(mX[k], mX[k])))) for k in range(K)]   # E[X' Q_0 X]
        if criterion == "joint":
            # first pass adapted to a multiplier grid, second pass adapted to the multipliers found
            probe = max(scale) * np.logspace(*JOINT_PROBE_DECADES, ADAPT_PROBES_JOINT)
            rules = [RayRule(mX[k], GX[k], Qs[k], probe) for k in range(K)]
            for k, r in enumerate(rules):
                r.scale = scale[k]
            lam, _ = _solve_joint(alpha, rules, pi, B, rtol=JOINT_PROBE_RTOL)
            probe = lam
        else:
            probe = lam
        rules = [RayRule(mX[k], GX[k], Qs[k], probe) for k in range(K)]
        for k, r in enumerate(rules):                  # cost scale, places the multiplier grid
            r.scale = scale[k]
        if criterion == "joint":
            lam, its = _solve_joint(alpha, rules, pi, B)
            threshold = lam.copy()
    for k in range(K):
        if independent:
            P = _independent_patterns(q_exact[:, k], kept)
            Ebb = P[:, :, None, None] * S2[k][None, None]
            Pk[:, k], Mbb[:, k] = P, Ebb
            MYb[:, k] = np.einsum("ij,nsjl->nsil", A[k], Ebb)
            MYY[:, k] = np.einsum("ij,nsjl,ml->nsim", A[k], Ebb, A[k]) + P[:, :, None, None] * G[k][None, None]
            continue
        P, M1, M2 = rules[k].moments(lam)
        Pk[:, k] = P
        if criterion == "oracle":                      # selection on b ~ N(0, S)
            Mbb[:, k] = M2
            MYb[:, k] = np.einsum("ij,nsjl->nsil", A[k], M2)
            MYY[:, k] = np.einsum("ij,nsjl,ml->nsim", A[k], M2, A[k]) + P[:, :, None, None] * G[k][None, None]
        elif gaussian:                                 # b = Kg Y + e, e independent of Y
            Kg = np.linalg.solve(GX[k], A[k] @ S2[k]).T          # S A' V^-1 (V symmetric)
            R = S2[k] - Kg @ GX[k] @ Kg.T
            MYY[:, k] = M2
            MYb[:, k] = np.einsum("nsij,lj->nsil", M2, Kg)
            Mbb[:, k] = np.einsum("ij,nsjl,ml->nsim", Kg, M2, Kg) + P[:, :, None, None] * R[None, None]
        else:
            b = spectrum.signal[k]
            MYY[:, k] = M2
            MYb[:, k] = M1[..., :, None] * b[None, None, None, :]
            Mbb[:, k] = P[:, :, None, None] * np.outer(b, b)[None, None]
    # kept probabilities per coordinate, and the quadrature's own kept fraction
    q_quad = np.einsum("nks,si->nki", Pk, kept.astype(float))
    q = q_exact if q_exact is not None else q_quad
    goal = alpha
    got = np.einsum("nki,k->n", q, pi) / B
    keep_error = float(np.max(np.abs(got - goal) / goal))
    quad_error = float(np.max(np.abs(np.einsum("nki,k->n", q_quad, pi) / B - goal) / goal))
    if keep_error > KEEP_VERIFY_RTOL:
        raise ConvergenceError(f"pruning threshold: kept fraction off by {keep_error:.3g} (relative).")
    # risk without retraining
    Lm = np.stack([_update_matrices(Sigma[k], kept, update) for k in range(K)])       # (K, NS, B, B)
    t1 = np.einsum("kab,ksbc,nkscd,ksad->nk", Sigma, Lm, MYY, Lm, optimize=True)
    t2 = np.einsum("kab,ksbc,nksca->nk", Sigma, Lm, MYb, optimize=True)
    t3 = np.einsum("kab,nksba->nk", Sigma, Mbb, optimize=True)
    risk_k = t1 - 2 * t2 + t3
    refit = None
    if retrain == "none":
        risk = noise**2 + risk_k @ (pi / B)
    else:
        refit, risk = _fresh(spectrum, kappa, noise, refit_ridge, kept, Pk, Mbb)
    converged = bool(fp.converged and (refit is None or all(f.converged for f in refit)))
    return BlockPrunedRiskResult(keep_arr, risk.reshape(shape), threshold.reshape(shape), q.reshape(shape + (K, B)),
                                 Pk.reshape(shape + (K, NS)), fp, refit, criterion, retrain, update, refit_ridge,
                                 int(its), keep_error, quad_error, converged)


def _fresh(spectrum, kappa, noise, refit_ridge, kept, Pk, Mbb):
    """Fresh-data refit of docs/theory.md Section 10: returns (fixed points, risks)."""
    Sigma, pi = spectrum.covariances, spectrum.weights
    n, K, NS = Pk.shape
    B = spectrum.block_size
    atoms_lam, atoms_w, atoms_m = [], [], []
    extra = np.zeros(n)
    for k in range(K):
        for s in range(NS):
            S, P = np.flatnonzero(kept[s]), np.flatnonzero(~kept[s])
            M = Mbb[:, k, s]                               # (n, B, B)
            if P.size:
                if S.size:
                    X = np.linalg.solve(Sigma[k][np.ix_(S, S)], Sigma[k][np.ix_(S, P)])
                    cond = Sigma[k][np.ix_(P, P)] - Sigma[k][np.ix_(P, S)] @ X
                else:
                    cond = Sigma[k][np.ix_(P, P)]
                extra += (pi[k] / B) * np.einsum("ab,nba->n", cond, M[:, P][:, :, P])
            if not S.size:
                continue
            T = np.zeros((S.size, B))
            T[:, S] = np.eye(S.size)
            if P.size:
                T[:, P] = X
            e, V = np.linalg.eigh(Sigma[k][np.ix_(S, S)]) if S.size > 1 else (Sigma[k][np.ix_(S, S)][0], np.eye(1))
            TV = V.T @ T                                    # rows: eigen-directions of the sub-block
            second = np.einsum("ja,nab,jb->nj", TV, M, TV)  # E[(v' T b)^2 1{S}]
            P_S = Pk[:, k, s][:, None]
            atoms_lam.append(np.broadcast_to(e, (n, S.size)))
            atoms_w.append(np.broadcast_to((pi[k] / B) * P_S, (n, S.size)))
            atoms_m.append(np.divide(second, P_S, out=np.zeros_like(second), where=P_S > 0))
    lam = np.concatenate(atoms_lam, axis=1)
    wts = np.concatenate(atoms_w, axis=1)
    mom = np.maximum(np.concatenate(atoms_m, axis=1), 0.0)
    fps = tuple(solve_atoms(wts[i], lam[i], mom[i], kappa, noise**2 + max(extra[i], 0.0), refit_ridge)
                for i in range(n))
    return fps, np.array([f.rho2 for f in fps])
