"""Monte Carlo of pruned linear models at finite ``p`` (the check of :mod:`asymptotics`).

:func:`monte_carlo` instantiates an ``asymptotics.Spectrum`` at finite ``p``
(docs/theory.md Section 2: ``floor(weights * p)`` coordinates per atom, largest
remainders first; the true weights are redrawn every trial), runs the trial
steps of :mod:`simulations.linear.kernels`, and reports the mean and standard error of
the exact population risk ``sigma^2 + (b - beta*)' Sigma (b - beta*)``.

Reproducibility: trial ``t`` draws from children of
``SeedSequence(seed, spawn_key=(t,))`` (the ``t``-th child of ``SeedSequence(seed)``):
child 0 the signal and the training sample, child 1 the fresh refit sample, child 2
the initialization ``b0``, child 3 the permutation that breaks ties (one per trial,
shared by all criteria), and one child per criterion that draws random numbers,
keyed by the criterion's name (``kernels.CRITERION_STREAM``; today ``random``'s
scores). The per-trial results are reduced in trial
order, so the same ``seed`` gives bitwise-identical results serially, with any
number of local worker processes, or on a Dask cluster, and a criterion's
numbers do not depend on which other criteria run beside it or in which order.

Kept counts: keep level ``a`` keeps ``round(a p)`` weights (at least one), so the
level actually simulated is ``keep_effective = count / p``; compare with theory
there. Levels whose counts coincide are simulated identically (a
:class:`KeepCollisionWarning` says so). Keep levels draw nothing of their own: the
masks of a criterion are prefixes of one ranking, so a level's numbers do not
depend on which other levels run (bitwise without refit, to rounding with refits,
whose levels share one Cholesky factor).

BLAS: each worker (and the serial path) runs BLAS single-threaded; on small and
medium matrices multithreaded OpenBLAS was measured ~100x slower on this kind of
machine, and parallelism comes from running trials side by side instead.

Example
-------
>>> from asymptotics import BlockSpectrum, Spectrum
>>> from simulations import monte_carlo
>>> res = monte_carlo(Spectrum.isotropic(), 50, 2.0, 0.5, keep=[0.5, 1.0], trials=20, seed=0)
>>> sorted(res.mean), res.mean["magnitude"].shape, res.keep_effective.tolist()
(['dense', 'hessian', 'magnitude', 'oracle', 'random'], (2,), [0.5, 1.0])
"""

from __future__ import annotations

import numpy as np

from asymptotics import CRITERIA as THEORY_CRITERIA
from asymptotics import BlockSpectrum, Spectrum
from linear_models import atom_counts, get_criterion
from pruning_checks import check_choice, check_int

from ..runtime import workers
from . import kernels
from .block_engine import BLOCK_CRITERIA, monte_carlo_blocks
# the engine's public names, defined with what the block engine shares
from .common import (HESSIAN_SCORES, MAX_ENTRIES, RETRAIN, SAMPLERS, KeepCollisionWarning,  # noqa: F401
                     MonteCarloResult, check_design, check_interpolation, check_keep_grid, check_modes, check_scales,
                     criteria_names, summarize, warn_collisions)

#: The default criteria: those with a formula in :mod:`asymptotics` (any per-weight criterion of the
#: registry :mod:`linear_models.criteria` runs, user-registered ones included).
CRITERIA = THEORY_CRITERIA
DEFAULT_KEEP = (0.1, 0.25, 0.5, 1.0)
def run_trials(job, start, stop):
    """Trials ``start <= t < stop``: returns ``(risk (m, C, K), dense (m,))``."""
    return kernels.run_trials_of(kernels.trial, job, start, stop)


def execute(job, trials, n_jobs=None, client=None):
    """Run ``trials`` trials of ``job`` serially, in local processes or on Dask
    (:func:`simulations.runtime.workers.execute`); returns ``(risk, dense)`` in trial order."""
    parts = workers.execute(job, trials, n_jobs, client, fn=run_trials)
    return np.concatenate([r for r, _ in parts]), np.concatenate([d for _, d in parts])


def _check_criteria(criteria):
    """Names of registered per-weight criteria whose needs a trial can provide; returns ``(names, extra)``
    with ``extra`` the registry entries of user-registered ones (carried to the workers by the job)."""
    criteria = criteria_names(criteria, CRITERIA)
    extra = []
    for c in criteria:
        crit = get_criterion(c, "criteria")
        if not crit.separable:
            raise ValueError(f"criteria contains {c!r}, a selection algorithm: the Monte Carlo engine ranks weights by "
                             "per-weight scores (use linear_models.prune for obs and cbs).")
        missing = [n for n in crit.needs if n not in kernels.ENGINE_NEEDS]
        if missing:
            raise ValueError(f"criteria contains {c!r}, which needs {', '.join(missing)}; a trial provides "
                             f"{', '.join(kernels.ENGINE_NEEDS)}.")
        if not crit.builtin:
            extra.append(crit)
    if len(set(criteria)) < len(criteria):
        raise ValueError(f"criteria == {list(criteria)!r} names a criterion twice.")
    return criteria, tuple(extra)


def make_job(spectrum, p, kappa, noise, *, ridge=0.0, keep=DEFAULT_KEEP, criteria=CRITERIA, retrain="none",
             seed=0, hessian_scores="empirical", sampler="auto", init=0.0, refit_ridge=None):
    """Validate the arguments of :func:`monte_carlo` (no work is done) and return ``(job, keep array, config)``."""
    if not isinstance(spectrum, Spectrum):
        raise TypeError(f"spectrum must be an asymptotics.Spectrum, got {type(spectrum).__name__}.")
    p = check_int(p, "p", low=1)
    kappa, noise, ridge, refit_ridge, init, n = check_scales(p, kappa, noise, ridge, refit_ridge, init)
    keep_arr = check_keep_grid(keep)
    criteria, extra = _check_criteria(criteria)
    retrain = check_modes(retrain, hessian_scores, sampler)
    seed = check_int(seed, "seed", low=0)
    check_interpolation(p, n, ridge)
    bartlett, keep_counts = check_design(p, n, sampler, keep_arr, retrain, refit_ridge)
    warn_collisions(keep_arr, keep_counts, p)
    counts = atom_counts(spectrum.weights, p)
    job = kernels.Job(lam=np.repeat(spectrum.variances, counts), b_scale=np.repeat(np.abs(spectrum.signal), counts),
                      gaussian=spectrum.signal_dist == "gaussian", n=n, noise=noise, ridge=ridge,
                      refit_ridge=refit_ridge, keep_counts=keep_counts, criteria=criteria, retrain=retrain,
                      empirical_hessian=hessian_scores == "empirical", seed=seed, bartlett=bartlett, init=init,
                      extra_criteria=extra)
    config = dict(variances=spectrum.variances.tolist(), signal=spectrum.signal.tolist(),
                  weights=spectrum.weights.tolist(), signal_dist=spectrum.signal_dist, p=p, kappa=kappa,
                  noise=noise, ridge=ridge, refit_ridge=refit_ridge, init=init, keep=keep_arr.tolist(),
                  keep_counts=keep_counts.tolist(), criteria=list(criteria), retrain=retrain, seed=seed,
                  hessian_scores=hessian_scores, sampler="bartlett" if bartlett else "design")
    return job, keep_arr, config


def monte_carlo(spectrum, p, kappa, noise, *, ridge=0.0, keep=DEFAULT_KEEP, criteria=CRITERIA, retrain="none",
                trials=200, seed=0, n_jobs=None, client=None, hessian_scores="empirical", sampler="auto",
                init=0.0, refit_ridge=None, update="none"):
    """Average test risk of pruned estimators over ``trials`` independent finite-``p`` problems.

    Parameters
    ----------
    spectrum : asymptotics.Spectrum or asymptotics.BlockSpectrum
        A block spectrum runs the block-diagonal engine (:mod:`simulations.linear.block_engine`,
        docs/theory.md Section 10): criteria default to the theory's six (with ``obs`` and ``joint``),
        ``p`` a multiple of the block size.
    p : int
        Number of features; ``n = round(kappa * p)`` samples.
    kappa, noise : float
        As in :func:`asymptotics.pruned_risk`.
    ridge : float
        Ridge ``mu`` of the dense fit the mask is chosen from (``0``: OLS or min-norm).
    keep : sequence of float
        Non-decreasing kept fractions in (0, 1]; ``max(1, round(keep * p))`` weights are kept
        (``keep_effective`` of the result). Integers are refused (a count is not a fraction).
    criteria : sequence of str
        Registered per-weight criteria (:mod:`linear_models.criteria`), no repeats; the default
        ``("magnitude", "hessian", "oracle", "random")`` are those :mod:`asymptotics` has formulas for.
    retrain : {"none", "fresh", "same"}
        No refit, or refit on the kept support with a fresh sample or the same sample
        (``None`` is accepted for ``"none"``).
    trials : int
        Independent trials (>= 2 for standard errors).
    seed : int
        Master seed; trial ``t`` uses child ``t`` of ``SeedSequence(seed)`` (module docstring).
    n_jobs : int, optional
        ``None``/1: serial; ``k``: ``k`` local worker processes; ``-1``: one per core.
    client : dask.distributed.Client or str, optional
        Run the trials on a Dask cluster: a client (reused, left open) or a scheduler address
        (a client opened and closed within this call). Takes precedence over ``n_jobs``.
    hessian_scores : {"empirical", "population"}
        Hessian scores use ``sqrt(diag(X'X/n))`` (docs/theory.md Section 3) or the true ``sqrt(lam)``.
    sampler : {"auto", "design", "bartlett"}
        ``"design"`` draws the ``n x p`` Gaussian design. ``"bartlett"`` (``p <= n`` only) draws the
        sufficient statistics ``(X'X, X'y)`` exactly through the Bartlett decomposition of the
        Wishart matrix, ``O(p^2)`` random numbers instead of ``O(n p)`` and, for OLS, no
        ``O(n p^2)`` Gram product. ``"auto"`` uses Bartlett when ``p <= n``.
    init : float
        Initialization scale ``s0`` (docs/theory.md Section 8): every trial draws ``b0 ~ N(0, s0^2/p I)`` and
        the fits are gradient descent from ``b0`` run to convergence. Only min-norm fits (ridge 0,
        fewer samples than weights) depend on it: ``b0 + X^+ (y - X b0)``; refits start from ``b0``
        restricted to the support.
    refit_ridge : float, optional
        Ridge of the refit on the support (default: ``ridge``). The mask always comes from the fit at
        ``ridge`` (docs/theory.md Section 9: temperature acts through the mask only).

    Returns
    -------
    MonteCarloResult
    """
    if isinstance(spectrum, BlockSpectrum):
        return monte_carlo_blocks(spectrum, p, kappa, noise, ridge=ridge, keep=keep,
                                  criteria=BLOCK_CRITERIA if criteria is CRITERIA else criteria, retrain=retrain,
                                  trials=trials, seed=seed, n_jobs=n_jobs, client=client,
                                  hessian_scores=hessian_scores, sampler=sampler, init=init, refit_ridge=refit_ridge,
                                  update=update)
    check_choice("none" if update is None else update, "update", ("none", "obs"))
    trials = check_int(trials, "trials", low=1)
    workers.n_workers(n_jobs)
    client = workers.check_client(client)
    job, keep_arr, config = make_job(spectrum, p, kappa, noise, ridge=ridge, keep=keep, criteria=criteria,
                                     retrain=retrain, seed=seed, hessian_scores=hessian_scores, sampler=sampler,
                                     init=init, refit_ridge=refit_ridge)
    risk, dense = execute(job, trials, n_jobs, client)
    config["trials"] = trials
    return summarize(risk, dense, config["criteria"], keep_arr, job.keep_counts, config)
