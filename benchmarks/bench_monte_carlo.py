"""Speed of the Monte Carlo engine (issue: simulations).

Workload: p = 400, kappa in {0.5, 2}, ridge 0, ten keep levels, four criteria, 200 trials.
Side by side in this script:
  engine      simulations.monte_carlo(n_jobs=2): the engine's trials, 2 worker processes, BLAS 1 thread each;
  numpy-tuned the same trials written in plain NumPy, 2 worker processes, BLAS 1 thread each;
  numpy-naive the same NumPy code run the way a new user would: one process, default BLAS threading;
  floor       drawing the design plus the Gram matrix and its Cholesky factor, 2 workers; for p <= n
              also the floor of the engine's Bartlett sampler (drawing the Cholesky factor of X'X directly).
Both process pools are created once and warmed up before timing (as in a sweep or a notebook).
Numba compile time (first call in a fresh cache) is reported separately; medians over repeats.

    .venv/bin/python benchmarks/bench_monte_carlo.py
"""

import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from _timing import median_time

from asymptotics import Spectrum
from _floors import run_floor
from simulations.linear.engine import execute, make_job, monte_carlo

KEEP = tuple(np.round(np.linspace(0.1, 1.0, 10), 2))
TRIALS, P, REPEATS = 200, 400, 7
SPEC = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3))


def numpy_trials(args):
    """Plain NumPy trials (the straightforward implementation)."""
    lam, bs, n, noise, keep_counts, seed, start, stop = args
    p = lam.size
    out = np.empty((stop - start, 4, keep_counts.size))
    for i, t in enumerate(range(start, stop)):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(t,))))
        beta = np.where(rng.random(p) < 0.5, -1.0, 1.0) * bs / np.sqrt(p)
        X = rng.standard_normal((n, p)) * np.sqrt(lam)
        y = X @ beta + noise * rng.standard_normal(n)
        if p <= n:
            bh = np.linalg.solve(X.T @ X, X.T @ y)
        else:
            bh = X.T @ np.linalg.solve(X @ X.T, y)
        err, drop = lam * (bh - beta) ** 2, lam * beta**2
        scores = [np.abs(bh), np.sqrt((X**2).mean(0)) * np.abs(bh), drop, rng.random(p)]
        for c, score in enumerate(scores):
            order = np.argsort(-score, kind="stable")
            ce = np.concatenate([[0.0], np.cumsum(err[order])])
            cd = np.concatenate([[0.0], np.cumsum(drop[order])])
            out[i, c] = noise**2 + ce[keep_counts] + drop.sum() - cd[keep_counts]
    return out


def _one_blas_thread():
    global _LIMIT
    _LIMIT = threadpool_limits(limits=1)


_NUMPY_POOL = None


def numpy_parallel(args_list):
    """The NumPy trials on a persistent pool of 2 processes with one BLAS thread each (as the engine)."""
    global _NUMPY_POOL
    if _NUMPY_POOL is None:
        _NUMPY_POOL = ProcessPoolExecutor(2, initializer=_one_blas_thread)
    return np.concatenate(list(_NUMPY_POOL.map(numpy_trials, args_list)))


def median(fn):
    return median_time(fn, REPEATS)[0]


def main():
    t0 = time.perf_counter()
    monte_carlo(SPEC, 20, 2.0, 0.5, keep=KEEP, trials=2, seed=0)
    monte_carlo(SPEC, 20, 0.5, 0.5, keep=KEEP, trials=2, seed=0)
    print(f"first calls (numba compile or cache load, BLAS set-up): {time.perf_counter() - t0:.2f} s")
    blas = [(i["internal_api"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]
    print(f"BLAS libraries and default threads in this process: {blas}")
    for kappa in (0.5, 2.0):
        job, _, _ = make_job(SPEC, P, kappa, 0.5, keep=KEEP)
        chunks = np.linspace(0, TRIALS, 9).astype(int)
        args = [(job.lam, job.b_scale, job.n, 0.5, job.keep_counts, 0, a, b) for a, b in zip(chunks[:-1], chunks[1:])]
        execute(job, 4, n_jobs=2)                               # warm the worker pools
        numpy_parallel(args[:2])
        t_engine = median(lambda: monte_carlo(SPEC, P, kappa, 0.5, keep=KEEP, trials=TRIALS, n_jobs=2))
        t_serial = median(lambda: monte_carlo(SPEC, P, kappa, 0.5, keep=KEEP, trials=TRIALS))
        t_tuned = median(lambda: numpy_parallel(args))
        t_naive = median(lambda: numpy_trials((job.lam, job.b_scale, job.n, 0.5, job.keep_counts, 0, 0, TRIALS)))
        design_job = make_job(SPEC, P, kappa, 0.5, keep=KEEP, sampler="design")[0]
        t_floor = median(lambda: execute(design_job, TRIALS, n_jobs=2, fn=run_floor))
        line = (f"kappa={kappa}: engine {t_engine:.3f} s (serial {t_serial:.3f} s) | numpy-tuned {t_tuned:.3f} s "
                f"-> {t_tuned / t_engine:.2f}x | numpy-naive {t_naive:.3f} s -> {t_naive / t_engine:.2f}x | "
                f"design floor {t_floor:.3f} s -> engine/floor {t_engine / t_floor:.2f}")
        if job.bartlett:
            t_bfloor = median(lambda: execute(job, TRIALS, n_jobs=2, fn=run_floor))
            line += f" | Bartlett floor {t_bfloor:.3f} s -> engine/floor {t_engine / t_bfloor:.2f}"
        print(line)


if __name__ == "__main__":
    main()
