"""The pruning threshold of docs/theory.md Section 3: solve ``sum_k pi_k P_k(score >= t) = alpha W``.

Each atom's score is ``abs(A_k + C_k g)`` with ``g ~ N(0, 1)``: a continuous
law when ``C_k > 0``, a point mass at ``abs(A_k)`` when ``C_k = 0`` (oracle
pruning of fixed signal, or noiseless OLS). Ties at a point mass are broken at
random, so an atom sitting exactly at the threshold is kept in the fraction
that makes the total kept fraction exactly ``alpha`` (of the total weight ``W``).

The solver is vectorized over many ``alpha`` at once: point masses are
handled exactly by sorting; between two consecutive point masses the kept
fraction is continuous and strictly decreasing in ``t``, and a safeguarded
Halley iteration (bisection fallback, bracket narrowed first on a geometric
grid) finds the root.

**Nearly point-like atoms.** An atom whose spread ``C`` is tiny against its
centre ``A`` (e.g. ``C/A = 1e-20`` in nearly noiseless OLS) switches from
"nothing kept" to "everything kept" within one floating-point spacing of
``t``: no double ``t`` reaches the kept fraction. The threshold is therefore
represented as ``t = base + step * x``; once the bracket on ``t`` has shrunk
to adjacent doubles the solver pivots on the steepest atom ``j`` there
(``base = A_j``, ``step = C_j``) and solves for its standardized coordinate
``x`` instead, which resolves the kept fraction of every atom to full
precision. The atom then behaves as the point mass it nearly is (with its
exact Gaussian shape inside the tie). Every solution is verified: the kept
fraction reached must equal ``alpha W`` to :data:`KEEP_VERIFY_RTOL`, else
:class:`ConvergenceError` is raised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from pruning_checks.threads import parallel_section

from ._jit import stamp
from .fixed_point import ConvergenceError

THRESHOLD_RTOL = 1e-13      # target accuracy of the kept fraction, relative to alpha
KEEP_VERIFY_RTOL = 1e-10    # a solution whose kept fraction is further from alpha W (relative) is refused
THRESHOLD_MAXITER = 300     # Halley/bisection iteration bound (per phase)
GRID_PER_DECADE = 4         # geometric grid used to narrow the brackets: points per decade of scores
GRID_MIN, GRID_MAX = 16, 1300
TAIL_SDS = 40.0             # beyond A + TAIL_SDS * C an atom keeps nothing (Q(40) ~ 1e-350)
Z_CLIP = 40.0               # standardized scores are clipped to +-Z_CLIP (exact in double: Q(40) = 0)
SUBSAMPLE_ATOMS = 4096      # above this many atoms, start from the root of a strided subsample
PARALLEL_MIN_WORK = 1 << 18  # (kept fractions x atoms) below this run serially: thread start-up dominates
OPTIMISTIC_STEP_RTOL = 1e-5  # optimistic solves take the last Halley step from this close, unevaluated
OPTIMISTIC_ACCEPT = 1e-12   # an optimistic threshold is kept if its kept fraction is this close (relative)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)


@dataclass(frozen=True)
class Thresholds:
    """Threshold per kept fraction, ``t = base + step * x``, and the kept share of point masses at it.

    ``t`` is the double nearest to the threshold; ``(base, step, x)`` is its exact representation,
    used to standardize scores: ``z = ((base - A) + step x) / C`` (see :meth:`z_values`).
    """

    t: np.ndarray
    base: np.ndarray
    step: np.ndarray
    x: np.ndarray
    tie: np.ndarray          # fraction of a point mass at exactly t that is kept
    iterations: int
    optimistic: bool = False  # some thresholds may be unverified last Halley steps (see solve_thresholds)

    def point_kept(self, m):
        """Kept probability of point-mass atoms at scores ``m``: shape ``(n_alpha, len(m))``."""
        t = self.t[:, None]
        return np.where(m > t, 1.0, np.where(m == t, self.tie[:, None], 0.0))

    def z_values(self, A, C, rows=slice(None)):
        """``(U, L)`` of the score law ``abs(A + C g)``: kept iff ``g >= U`` or ``g <= L``; clipped to +-Z_CLIP."""
        base, off = self.base[rows, None], (self.step * self.x)[rows, None]
        with np.errstate(over="ignore", divide="ignore"):
            U = ((base - A) + off) / C
            L = -((base + A) + off) / C
        return np.clip(U, -Z_CLIP, Z_CLIP), np.clip(L, -Z_CLIP, Z_CLIP)


def _kept_kernel(key):
    """The kernel below closed over ``key``, the :func:`~asymptotics._jit.stamp` of its compile variant:
    Numba's cache key ignores the compile options, so without it the serial and the parallel variant
    would share one cache entry (whichever compiled first would be served for both)."""

    def _kept_py(base, step, x, A, C, w, G, D, D2, density):
        """G[i] = sum_k w_k P(|A_k + C_k g| >= t_i) at t_i = base_i + step_i x_i; with ``density``
        D[i] = -dG/dx and D2[i] = dD/dx."""
        if key < 0:                 # never taken: reading ``key`` puts it in Numba's cache key
            return
        for i in prange(x.size):
            off = step[i] * x[i]
            g_sum = 0.0
            d_sum = 0.0
            d2_sum = 0.0
            for k in range(A.size):
                z1 = min(max(((base[i] - A[k]) + off) / C[k], -Z_CLIP), Z_CLIP)
                z2 = min(max(((base[i] + A[k]) + off) / C[k], -Z_CLIP), Z_CLIP)
                g_sum += w[k] * 0.5 * (math.erfc(z1 * _INV_SQRT_2) + math.erfc(z2 * _INV_SQRT_2))
                if density:
                    p1 = math.exp(-0.5 * z1 * z1) * _INV_SQRT_2PI
                    p2 = math.exp(-0.5 * z2 * z2) * _INV_SQRT_2PI
                    r = step[i] / C[k]
                    d_sum += w[k] * (p1 + p2) * r
                    d2_sum -= w[k] * (z1 * p1 + z2 * p2) * r * r
            G[i] = g_sum
            D[i] = d_sum
            D2[i] = d2_sum

    return _kept_py


_kept_serial = njit(cache=True)(_kept_kernel(stamp("serial")))
_kept_parallel = njit(parallel=True, cache=True)(_kept_kernel(stamp("parallel")))


def _evaluate(base, step, x, A, C, w, density):
    x = np.ascontiguousarray(x, dtype=float).ravel()
    base = np.broadcast_to(np.asarray(base, dtype=float), x.shape).copy()
    step = np.broadcast_to(np.asarray(step, dtype=float), x.shape).copy()
    G, D, D2 = np.empty(x.size), np.empty(x.size), np.empty(x.size)
    kernel = _kept_parallel if x.size * A.size >= PARALLEL_MIN_WORK else _kept_serial
    with parallel_section(kernel is _kept_parallel):
        kernel(base, step, x, np.ascontiguousarray(A, dtype=float), np.ascontiguousarray(C, dtype=float),
               np.ascontiguousarray(w, dtype=float), G, D, D2, density)
    return G, D, D2


def continuous_kept(t, A, C, w, density=False):
    """``sum_k w_k P(abs(A_k + C_k g) >= t)`` for each ``t``.

    With ``density=True`` also returns ``D = -dG/dt`` and ``dD/dt``.
    """
    G, D, D2 = _evaluate(0.0, 1.0, t, A, C, w, density)
    return (G, D, D2) if density else G


def _start(target, lo, hi, A, C, w):
    """Starting points inside ``(lo, hi)``: the root for a strided subsample of the atoms if there
    are many, else a secant step between the points of a geometric grid that bracket the root
    (which also narrows the brackets). Returns ``(t, lo, hi)``."""
    if A.size > SUBSAMPLE_ATOMS:
        sub = slice(None, None, -(-A.size // SUBSAMPLE_ATOMS))
        ws = w[sub] * (w.sum() / w[sub].sum())
        tol = np.full(target.size, THRESHOLD_RTOL)
        t, done, _ = _solve(target, tol, lo.copy(), hi.copy(), A[sub], C[sub], ws)
        inside = (t > lo) & (t < hi)
        return np.where(inside, t, _bisect(lo, hi, True)), lo, hi
    top = hi.max()
    floor = max(float(np.min(A + C)) * 1e-3, top * 1e-300)
    n_grid = int(np.clip(GRID_PER_DECADE * np.log10(top / floor), GRID_MIN, GRID_MAX))
    grid = np.geomspace(floor, top, n_grid)
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
    return np.where(ok, secant, _bisect(lo, hi, True)), lo, hi


def _bisect(lo, hi, geometric):
    """Midpoints; geometric (log-scale) for positive brackets spanning more than a factor 100."""
    mid = 0.5 * (lo + hi)
    if geometric:
        lo_pos = np.maximum(lo, hi * 1e-300)
        geo = np.sqrt(lo_pos) * np.sqrt(hi)
        mid = np.where((lo_pos > 0) & (hi > 100 * lo_pos) & np.isfinite(geo), geo, mid)
    return mid


def _iterate(x, target, tol, lo, hi, base, step, A, C, w, geometric, optimistic=False):
    """Safeguarded Halley iteration on ``G(base + step x) = target`` (vectorized).

    Returns ``(x, done, iterations)``; entries whose bracket shrinks to adjacent doubles before the
    kept fraction reaches ``target`` within ``tol`` are returned with ``done = False``.
    """
    done = np.zeros(x.size, dtype=bool)
    active = np.ones(x.size, dtype=bool)
    dx2 = np.full(x.size, np.inf)                      # the step before the last one
    dx1 = np.full(x.size, np.inf)
    for it in range(1, THRESHOLD_MAXITER + 1):
        idx = np.flatnonzero(active)
        G, D, D2 = _evaluate(base[idx], step[idx], x[idx], A, C, w, True)
        err = G - target[idx]
        ok_now = np.abs(err) <= tol[idx]
        left = err > 0                                  # too much kept: root is to the right
        lo[idx] = np.where(left & ~ok_now, x[idx], lo[idx])
        hi[idx] = np.where(~left & ~ok_now, x[idx], hi[idx])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            halley = x[idx] + 2 * err * D / (2 * D * D + err * D2)
        mid = _bisect(lo[idx], hi[idx], geometric)
        # the Halley step inside the bracket, only while steps shrink fast enough (as in rtsafe)
        use = np.isfinite(halley) & (halley > lo[idx]) & (halley < hi[idx]) & (
            np.abs(halley - x[idx]) <= 0.5 * dx2[idx])
        new = np.where(use, halley, mid)
        collapsed = ~ok_now & ((new <= lo[idx]) | (new >= hi[idx]) | (new == x[idx]))
        # optimistic: a Halley step from within OPTIMISTIC_STEP_RTOL lands within its cube, unverified
        last = optimistic & ~ok_now & ~collapsed & use & (np.abs(err) <= OPTIMISTIC_STEP_RTOL * target[idx])
        dx2[idx], dx1[idx] = dx1[idx], np.abs(new - x[idx])
        x[idx] = np.where(ok_now | collapsed, x[idx], new)
        done[idx[ok_now]] = True
        active[idx[ok_now | collapsed | last]] = False
        if not active.any():
            return x, done, it
    raise ConvergenceError(f"pruning threshold did not converge in {THRESHOLD_MAXITER} iterations")


def _solve(target, tol, lo, hi, A, C, w, optimistic=False):
    """Thresholds in ``t``-space for continuous atoms; returns ``(t, done, iterations)``.

    ``optimistic``: once the kept fraction is within ``OPTIMISTIC_STEP_RTOL`` the last (cubically
    converging) Halley step is taken without evaluating its result; such entries are returned with
    ``done = False`` for the caller to verify with its moment pass.
    """
    hi = np.minimum(hi, float(np.max(np.abs(A) + TAIL_SDS * C)))
    t0, lo, hi = _start(target, lo, hi, A, C, w)
    zeros, ones = np.zeros(t0.size), np.ones(t0.size)
    return _iterate(t0, target, tol, lo, hi, zeros, ones, A, C, w, True, optimistic)


def _pivot_solve(t, target, tol, A, C, w):
    """Second phase for thresholds stuck between adjacent doubles: pivot on the steepest atom there.

    Returns ``(base, step, x, done, iterations)``.
    """
    spacing = 4 * np.spacing(np.abs(t))
    near = np.abs(t[:, None] - A[None, :]) <= TAIL_SDS * C[None, :] + spacing[:, None]
    steep = np.where(near, C[None, :], np.inf)
    j = np.argmin(steep, axis=1)
    if not np.isfinite(steep[np.arange(t.size), j]).all():
        raise ConvergenceError("pruning threshold: the kept fraction jumps but no atom is near the threshold")
    base, step = A[j].copy(), C[j].copy()
    lo, hi = np.full(t.size, -TAIL_SDS - 1.0), np.full(t.size, TAIL_SDS + 1.0)
    x0 = np.zeros(t.size)                               # the pivot's centre; the bracket is +-(TAIL_SDS + 1)
    x, done, its = _iterate(x0, target, tol, lo, hi, base, step, A, C, w, False)
    return base, step, x, done, its


def solve_thresholds(alpha, A, C, w, optimistic=False) -> Thresholds:
    """Thresholds for kept fractions ``alpha`` (1-D) of atoms with score laws ``abs(A + C g)``.

    ``w`` are the atom weights; the kept weight is ``alpha * w.sum()``. With ``optimistic`` the
    last Halley step is not evaluated (it would cost a pass over all atoms): the caller must check
    the kept fractions in its own pass (see :func:`kept_error`) and re-solve the failures with
    ``optimistic=False``.
    """
    A = np.abs(np.asarray(A, dtype=float))
    C = np.asarray(C, dtype=float)
    W = float(w.sum())
    cont = C > 0
    Ac, Cc, wc = A[cont], C[cont], w[cont]
    n = alpha.size
    t = np.zeros(n)
    tie = np.ones(n)
    base, step, x = np.zeros(n), np.ones(n), np.zeros(n)
    goal = alpha.astype(float) * W
    target = goal.copy()
    lo, hi = np.zeros(n), np.full(n, np.inf)
    solve = alpha < 1.0                                    # alpha = 1: keep everything, t = 0
    if (~cont).any():
        vals, inv = np.unique(A[~cont], return_inverse=True)
        mass = np.bincount(inv, weights=w[~cont])[::-1]
        vals = vals[::-1]                                          # descending scores
        cum = np.cumsum(mass)
        g_at = continuous_kept(vals, Ac, Cc, wc) if Ac.size else np.zeros(vals.size)
        weak, strict = g_at + cum, g_at + cum - mass               # kept fraction at t = vals_j
        j = np.searchsorted(weak, goal, side="left")               # first j with weak_j >= goal
        if not Ac.size:                                            # rounding of sums: the last mass ties
            j = np.minimum(j, vals.size - 1)
        inside = j < vals.size
        jj = np.minimum(j, vals.size - 1)
        at_mass = solve & inside & (strict[jj] <= goal)
        t[at_mass] = vals[jj[at_mass]]
        x[at_mass] = t[at_mass]
        tie_lo = np.where(inside, np.clip((goal - strict[jj]) / mass[jj], 0.0, 1.0), 1.0)
        tie[at_mass] = tie_lo[at_mass]
        solve &= ~at_mass
        # otherwise the root lies strictly between vals_j and vals_{j-1}
        lo = np.where(inside, vals[jj], 0.0)
        hi = np.where(j > 0, vals[np.maximum(j - 1, 0)], np.inf)
        target = goal - np.where(j > 0, cum[np.maximum(j - 1, 0)], 0.0)
    iterations = 0
    tol = THRESHOLD_RTOL * np.maximum(goal, np.finfo(float).tiny)
    if solve.any():
        idx = np.flatnonzero(solve)
        g_lo = np.full(idx.size, float(wc.sum()))                 # everything is kept at t = 0
        pos = lo[idx] > 0
        if pos.any():
            g_lo[pos] = continuous_kept(lo[idx][pos], Ac, Cc, wc)
        at_lo = g_lo <= target[idx] + tol[idx]                     # the root is at the lower end
        t[idx[at_lo]] = x[idx[at_lo]] = lo[idx[at_lo]]
        if (~cont).any():                                          # a point mass there keeps its tie share
            tie[idx[at_lo]] = tie_lo[idx[at_lo]]
        idx = idx[~at_lo]
        if idx.size:
            ti, done, iterations = _solve(target[idx], tol[idx], lo[idx].copy(), hi[idx].copy(), Ac, Cc, wc,
                                          optimistic)
            t[idx] = x[idx] = ti
            if not optimistic and not done.all():
                stuck = idx[~done]
                b, s, xs, done2, its2 = _pivot_solve(t[stuck], target[stuck], tol[stuck], Ac, Cc, wc)
                base[stuck], step[stuck], x[stuck] = b, s, xs
                t[stuck] = b + s * xs
                iterations += its2
                if not done2.all():
                    raise ConvergenceError("pruning threshold: the kept fraction cannot be met to "
                                           f"{THRESHOLD_RTOL} even in the pivot atom's coordinate")
    return Thresholds(t, base, step, x, tie, iterations, optimistic)


def kept_error(kept, w, alpha):
    """Relative gap between the kept fraction ``kept @ w`` (shape ``(n, K)``) and ``alpha * w.sum()``."""
    goal = alpha * float(w.sum())
    return np.abs(kept @ w - goal) / goal


def verify_kept(kept, w, alpha):
    """Raise :class:`ConvergenceError` unless ``kept @ w`` (shape ``(n, K)``) equals ``alpha * w.sum()``."""
    got = kept @ w
    goal = alpha * float(w.sum())
    bad = ~(np.abs(got - goal) <= KEEP_VERIFY_RTOL * goal)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ConvergenceError(f"pruning threshold: kept fraction {got[i] / w.sum()!r} reached for "
                               f"keep == {alpha[i]!r} (relative error above {KEEP_VERIFY_RTOL}).")
