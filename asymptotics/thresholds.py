"""The pruning threshold of THEORY.md Section 3: solve ``sum_k pi_k P_k(score >= t) = alpha``.

Each atom's score is ``abs(A_k + C_k g)`` with ``g ~ N(0, 1)``: a continuous
law when ``C_k > 0``, a point mass at ``abs(A_k)`` when ``C_k = 0`` (oracle
pruning of fixed signal, or noiseless OLS). Ties at a point mass are broken at
random, so an atom sitting exactly at the threshold is kept in the fraction
that makes the total kept fraction exactly ``alpha``.

The solver is vectorized over many ``alpha`` at once: point masses are
handled exactly by sorting; between two consecutive point masses the kept
fraction is continuous and strictly decreasing in ``t``, and a safeguarded
Newton iteration (bisection fallback, bracket narrowed first on a geometric
grid) finds the root.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from .fixed_point import ConvergenceError

THRESHOLD_RTOL = 1e-13      # relative tolerance on the kept fraction
THRESHOLD_TTOL = 1e-15      # relative bracket width at which t is as good as it gets
THRESHOLD_MAXITER = 200     # Newton/bisection iteration bound
GRID_POINTS = 64            # geometric grid used to narrow the brackets
GRID_DECADES = 14           # its span below the largest relevant score
TAIL_SDS = 40.0             # beyond A + TAIL_SDS * C an atom keeps nothing (Q(40) ~ 1e-350)
CHUNK = 1 << 20             # entries of an (alpha x atoms) block evaluated at once
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


@dataclass(frozen=True)
class Thresholds:
    """Threshold ``t`` per kept fraction, and the kept share of point masses sitting at it."""

    t: np.ndarray
    tie: np.ndarray          # fraction of a point mass at exactly t that is kept
    iterations: int

    def point_kept(self, m):
        """Kept probability of point-mass atoms at scores ``m``: shape ``(n_alpha, len(m))``."""
        t = self.t[:, None]
        return np.where(m > t, 1.0, np.where(m == t, self.tie[:, None], 0.0))


def _blocks(n_rows, n_cols):
    step = max(1, CHUNK // max(n_cols, 1))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def continuous_kept(t, A, C, w, density=False):
    """``sum_k w_k P(abs(A_k + C_k g) >= t)`` for each ``t`` (and minus its derivative)."""
    t = np.asarray(t, dtype=float)
    G = np.empty(t.size)
    D = np.empty(t.size) if density else None
    for sl in _blocks(t.size, A.size):
        z1 = (t[sl, None] - A) / C
        z2 = (t[sl, None] + A) / C
        G[sl] = (ndtr(-z1) + ndtr(-z2)) @ w
        if density:
            D[sl] = ((np.exp(-0.5 * z1 * z1) + np.exp(-0.5 * z2 * z2)) * _INV_SQRT_2PI / C) @ w
    return (G, D) if density else G


def _root(target, lo, hi, A, C, w):
    """Solve ``continuous_kept(t) = target`` with ``t`` in ``[lo, hi]`` for every entry."""
    t = np.where(np.isfinite(hi), 0.5 * (lo + hi), lo)
    # narrow the brackets on a geometric grid (one pass over the atoms)
    top = float(np.max(np.abs(A) + TAIL_SDS * C))
    grid = top * np.logspace(-GRID_DECADES, 0, GRID_POINTS)
    g_grid = continuous_kept(grid, A, C, w)
    above = g_grid[None, :] >= target[:, None]          # grid points left of the root
    lo_g = np.where(above.any(1), grid[np.clip(above.sum(1) - 1, 0, None)], 0.0)
    hi_g = np.where(above.all(1), top, grid[np.clip(above.sum(1), 0, grid.size - 1)])
    lo, hi = np.maximum(lo, np.where(above.any(1), lo_g, lo)), np.minimum(hi, hi_g)
    t = 0.5 * (lo + hi)
    active = np.ones(t.size, dtype=bool)
    for it in range(1, THRESHOLD_MAXITER + 1):
        idx = np.flatnonzero(active)
        G, D = continuous_kept(t[idx], A, C, w, density=True)
        err = G - target[idx]
        done = (np.abs(err) <= THRESHOLD_RTOL * np.maximum(target[idx], np.finfo(float).tiny)) | (
            hi[idx] - lo[idx] <= THRESHOLD_TTOL * hi[idx])
        left = err > 0                                  # too much kept: root is to the right
        lo[idx] = np.where(left, t[idx], lo[idx])
        hi[idx] = np.where(left, hi[idx], t[idx])
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = t[idx] + err / D
        bisect = np.where(lo[idx] > 0, np.sqrt(lo[idx] * hi[idx]), 0.5 * (lo[idx] + hi[idx]))
        bisect = np.where(hi[idx] > 100 * np.maximum(lo[idx], 1e-300), bisect, 0.5 * (lo[idx] + hi[idx]))
        ok = np.isfinite(newton) & (newton > lo[idx]) & (newton < hi[idx])
        t[idx] = np.where(done, t[idx], np.where(ok, newton, bisect))
        active[idx[done]] = False
        if not active.any():
            return t, it
    raise ConvergenceError(f"pruning threshold did not converge in {THRESHOLD_MAXITER} iterations")


def solve_thresholds(alpha, A, C, w) -> Thresholds:
    """Thresholds for kept fractions ``alpha`` (1-D) of atoms with score laws ``abs(A + C g)``.

    ``w`` are the atom weights (summing to one).
    """
    A = np.abs(A)
    cont = C > 0
    Ac, Cc, wc = A[cont], C[cont], w[cont]
    n = alpha.size
    t = np.zeros(n)
    tie = np.ones(n)
    target = alpha.astype(float).copy()
    lo, hi = np.zeros(n), np.full(n, np.inf)
    solve = np.ones(n, dtype=bool)
    if (~cont).any():
        vals, inv = np.unique(A[~cont], return_inverse=True)
        mass = np.bincount(inv, weights=w[~cont])[::-1]
        vals = vals[::-1]                                          # descending scores
        cum = np.cumsum(mass)
        g_at = continuous_kept(vals, Ac, Cc, wc) if Ac.size else np.zeros(vals.size)
        weak, strict = g_at + cum, g_at + cum - mass               # kept fraction at t = vals_j
        j = np.searchsorted(weak, alpha, side="left")              # first j with weak_j >= alpha
        inside = j < vals.size
        jj = np.minimum(j, vals.size - 1)
        at_mass = inside & (strict[jj] <= alpha)
        t[at_mass] = vals[jj[at_mass]]
        tie[at_mass] = np.clip((alpha[at_mass] - strict[jj[at_mass]]) / mass[jj[at_mass]], 0.0, 1.0)
        solve = ~at_mass
        # otherwise the root lies strictly between vals_j and vals_{j-1}
        lo = np.where(inside, vals[jj], 0.0)
        hi = np.where(j > 0, vals[np.maximum(j - 1, 0)], np.inf)
        target = alpha - np.where(j > 0, cum[np.maximum(j - 1, 0)], 0.0)
    iterations = 0
    if solve.any():
        if Ac.size == 0:
            raise ConvergenceError("no continuous atom can meet the kept fraction")  # unreachable: ties cover it
        idx = np.flatnonzero(solve)
        g_lo = continuous_kept(lo[idx], Ac, Cc, wc)
        at_lo = g_lo <= target[idx]                                 # e.g. alpha = 1: keep all, t = 0
        t[idx[at_lo]] = lo[idx[at_lo]]
        idx = idx[~at_lo]
        if idx.size:
            t[idx], iterations = _root(target[idx], lo[idx].copy(), hi[idx].copy(), Ac, Cc, wc)
    return Thresholds(t, tie, iterations)
