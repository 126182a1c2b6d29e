"""Similarity of two trained models: linear CKA of their outputs and linear mode connectivity.

These are the two order parameters of the three-regime model (Zhou et al. 2023;
docs/references.md), computed between two retrainings of one pruned mask.

**Linear CKA** (centred kernel alignment, Kornblith et al. 2019) of two output
matrices ``A`` (``n x k1``) and ``B`` (``n x k2``) on the same ``n`` inputs:
with column-centred ``A_c = H A``, ``B_c = H B`` (``H = I - 11'/n``),

    CKA(A, B) = ||B_c' A_c||_F^2 / (||A_c' A_c||_F ||B_c' B_c||_F)
              = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)),   K = A A', L = B B',

with ``HSIC(K, L) = tr(K H L H) / (n - 1)^2``. It lies in ``[0, 1]``, equals 1
for ``A`` against itself and is invariant to ``A -> c A Q + 1 m'`` for any
orthogonal ``Q``, scale ``c != 0`` and shift ``m``. For single outputs
(``k = 1``) it is the squared Pearson correlation. The feature-space form above
costs ``O(n k^2)``; the ``n x n`` Gram form is only used by the tests.

**Linear mode connectivity** of parameter vectors ``theta_0`` and ``theta_1``
under an error function ``E``: evaluate ``E(t) = E((1 - t) theta_0 + t theta_1)``
on ``points`` equally spaced ``t`` in ``[0, 1]`` (11 in the paper) and

    mc = 1/2 (E(0) + E(1)) - E(t*),   t* = argmax_t |1/2 (E(0) + E(1)) - E(t)|

(ties go to the smallest ``t``). ``mc`` near 0 means connected, ``mc < 0`` a
barrier. The definition compares the path with the *mean* of the endpoints, not
with the chord, so for a convex ``E`` it guarantees only
``mc >= -|E(1) - E(0)|/2`` (``mc >= 0`` when the endpoints have equal error; ``mc = 0``
when the whole path is at the minimum, e.g. two interpolators of an
underdetermined least-squares problem). The result therefore also carries the
chord barrier of Frankle et al. (2020), ``max_t [E(t) - ((1 - t) E(0) + t E(1))]``,
which is ``<= 0`` for every convex ``E`` and ``> 0`` only for a non-convex path.

Example
-------
>>> import numpy as np
>>> from simulations.networks.similarity import linear_cka, mode_connectivity
>>> A = np.random.default_rng(0).standard_normal((50, 3))
>>> round(linear_cka(A, A), 12), round(linear_cka(A, 2 * A + 1), 12)
(1.0, 1.0)
>>> res = mode_connectivity(np.array([-1.0]), np.array([1.0]), lambda th: float((th[0] ** 2 - 1) ** 2))
>>> float(res.mc), float(res.t_star), float(res.barrier)       # a double well: barrier of height 1 at t = 1/2
(-1.0, 0.5, 1.0)
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

#: Points on the straight path in the paper's measurement (t = 0, 0.1, ..., 1).
PATH_POINTS = 11
#: Outputs whose centred values are below this fraction of their magnitude are treated as constant.
CONSTANT_RTOL = 1e-12


# TODO(pruning_checks): move to the shared validation package once it lands.
def _matrix(value, name):
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers.") from exc
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1-D (one output) or 2-D (n x k), got shape {arr.shape}.")
    if arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} has shape {arr.shape}; needs at least 2 rows (inputs) and 1 column (outputs).")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return arr


def _vector(value, name):
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers.") from exc
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D parameter vector, got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return arr


def linear_cka(outputs_a, outputs_b):
    """Linear CKA between two output matrices on the same inputs.

    Parameters
    ----------
    outputs_a : array_like, shape (n,) or (n, k1)
    outputs_b : array_like, shape (n,) or (n, k2)
        Outputs (e.g. softmax probabilities or regression outputs) of two models, row ``i``
        on input ``i``.

    Returns
    -------
    float
        ``||B_c' A_c||_F^2 / (||A_c' A_c||_F ||B_c' B_c||_F)`` in ``[0, 1]``.

    Raises
    ------
    ValueError
        If the row counts differ or either output is constant over the inputs (CKA undefined).
    """
    a = _matrix(outputs_a, "outputs_a")
    b = _matrix(outputs_b, "outputs_b")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"outputs_a has {a.shape[0]} rows and outputs_b {b.shape[0]}; they must be the same inputs.")
    centred = []
    for arr, nm in ((a, "outputs_a"), (b, "outputs_b")):
        c = arr - arr.mean(axis=0)
        spread = np.abs(c).max()
        # variation at rounding level of the values themselves counts as constant
        if spread <= CONSTANT_RTOL * np.abs(arr).max():
            raise ValueError(f"{nm} is constant over the inputs; CKA is undefined.")
        centred.append(c / spread)   # CKA is scale invariant; this keeps products away from under/overflow
    a, b = centred
    cross = np.linalg.norm(b.T @ a) ** 2
    den = np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)
    return float(min(1.0, cross / den))


@dataclass(frozen=True)
class ModeConnectivity:
    """Errors along a straight path between two parameter vectors.

    Attributes
    ----------
    mc : float
        ``1/2 (E(0) + E(1)) - E(t*)``, ``t*`` maximising the absolute deviation (0: connected,
        negative: a barrier).
    t_star : float
        Where the deviation is largest.
    barrier : float
        Chord barrier ``max_t [E(t) - ((1 - t) E(0) + t E(1))]`` (``<= 0`` for convex ``E``).
    t, errors : ndarray
        The path points and ``E`` at each.
    """

    mc: float
    t_star: float
    barrier: float
    t: np.ndarray = field(repr=False)
    errors: np.ndarray = field(repr=False)


def mc_from_path(t, errors):
    """``(mc, t_star, barrier)`` from errors along a path (see the module docstring)."""
    t = np.asarray(t, dtype=float)
    e = np.asarray(errors, dtype=float)
    if t.ndim != 1 or t.shape != e.shape or t.size < 2:
        raise ValueError(f"t and errors must be 1-D of equal length >= 2, got shapes {t.shape} and {e.shape}.")
    if not np.all(np.isfinite(e)):
        raise ValueError("errors contains NaN or infinite values (the error function failed on the path).")
    dev = 0.5 * (e[0] + e[-1]) - e
    i = int(np.argmax(np.abs(dev)))
    barrier = float(np.max(e - ((1.0 - t) * e[0] + t * e[-1])))
    return float(dev[i]), float(t[i]), barrier


def mode_connectivity(theta_0, theta_1, error, *, points=PATH_POINTS):
    """Linear mode connectivity of two parameter vectors.

    Parameters
    ----------
    theta_0, theta_1 : array_like, shape (d,)
        The endpoints (e.g. two retrainings of one pruned mask; pruned entries are 0 in both,
        so the whole path respects the mask).
    error : callable
        ``error(theta) -> float``, e.g. the training error of the network with parameters
        ``theta``. Called once per path point, in order of ``t``.
    points : int
        Number of equally spaced path points, endpoints included (11 in the paper).

    Returns
    -------
    ModeConnectivity
    """
    th0 = _vector(theta_0, "theta_0")
    th1 = _vector(theta_1, "theta_1")
    if th0.shape != th1.shape:
        raise ValueError(f"theta_0 has shape {th0.shape} and theta_1 {th1.shape}; they must match.")
    if not callable(error):
        raise TypeError(f"error must be a callable theta -> float, got {type(error).__name__}.")
    if isinstance(points, bool) or not isinstance(points, numbers.Integral) or points < 3:
        raise ValueError(f"points == {points!r}, must be an integer >= 3.")
    t = np.linspace(0.0, 1.0, int(points))
    errors = np.empty(t.size)
    for i, ti in enumerate(t):
        theta = th0 if ti == 0.0 else th1 if ti == 1.0 else (1.0 - ti) * th0 + ti * th1
        errors[i] = float(error(theta))
    mc, t_star, barrier = mc_from_path(t, errors)
    return ModeConnectivity(mc, t_star, barrier, t, errors)
