"""What the two Monte Carlo engines (:mod:`.engine` for diagonal spectra, :mod:`.block_engine` for block
spectra) have in common: their argument checks, the kept-count collision warning and the result type."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from pruning_checks import check_choice, check_keep, check_scalar

from ..runtime.stats import KeepSummary, mean_sem
from . import kernels

RETRAIN = kernels.RETRAIN
HESSIAN_SCORES = ("empirical", "population")
SAMPLERS = ("auto", "design", "bartlett")
#: Largest array (entries) a trial may allocate: the ``n x p`` design (``p x p`` for Bartlett), 2 GiB.
MAX_ENTRIES = 2**28


@dataclass(frozen=True)
class MonteCarloResult(KeepSummary):
    """Monte Carlo estimates.

    Attributes
    ----------
    mean, sem : dict
        Per criterion an array over ``keep`` (mean test risk, standard error of the mean);
        ``"dense"`` maps to floats.
    keep : ndarray
        The kept fractions asked for.
    keep_counts : ndarray
        The integer counts actually kept, ``max(1, round(keep * p))``.
    keep_effective : ndarray
        ``keep_counts / p``: the kept fractions actually simulated (compare with theory here).
    samples : dict
        Per-trial risks: arrays ``(trials, len(keep))`` and ``(trials,)`` for ``"dense"``.
    config : dict
        Every argument that determines the result.
    """

    keep_effective: np.ndarray
    samples: dict = field(repr=False)
    config: dict = field(repr=False)


def check_keep_grid(keep):
    """Kept fractions as floats in (0, 1], non-decreasing. An integer (or bool, or complex) entry is refused with
    a ``TypeError``: in ``linear_models.prune`` an integer keep is a count, so ``keep == 1`` would mean one weight
    there and everything here."""
    arr = check_keep(keep, where="monte_carlo")[0].ravel()
    if np.any(np.diff(arr) < 0):
        raise ValueError(f"keep must be non-decreasing (sort keep increasingly), got {arr.tolist()}.")
    return arr


def criteria_names(criteria, defaults):
    """``criteria`` (a name or a sequence of names) as a non-empty tuple; the error names ``defaults``."""
    if isinstance(criteria, str):
        criteria = (criteria,)
    try:
        criteria = tuple(criteria)
    except TypeError:
        raise TypeError(f"criteria must be a name or a sequence of names, got {criteria!r}.") from None
    if not criteria:
        raise ValueError("criteria is empty, must name at least one of " + ", ".join(defaults) + ".")
    return criteria


def check_squared(value, name):
    if not np.isfinite(value * value):
        raise ValueError(f"{name} == {value}, too large (its square overflows).")
    return value


def check_scales(p, kappa, noise, ridge, refit_ridge, init=None):
    """``(kappa, noise, ridge, refit_ridge, init, n)`` checked (``refit_ridge`` None: ``ridge``; ``init`` None:
    not checked), ``n = round(kappa p)`` the training samples (:func:`make_job`, the block engine's job)."""
    kappa = check_scalar(kappa, "kappa", low=0, include_low=False)
    noise = check_squared(check_scalar(noise, "noise", low=0), "noise")
    ridge = check_scalar(ridge, "ridge", low=0)
    refit_ridge = ridge if refit_ridge is None else check_scalar(refit_ridge, "refit_ridge", low=0)
    if init is not None:
        init = check_squared(check_scalar(init, "init", low=0), "init")
    if kappa * p > MAX_ENTRIES:
        raise ValueError(f"kappa * p == {kappa * p:g} samples, must be at most {MAX_ENTRIES}.")
    n = int(round(kappa * p))
    if n < 1:
        raise ValueError(f"kappa * p == {kappa * p:g}, must round to at least one sample.")
    return kappa, noise, ridge, refit_ridge, init, n


def check_modes(retrain, hessian_scores, sampler):
    """``retrain`` (None: ``"none"``) after checking it, ``hessian_scores`` and ``sampler`` against their choices."""
    retrain = "none" if retrain is None else retrain
    check_choice(retrain, "retrain", RETRAIN)
    check_choice(hessian_scores, "hessian_scores", HESSIAN_SCORES)
    check_choice(sampler, "sampler", SAMPLERS)
    return retrain


def check_interpolation(p, n, ridge):
    """``ValueError`` at the interpolation threshold ``n == p`` without ridge (infinite risk)."""
    if ridge == 0 and n == p:
        raise ValueError(f"n == p == {p} with ridge 0 is the interpolation threshold (infinite risk); "
                         "change kappa or use ridge > 0.")


def check_design(p, n, sampler, keep_arr, retrain, refit_ridge):
    """``(bartlett, keep_counts)``: whether trials draw ``(X'X, X'y)`` directly, and the kept counts
    ``max(1, round(keep p))``; ``ValueError`` for a sampler, size or refit the trials cannot run."""
    if sampler == "bartlett" and p > n:
        raise ValueError(f"sampler == 'bartlett' needs p <= n, got p == {p} and n == {n}.")
    bartlett = sampler == "bartlett" or (sampler == "auto" and p <= n)
    if (p * p if bartlett else n * p) > MAX_ENTRIES:
        raise ValueError(f"p == {p} and n == {n} need {(p * p if bartlett else n * p):g} entries per sample, "
                         f"more than {MAX_ENTRIES}; reduce p or kappa.")
    keep_counts = np.maximum(1, np.round(keep_arr * p).astype(np.int64))
    if retrain != "none" and refit_ridge == 0 and np.any(keep_counts == n):
        a = keep_arr[np.flatnonzero(keep_counts == n)[0]]
        raise ValueError(f"keep == {a} keeps n == {n} weights: with refit_ridge 0 the refit sits at the "
                         "interpolation threshold (infinite risk); change keep or use refit_ridge > 0.")
    return bartlett, keep_counts


class KeepCollisionWarning(UserWarning):
    """Several keep levels round to the same kept count at this ``p``."""


def warn_collisions(keep, counts, p):
    same = np.flatnonzero(np.diff(counts) == 0)
    if same.size:
        pairs = "; ".join(f"keep {keep[i]:g} and {keep[i + 1]:g} both keep {counts[i]}" for i in same)
        warnings.warn(f"at p == {p}, {pairs} weights: these levels are simulated identically; compare them "
                      "with theory at keep_effective = count / p, not at the nominal keep.",
                      KeepCollisionWarning, stacklevel=3)


def summarize(risk, dense, criteria, keep, keep_counts, config):
    """Means and standard errors from per-trial arrays (reduced in trial order)."""
    mean, err = {}, {}
    for i, c in enumerate(criteria):
        mean[c], err[c] = mean_sem(risk[:, i], axis=0)
    mean["dense"], err["dense"] = mean_sem(dense)
    samples = {c: risk[:, i] for i, c in enumerate(criteria)}
    samples["dense"] = dense
    return MonteCarloResult(mean, err, keep, keep_counts, keep_counts / config["p"], samples, config)
