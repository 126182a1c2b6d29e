"""Argument checks shared by the public entry points of :mod:`asymptotics`.

Every message names the parameter and the offending value, in the style of
``sklearn.utils.validation.check_scalar``: ``kappa == -1.0, must be > 0.``
"""

from __future__ import annotations

import numbers

import numpy as np


def check_scalar(value, name, *, low=None, high=None, include_low=True, include_high=True):
    """Return ``value`` as a finite float, or raise naming ``name``.

    ``low`` / ``high`` are optional bounds, inclusive unless told otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} ({value!r}).")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} == {value}, must be finite.")
    if low is not None and (value < low or (value == low and not include_low)):
        op = ">=" if include_low else ">"
        raise ValueError(f"{name} == {value}, must be {op} {low}.")
    if high is not None and (value > high or (value == high and not include_high)):
        op = "<=" if include_high else "<"
        raise ValueError(f"{name} == {value}, must be {op} {high}.")
    return value


def check_vector(values, name, *, positive=False, nonnegative=False):
    """Return ``values`` as a finite 1-D float array, or raise naming ``name``."""
    try:
        arr = np.array(values, dtype=float, ndmin=1)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a sequence of real numbers, got {values!r}.") from exc
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {arr.shape}.")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}] == {arr[i]}, must be finite.")
    if positive and (arr <= 0).any():
        i = int(np.flatnonzero(arr <= 0)[0])
        raise ValueError(f"{name}[{i}] == {arr[i]}, must be > 0.")
    if nonnegative and (arr < 0).any():
        i = int(np.flatnonzero(arr < 0)[0])
        raise ValueError(f"{name}[{i}] == {arr[i]}, must be >= 0.")
    return arr


def check_choice(value, name, choices):
    """Return ``value`` if it is one of ``choices``, else raise naming ``name``."""
    if value not in choices:
        raise ValueError(f"{name} == {value!r}, must be one of {', '.join(map(repr, choices))}.")
    return value


def check_keep(keep):
    """Return ``(array, is_scalar)`` for a kept fraction or array of them in (0, 1]."""
    scalar = np.ndim(keep) == 0
    try:
        arr = np.array(keep, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"keep must be a number or an array of numbers in (0, 1], got {keep!r}.") from exc
    flat = arr.ravel()
    bad = ~np.isfinite(flat) | (flat <= 0) | (flat > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        where = "" if scalar else f"[{i}]"
        raise ValueError(f"keep{where} == {flat[i]}, must be in (0, 1].")
    if arr.size == 0:
        raise ValueError("keep is empty, must hold at least one fraction in (0, 1].")
    return arr, scalar
