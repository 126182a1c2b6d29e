"""The pruning threshold of THEORY.md Section 3: solve ``sum_k pi_k P_k(score >= t) = alpha``.

Each atom's score is ``abs(A_k + C_k g)`` with ``g ~ N(0, 1)``: a continuous
law when ``C_k > 0``, a point mass at ``abs(A_k)`` when ``C_k = 0`` (oracle
pruning of fixed signal, or noiseless OLS). Ties at a point mass are broken at
random, so an atom sitting exactly at the threshold is kept in the fraction
that makes the total kept fraction exactly ``alpha``.

The solver is vectorized over many ``alpha`` at once: point masses are
handled exactly by sorting; between two consecutive point masses the kept
fraction is continuous and strictly decreasing in ``t``, and a safeguarded
Halley iteration (bisection fallback, bracket narrowed first on a geometric
grid) finds the root.
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import numpy as np
from numba import njit, prange

from .fixed_point import ConvergenceError

THRESHOLD_RTOL = 1e-12      # relative tolerance on the kept fraction (sums of 1e5 atoms carry ~1e-14)
THRESHOLD_TTOL = 1e-15      # relative bracket width at which t is as good as it gets
THRESHOLD_MAXITER = 200     # Halley/bisection iteration bound
GRID_POINTS = 64            # geometric grid used to narrow the brackets
GRID_DECADES = 14           # its span below the largest relevant score
TAIL_SDS = 40.0             # beyond A + TAIL_SDS * C an atom keeps nothing (Q(40) ~ 1e-350)
SUBSAMPLE_ATOMS = 4096      # above this many atoms, start from the root of a strided subsample
CHUNK = 1 << 20             # entries of an (alpha x atoms) block evaluated at once
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)


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


@njit(parallel=True, cache=True)
def _kept_kernel(t, A, inv_C, w, G, D, D2, density):
    """G[i] = sum_k w_k P(|A_k + C_k g| >= t_i); D[i] = -dG/dt and D2[i] = dD/dt if density."""
    for i in prange(t.size):
        g_sum = 0.0
        d_sum = 0.0
        d2_sum = 0.0
        for k in range(A.size):
            z1 = (t[i] - A[k]) * inv_C[k]
            z2 = (t[i] + A[k]) * inv_C[k]
            g_sum += w[k] * 0.5 * (math.erfc(z1 * _INV_SQRT_2) + math.erfc(z2 * _INV_SQRT_2))
            if density:
                p1 = math.exp(-0.5 * z1 * z1) * _INV_SQRT_2PI
                p2 = math.exp(-0.5 * z2 * z2) * _INV_SQRT_2PI
                d_sum += w[k] * (p1 + p2) * inv_C[k]
                d2_sum -= w[k] * (z1 * p1 + z2 * p2) * inv_C[k] * inv_C[k]
        G[i] = g_sum
        D[i] = d_sum
        D2[i] = d2_sum


def continuous_kept(t, A, C, w, density=False):
    """``sum_k w_k P(abs(A_k + C_k g) >= t)`` for each ``t``.

    With ``density=True`` also returns ``D = -dG/dt`` and ``dD/dt``.
    """
    t = np.ascontiguousarray(t, dtype=float).ravel()
    G, D, D2 = np.empty(t.size), np.empty(t.size), np.empty(t.size)
    _kept_kernel(t, np.ascontiguousarray(A, dtype=float), 1.0 / np.ascontiguousarray(C, dtype=float),
                 np.ascontiguousarray(w, dtype=float), G, D, D2, density)
    return (G, D, D2) if density else G


def _start(target, lo, hi, A, C, w):
    """Starting points inside ``(lo, hi)``: the root for a strided subsample of the atoms if there
    are many, else a secant step between the points of a geometric grid that bracket the root
    (which also narrows the brackets). Returns ``(t, lo, hi)``."""
    if A.size > SUBSAMPLE_ATOMS:
        sub = slice(None, None, -(-A.size // SUBSAMPLE_ATOMS))
        ws = w[sub] * (w.sum() / w[sub].sum())
        t = _root(target, lo.copy(), hi.copy(), A[sub], C[sub], ws)[0]
        inside = (t > lo) & (t < hi)
        return np.where(inside, t, 0.5 * (lo + hi)), lo, hi
    top = hi.max()
    grid = top * np.logspace(-GRID_DECADES, 0, GRID_POINTS)
    g_grid = continuous_kept(grid, A, C, w)
    above = g_grid[None, :] >= target[:, None]          # grid points left of the root (a prefix)
    n_above = above.sum(1)
    lo_g, g_lo = grid[np.maximum(n_above - 1, 0)], g_grid[np.maximum(n_above - 1, 0)]
    hi_g, g_hi = grid[np.minimum(n_above, grid.size - 1)], g_grid[np.minimum(n_above, grid.size - 1)]
    use_lo = (n_above > 0) & (lo_g >= lo)
    use_hi = (n_above < grid.size) & (hi_g <= hi)
    lo, hi = np.where(use_lo, lo_g, lo), np.where(use_hi, hi_g, hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        secant = lo + np.clip((g_lo - target) / (g_lo - g_hi), 0.0, 1.0) * (hi - lo)
    ok = use_lo & use_hi & np.isfinite(secant) & (secant > lo) & (secant < hi)
    return np.where(ok, secant, 0.5 * (lo + hi)), lo, hi


def _root(target, lo, hi, A, C, w):
    """Solve ``continuous_kept(t) = target`` with ``t`` in ``[lo, hi]`` for every entry."""
    hi = np.minimum(hi, float(np.max(np.abs(A) + TAIL_SDS * C)))
    t, lo, hi = _start(target, lo, hi, A, C, w)
    active = np.ones(t.size, dtype=bool)
    dx1, dx2 = np.full(t.size, np.inf), np.full(t.size, np.inf)   # the last two steps taken
    for it in range(1, THRESHOLD_MAXITER + 1):
        idx = np.flatnonzero(active)
        G, D, D2 = continuous_kept(t[idx], A, C, w, density=True)
        err = G - target[idx]
        done = (np.abs(err) <= THRESHOLD_RTOL * np.maximum(target[idx], np.finfo(float).tiny)) | (
            hi[idx] - lo[idx] <= THRESHOLD_TTOL * hi[idx])
        left = err > 0                                  # too much kept: root is to the right
        lo[idx] = np.where(left, t[idx], lo[idx])
        hi[idx] = np.where(left, hi[idx], t[idx])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # Halley step on f = G - target (f' = -D, f'' = -D2), cubic convergence
            newton = t[idx] + 2 * err * D / (2 * D * D + err * D2)
        bisect = np.where(lo[idx] > 0, np.sqrt(lo[idx] * hi[idx]), 0.5 * (lo[idx] + hi[idx]))
        bisect = np.where(hi[idx] > 100 * np.maximum(lo[idx], 1e-300), bisect, 0.5 * (lo[idx] + hi[idx]))
        # take the Halley step inside the bracket and only while steps shrink fast enough (as in
        # rtsafe); tiny steps in a flat stretch of G would otherwise crawl
        ok = np.isfinite(newton) & (newton > lo[idx]) & (newton < hi[idx]) & (
            np.abs(newton - t[idx]) <= 0.5 * np.abs(dx2[idx]))
        new_t = np.where(ok, newton, bisect)
        dx2[idx], dx1[idx] = dx1[idx], np.abs(new_t - t[idx])
        t[idx] = np.where(done, t[idx], new_t)
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
        g_lo = np.full(idx.size, float(wc.sum()))              # everything is kept at t = 0
        pos = lo[idx] > 0
        if pos.any():
            g_lo[pos] = continuous_kept(lo[idx][pos], Ac, Cc, wc)
        at_lo = g_lo <= target[idx]                                 # e.g. alpha = 1: keep all, t = 0
        t[idx[at_lo]] = lo[idx[at_lo]]
        idx = idx[~at_lo]
        if idx.size:
            t[idx], iterations = _root(target[idx], lo[idx].copy(), hi[idx].copy(), Ac, Cc, wc)
    return Thresholds(t, tie, iterations)
