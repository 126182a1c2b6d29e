"""Effective regularization and dense risk of ridge / min-norm (docs/theory.md Section 2).

With ``df(t) = (1/kappa) sum_k pi_k lam_k / (lam_k + t)`` the effective
regularization ``tau >= 0`` solves

    mu = tau (1 - df(tau))     if mu > 0 (unique root with df(tau) < 1),
    df(tau) = 1                if mu = 0 and kappa < 1 (minimum-norm interpolator),
    tau = 0                    if mu = 0 and kappa > 1 (OLS),

and, with ``d2 = (1/kappa) sum_k pi_k lam_k^2 / (lam_k + tau)^2`` and
``B0 = tau^2 sum_k pi_k lam_k E[b^2]_k / (lam_k + tau)^2``, the dense test
risk is ``rho^2 = (sigma^2 + B0) / (1 - d2)``. At ``kappa = 1, mu = 0`` it is
infinite.

The public :func:`asymptotics.solve_fixed_point` and :func:`asymptotics.dense_risk` (in
:mod:`asymptotics.api`) solve a :class:`Spectrum` here (:func:`solve_atoms`) and a
:class:`BlockSpectrum` through its eigen-atoms (:mod:`asymptotics.block_risk`).

Example
-------
>>> from asymptotics import Spectrum, dense_risk
>>> round(dense_risk(Spectrum.isotropic(1.0), kappa=2.0, noise=1.0), 12)  # 1 + gamma/(1-gamma)
2.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from pruning_checks import check_scalar
from .blocks import BlockSpectrum
from .spectrum import Spectrum

TAU_XTOL = 1e-300          # absolute tolerance of the tau root (effectively none)
TAU_RTOL = 4 * np.finfo(float).eps  # relative tolerance of the tau root
TAU_MAXITER = 500          # brentq (and geometric pre-bisection) iteration bound
NARROW_RATIO = 1e3         # brackets wider than this factor are first bisected geometrically
NARROW_FLOOR = 1e-300      # ... down to this lower end (a root below it is found by brentq on [0, 1e-297])
INTERPOLATION_RTOL = 1e-9  # |kappa - kept mass| below this (relative) is the interpolation threshold
FIXED_POINT_CHECK_RTOL = 1e-9   # the equation must change sign within this relative distance of tau
NOISE_MAX = 1e150          # noise**2 and the risks must stay representable doubles


class ConvergenceError(RuntimeError):
    """A root finder did not converge within its iteration bound."""


@dataclass(frozen=True)
class FixedPointResult:
    """Solution of the fixed-point equations.

    Attributes
    ----------
    tau : float
        Effective regularization.
    rho2 : float
        Dense test risk ``E(y - x.b_hat)^2`` (noise included); ``inf`` at the
        interpolation threshold.
    noise_var : float
        ``sigma^2`` used (the effective noise, for refits).
    d2 : float
        ``(1/kappa) sum pi lam^2/(lam+tau)^2`` (variance amplification is ``1/(1-d2)``).
    bias : float
        ``B0``.
    iterations : int
        Root-finder iterations (0 when ``tau`` is known in closed form).
    converged : bool
        The fixed-point equation changes sign within a relative ``FIXED_POINT_CHECK_RTOL`` of ``tau``
        (checked after solving, not assumed).
    """

    tau: float
    rho2: float
    noise_var: float
    d2: float
    bias: float
    iterations: int
    converged: bool

    @property
    def excess_risk(self) -> float:
        """``rho^2 - sigma^2``."""
        return self.rho2 - self.noise_var


def _one_minus_df(weights, lam, kappa, s):
    """``T -> 1 - df(T/s)``, in the form that does not cancel.

    Near the interpolation threshold (``kappa`` not small against the mass) it is
    ``((kappa - mass) + sum_k pi_k T/(s lam_k + T))/kappa``, whose terms do not cancel at small ``T``;
    for small ``kappa`` it is ``1 - (s/kappa) sum_k pi_k lam_k/(s lam_k + T)`` directly.
    """
    mass = float(weights.sum())
    gap = kappa - mass
    ratio = s / kappa
    small = kappa <= 0.5 * mass

    def omd(T):
        if T == 0.0:
            return gap / kappa
        with np.errstate(over="ignore", under="ignore", divide="ignore"):
            if small:
                return 1.0 - ratio * float(np.dot(weights, lam / (s * lam + T)))
            return (gap + float(np.dot(weights, T / (s * lam + T)))) / kappa
    return omd


def _scaled_equation(weights, lam, kappa, ridge):
    """The fixed-point equation as an increasing function ``F`` of ``T = s tau``, ``s = min(kappa, 1)``.

    ``F = 1 - df`` for ``ridge = 0``; ``F = T (1 - df)/(s ridge) - 1`` (``tau (1 - df) = ridge``, scaled
    to order one so that tiny ridges do not push it into subnormal numbers) for ``ridge > 0``.
    For small ``kappa``, where ``tau`` grows like ``1/kappa``, ``T`` stays well scaled. Returns ``(F, s)``.
    """
    s = min(kappa, 1.0)
    omd = _one_minus_df(weights, lam, kappa, s)
    if ridge == 0.0:
        return omd, s
    scale = s * ridge

    def F(T):
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            v = np.float64(T) * omd(T) / scale
        return float(min(max(v, -1e300), 1e300)) - 1.0
    return F, s


def _narrow(F, lo, hi):
    """Shrink a bracket of an increasing ``F`` spanning many decades by geometric bisection
    (brentq works on a linear scale)."""
    for _ in range(TAU_MAXITER):
        lo_pos = max(lo, hi * 1e-300, NARROW_FLOOR)
        if hi <= NARROW_RATIO * lo_pos:
            break
        mid = float(np.sqrt(lo_pos) * np.sqrt(hi))
        if F(mid) < 0.0:
            lo = mid
        else:
            hi = mid
    return lo, hi


def _solve_tau(weights, lam, kappa, ridge):
    """Return ``(tau, iterations)`` for the atoms ``(weights, lam)`` (weights need not sum to 1)."""
    mass = float(weights.sum())
    if ridge == 0.0 and (kappa >= mass or _at_threshold(mass, kappa)):   # OLS side, tau = 0
        return 0.0, 0
    if ridge > 0.0 and min(kappa, 1.0) * ridge == 0.0:      # ridge below what T = s tau can resolve
        return _solve_tau(weights, lam, kappa, 0.0) if kappa < mass else (0.0, 0)
    F, s = _scaled_equation(weights, lam, kappa, ridge)
    lo = 0.0
    if ridge > 0.0 and kappa < mass:
        tau0, _ = _solve_tau(weights, lam, kappa, 0.0)     # F increases for tau >= tau0
        lo = s * tau0
        if F(lo) >= 0.0:                                   # ridge below the rounding at tau0
            return tau0, 0
    hi = max(2.0 * lo, s * (float(lam.max()) + ridge))
    for _ in range(TAU_MAXITER):                           # grow the bracket until F(hi) > 0
        if not np.isfinite(hi) or F(hi) > 0.0:
            break
        hi *= 4.0
    if not np.isfinite(hi) or not F(hi) > 0.0:
        raise ValueError(f"kappa == {kappa!r} with ridge == {ridge!r}: the effective regularization is not "
                         f"representable for this spectrum; use a less extreme kappa or ridge.")
    lo, hi = _narrow(F, lo, hi)
    T, info = brentq(F, lo, hi, xtol=TAU_XTOL, rtol=TAU_RTOL, maxiter=TAU_MAXITER,
                     full_output=True, disp=False)
    if not info.converged:
        raise ConvergenceError(f"tau did not converge in {TAU_MAXITER} iterations "
                               f"(kappa={kappa}, ridge={ridge}): {info.flag}")
    with np.errstate(over="ignore"):
        tau = float(np.float64(T) / s)
    if not np.isfinite(tau):
        raise ValueError(f"kappa == {kappa!r} is too small for this spectrum: the effective regularization "
                         f"tau = T/kappa overflows (T = {T!r}).")
    return tau, int(info.iterations)


def _at_threshold(mass, kappa):
    return abs(kappa - mass) <= INTERPOLATION_RTOL * kappa


def is_min_norm(mass, kappa, ridge):
    """True for the minimum-norm interpolator (``ridge = 0`` and ``kappa`` below the atom mass): the
    only case where the gradient-descent initialization survives (docs/theory.md Section 8)."""
    return ridge == 0.0 and kappa < mass and not _at_threshold(mass, kappa)


def _root_checked(tau, weights, lam, kappa, ridge):
    """True if the fixed-point equation changes sign within a relative ``FIXED_POINT_CHECK_RTOL`` of
    ``tau`` (or ``tau = 0`` on the OLS side): the convergence flag, computed rather than assumed."""
    mass = float(weights.sum())
    if ridge > 0.0 and min(kappa, 1.0) * ridge == 0.0:       # solved as ridge = 0 (see _solve_tau)
        ridge = 0.0
    if ridge == 0.0 and not is_min_norm(mass, kappa, ridge):
        return tau == 0.0
    F, s = _scaled_equation(weights, lam, kappa, ridge)
    T = float(np.float64(tau) * s)
    lo, hi = F(T * (1 - FIXED_POINT_CHECK_RTOL)), F(T * (1 + FIXED_POINT_CHECK_RTOL))
    return bool(F(T) == 0.0 or lo * hi <= 0.0 or (ridge > 0.0 and T == s * _solve_tau(weights, lam, kappa, 0.0)[0]))


def solve_atoms(weights, lam, second_moment, kappa, noise_var, ridge, *, init=0.0) -> FixedPointResult:
    """Fixed point for raw atom arrays; ``weights`` may sum to less than one (refits).

    ``init`` is the scale ``s0`` of a gradient-descent start ``b0 ~ N(0, s0^2/p I)``; it enters ``B0``
    (as ``E[b^2] + s0^2``) only for the min-norm interpolator.
    """
    tau, its = _solve_tau(weights, lam, kappa, ridge)
    mass = float(weights.sum())
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        frac = lam / (lam + tau)
        shrunk = tau / (lam + tau)                     # tau^2 lam/(lam+tau)^2 = lam shrunk^2, no overflow
        d2 = float(np.dot(weights, frac**2)) / kappa
        if kappa <= 0.5 * mass:
            one_minus_d2 = 1.0 - d2
        else:   # 1 - d2 = ((kappa - mass) + sum pi (1 - frac^2))/kappa, free of cancellation near the threshold
            one_minus_d2 = ((kappa - mass) + float(np.dot(weights, shrunk * (1.0 + frac)))) / kappa
        s0 = init if is_min_norm(mass, kappa, ridge) else 0.0
        bias = float(np.dot(weights, lam * (second_moment + s0**2) * shrunk**2)) if tau > 0 else 0.0
        if ridge == 0.0 and _at_threshold(mass, kappa):
            rho2 = np.inf
        else:
            rho2 = (noise_var + bias) / one_minus_d2 if one_minus_d2 > 0.0 else np.inf
    if not (np.isfinite(tau) and np.isfinite(d2) and np.isfinite(bias) and not np.isnan(rho2)):
        raise ValueError(f"kappa == {kappa!r} with ridge == {ridge!r} is out of the representable range "
                         f"for this spectrum (tau = {tau!r}); use a less extreme kappa or ridge.")
    converged = _root_checked(tau, weights, lam, kappa, ridge)
    return FixedPointResult(tau, float(rho2), noise_var, d2, bias, its, bool(converged))


def check_problem(spectrum, kappa, noise, ridge):
    """Validate the common arguments; return ``(kappa, noise, ridge)`` as floats."""
    if not isinstance(spectrum, (Spectrum, BlockSpectrum)):
        raise TypeError(f"spectrum must be an asymptotics.Spectrum or BlockSpectrum, got {type(spectrum).__name__}.")
    kappa = check_scalar(kappa, "kappa", low=0, include_low=False)
    noise = check_scalar(noise, "noise", low=0)
    ridge = check_scalar(ridge, "ridge", low=0)
    if noise > NOISE_MAX:
        raise ValueError(f"noise == {noise!r}, must be <= {NOISE_MAX:g} (noise**2 and the risks overflow).")
    return kappa, noise, ridge


def check_init(init):
    """Validate the initialization scale ``s0`` (a float >= 0, small enough that ``s0**2`` is finite)."""
    init = check_scalar(init, "init", low=0)
    if init > NOISE_MAX:
        raise ValueError(f"init == {init!r}, must be <= {NOISE_MAX:g} (init**2 and the risks overflow).")
    return init
