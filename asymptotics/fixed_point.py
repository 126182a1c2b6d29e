"""Effective regularization and dense risk of ridge / min-norm (THEORY.md Section 2).

With ``df(t) = (1/kappa) sum_k pi_k lam_k / (lam_k + t)`` the effective
regularization ``tau >= 0`` solves

    mu = tau (1 - df(tau))     if mu > 0 (unique root with df(tau) < 1),
    df(tau) = 1                if mu = 0 and kappa < 1 (minimum-norm interpolator),
    tau = 0                    if mu = 0 and kappa > 1 (OLS),

and, with ``d2 = (1/kappa) sum_k pi_k lam_k^2 / (lam_k + tau)^2`` and
``B0 = tau^2 sum_k pi_k lam_k E[b^2]_k / (lam_k + tau)^2``, the dense test
risk is ``rho^2 = (sigma^2 + B0) / (1 - d2)``. At ``kappa = 1, mu = 0`` it is
infinite.

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
from .spectrum import Spectrum

TAU_XTOL = 1e-300          # absolute tolerance of the tau root (effectively none)
TAU_RTOL = 4 * np.finfo(float).eps  # relative tolerance of the tau root
TAU_MAXITER = 500          # brentq iteration bound
INTERPOLATION_RTOL = 1e-9  # |kappa - kept mass| below this (relative) is the interpolation threshold


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


def _df(tau, weights, lam, kappa):
    return float(np.dot(weights, lam / (lam + tau))) / kappa


def _solve_tau(weights, lam, kappa, ridge):
    """Return ``(tau, iterations)`` for the atoms ``(weights, lam)`` (weights need not sum to 1)."""
    mass = float(weights.sum())
    if ridge == 0.0:
        if kappa >= mass or _at_threshold(mass, kappa):          # OLS side (kappa == mass is the threshold, tau = 0)
            return 0.0, 0
        f = lambda t: _df(t, weights, lam, kappa) - 1.0
        hi = 2.0 * float(np.dot(weights, lam)) / kappa
    else:
        f = lambda t: t * (1.0 - _df(t, weights, lam, kappa)) - ridge
        hi = ridge + float(np.dot(weights, lam)) / kappa
    lo = 0.0
    if ridge != 0.0 and kappa < mass:
        lo, _ = _solve_tau(weights, lam, kappa, 0.0)   # f increases for tau >= tau0
        if f(lo) >= 0.0:                                # ridge below the rounding of tau0 (1 - df)
            return lo, 0
    tau, info = brentq(f, lo, hi, xtol=TAU_XTOL, rtol=TAU_RTOL, maxiter=TAU_MAXITER,
                       full_output=True, disp=False)
    if not info.converged:
        raise ConvergenceError(f"tau did not converge in {TAU_MAXITER} iterations "
                               f"(kappa={kappa}, ridge={ridge}): {info.flag}")
    return float(tau), int(info.iterations)


def _at_threshold(mass, kappa):
    return abs(kappa - mass) <= INTERPOLATION_RTOL * kappa


def solve_atoms(weights, lam, second_moment, kappa, noise_var, ridge) -> FixedPointResult:
    """Fixed point for raw atom arrays; ``weights`` may sum to less than one (refits)."""
    tau, its = _solve_tau(weights, lam, kappa, ridge)
    d2 = float(np.dot(weights, (lam / (lam + tau)) ** 2)) / kappa
    bias = tau**2 * float(np.dot(weights, lam * second_moment / (lam + tau) ** 2))
    if ridge == 0.0 and _at_threshold(float(weights.sum()), kappa):
        rho2 = np.inf
    else:
        rho2 = (noise_var + bias) / (1.0 - d2) if d2 < 1.0 else np.inf
    return FixedPointResult(tau, float(rho2), noise_var, d2, bias, its, True)


def check_problem(spectrum, kappa, noise, ridge):
    """Validate the common arguments; return ``(kappa, noise, ridge)`` as floats."""
    if not isinstance(spectrum, Spectrum):
        raise TypeError(f"spectrum must be an asymptotics.Spectrum, got {type(spectrum).__name__}.")
    kappa = check_scalar(kappa, "kappa", low=0, include_low=False)
    noise = check_scalar(noise, "noise", low=0)
    ridge = check_scalar(ridge, "ridge", low=0)
    return kappa, noise, ridge


def solve_fixed_point(spectrum, kappa, noise, ridge=0.0) -> FixedPointResult:
    """Solve the fixed point of THEORY.md Section 2.

    Parameters
    ----------
    spectrum : Spectrum
    kappa : float
        ``n / p > 0``.
    noise : float
        Label-noise standard deviation ``sigma >= 0``.
    ridge : float
        ``mu >= 0`` of ``(1/n)||y - X b||^2 + mu ||b||^2``; 0 is OLS / min-norm.

    Returns
    -------
    FixedPointResult
    """
    kappa, noise, ridge = check_problem(spectrum, kappa, noise, ridge)
    return solve_atoms(spectrum.weights, spectrum.variances, spectrum.signal_second_moment,
                       kappa, noise**2, ridge)


def dense_risk(spectrum, kappa, noise, ridge=0.0) -> float:
    """Limiting test risk ``E(y - x.b_hat)^2`` of the dense estimator (noise included)."""
    return solve_fixed_point(spectrum, kappa, noise, ridge).rho2
