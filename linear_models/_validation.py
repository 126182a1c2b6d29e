"""Entry-point checks for :mod:`linear_models`: messages name the argument and the value.

Inputs are never modified: every check returns a fresh float array.
"""

from __future__ import annotations

import numbers

import numpy as np


def as_generator(rng, name="rng"):
    """A ``numpy.random.Generator`` from a Generator, a seed or a ``SeedSequence``."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        raise ValueError(f"{name} is None; pass a seed or a numpy.random.Generator for reproducible results.")
    if isinstance(rng, (numbers.Integral, np.random.SeedSequence)) and not isinstance(rng, bool):
        return np.random.default_rng(rng)
    raise TypeError(f"{name} must be a numpy.random.Generator or an integer seed, got {type(rng).__name__}.")


def real(value, name, *, low=None, high=None, low_open=False):
    """A finite float within bounds, or an error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} ({value!r}).")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} == {value}, must be finite.")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} == {value}, must be {'>' if low_open else '>='} {low}.")
    if high is not None and value > high:
        raise ValueError(f"{name} == {value}, must be <= {high}.")
    return value


def count(value, name, *, low=0):
    """An integer >= low, or an error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} ({value!r}).")
    if value < low:
        raise ValueError(f"{name} == {value}, must be >= {low}.")
    return int(value)


def array(value, name, ndim, *, shape=None):
    """A finite float copy of ``value`` with ``ndim`` dimensions (and ``shape`` where given)."""
    try:
        arr = np.array(value, dtype=float, copy=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers.") from exc
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}.")
    if shape is not None:
        for axis, (got, want) in enumerate(zip(arr.shape, shape)):
            if want is not None and got != want:
                raise ValueError(f"{name} has shape {arr.shape}; axis {axis} must have length {want}.")
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name}{list(idx)} == {arr[idx]}, must be finite.")
    return arr


def symmetric(value, name, p):
    """A finite symmetric ``(p, p)`` copy, or an error naming ``name``."""
    H = array(value, name, 2, shape=(p, p))
    scale = max(float(np.abs(H).max()), np.finfo(float).tiny)
    if not np.allclose(H, H.T, rtol=0, atol=1e-10 * scale):
        i, j = np.unravel_index(np.argmax(np.abs(H - H.T)), H.shape)
        raise ValueError(f"{name} is not symmetric: {name}[{i}, {j}] == {H[i, j]} but {name}[{j}, {i}] == {H[j, i]}.")
    return 0.5 * (H + H.T)


def keep_count(keep, p):
    """Number of kept entries from a fraction in (0, 1] or an integer count in [1, p]."""
    if isinstance(keep, bool):
        raise TypeError(f"keep must be a fraction in (0, 1] or an integer count, got {keep!r}.")
    if isinstance(keep, numbers.Integral):
        if not 1 <= keep <= p:
            raise ValueError(f"keep == {keep}, an integer count must be in [1, {p}].")
        return int(keep)
    if isinstance(keep, numbers.Real):
        keep = float(keep)
        if not (np.isfinite(keep) and 0 < keep <= 1):
            raise ValueError(f"keep == {keep}, must be in (0, 1] (or an integer count).")
        return max(1, min(p, int(round(keep * p))))
    raise TypeError(f"keep must be a fraction in (0, 1] or an integer count, got {type(keep).__name__}.")


def choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} == {value!r}, must be one of {', '.join(map(repr, choices))}.")
    return value
