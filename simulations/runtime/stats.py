"""Means and standard errors of the mean, the one reduction every experiment reports."""

from __future__ import annotations

import numpy as np


def mean_sem(x, axis=0):
    """Mean and standard error of the mean (``std(ddof=1) / sqrt(n)``) along ``axis``.

    Parameters
    ----------
    x : array_like
        Samples; NaN propagates (a diverged trial makes the summary NaN, never a finite placeholder).
    axis : int

    Returns
    -------
    mean, sem : float or ndarray
        Floats for 1-d input; the standard error is NaN with fewer than two samples.
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[axis]
    mean = x.mean(axis=axis)
    if n > 1:
        sem = x.std(axis=axis, ddof=1) / np.sqrt(n)
    else:
        sem = np.full(np.shape(mean), np.nan)
    if x.ndim == 1:
        return float(mean), float(sem)
    return mean, sem


def finite_mean_sem(x, axis=-1):
    """Mean and standard error over the finite entries along ``axis`` (NaN where fewer than 2 / none)."""
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(x)
    n = ok.sum(axis=axis)
    xs = np.where(ok, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = xs.sum(axis=axis) / n
        var = (np.where(ok, x - np.expand_dims(mean, axis), 0.0) ** 2).sum(axis=axis) / (n - 1)
        sem = np.where(n > 1, np.sqrt(var / n), np.nan)
    return np.where(n > 0, mean, np.nan), sem
