"""Temperature and load in the linear limit: the phase diagram of docs/theory.md Section 9.

Temperature is the ridge ``mu`` of the dense fit the mask is chosen from
(``mu -> 0``: OLS / min-norm; ``mu -> inf``: marginal screening, which orders
coordinates by ``abs(X'y/n)``, i.e. ``lam |beta*|`` plus noise); load is the
number of kept parameters per sample, ``keep / kappa``; the outcome is the
risk after a fresh-data refit on the support at a separate, fixed ridge
``mu_r`` (:func:`asymptotics.pruned_risk` with ``refit_ridge``), so that
temperature acts only through the mask.

:func:`phase_diagram` evaluates ``R(mu, load)`` on a grid (log-spaced ``mu``,
plus the limits ``mu = 0`` and ``mu -> inf``), the slope ``dR/dlog mu`` on the
grid by second-order differences in ``log mu``, and locates each sign change
of the slope along ``mu`` by root finding (:func:`scipy.optimize.brentq`) on a
central difference of step ``FD_STEP`` in ``log mu`` (the risk is smooth in
``log mu`` and computed to ~1e-12, so that step loses nothing).

Example
-------
>>> import numpy as np
>>> from asymptotics import Spectrum
>>> from asymptotics.phase import phase_diagram
>>> spec = Spectrum.two_level(variances=(25.0, 1.0), signal=(0.3, 1.0))
>>> pd = phase_diagram(spec, 2.0, 0.5, loads=np.linspace(0.05, 0.45, 5), ridges=np.geomspace(1e-3, 1e3, 13))
>>> pd.risk.shape
(13, 5)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from pruning_checks import check_scalar, check_vector
from .api import pruned_risk
from .pruning import CRITERIA
from .spectrum import Spectrum

FD_STEP = 1e-4              # step in log(mu) of the central-difference slope
SCREENING_FACTOR = 1e9      # mu = SCREENING_FACTOR * (max variance) stands for mu -> inf (error O(1e-9))
BOUNDARY_XTOL = 1e-10       # tolerance of the boundary in log(mu)
SLOPE_RTOL = 1e-8           # |dR/dlog mu| below this times R is treated as zero (rounding)


@dataclass(frozen=True)
class PhaseDiagram:
    """Risk over (temperature ``mu``) x (load ``keep/kappa``), and where its slope in ``mu`` flips.

    Attributes
    ----------
    ridges : ndarray (n_mu,)
        Mask ridges ``mu`` (log-spaced, positive).
    loads, keep : ndarray (n_load,)
        ``keep / kappa`` and the kept fractions.
    risk : ndarray (n_mu, n_load)
        Risk after the fresh refit at ``refit_ridge``, mask from the fit at ``mu``.
    risk_zero, risk_screening : ndarray (n_load,)
        The limits ``mu = 0`` (OLS / min-norm mask) and ``mu -> inf`` (screening mask).
    slope : ndarray (n_mu, n_load)
        ``dR/dlog(mu)`` on the grid (second-order differences in ``log mu``).
    boundary : list of (load, mu) tuples
        Every sign change of the slope along ``mu`` at a fixed load, located by root finding.
    best_ridge : ndarray (n_load,)
        ``mu`` of the smallest risk on the grid (0 and ``inf`` included).
    """

    ridges: np.ndarray
    loads: np.ndarray
    keep: np.ndarray
    risk: np.ndarray
    risk_zero: np.ndarray
    risk_screening: np.ndarray
    slope: np.ndarray
    boundary: list
    best_ridge: np.ndarray
    kappa: float
    criterion: str
    refit_ridge: float

    @property
    def temperature_helps(self) -> np.ndarray:
        """``risk_screening < risk_zero`` per load: does the hottest mask beat the coldest one?"""
        return self.risk_screening < self.risk_zero


def _risk(spectrum, kappa, noise, keep, ridge, criterion, refit_ridge, init):
    return pruned_risk(spectrum, kappa, noise, keep=keep, criterion=criterion, ridge=ridge, retrain="fresh",
                       refit_ridge=refit_ridge, init=init)


def phase_diagram(spectrum, kappa, noise, *, loads, ridges=None, criterion="magnitude", refit_ridge=0.0,
                  init=0.0) -> PhaseDiagram:
    """Risk of a fresh refit over mask ridge x load, the sign of ``dR/dmu`` and its flip boundary.

    Parameters
    ----------
    spectrum : Spectrum
    kappa : float
        ``n / p``.
    noise : float
        Label-noise standard deviation.
    loads : array_like of float
        ``keep / kappa`` values; ``keep = load * kappa`` must lie in (0, 1].
    ridges : array_like of float, optional
        Positive mask ridges (default: 100 log-spaced values from 1e-4 to 1e4).
    criterion : {"magnitude", "hessian", "oracle", "random"}
        Oracle and random masks do not depend on ``mu`` (a flat diagram; useful as controls).
    refit_ridge : float
        Ridge ``mu_r`` of the refit (fixed across the diagram).
    init : float
        Initialization scale of gradient descent (Section 8).
    """
    if not isinstance(spectrum, Spectrum):
        raise TypeError(f"spectrum must be an asymptotics.Spectrum, got {type(spectrum).__name__}.")
    kappa = check_scalar(kappa, "kappa", low=0, include_low=False)
    loads = check_vector(loads, "loads", positive=True)
    keep = loads * kappa
    if (keep > 1).any():
        i = int(np.flatnonzero(keep > 1)[0])
        raise ValueError(f"loads[{i}] == {loads[i]}, must be <= 1/kappa = {1 / kappa} (keep = load * kappa <= 1).")
    ridges = np.geomspace(1e-4, 1e4, 100) if ridges is None else check_vector(ridges, "ridges", positive=True)
    if criterion not in CRITERIA:
        raise ValueError(f"criterion == {criterion!r}, must be one of {', '.join(map(repr, CRITERIA))}.")
    ridges = np.sort(ridges)
    args = (criterion, refit_ridge, init)
    risk = np.array([_risk(spectrum, kappa, noise, keep, mu, *args) for mu in ridges])
    # the map: second-order differences on the log grid; the boundary: root finding on the
    # central difference of step FD_STEP at any mu (below)
    slope = np.gradient(risk, np.log(ridges), axis=0) if ridges.size > 1 else np.zeros_like(risk)
    risk_zero = _risk(spectrum, kappa, noise, keep, 0.0, *args)
    mu_inf = SCREENING_FACTOR * float(spectrum.variances.max()) * max(1.0, 1.0 / kappa)
    risk_screening = _risk(spectrum, kappa, noise, keep, mu_inf, *args)
    boundary = []
    # slopes below SLOPE_RTOL * risk are rounding (e.g. the flat screening end): no sign there
    sign = np.where(np.abs(slope) > SLOPE_RTOL * risk, np.sign(slope), 0.0)
    logs = np.log(ridges)
    for j in range(loads.size):
        f = lambda lm: float((_risk(spectrum, kappa, noise, keep[j], np.exp(lm + FD_STEP), *args)
                              - _risk(spectrum, kappa, noise, keep[j], np.exp(lm - FD_STEP), *args))
                             / (2 * FD_STEP))
        for i in np.flatnonzero(sign[:-1, j] * sign[1:, j] < 0):
            lo, hi = max(i - 1, 0), min(i + 2, ridges.size - 1)
            a, b = (i, i + 1) if f(logs[i]) * f(logs[i + 1]) < 0 else (lo, hi)
            if f(logs[a]) * f(logs[b]) >= 0:
                continue                                    # no resolvable sign change at this step
            lm = brentq(f, logs[a], logs[b], xtol=BOUNDARY_XTOL)
            boundary.append((float(loads[j]), float(np.exp(lm))))
    all_mu = np.concatenate([[0.0], ridges, [np.inf]])
    all_risk = np.vstack([risk_zero, risk, risk_screening])
    best_ridge = all_mu[np.argmin(all_risk, axis=0)]
    return PhaseDiagram(ridges, loads, keep, risk, risk_zero, risk_screening, slope, boundary, best_ridge,
                        kappa, criterion, float(refit_ridge))
