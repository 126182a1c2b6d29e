"""Means and standard errors of the mean, the one reduction every experiment reports, and the fields every
pruning experiment's result has (:class:`KeepSummary`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KeepSummary:
    """Per criterion and kept level, the mean and standard error over trials (the base of the results of
    :func:`simulations.monte_carlo` and :func:`simulations.network_experiment`).

    Attributes
    ----------
    mean, sem : dict
        Per criterion an array over ``keep``; ``"dense"`` maps to floats.
    keep : sequence
        The kept fractions (or counts) asked for.
    keep_counts : ndarray
        The number of weights actually kept at each level.
    """

    mean: dict
    sem: dict
    keep: object
    keep_counts: np.ndarray


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
