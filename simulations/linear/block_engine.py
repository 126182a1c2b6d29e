"""Monte Carlo of pruned linear models with block-diagonal designs (docs/theory.md Section 10 at finite ``p``).

:func:`simulations.monte_carlo` comes here with an ``asymptotics.BlockSpectrum``: ``p = m B``
coordinates in ``m`` blocks (block type ``k`` gets ``atom_counts(weights, m)[k]`` blocks, types in
order; the true weights are redrawn every trial, one sign per block or ``N(0, S_k)`` per block), the
trial steps of :mod:`simulations.linear.block_kernels`, and the mean and standard error of the exact
population risk ``sigma^2 + sum_j (b_j - beta*_j)' Sigma_j (b_j - beta*_j)``.

Criteria (docs/theory.md Section 10 at finite ``p``; ``H`` the training ``X'X/n`` or the population
``Sigma`` as ``hessian_scores`` says):

========== ==========================================================================
magnitude  ``abs(b_i)``
hessian    OBD ``1/2 H_ii b_i^2``
obs        the one-shot OBS saliency ``b_i^2 / (2 [H^-1]_ii)`` (the registry's woodfisher score;
           not the greedy ``obs`` of :func:`linear_models.prune`)
joint      :mod:`linear_models.joint` with ``block_size = B`` on the diagonal blocks of ``H^-1``
oracle     ``Sigma_ii beta*_i^2``
random     uniform, from the criterion's own stream
========== ==========================================================================

and any other per-weight criterion of the registry. ``update="obs"`` applies the population OBS
update inside each block to the kept weights (no effect on refits, which replace them). Streams,
reproducibility (bitwise for any ``n_jobs`` or Dask) and kept counts (compare with theory at
``keep_effective``) are those of :mod:`simulations.linear.engine`. With ``B = 1`` and diagonal
blocks a trial draws the diagonal engine's numbers and gives its risks bit for bit.
"""

from __future__ import annotations

import numpy as np

from linear_models import get_criterion
from linear_models.block_data import block_layout, signal_factors
from pruning_checks import check_choice, check_int, check_scalar

from ..runtime import workers
from . import block_kernels
from .common import (check_design, check_interpolation, check_keep_grid, check_modes, check_scales, criteria_names,
                     summarize, warn_collisions)

#: The theory's criteria for block spectra (``asymptotics.BLOCK_CRITERIA``), the default.
BLOCK_CRITERIA = ("magnitude", "hessian", "obs", "joint", "oracle", "random")


def _check_block_criteria(criteria):
    criteria = criteria_names(criteria, BLOCK_CRITERIA)
    if len(set(criteria)) < len(criteria):
        raise ValueError(f"criteria == {list(criteria)!r} names a criterion twice.")
    extra = []
    for c in criteria:
        crit = get_criterion(c, "criteria")
        if c in block_kernels.SECOND_ORDER:
            continue
        if not crit.separable:
            raise ValueError(f"criteria contains {c!r}, a selection algorithm the block engine does not run "
                             "(its second-order rules are 'obs' and 'joint').")
        if not crit.builtin:
            extra.append(crit)
    return criteria, tuple(extra)


def make_block_job(spectrum, p, kappa, noise, *, ridge=0.0, keep=(0.1, 0.25, 0.5, 1.0), criteria=BLOCK_CRITERIA,
                   retrain="none", seed=0, hessian_scores="empirical", sampler="auto", refit_ridge=None,
                   update="none"):
    """Validate the arguments of :func:`monte_carlo_blocks` (no work) and return ``(job, keep array, config)``."""
    p = check_int(p, "p", low=1)
    cov = np.asarray(spectrum.covariances, dtype=float)
    B = cov.shape[1]
    types = block_layout(spectrum.weights, B, p)
    kappa, noise, ridge, refit_ridge, _, n = check_scales(p, kappa, noise, ridge, refit_ridge)
    keep_arr = check_keep_grid(keep)
    criteria, extra = _check_block_criteria(criteria)
    retrain = check_modes(retrain, hessian_scores, sampler)
    update = "none" if update is None else update
    check_choice(update, "update", block_kernels.UPDATES)
    seed = check_int(seed, "seed", low=0)
    check_interpolation(p, n, ridge)
    if hessian_scores == "empirical" and p >= n and set(criteria) & {"obs", "joint", "woodfisher"}:
        raise ValueError(f"hessian_scores == 'empirical' with p == {p} >= n == {n}: the training Hessian X'X/n of "
                         "obs and joint is singular; use hessian_scores='population' or more samples.")
    bartlett, keep_counts = check_design(p, n, sampler, keep_arr, retrain, refit_ridge)
    warn_collisions(keep_arr, keep_counts, p)
    gaussian = spectrum.signal_dist == "gaussian"
    block_cov = np.ascontiguousarray(cov[types])
    diagonal = bool(np.count_nonzero(cov * (1.0 - np.eye(B))) == 0)
    job = block_kernels.BlockJob(
        cov=block_cov, chol=np.ascontiguousarray(np.linalg.cholesky(cov)[types]),
        inv=np.ascontiguousarray(np.linalg.inv(cov)[types]), types=types,
        signal=np.asarray(spectrum.signal, dtype=float), factors=signal_factors(spectrum) if gaussian else None,
        upd=block_kernels.update_matrices(cov), gaussian=gaussian, n=n, noise=noise, ridge=ridge,
        refit_ridge=refit_ridge, keep_counts=keep_counts, criteria=criteria, retrain=retrain, update=update,
        empirical_hessian=hessian_scores == "empirical", seed=seed, bartlett=bartlett, diagonal=diagonal,
        extra_criteria=extra)
    config = dict(covariances=cov.tolist(), signal=np.asarray(spectrum.signal).tolist(),
                  weights=np.asarray(spectrum.weights).tolist(), signal_dist=spectrum.signal_dist,
                  signal_cov=None if getattr(spectrum, "signal_cov", None) is None else np.asarray(spectrum.signal_cov).tolist(),
                  block_size=B, p=p, kappa=kappa, noise=noise, ridge=ridge, refit_ridge=refit_ridge,
                  keep=keep_arr.tolist(), keep_counts=keep_counts.tolist(), criteria=list(criteria), retrain=retrain,
                  update=update, seed=seed, hessian_scores=hessian_scores, sampler="bartlett" if bartlett else "design")
    return job, keep_arr, config


def monte_carlo_blocks(spectrum, p, kappa, noise, *, ridge=0.0, keep=(0.1, 0.25, 0.5, 1.0), criteria=BLOCK_CRITERIA,
                       retrain="none", trials=200, seed=0, n_jobs=None, client=None, hessian_scores="empirical",
                       sampler="auto", init=0.0, refit_ridge=None, update="none"):
    """:func:`simulations.monte_carlo` for a block spectrum (module docstring; parameters as there).

    Parameters
    ----------
    spectrum : asymptotics.BlockSpectrum
        ``p`` must be a multiple of its block size ``B``.
    criteria : sequence of str
        Default: the theory's six, ``("magnitude", "hessian", "obs", "joint", "oracle", "random")``.
    update : {"none", "obs"}
        Population OBS update inside each block after the mask (docs/theory.md Section 10).
    init : float
        Must be 0 (the block theory covers no initialization).

    Returns
    -------
    MonteCarloResult

    Raises
    ------
    ValueError
        ``p`` not a multiple of ``B``, ``init != 0``, empirical second-order scores with ``p >= n``, and the
        checks of :func:`simulations.monte_carlo`.
    """
    trials = check_int(trials, "trials", low=1)
    if check_scalar(init, "init", low=0) != 0:
        raise ValueError(f"init == {init!r}: a BlockSpectrum Monte Carlo starts from zero (docs/theory.md "
                         "Section 10 covers init = 0); use init=0.0.")
    workers.n_workers(n_jobs)
    client = workers.check_client(client)
    job, keep_arr, config = make_block_job(spectrum, p, kappa, noise, ridge=ridge, keep=keep, criteria=criteria,
                                           retrain=retrain, seed=seed, hessian_scores=hessian_scores,
                                           sampler=sampler, refit_ridge=refit_ridge, update=update)
    parts = workers.execute(job, trials, n_jobs, client, fn=block_kernels.run_block_trials)
    risk, dense = np.concatenate([r for r, _ in parts]), np.concatenate([d for _, d in parts])
    config["trials"] = trials
    return summarize(risk, dense, config["criteria"], keep_arr, job.keep_counts, config)
