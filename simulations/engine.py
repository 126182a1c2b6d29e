"""Monte Carlo of pruned linear models at finite ``p`` (the check of :mod:`asymptotics`).

:func:`monte_carlo` instantiates an ``asymptotics.Spectrum`` at finite ``p``
(THEORY.md Section 2: ``floor(weights * p)`` coordinates per atom, largest
remainders first; the true weights are redrawn every trial), runs the Numba
trial kernel of :mod:`simulations.kernels`, and reports the mean and standard
error of the exact population risk ``sigma^2 + (b - beta*)' Sigma (b - beta*)``.

Reproducibility: trial ``t`` draws everything from
``Generator(PCG64(SeedSequence(seed, spawn_key=(t,))))`` (the ``t``-th child of
``SeedSequence(seed)``), and the per-trial results are reduced in trial order,
so the same ``seed`` gives bitwise-identical results serially, with any number
of local worker processes, or on a Dask cluster.

BLAS: each worker (and the serial path) runs BLAS single-threaded; on small and
medium matrices multithreaded OpenBLAS was measured ~100x slower on this kind of
machine, and parallelism comes from running trials side by side instead.

Example
-------
>>> from asymptotics import Spectrum
>>> from simulations import monte_carlo
>>> res = monte_carlo(Spectrum.isotropic(), p=50, kappa=2.0, noise=0.5, keep=[0.5, 1.0], trials=20, seed=0)
>>> sorted(res.mean), res.mean["magnitude"].shape
(['dense', 'hessian', 'magnitude', 'oracle', 'random'], (2,))
"""

from __future__ import annotations

import atexit
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from asymptotics import CRITERIA, Spectrum
from asymptotics._validation import check_choice, check_keep, check_scalar
from linear_models import atom_counts

from . import kernels

RETRAIN = (None, "fresh", "same")
HESSIAN_SCALES = ("empirical", "population")
SAMPLERS = ("auto", "design", "bartlett")
_CRIT_CODE = {"magnitude": kernels.MAGNITUDE, "hessian": kernels.HESSIAN, "oracle": kernels.ORACLE,
              "random": kernels.RANDOM}
_RETRAIN_CODE = {None: kernels.RETRAIN_NONE, "fresh": kernels.RETRAIN_FRESH, "same": kernels.RETRAIN_SAME}
CHUNKS_PER_WORKER = 4


@dataclass(frozen=True)
class MonteCarloResult:
    """Monte Carlo estimates.

    Attributes
    ----------
    mean, sem : dict
        Per criterion an array over ``keep`` (mean test risk, standard error of the mean);
        ``"dense"`` maps to floats.
    keep : ndarray
        Kept fractions; ``keep_counts`` the integer counts actually kept (``round(keep * p)``).
    samples : dict
        Per-trial risks: arrays ``(trials, len(keep))`` and ``(trials,)`` for ``"dense"``.
    config : dict
        Every argument that determines the result.
    """

    mean: dict
    sem: dict
    keep: np.ndarray
    keep_counts: np.ndarray
    samples: dict = field(repr=False)
    config: dict = field(repr=False)


@dataclass(frozen=True)
class _Job:
    """Everything a worker needs for a range of trials (picklable, no Spectrum object)."""

    lam: np.ndarray
    b_scale: np.ndarray
    gaussian: bool
    n: int
    noise: float
    ridge: float
    keep_counts: np.ndarray
    criteria: np.ndarray
    retrain: int
    empirical_hessian: bool
    seed: int
    bartlett: bool = False


_WORKER_LIMITS = []


def _one_blas_thread():
    """BLAS limited to one thread: for good in a worker process (cheap on every later chunk), for the
    duration of the call in the user's own process (their BLAS settings are restored afterwards)."""
    import multiprocessing
    from contextlib import nullcontext

    if multiprocessing.parent_process() is None:
        return threadpool_limits(limits=1)
    if not _WORKER_LIMITS:
        _WORKER_LIMITS.append(threadpool_limits(limits=1))
    return nullcontext()


def run_trials(job, start, stop):
    """Trials ``start <= t < stop``: returns ``(risk (m, C, K), dense (m,))``."""
    m = stop - start
    risk = np.empty((m, job.criteria.size, job.keep_counts.size))
    dense = np.empty(m)
    with _one_blas_thread():
        for i, t in enumerate(range(start, stop)):
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(job.seed, spawn_key=(t,))))
            kernels.trial(rng, job.lam, job.b_scale, job.gaussian, job.n, job.noise, job.ridge, job.keep_counts,
                          job.criteria, job.retrain, job.empirical_hessian, risk[i], dense[i:i + 1], job.bartlett)
    return risk, dense


def run_floor(job, start, stop):
    """The floor of trials ``start <= t < stop``: draw the design, form the Gram matrix, factor it
    (with ``job.bartlett``: draw the Bartlett factor, which is that Cholesky factor)."""
    out = np.empty(stop - start)
    floor = kernels.floor_bartlett if job.bartlett else kernels.floor_trial
    with _one_blas_thread():
        for i, t in enumerate(range(start, stop)):
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(job.seed, spawn_key=(t,))))
            out[i] = floor(rng, job.lam, job.n)
    return out, out


def _chunks(trials, n_workers):
    n_chunks = max(1, min(trials, n_workers * CHUNKS_PER_WORKER))
    edges = np.linspace(0, trials, n_chunks + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _workers(n_jobs):
    if n_jobs is None or n_jobs == 1:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs == {n_jobs!r}, must be None, -1 or a positive integer.")
    return (os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs)


_POOLS = {}


def _pool(workers):
    """A process pool of ``workers`` processes, kept for the life of the interpreter (a sweep or a
    notebook calls :func:`monte_carlo` many times; starting workers and loading the compiled kernels
    once is what keeps short runs fast)."""
    pool = _POOLS.get(workers)
    if pool is None:
        pool = _POOLS[workers] = ProcessPoolExecutor(max_workers=workers)
    return pool


@atexit.register
def _shutdown_pools():
    for pool in _POOLS.values():
        pool.shutdown(cancel_futures=True)
    _POOLS.clear()


def _dask_client(client):
    if isinstance(client, str):
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - depends on the optional extra
            raise ImportError("a Dask scheduler address needs the 'dask' extra: pip install -e '.[dask]'") from None
        return Client(client)
    return client


def execute(job, trials, n_jobs=None, client=None, fn=run_trials):
    """Run ``trials`` trials of ``job`` serially, in local processes or on Dask; results in trial order."""
    if client is not None:
        client = _dask_client(client)
        chunks = _chunks(trials, max(1, len(client.scheduler_info().get("workers", {})) or 1))
        futures = [client.submit(fn, job, a, b, pure=False) for a, b in chunks]
        parts = client.gather(futures)
    else:
        workers = _workers(n_jobs)
        if workers == 1:
            parts = [fn(job, 0, trials)]
        else:
            chunks = _chunks(trials, workers)
            try:
                parts = list(_pool(workers).map(fn, [job] * len(chunks), *zip(*chunks)))
            except BrokenProcessPool:            # a worker died (killed, out of memory): start afresh once
                _POOLS.pop(workers).shutdown(cancel_futures=True)
                parts = list(_pool(workers).map(fn, [job] * len(chunks), *zip(*chunks)))
    return np.concatenate([r for r, _ in parts]), np.concatenate([d for _, d in parts])


def make_job(spectrum, p, kappa, noise, ridge=0.0, keep=(0.1, 0.25, 0.5, 1.0), criteria=CRITERIA, retrain=None,
             seed=0, hessian="empirical", sampler="auto"):
    """Validate the arguments of :func:`monte_carlo` and return ``(job, keep array, config)``."""
    if not isinstance(spectrum, Spectrum):
        raise TypeError(f"spectrum must be an asymptotics.Spectrum, got {type(spectrum).__name__}.")
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 1:
        raise ValueError(f"p == {p!r}, must be an integer >= 1.")
    kappa = check_scalar(kappa, "kappa", low=0, include_low=False)
    noise = check_scalar(noise, "noise", low=0)
    ridge = check_scalar(ridge, "ridge", low=0)
    n = int(round(kappa * p))
    if n < 1:
        raise ValueError(f"kappa * p == {kappa * p}, must round to at least one sample.")
    if ridge == 0 and n == p:
        raise ValueError(f"n == p == {p} with ridge 0 is the interpolation threshold (infinite risk); "
                         "change kappa or use ridge > 0.")
    keep_arr, _ = check_keep(keep)
    keep_arr = keep_arr.ravel()
    if isinstance(criteria, str):
        criteria = (criteria,)
    criteria = tuple(criteria)
    if not criteria:
        raise ValueError("criteria is empty, must name at least one of " + ", ".join(CRITERIA) + ".")
    for c in criteria:
        check_choice(c, "criteria", CRITERIA)
    check_choice(retrain, "retrain", RETRAIN)
    check_choice(hessian, "hessian", HESSIAN_SCALES)
    check_choice(sampler, "sampler", SAMPLERS)
    if sampler == "bartlett" and p > n:
        raise ValueError(f"sampler == 'bartlett' needs p <= n, got p == {p} and n == {n}.")
    bartlett = sampler == "bartlett" or (sampler == "auto" and p <= n)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed == {seed!r}, must be a non-negative integer.")
    counts = atom_counts(spectrum.weights, p)
    keep_counts = np.maximum(1, np.round(keep_arr * p).astype(np.int64))
    if np.any(np.diff(keep_counts) < 0):
        raise ValueError(f"keep must be non-decreasing (sort keep increasingly), got {keep_arr.tolist()}.")
    job = _Job(np.repeat(spectrum.variances, counts), np.repeat(np.abs(spectrum.signal), counts),
               spectrum.signal_dist == "gaussian", n, noise, ridge, keep_counts,
               np.array([_CRIT_CODE[c] for c in criteria], dtype=np.int64), _RETRAIN_CODE[retrain],
               hessian == "empirical", int(seed), bartlett)
    config = dict(variances=spectrum.variances.tolist(), signal=spectrum.signal.tolist(),
                  weights=spectrum.weights.tolist(), signal_dist=spectrum.signal_dist, p=int(p), kappa=kappa,
                  noise=noise, ridge=ridge, keep=keep_arr.tolist(), criteria=list(criteria), retrain=retrain,
                  seed=int(seed), hessian=hessian, sampler="bartlett" if bartlett else "design")
    return job, keep_arr, config


def summarize(risk, dense, criteria, keep, keep_counts, config):
    """Means and standard errors from per-trial arrays (reduced in trial order)."""
    trials = dense.size
    sem = (lambda x: x.std(axis=0, ddof=1) / np.sqrt(trials)) if trials > 1 else (lambda x: np.full(x.shape[1:], np.nan))
    mean = {c: risk[:, i].mean(axis=0) for i, c in enumerate(criteria)}
    err = {c: sem(risk[:, i]) for i, c in enumerate(criteria)}
    mean["dense"] = float(dense.mean())
    err["dense"] = float(dense.std(ddof=1) / np.sqrt(trials)) if trials > 1 else float("nan")
    samples = {c: risk[:, i] for i, c in enumerate(criteria)}
    samples["dense"] = dense
    return MonteCarloResult(mean, err, keep, keep_counts, samples, config)


def monte_carlo(spectrum, p, kappa, noise, ridge=0.0, keep=(0.1, 0.25, 0.5, 1.0), criteria=CRITERIA,
                retrain=None, trials=200, seed=0, n_jobs=None, client=None, hessian="empirical", sampler="auto"):
    """Average test risk of pruned estimators over ``trials`` independent finite-``p`` problems.

    Parameters
    ----------
    spectrum : asymptotics.Spectrum
    p : int
        Number of features; ``n = round(kappa * p)`` samples.
    kappa, noise, ridge : float
        As in :func:`asymptotics.pruned_risk` (``ridge = 0``: OLS or min-norm).
    keep : sequence of float
        Non-decreasing kept fractions in (0, 1]; ``round(keep * p)`` weights are kept.
    criteria : sequence of str
        Subset of ``("magnitude", "hessian", "oracle", "random")``.
    retrain : {None, "fresh", "same"}
        Refit on the kept support with a fresh sample or the same sample.
    trials : int
        Independent trials (>= 2 for standard errors).
    seed : int
        Master seed; trial ``t`` uses child ``t`` of ``SeedSequence(seed)``.
    n_jobs : int, optional
        ``None``/1: serial; ``k``: ``k`` local worker processes; ``-1``: one per core.
    client : dask.distributed.Client or str, optional
        Run the trials on a Dask cluster (a client or a scheduler address).
    hessian : {"empirical", "population"}
        Hessian scores use ``sqrt(diag(X'X/n))`` (THEORY.md Section 3) or the true ``sqrt(lam)``.
    sampler : {"auto", "design", "bartlett"}
        ``"design"`` draws the ``n x p`` Gaussian design. ``"bartlett"`` (``p <= n`` only) draws the
        sufficient statistics ``(X'X, X'y)`` exactly through the Bartlett decomposition of the
        Wishart matrix, ``O(p^2)`` random numbers instead of ``O(n p)`` and, for OLS, no
        ``O(n p^2)`` Gram product. ``"auto"`` uses Bartlett when ``p <= n``.

    Returns
    -------
    MonteCarloResult
    """
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 1:
        raise ValueError(f"trials == {trials!r}, must be an integer >= 1.")
    job, keep_arr, config = make_job(spectrum, p, kappa, noise, ridge, keep, criteria, retrain, seed, hessian,
                                     sampler)
    risk, dense = execute(job, int(trials), n_jobs, client)
    config["trials"] = int(trials)
    return summarize(risk, dense, config["criteria"], keep_arr, job.keep_counts, config)
