"""Floors of the Monte Carlo engine's trials (benchmark only): the work no implementation of a trial avoids.

* design floor: draw the Gaussian design (and response) and factor the Gram matrix on its smaller side;
* Bartlett floor (``p <= n``): draw the Bartlett factor, which is that Cholesky factor.

Both draw from the trial's data stream exactly as :func:`simulations.linear.kernels.trial` does, and
:func:`run_floor` has the signature of :func:`simulations.linear.engine.run_trials`, so
``execute(job, trials, n_jobs=2, fn=run_floor)`` times a floor with the engine's own workers.
"""

import numpy as np

from simulations.linear import kernels
from simulations.runtime.workers import one_blas_thread as _one_blas_thread


def floor_design(rng, lam, n):
    """Draw the design, form the Gram matrix on the smaller side, factor it."""
    p = lam.size
    sample = kernels.sample_design(rng, np.sqrt(lam), np.zeros(p), n, 0.0)
    X = sample.X
    G = X.T @ X if p <= n else X @ X.T
    return np.linalg.cholesky(G)[0, 0]


def floor_bartlett(rng, lam, n):
    """Draw the Bartlett factor ``M`` (the Cholesky factor of ``X'X``)."""
    return kernels.sample_bartlett(rng, np.sqrt(lam), np.zeros(lam.size), n, 0.0).M[0, 0]


def run_floor(job, start, stop):
    """The floor of trials ``start <= t < stop`` (``job.bartlett`` picks the Bartlett floor)."""
    out = np.empty(stop - start)
    floor = floor_bartlett if job.bartlett else floor_design
    with _one_blas_thread():
        for i, t in enumerate(range(start, stop)):
            out[i] = floor(kernels.stream(job.seed, t, kernels.DATA_STREAM), job.lam, job.n)
    return out, out
