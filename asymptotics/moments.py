"""Truncated-Gaussian moments of docs/theory.md Section 3, evaluated from the sympy-generated code.

For ``Y = a + c g`` kept when ``abs(Y) >= u``, with ``U = (u - a)/c`` and
``L = (-u - a)/c``::

    P(kept)        = Q(U) + Phi(L)
    E[Y 1{kept}]   = a P + c (phi(U) - phi(L))
    E[Y^2 1{kept}] = a^2 P + 2 a c (phi(U) - phi(L)) + c^2 (U phi(U) + Q(U) - L phi(L) + Phi(L))

The expressions are derived by sympy in :mod:`asymptotics.symbolic` and
printed once into :mod:`asymptotics._generated_moments` (plain ``math`` /
``numpy`` code); this module imports only the generated code, so sympy is never
imported at run time. :func:`moment_sums` evaluates, in one fused Numba pass per
kept fraction, the kept probability of every atom and any linear combination
of ``(E[Z^2 1{kept}], E[Z 1{kept}], P, 1)`` (``Z = Y - a``), reduced over atoms or
stored per atom: the pruned risk needs nothing else.

The fused kernel inlines the generated ``truncated_moments`` and the constant ``Z_CLIP`` of
:mod:`asymptotics.thresholds`; both, and the serial/parallel variant, are part of its on-disk
cache key (:mod:`asymptotics._jit`), so regenerating the moments recompiles it.

Example
-------
>>> from asymptotics.moments import truncated_moments
>>> p, m1, m2 = truncated_moments(0.0, 1.0, 0.0, 0.0)   # keep everything: E[g^2] = 1
>>> float(p), float(m1), float(m2)
(1.0, 0.0, 1.0)
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from pruning_checks.threads import parallel_section

from . import _generated_moments as _gen
from . import thresholds as _thresholds
from ._jit import stamp
from .thresholds import PARALLEL_MIN_WORK, Z_CLIP, Thresholds

_tm_scalar = njit(cache=True)(_gen.truncated_moments)

N_OUT = 3           # outputs of moment_sums: r (reduced), dropped signal (reduced), tm (stored)


def truncated_moments(a, c, U, L):
    """``(P(kept), E[Y 1{kept}], E[Y^2 1{kept}])`` for ``Y = a + c g`` kept when ``g >= U`` or ``g <= L``.

    Broadcasts over numpy arrays; ``c`` must be positive.
    """
    with np.errstate(invalid="ignore"):
        U = np.clip(U, -Z_CLIP, Z_CLIP)
        Lm = np.clip(-np.asarray(L, dtype=float), -Z_CLIP, Z_CLIP)
    return _gen.truncated_moments_array(a, c, U, Lm)


def isotropic_risk(kappa, noise, signal, ridge=0.0):
    """Closed-form dense test risk of the isotropic model (``lam = 1``, fixed signal ``signal``).

    ``inf`` at ``kappa = 1, ridge = 0``.
    """
    args = (kappa, noise, abs(signal), ridge)
    if ridge > 0:
        return float(_gen.isotropic_ridge_risk(*args))
    if kappa == 1:
        return float("inf")
    return float(_gen.isotropic_ols_risk(*args) if kappa > 1 else _gen.isotropic_minnorm_risk(*args))


def _moment_kernel(key):
    """The fused kernel below, closed over ``key``: a :func:`~asymptotics._jit.stamp` of the code and
    constants it inlines from other modules and of its compile variant (Numba's cache key then covers
    them; it covers only this file otherwise)."""

    def _moment_py(base, step, x, t, tie, alpha, A, C, zc, mode, coef, wred, store, Q, R, TM):
        """One pass over (kept fraction i, atom k).

        mode 0: thresholded atoms (``C > 0`` continuous, ``C = 0`` point masses at ``A``); mode 1: random
        masks (``P = alpha_i``). ``R[0, i] = sum_k wred_k max(r_ik, 0)``, ``R[1, i]`` the same for the
        dropped signal; ``TM[i, k] = max(tm_ik, 0)`` if ``store``.
        """
        if key < 0:                 # never taken: reading ``key`` puts it in Numba's cache key
            return
        n, K = x.size, A.size
        for i in prange(n):
            off = step[i] * x[i]
            r_sum = 0.0
            d_sum = 0.0
            for k in range(K):
                m1 = 0.0
                m2 = 0.0
                if mode == 1:
                    P = alpha[i]
                elif C[k] > 0.0:
                    U = min(max(((base[i] - A[k]) + off) / C[k], -Z_CLIP), Z_CLIP)
                    Lm = min(max(((base[i] + A[k]) + off) / C[k], -Z_CLIP), Z_CLIP)
                    P, m1, m2 = _tm_scalar(0.0, zc[k], U, Lm)
                elif A[k] > t[i]:
                    P = 1.0
                elif A[k] == t[i]:
                    P = tie[i]
                else:
                    P = 0.0
                Q[i, k] = P
                r = coef[0, 0, k] * m2 + coef[0, 1, k] * m1 + coef[0, 2, k] * P + coef[0, 3, k]
                d = coef[1, 0, k] * m2 + coef[1, 1, k] * m1 + coef[1, 2, k] * P + coef[1, 3, k]
                r_sum += wred[k] * max(r, 0.0)
                d_sum += wred[k] * max(d, 0.0)
                if store:
                    TM[i, k] = max(coef[2, 0, k] * m2 + coef[2, 1, k] * m1 + coef[2, 2, k] * P + coef[2, 3, k], 0.0)
            R[0, i] = r_sum
            R[1, i] = d_sum

    return _moment_py


#: What the kernel inlines from other modules: the generated moments, the clipping constant (and the
#: module defining it). Their source is hashed into the cache key together with the variant.
_INLINED = (_gen, _thresholds, Z_CLIP)
_moment_serial = njit(cache=True)(_moment_kernel(stamp(*_INLINED, "serial")))
_moment_parallel = njit(parallel=True, cache=True)(_moment_kernel(stamp(*_INLINED, "parallel")))


def moment_sums(th, A, C, zc, coef, wred, store, alpha=None):
    """Kept fractions and reduced combinations of the truncated moments.

    Parameters
    ----------
    th : Thresholds or None
        Solved thresholds (None for random masks, then ``alpha`` is the kept probability).
    A, C : ndarray, shape (K,)
        Score laws ``abs(A + C g)``.
    zc : ndarray, shape (K,)
        Scale of the centred thresholded variable ``Z = zc g``.
    coef : ndarray, shape (3, 4, K)
        Coefficients on ``(E[Z^2 1], E[Z 1], P, 1)`` of ``r``, the dropped signal and ``tm``.
    wred : ndarray, shape (K,)
        Weights of the reductions over atoms.
    store : bool
        Also return ``tm`` per atom.

    Returns
    -------
    q : ndarray (n, K)
    sums : ndarray (2, n)
        ``sum_k wred_k max(r, 0)`` and ``sum_k wred_k max(dropped, 0)``.
    tm : ndarray (n, K) or None
    """
    A = np.ascontiguousarray(np.abs(A), dtype=float)
    C = np.ascontiguousarray(C, dtype=float)
    K = A.size
    if th is None:
        alpha = np.ascontiguousarray(alpha, dtype=float)
        n = alpha.size
        th = Thresholds(np.zeros(n), np.zeros(n), np.ones(n), np.zeros(n), np.ones(n), 0)
        mode = 1
    else:
        n = th.t.size
        alpha = np.zeros(n)
        mode = 0
    Q = np.empty((n, K))
    R = np.empty((2, n))
    TM = np.empty((n, K)) if store else np.empty((0, 0))
    kernel = _moment_parallel if n * K >= PARALLEL_MIN_WORK else _moment_serial
    with parallel_section(kernel is _moment_parallel):
        kernel(th.base, th.step, th.x, th.t, th.tie, alpha, A, C, np.ascontiguousarray(zc, dtype=float), mode,
               np.ascontiguousarray(coef, dtype=float), np.ascontiguousarray(wred, dtype=float), store, Q, R, TM)
    return Q, R, (TM if store else None)
