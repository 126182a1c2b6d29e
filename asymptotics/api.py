"""The public entry points: a :class:`~asymptotics.Spectrum` (diagonal covariance) or a
:class:`~asymptotics.BlockSpectrum` (docs/theory.md Section 10) to the implementation that solves it.

:mod:`asymptotics.fixed_point` and :mod:`asymptotics.pruning` solve a Spectrum,
:mod:`asymptotics.block_risk` a BlockSpectrum; this module sits above all three, so that none of
them imports another's caller (imports go one way: ``api -> block_risk, pruning -> fixed_point``).

Example
-------
>>> from asymptotics import BlockSpectrum, Spectrum, dense_risk
>>> round(dense_risk(Spectrum.isotropic(1.0), kappa=2.0, noise=1.0), 12)
2.0
>>> spec = BlockSpectrum.correlated_pair(0.9, scale=5.0, signal=(1.0, 0.2))
>>> dense_risk(spec, kappa=2.0, noise=0.5) > 0.25
True
"""

from __future__ import annotations

import numpy as np

from .block_risk import solve_block_fixed_point, solve_pruned_blocks
from .blocks import BlockSpectrum
from .fixed_point import FixedPointResult, check_init, check_problem, solve_atoms
from .pruning import solve_pruned_diagonal


def solve_fixed_point(spectrum, kappa, noise, *, ridge=0.0, init=0.0) -> FixedPointResult:
    """Solve the fixed point of docs/theory.md Section 2.

    Parameters
    ----------
    spectrum : Spectrum or BlockSpectrum
        A block spectrum is solved through its eigen-atoms (per-block traces, docs/theory.md
        Section 10); ``init`` must then be 0 (``ValueError`` otherwise).
    kappa : float
        ``n / p > 0``.
    noise : float
        Label-noise standard deviation ``sigma >= 0``.
    ridge : float
        ``mu >= 0`` of ``(1/n)||y - X b||^2 + mu ||b||^2``; 0 is OLS / min-norm.
    init : float
        Scale ``s0 >= 0`` of the gradient-descent initialization ``b0 ~ N(0, s0^2/p I)``
        (docs/theory.md Section 8). It matters only for the min-norm interpolator (``ridge = 0``,
        ``kappa < 1``), where ``B0`` uses ``E[b^2] + s0^2``.

    Returns
    -------
    FixedPointResult
    """
    kappa, noise, ridge = check_problem(spectrum, kappa, noise, ridge)
    init = check_init(init)
    if isinstance(spectrum, BlockSpectrum):
        return solve_block_fixed_point(spectrum, kappa, noise, ridge, init)
    return solve_atoms(spectrum.weights, spectrum.variances, spectrum.signal_second_moment,
                       kappa, noise**2, ridge, init=init)


def dense_risk(spectrum, kappa, noise, *, ridge=0.0, init=0.0) -> float:
    """Limiting test risk ``E(y - x.b_hat)^2`` of the dense estimator (noise included).

    See :func:`solve_fixed_point` for the parameters.
    """
    return solve_fixed_point(spectrum, kappa, noise, ridge=ridge, init=init).rho2


def solve_pruned(spectrum, kappa, noise, *, keep, criterion="magnitude", ridge=0.0, retrain="none",
                 init=0.0, refit_ridge=None, update="none"):
    """Limiting pruned test risk and its ingredients. See :func:`pruned_risk` for the parameters.

    Returns
    -------
    PrunedRiskResult
        Its ``kept_fraction`` is per atom (the fraction of each atom's coordinates kept, shape
        ``keep.shape + (K,)``); ``kept_fraction @ spectrum.weights`` is the overall kept fraction ``keep``.
        For a :class:`~asymptotics.BlockSpectrum`, a :class:`~asymptotics.block_risk.BlockPrunedRiskResult`.
    """
    if isinstance(spectrum, BlockSpectrum):
        return solve_pruned_blocks(spectrum, kappa, noise, keep=keep, criterion=criterion, ridge=ridge,
                                   retrain=retrain, update=update, init=init, refit_ridge=refit_ridge)
    return solve_pruned_diagonal(spectrum, kappa, noise, keep=keep, criterion=criterion, ridge=ridge,
                                 retrain=retrain, init=init, refit_ridge=refit_ridge, update=update)


def pruned_risk(spectrum, kappa, noise, *, keep, criterion="magnitude", ridge=0.0, retrain="none", init=0.0,
                refit_ridge=None, update="none"):
    """Limiting test risk ``E(y - x.b)^2`` of the pruned (and optionally refitted) estimator.

    Parameters
    ----------
    spectrum : Spectrum or BlockSpectrum
        A :class:`~asymptotics.BlockSpectrum` (correlated features in small blocks) is computed by
        :mod:`asymptotics.block_risk` (docs/theory.md Section 10); ``init`` must then be 0.
    kappa : float
        ``n / p > 0``.
    noise : float
        Label-noise standard deviation ``sigma >= 0``.
    keep : float or array_like of float
        Kept fraction(s) ``alpha`` in ``(0, 1]``. Integers (counts) are refused.
    criterion : {"magnitude", "hessian", "oracle", "random"}
        For a BlockSpectrum also ``"obs"`` (OBS saliency with the population Hessian) and ``"joint"``
        (exact combinatorial OBS per block), docs/theory.md Section 10.
    ridge : float
        ``mu >= 0`` of ``(1/n)||y - X b||^2 + mu ||b||^2`` (0: OLS / min-norm).
    retrain : {"none", "fresh"}
        Refit the same estimator on the kept support with fresh data (``None`` = ``"none"``).
    init : float
        Scale ``s0`` of the gradient-descent initialization ``b0 ~ N(0, s0^2/p I)``
        (docs/theory.md Section 8); it matters only for min-norm fits (``ridge = 0``, ``kappa < 1``).
    refit_ridge : float, optional
        Ridge of the fresh-data refit on the support (default: ``ridge``). With a separate value the
        mask comes from the fit at ``ridge`` and the refit uses ``refit_ridge`` (docs/theory.md Section 9).
    update : {"none", "obs"}
        ``"obs"``: the population OBS update inside each block after the mask (docs/theory.md
        Section 10); with a diagonal covariance (a Spectrum) it moves nothing. No effect with a
        fresh refit, which depends on the mask only.

    Returns
    -------
    float or ndarray
        A float for scalar ``keep``, else an array of ``keep``'s shape. ``inf``
        at the interpolation threshold.
    """
    res = solve_pruned(spectrum, kappa, noise, keep=keep, criterion=criterion, ridge=ridge, retrain=retrain,
                       init=init, refit_ridge=refit_ridge, update=update)
    return float(res.risk) if np.ndim(keep) == 0 else res.risk
