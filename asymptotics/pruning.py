"""Limiting test risk after pruning, with and without retraining (THEORY.md Sections 3-4).

In atom ``k`` the ridge / min-norm coordinate is ``Y = sqrt(p) b_hat = a + c g``
with ``a = lam b/(lam + tau)`` and ``c = sqrt(lam rho^2/kappa)/(lam + tau)``.
Keeping a fraction ``alpha`` of coordinates by the largest score

========== ==============================
magnitude  ``abs(Y)``
hessian    ``sqrt(lam) abs(Y)``  (OBD)
oracle     ``sqrt(lam) abs(b)``  (true importance, data independent)
random     uniform
========== ==============================

keeps ``{score >= t}`` with ``t`` solving ``sum_k pi_k P_k(kept) = alpha``
(:mod:`asymptotics.thresholds`); the truncated-Gaussian moments come from the
sympy layer (:mod:`asymptotics.symbolic`). Without retraining the pruned test
risk is ``sigma^2 + sum_k pi_k lam_k E[(Y 1{kept} - b)^2]``. With a
**fresh-data** refit on the kept support the dropped signal acts as noise and
the refit risk is the dense risk of Section 2 for the atoms ``pi_k q_k``.

For gaussian signal ``(b, Y)`` is jointly Gaussian: ``Y ~ N(0, v)`` and
``b = (cov/v) Y + e`` with ``e`` independent of ``Y``, which gives
``E[b Y 1{kept}]`` and ``E[b^2 1{kept}]`` in closed form.

Example
-------
>>> import numpy as np
>>> from asymptotics import Spectrum, pruned_risk
>>> spec = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.2))
>>> r_mag = pruned_risk(spec, kappa=2.0, noise=0.5, keep=0.5, criterion="magnitude")
>>> r_hes = pruned_risk(spec, kappa=2.0, noise=0.5, keep=0.5, criterion="hessian")
>>> bool(r_hes < r_mag)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pruning_checks import check_choice, check_keep
from .fixed_point import FixedPointResult, check_problem, solve_atoms
from .symbolic import truncated_moments
from .thresholds import _blocks, solve_thresholds

CRITERIA = ("magnitude", "hessian", "oracle", "random")
RETRAIN = (None, "fresh")


@dataclass(frozen=True)
class PrunedRiskResult:
    """Everything the limit says about one pruning curve.

    Attributes
    ----------
    keep : ndarray
        Kept fractions (as given).
    risk : ndarray
        Limiting test risk after pruning (and refitting if ``retrain``), same shape as ``keep``.
    threshold : ndarray
        Score threshold ``t`` (``sqrt(p)`` units; NaN for random pruning).
    kept_fraction : ndarray, shape ``keep.shape + (K,)``
        Fraction ``q_k`` of atom ``k`` that is kept.
    dense : FixedPointResult
        The unpruned estimator.
    refit : tuple of FixedPointResult or None
        Fixed point of each fresh-data refit.
    criterion, retrain : str, str or None
    iterations : int
        Largest threshold-solver iteration count.
    converged : bool
    """

    keep: np.ndarray
    risk: np.ndarray
    threshold: np.ndarray
    kept_fraction: np.ndarray
    dense: FixedPointResult
    refit: tuple | None
    criterion: str
    retrain: str | None
    iterations: int
    converged: bool

    @property
    def excess_risk(self) -> np.ndarray:
        """``risk - sigma^2``."""
        return self.risk - self.dense.noise_var


def _per_atom(moments, alpha, spectrum, criterion, fp, kappa):
    """Return ``(q, r, s, t, iterations)`` over ``(n_alpha, K)``.

    ``q`` kept fraction, ``r = E[(Y 1{kept} - b)^2]``, ``s = E[b^2 1{kept}]``.
    """
    lam, b2 = spectrum.variances, spectrum.signal_second_moment
    babs, pi = np.abs(spectrum.signal), spectrum.weights
    gaussian = spectrum.signal_dist == "gaussian"
    tau, rho2 = fp.tau, fp.rho2
    n, K = alpha.size, lam.size
    shrink = lam / (lam + tau)
    if np.isfinite(rho2):
        noise_sd = np.sqrt(lam * rho2 / kappa) / (lam + tau)
        err2 = (tau**2 * b2 + lam * rho2 / kappa) / (lam + tau) ** 2     # E[(Y - b)^2]
    else:                                     # interpolation threshold: only the direction of c matters
        noise_sd, err2 = np.sqrt(lam) / (lam + tau), np.full(K, np.inf)
    if gaussian:
        cov = shrink * b2 if np.isfinite(rho2) else np.zeros(K)
        a, c = np.zeros(K), np.sqrt(shrink**2 * b2 + noise_sd**2) if np.isfinite(rho2) else noise_sd
    else:
        cov = None
        a, c = (shrink * babs if np.isfinite(rho2) else np.zeros(K)), noise_sd

    if criterion == "random":
        q = np.broadcast_to(alpha[:, None], (n, K))
        s = q * b2
        return q, q * err2 + (1 - q) * b2, s, np.full(n, np.nan), 0

    if criterion == "oracle":
        w_score = np.sqrt(lam) * babs
        A, C = (np.zeros(K), w_score) if gaussian else (w_score, np.zeros(K))
    else:
        w = np.ones(K) if criterion == "magnitude" else np.sqrt(lam)
        A, C = w * a, w * c
    th = solve_thresholds(alpha, A, C, pi)

    q, m1, m2 = (np.empty((n, K)) for _ in range(3))   # moments of the score law's Y
    cont = C > 0
    point = ~cont
    if point.any():
        qp = th.point_kept(np.abs(A[point]))
        q[:, point] = qp
        y = a[point] if criterion != "oracle" else np.zeros(point.sum())
        m1[:, point], m2[:, point] = qp * y, qp * y**2
    if cont.any():
        # Y-law of the thresholded variable: (a, c) for magnitude/hessian; S = sqrt(lam)|b| s for oracle
        ya, yc = (np.zeros(K), C) if criterion == "oracle" else (a, c)
        scale = C[cont] / yc[cont]                           # score = scale * |Y|
        for sl in _blocks(n, int(cont.sum())):
            u = th.t[sl, None] / scale
            U = (u - ya[cont]) / yc[cont]
            L = (-u - ya[cont]) / yc[cont]
            q[sl, cont], m1[sl, cont], m2[sl, cont] = moments(ya[cont], yc[cont], U, L)

    if criterion == "oracle":
        # kept set depends on b only; given b the noise part of Y is independent of it
        s = np.where(cont, m2 / np.where(lam > 0, lam, 1.0), q * b2)  # E[b^2 1{kept}]
        r = (tau**2 * s + q * lam * rho2 / kappa) / (lam + tau) ** 2 + (b2 - s) if np.isfinite(rho2) \
            else np.where(q > 0, np.inf, b2)
        return q, r, s, th.t, th.iterations
    if not np.isfinite(rho2):                 # selection is independent of the signal in this limit
        return q, np.where(q > 0, np.inf, b2), q * b2, th.t, th.iterations
    if gaussian:
        beta = np.divide(cov, c**2, out=np.zeros(K), where=c > 0)        # b = beta Y + e
        resid = b2 - beta * cov
        r = m2 - 2 * beta * m2 + b2
        s = beta**2 * m2 + resid * q
    else:
        r = m2 - 2 * babs * m1 + b2
        s = q * b2
    return q, r, s, th.t, th.iterations


def solve_pruned(spectrum, kappa, noise, keep, criterion="magnitude", ridge=0.0, retrain=None) -> PrunedRiskResult:
    """Limiting pruned test risk and its ingredients. See :func:`pruned_risk` for the parameters."""
    kappa, noise, ridge = check_problem(spectrum, kappa, noise, ridge)
    keep_arr, _ = check_keep(keep)
    check_choice(criterion, "criterion", CRITERIA)
    check_choice(retrain, "retrain", RETRAIN)
    fp = solve_atoms(spectrum.weights, spectrum.variances, spectrum.signal_second_moment,
                     kappa, noise**2, ridge)
    alpha = keep_arr.ravel()
    K = spectrum.n_atoms
    lam, pi, b2 = spectrum.variances, spectrum.weights, spectrum.signal_second_moment
    q, r, s, t, its = _per_atom(truncated_moments, alpha, spectrum, criterion, fp, kappa)
    refit = None
    if retrain is None:
        risk = noise**2 + (r * lam) @ pi if np.isfinite(fp.rho2) else np.full(alpha.size, np.inf)
    else:
        refit = []
        for i in range(alpha.size):
            kept_w = pi * q[i]
            kept_m = np.divide(s[i], q[i], out=np.zeros(K), where=q[i] > 0)
            sigma_s2 = noise**2 + float(np.dot(pi * lam, b2 - s[i]))
            refit.append(solve_atoms(kept_w, lam, kept_m, kappa, sigma_s2, ridge))
        risk = np.array([f.rho2 for f in refit])
        refit = tuple(refit)
    shape = keep_arr.shape
    return PrunedRiskResult(keep_arr, risk.reshape(shape), t.reshape(shape), q.reshape(shape + (K,)),
                            fp, refit, criterion, retrain, its, True)


def pruned_risk(spectrum, kappa, noise, keep, criterion="magnitude", ridge=0.0, retrain=None):
    """Limiting test risk ``E(y - x.b)^2`` of the pruned (and optionally refitted) estimator.

    Parameters
    ----------
    spectrum : Spectrum
    kappa : float
        ``n / p > 0``.
    noise : float
        Label-noise standard deviation ``sigma >= 0``.
    keep : float or array_like
        Kept fraction(s) ``alpha`` in ``(0, 1]``.
    criterion : {"magnitude", "hessian", "oracle", "random"}
    ridge : float
        ``mu >= 0`` of ``(1/n)||y - X b||^2 + mu ||b||^2`` (0: OLS / min-norm).
    retrain : {None, "fresh"}
        Refit the same estimator on the kept support with fresh data.

    Returns
    -------
    float or ndarray
        A float for scalar ``keep``, else an array of ``keep``'s shape. ``inf``
        at the interpolation threshold.
    """
    res = solve_pruned(spectrum, kappa, noise, keep, criterion, ridge, retrain)
    return float(res.risk) if np.ndim(keep) == 0 else res.risk
