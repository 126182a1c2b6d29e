"""Argument checks for every public entry point of the toolkit: one implementation per concept.

Where it lives and why
----------------------
``pruning_checks`` is a top-level package, the base layer of the project. It
depends on NumPy only, and it is imported by ``asymptotics``,
``linear_models`` and ``simulations``. Putting it below all three keeps the
imports one-way (STYLE.md, "Data flows one way"):

    pruning_checks  <-  asymptotics    (knows nothing of simulation)
    pruning_checks  <-  linear_models  (knows nothing of asymptotics)
    pruning_checks  <-  simulations    (uses both)

Had the checks stayed in ``asymptotics`` (or ``linear_models``), the other
packages would have to import that package for its checks, or keep a second
copy, which is how the two modules it replaces drifted apart.

Conventions
-----------
* Messages name the parameter and the offending value, in the style of
  ``sklearn.utils.validation.check_scalar``: ``kappa == -1.0, must be > 0.``;
  a wrong type is a ``TypeError``, a wrong value a ``ValueError``.
* Inputs are never modified: array checks return fresh float arrays.
* **keep**: a float is a kept fraction in ``(0, 1]``; an integer (Python or
  NumPy) is a count of kept entries; ``bool`` and complex values are refused.
  :func:`check_fraction` is for places where counts have no meaning (the
  proportional limit, Monte Carlo keep grids) and refuses integers with a
  message that says so; :func:`keep_count` turns either form into a count for
  a finite weight vector.

Older names kept as aliases so that branches written against the two former
modules (``asymptotics._validation``, ``linear_models._validation``) still
work: :func:`real` and :func:`count` (of :func:`check_scalar` and
:func:`check_int`), :func:`array`, :func:`symmetric`, :func:`choice`, and
:func:`check_keep` (the ``(array, is_scalar)`` form of :func:`check_fraction`).

Example
-------
>>> from pruning_checks import check_fraction, check_int, check_scalar, keep_count
>>> check_scalar(2, "kappa", low=0, include_low=False)
2.0
>>> check_int(400, "p", low=1)
400
>>> keep_count(0.25, 10), keep_count(3, 10)
(2, 3)
>>> check_fraction([0.5, 1.0])
array([0.5, 1. ])
>>> check_fraction(1)
Traceback (most recent call last):
...
TypeError: keep == 1 is an integer (a count); asymptotics takes kept fractions: pass 1.0.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "array", "as_generator", "check_array", "check_bool", "check_choice", "check_fraction", "check_int", "check_keep",
    "check_scalar", "check_symmetric", "check_vector", "choice", "count", "keep_count", "real", "symmetric",
]

_NOT_NUMERIC = "bcUSOMmV"       # dtype kinds that are not real numbers (bool, complex, text, objects, times)


def _where(idx):
    """``[i]`` or ``[i, j]``: the position of a bad entry, as it would be written in Python."""
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


# ---------------------------------------------------------------- scalars


def check_scalar(value, name, *, low=None, high=None, include_low=True, include_high=True):
    """Return ``value`` as a finite float, or raise naming ``name``.

    ``low`` / ``high`` are optional bounds, inclusive unless told otherwise.
    ``bool`` and complex numbers are refused with a ``TypeError``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} ({value!r}).")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} == {value}, must be finite.")
    if low is not None and (value < low or (value == low and not include_low)):
        raise ValueError(f"{name} == {value}, must be {'>=' if include_low else '>'} {low}.")
    if high is not None and (value > high or (value == high and not include_high)):
        raise ValueError(f"{name} == {value}, must be {'<=' if include_high else '<'} {high}.")
    return value


def real(value, name, *, low=None, high=None, low_open=False):
    """Alias of :func:`check_scalar` with the former ``linear_models`` spelling ``low_open``."""
    return check_scalar(value, name, low=low, high=high, include_low=not low_open)


def check_int(value, name, *, low=0, high=None):
    """Return ``value`` as a Python ``int`` in ``[low, high]``, or raise naming ``name``.

    Python and NumPy integers are accepted; ``bool``, floats (even ``2.0``) and
    anything else are a ``TypeError``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        bound = "" if low is None else f" >= {low}"
        raise TypeError(f"{name} == {value!r}, must be an integer{bound}, got {type(value).__name__}.")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} == {value}, must be an integer >= {low}.")
    if high is not None and value > high:
        raise ValueError(f"{name} == {value}, must be an integer <= {high}.")
    return value


def count(value, name, *, low=0):
    """Alias of :func:`check_int` (the former ``linear_models`` name)."""
    return check_int(value, name, low=low)


def check_bool(value, name):
    """Return ``value`` as a Python ``bool`` if it is one (``numpy.bool_`` too), else a ``TypeError`` naming
    ``name``: a truthy string such as ``'no'`` or a number is not a flag."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} == {value!r}, must be True or False.")
    return bool(value)


def check_choice(value, name, choices):
    """Return ``value`` if it is one of ``choices``, else raise naming ``name``."""
    try:
        ok = value in choices
    except TypeError:                                 # unhashable value against a set of choices
        ok = False
    if not ok:
        raise ValueError(f"{name} == {value!r}, must be one of {', '.join(map(repr, choices))}.")
    return value


choice = check_choice


def as_generator(rng, name="rng"):
    """A ``numpy.random.Generator`` from a Generator, an integer seed or a ``SeedSequence``.

    ``None`` is refused: results must be reproducible.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        raise ValueError(f"{name} is None; pass a seed or a numpy.random.Generator for reproducible results.")
    if isinstance(rng, (numbers.Integral, np.random.SeedSequence)) and not isinstance(rng, (bool, np.bool_)):
        return np.random.default_rng(rng)
    raise TypeError(f"{name} must be a numpy.random.Generator or an integer seed, got {type(rng).__name__}.")


# ---------------------------------------------------------------- arrays


def check_array(value, name, ndim=None, *, shape=None, promote=False, nonempty=False, positive=False,
                nonnegative=False):
    """A finite float copy of ``value``, or an error naming ``name`` and the first bad entry.

    Parameters
    ----------
    ndim : int, optional
        Required number of dimensions.
    shape : tuple, optional
        Required lengths per axis (``None`` entries are free).
    promote : bool
        A scalar becomes a length-1 vector (with ``ndim=1``).
    nonempty : bool
        At least one entry.
    positive, nonnegative : bool
        Every entry ``> 0`` / ``>= 0``.
    """
    try:
        kind = np.asarray(value).dtype.kind              # text, bool, complex: refused, not converted
        if kind in _NOT_NUMERIC and kind != "O":
            raise TypeError(kind)
        arr = np.array(value, dtype=float, copy=True, ndmin=1 if promote else 0)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a sequence of real numbers, got {value!r}.") from exc
    if nonempty and (arr.size == 0 or (ndim is not None and arr.ndim != ndim)):
        raise ValueError(f"{name} must be a non-empty {ndim or ''}{'-D ' if ndim else ''}sequence, "
                         f"got shape {arr.shape}.")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}.")
    if shape is not None:
        for axis, (got, want) in enumerate(zip(arr.shape, shape)):
            if want is not None and got != want:
                raise ValueError(f"{name} has shape {arr.shape}; axis {axis} must have length {want}.")
    for bad, what in ((~np.isfinite(arr), "finite"),
                      (arr <= 0 if positive else None, "> 0"),
                      (arr < 0 if nonnegative else None, ">= 0")):
        if bad is not None and bad.any():
            idx = np.argwhere(bad)[0] if arr.ndim else ()
            shown = arr[tuple(idx)]
            raise ValueError(f"{name}{_where(idx) if arr.ndim else ''} == {shown}, must be {what}.")
    return arr


def array(value, name, ndim, *, shape=None):
    """Alias of :func:`check_array` (the former ``linear_models`` name; ``ndim`` required)."""
    return check_array(value, name, ndim, shape=shape)


def check_vector(values, name, *, positive=False, nonnegative=False):
    """A finite non-empty 1-D float array (a scalar becomes one entry), or an error naming ``name``."""
    return check_array(values, name, 1, promote=True, nonempty=True, positive=positive, nonnegative=nonnegative)


def check_symmetric(value, name, p):
    """A finite symmetric ``(p, p)`` float copy (exactly symmetrised), or an error naming ``name``.

    Asymmetry up to ``1e-10`` of the largest entry is rounding and is averaged away.
    """
    H = check_array(value, name, 2, shape=(p, p))
    scale = max(float(np.abs(H).max(initial=0.0)), np.finfo(float).tiny)
    if not np.allclose(H, H.T, rtol=0, atol=1e-10 * scale):
        i, j = np.unravel_index(np.argmax(np.abs(H - H.T)), H.shape)
        raise ValueError(f"{name} is not symmetric: {name}[{i}, {j}] == {H[i, j]} but {name}[{j}, {i}] == {H[j, i]}.")
    return 0.5 * (H + H.T)


symmetric = check_symmetric


# ---------------------------------------------------------------- keep: fraction or count


def _refuse_non_real_keep(keep, name, counts):
    """``TypeError`` for bool and complex keep (scalars, arrays and entries of sequences)."""
    hint = "a kept fraction in (0, 1] (a float)" + (" or a number of kept entries (an int)" if counts else "")
    items = [keep]
    if isinstance(keep, (list, tuple)):
        items = list(np.asarray(keep, dtype=object).ravel()) if len(keep) else []
    for item in items:
        kind = item.dtype.kind if isinstance(item, (np.ndarray, np.generic)) else None
        if isinstance(item, bool) or kind == "b":
            raise TypeError(f"{name} == {keep!r} is a bool; pass {hint}.")
        if (isinstance(item, numbers.Complex) and not isinstance(item, numbers.Real)) or kind == "c":
            raise TypeError(f"{name} == {keep!r} is complex; pass {hint}.")


def check_fraction(keep, name="keep", *, where="asymptotics"):
    """Kept fractions in ``(0, 1]``: a float for scalar input, else a float array of the same shape.

    For places where a count of kept entries has no meaning (the proportional
    limit, Monte Carlo keep grids). Integers are counts elsewhere in the
    toolkit, so an integer ``keep`` (Python or NumPy, scalar or integer array,
    or an integer entry of a list such as the ``1`` of ``[0.5, 1]``) is refused
    with a ``TypeError`` that says so; ``bool`` and complex values are refused too. ``where`` names the caller in that message.
    """
    _refuse_non_real_keep(keep, name, counts=False)
    scalar = np.ndim(keep) == 0
    try:
        mixed = isinstance(keep, (list, tuple)) and np.asarray(keep).dtype.kind == "f"
    except ValueError:
        mixed = False
    if mixed:                       # all-integer lists get the message below; a lone int among floats here
        _refuse_integer_entries(keep, name, where)
    try:
        if keep is None or isinstance(keep, (str, bytes)) or np.asarray(keep).dtype.kind in "OUSMmV":
            raise TypeError(type(keep).__name__)
        ints = isinstance(keep, numbers.Integral) or np.asarray(keep).dtype.kind in "iu"
        arr = np.array(keep, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number or an array of numbers in (0, 1], got {keep!r}.") from exc
    if ints:
        if scalar:
            v = int(keep)
            hint = f"pass {float(v)}" if v == 1 else "pass a float in (0, 1], e.g. 0.5 to keep half"   # 3.0 is refused too
            raise TypeError(f"{name} == {v} is an integer (a count); {where} takes kept fractions: {hint}.")
        raise TypeError(f"{name} == {np.asarray(keep).tolist()!r} holds integers (counts); {where} takes kept "
                        f"fractions: pass floats in (0, 1], e.g. {arr.tolist()!r} if these are already fractions.")
    if arr.size == 0:
        raise ValueError(f"{name} is empty, must hold at least one fraction in (0, 1].")
    bad = ~np.isfinite(arr) | (arr <= 0) | (arr > 1)
    if bad.any():
        idx = np.argwhere(bad)[0] if arr.ndim else ()
        raise ValueError(f"{name}{_where(idx) if arr.ndim else ''} == {arr[tuple(idx)]}, must be in (0, 1].")
    return float(arr) if scalar else arr


def _refuse_integer_entries(keep, name, where, idx=()):
    """An integer entry of a (nested) list or tuple is a count wherever counts exist (``[0.5, 1]`` keeps one
    weight in ``network_experiment``), so it is refused here too rather than read as ``1.0``."""
    if isinstance(keep, (list, tuple)):
        for i, v in enumerate(keep):
            _refuse_integer_entries(v, name, where, idx + (i,))
    elif idx and isinstance(keep, (numbers.Integral, np.integer)) and not isinstance(keep, (bool, np.bool_)):
        at = "".join(f"[{i}]" for i in idx)
        raise TypeError(f"{name}{at} == {int(keep)} is an integer (a count); {where} takes kept fractions: "
                        f"write it as a float, e.g. {float(keep)!r} if it is a fraction.")


def check_keep(keep, name="keep", *, where="asymptotics"):
    """``(array, is_scalar)`` form of :func:`check_fraction` (the former ``asymptotics`` name)."""
    frac = check_fraction(keep, name, where=where)
    return np.array(frac, dtype=float), np.ndim(keep) == 0


def keep_count(keep, p, name="keep"):
    """Number of kept entries of a length-``p`` vector: from a fraction in ``(0, 1]`` or an integer count.

    A float is a fraction (rounded to the nearest count, at least 1); an
    integer (Python or NumPy) is a count in ``[1, p]``; ``bool`` and complex
    values are refused with a ``TypeError``.
    """
    p = check_int(p, "p", low=1)
    if isinstance(keep, np.ndarray) and keep.ndim == 0:
        keep = keep[()]
    _refuse_non_real_keep(keep, name, counts=True)
    if isinstance(keep, numbers.Integral):
        if not 1 <= keep <= p:
            raise ValueError(f"{name} == {keep}, an integer count must be in [1, {p}].")
        return int(keep)
    if isinstance(keep, numbers.Real):
        keep = float(keep)
        if not (np.isfinite(keep) and 0 < keep <= 1):
            raise ValueError(f"{name} == {keep}, must be in (0, 1] (or an integer count).")
        return max(1, min(p, int(round(keep * p))))
    raise TypeError(f"{name} must be a fraction in (0, 1] or an integer count, got {type(keep).__name__}.")
