"""Combinatorial Brain Surgeon (Yu et al. 2022): randomised-magnitude starts, swap local search, outer loop.

**CBS swap search** (Yu et al. 2022, ``greedy_alg/greedy.py``). For ``i`` in
``P``: ``alpha_i = 2 w_i (F_{i,P} w_P) - F_ii w_i^2``; for ``j`` kept:
``beta_j = 2 w_j (F_{j,P} w_P) + F_jj w_j^2``; ``gamma_ij = 2 w_i F_ij w_j``.
Swapping ``i`` out of ``P`` and ``j`` in changes ``f`` by
``-alpha_i + beta_j - gamma_ij`` (:func:`swap_statistics`). One iteration sorts
``P`` by ``alpha`` descending and the kept weights by ``beta_j - gamma(j, P_0)``
ascending, stops the search if the first pair does not lower ``f`` by at least
``epsilon``, then for each ``i`` scans ``j`` in ``[max(1, i - rho), i + rho)``
and takes the first unused ``j`` that lowers ``f`` by ``epsilon`` (``alpha``
and ``beta`` corrected exactly for the swaps already accepted in the
iteration); after more than ``tau`` rows without a swap the iteration ends and
all swaps are applied. The outer loop evaluates the training loss of the masked
network (pruned weights zero, no update) after every iteration and returns the
lowest-loss mask; it stops when that minimum is ``patience`` iterations old or
after ``max_iter`` iterations. ``f`` never increases, and the returned mask is
never worse than the start in ``f`` or in the loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from pruning_checks import array, as_generator, count, keep_count, real

from .fisher import PruneResult, check_mask, check_shape, fisher_matrix, optimal_update, top_mask

#: CBS hyperparameters of the MNIST scripts (Yu et al. 2022, docs/references.md): swap threshold, scan range, miss limit.
CBS_EPSILON = 1e-4
CBS_RANGE = 10
CBS_MISSES = 20
CBS_MAX_ITER = 100
CBS_PATIENCE = 5
#: Randomised-magnitude candidates besides global magnitude (``--max-mag-perb``).
RMP_CANDIDATES = 50


# ----------------------------------------------------------------------------------------------
# CBS: randomised-magnitude starts, swap local search, outer loop
# ----------------------------------------------------------------------------------------------

def selection_objective(w, F, mask):
    """``f(P) = w_P' F_PP w_P``: CBS's selection objective (twice the no-update quadratic increase).

    ``ValueError`` when ``F`` is not ``(d, d)`` or ``mask`` not a ``(d,)`` boolean array (``d = w.size``)."""
    F = check_shape(np.asarray(F), "F", np.size(w))
    wp = np.where(check_mask(mask, np.size(w)), 0.0, w)
    return float(wp @ (F @ wp))


def swap_statistics(w, F, mask):
    """``(alpha, beta)`` of every weight for the pruned set ``P`` (the complement of ``mask``).

    ``alpha_i = 2 w_i (F w_P)_i - F_ii w_i^2`` (meaningful on ``P``) and
    ``beta_j = 2 w_j (F w_P)_j + F_jj w_j^2`` (meaningful on the kept weights); swapping ``i`` out of
    ``P`` and ``j`` in changes :func:`selection_objective` by ``-alpha_i + beta_j - 2 w_i F_ij w_j``.
    ``ValueError`` when ``F`` is not ``(d, d)`` or ``mask`` not a ``(d,)`` boolean array.
    """
    F = check_shape(np.asarray(F), "F", np.size(w))
    wp = np.where(check_mask(mask, np.size(w)), 0.0, w)
    Fw = F @ wp
    dg = np.diag(F)
    return 2 * w * Fw - dg * w * w, 2 * w * Fw + dg * w * w


def flat_blocks(matrices, starts, buf=None):
    """``(buf, off, st, sz, blk)``: square blocks (``matrices``, block ``b`` starting at weight ``starts[b]``)
    in one flat row-major buffer, and the index arrays :func:`ls_iteration` reads them with.

    ``buf``: the blocks already laid out one after another (else they are copied into one). One block
    covering all weights is the dense matrix: ``flat_blocks([F], [0])``."""
    sz = np.array([M.shape[0] for M in matrices], dtype=np.int64)
    st = np.array(starts, dtype=np.int64)
    off = np.concatenate([[0], np.cumsum(sz * sz)[:-1]]).astype(np.int64)
    if buf is None and len(matrices) == 1:
        buf = np.ascontiguousarray(matrices[0]).reshape(-1)    # the dense matrix: no copy when contiguous
    elif buf is None:
        buf = np.concatenate([np.asarray(M).ravel() for M in matrices])
    blk = np.repeat(np.arange(sz.size, dtype=np.int64), sz)
    return np.ascontiguousarray(buf), off, st, sz, blk


@njit(cache=True)
def _entry(buf, off, st, sz, blk, i, j):
    """``F_ij`` of the block-diagonal matrix laid out by :func:`flat_blocks` (zero between blocks)."""
    b = blk[i]
    if blk[j] != b:
        return 0.0
    return buf[off[b] + (i - st[b]) * sz[b] + (j - st[b])]


@njit(cache=True)
def ls_iteration(buf, off, st, sz, blk, w, P, R, alpha, beta, eps, rho, tau):
    """One local-search iteration; swaps are applied to ``P``/``R`` in place; returns their number.

    ``F`` is block-diagonal, laid out by :func:`flat_blocks` (one block: the dense matrix); a swap
    changes ``alpha``/``beta`` only in the blocks of ``i`` and ``j``.
    ``P`` (pruned) is sorted by ``alpha`` descending, ``R`` (kept) by ``beta_j - gamma(j, P_0)``
    ascending; ``alpha``/``beta`` are aligned with them. ``upd[x]`` carries the exact change of
    ``alpha_x``/``beta_x`` from the swaps accepted so far in this iteration.
    """
    d = w.size
    nP, nR = P.size, R.size
    upd = np.zeros(d)
    used = np.zeros(nR, dtype=np.bool_)
    si = np.empty(min(nP, nR), dtype=np.int64)
    sj = np.empty(min(nP, nR), dtype=np.int64)
    ns = 0
    misses = 0
    for a in range(nP):
        if misses > tau:
            break
        lo, hi = (0, 1) if a == 0 else (max(1, a - rho), min(nR, a + rho))
        found = False
        for b in range(lo, hi):
            if used[b]:
                continue
            i, j = P[a], R[b]
            change = (beta[b] + upd[j]) - 2.0 * w[i] * _entry(buf, off, st, sz, blk, i, j) * w[j] - (alpha[a] + upd[i])
            if -change >= eps:
                used[b] = True
                si[ns], sj[ns] = a, b
                ns += 1
                wi, wj = w[i], w[j]
                bi, bj = blk[i], blk[j]
                if bi == bj:
                    for x in range(st[bj], st[bj] + sz[bj]):
                        upd[x] += 2.0 * w[x] * (_entry(buf, off, st, sz, blk, x, j) * wj
                                                - _entry(buf, off, st, sz, blk, x, i) * wi)
                else:
                    for x in range(st[bj], st[bj] + sz[bj]):
                        upd[x] += 2.0 * w[x] * (_entry(buf, off, st, sz, blk, x, j) * wj)
                    for x in range(st[bi], st[bi] + sz[bi]):
                        upd[x] += 2.0 * w[x] * (0.0 - _entry(buf, off, st, sz, blk, x, i) * wi)
                found = True
                break
        if not found:
            if a == 0:
                return 0                         # the best-ranked pair does not improve: converged
            misses += 1
    for s in range(ns):
        a, b = si[s], sj[s]
        tmp = P[a]
        P[a] = R[b]
        R[b] = tmp
    return ns


def _ls_iteration(F, w, P, R, alpha, beta, eps, rho, tau):
    """:func:`ls_iteration` with the dense ``(d, d)`` matrix ``F``."""
    return ls_iteration(*flat_blocks([F], [0]), w, P, R, alpha, beta, eps, rho, tau)


@dataclass(frozen=True)
class SearchResult:
    """CBS swap search: the chosen mask and its history.

    Attributes
    ----------
    mask : ndarray of bool
        The lowest-loss mask (lowest-objective when no loss was given).
    objective : float
        ``f(P)`` of that mask.
    start_objective : float
    losses : list of float
        Loss of the masked weights after each iteration (iteration 0 is the start), empty when no
        loss function was given.
    objectives : list of float
        ``f(P)`` after each iteration.
    swaps : list of int
        Accepted swaps per iteration.
    best_iteration : int
    converged : bool
        The last iteration found no improving first pair.
    """

    mask: np.ndarray
    objective: float
    start_objective: float
    losses: list
    objectives: list
    swaps: list
    best_iteration: int
    converged: bool


def cbs_search(w, F, mask, *, loss=None, epsilon=CBS_EPSILON, rho=CBS_RANGE, tau=CBS_MISSES,
               max_iter=CBS_MAX_ITER, patience=CBS_PATIENCE):
    """CBS-S local search from the kept set ``mask`` on ``f(P) = w_P' F_PP w_P``.

    Parameters
    ----------
    w : array_like, shape (d,)
    F : array_like, shape (d, d)
        Symmetric (damped) Fisher.
    mask : bool array
        Start (kept weights).
    loss : callable, optional
        ``loss(masked_weights) -> float`` (the full training loss of the masked network); chooses the
        returned mask and the stopping time. Without it the last (lowest-``f``) mask is returned.
    epsilon, rho, tau : float, int, int
        Swap threshold, scan range, miss limit (module docstring).
    max_iter, patience : int
        Outer-loop bounds.

    Returns
    -------
    SearchResult

    Raises
    ------
    ValueError
        Before any work: ``w`` not finite, ``F`` not a finite symmetric ``(d, d)`` matrix, ``mask`` not
        a ``(d,)`` boolean array, or invalid search limits.
    """
    w = np.ascontiguousarray(array(w, "w", 1))
    d = w.size
    F = fisher_matrix(F, d, "F")
    mask = check_mask(mask, d).copy()
    epsilon = real(epsilon, "epsilon", low=0)
    rho, tau = count(rho, "rho", low=1), count(tau, "tau")
    max_iter, patience = count(max_iter, "max_iter"), count(patience, "patience", low=1)
    return swap_search(w, mask, lambda m: selection_objective(w, F, m), lambda m: swap_statistics(w, F, m),
                       lambda p0: F[:, p0], flat_blocks([F], [0]), loss=loss, epsilon=epsilon, rho=rho, tau=tau,
                       max_iter=max_iter, patience=patience)


def swap_search(w, mask, objective, statistics, column, layout, *, loss, epsilon, rho, tau, max_iter, patience):
    """The outer loop of the CBS search on checked inputs (:func:`cbs_search`; block-diagonal ``F``:
    :func:`linear_models.blockwise.cbs_search_blocks`).

    ``objective(mask)`` is ``f``, ``statistics(mask)`` the ``(alpha, beta)`` of :func:`swap_statistics`,
    ``column(p)`` the column ``F[:, p]``, ``layout`` the :func:`flat_blocks` of ``F``.
    """
    d = w.size
    objectives = [objective(mask)]
    losses = [] if loss is None else [float(loss(np.where(mask, w, 0.0)))]
    swaps = []
    best_mask, best_it = mask.copy(), 0
    converged = False
    for it in range(1, max_iter + 1):
        P, R = np.flatnonzero(~mask), np.flatnonzero(mask)
        if P.size == 0 or R.size == 0:
            converged = True
            break
        alpha, beta = statistics(mask)
        alpha, beta = alpha[P], beta[R]
        oa = np.argsort(-alpha, kind="stable")
        P, alpha = P[oa], alpha[oa]
        p0 = P[0]
        ob = np.argsort(beta - 2.0 * w[R] * column(p0)[R] * w[p0], kind="stable")
        R, beta = R[ob], beta[ob]
        ns = ls_iteration(*layout, w, P, R, alpha, beta, epsilon, rho, tau)
        if ns == 0:
            converged = True
            break
        mask = np.zeros(d, dtype=bool)
        mask[R] = True
        swaps.append(int(ns))
        objectives.append(objective(mask))
        if loss is None:
            best_mask, best_it = mask.copy(), it
            continue
        losses.append(float(loss(np.where(mask, w, 0.0))))
        if losses[-1] < losses[best_it]:
            best_mask, best_it = mask.copy(), it
        if it - best_it >= patience:
            break
    return SearchResult(best_mask, objectives[best_it], objectives[0], losses, objectives, swaps, best_it, converged)


def quotas(sizes, k):
    """Integer quotas proportional to ``sizes`` summing to ``k`` (largest remainder)."""
    exact = np.asarray(sizes, dtype=float) * k / np.sum(sizes)
    q = np.floor(exact).astype(int)
    rest = k - q.sum()
    q[np.argsort(-(exact - q), kind="stable")[:rest]] += 1
    return q


def rmp_masks(w, keep, n_candidates, rng):
    """Randomised magnitude pruning: global magnitude, then ``n_candidates`` shuffled-chunk variants.

    Each variant shuffles the weights, splits them into ``min(sqrt(d), 1000)`` chunks and keeps the
    largest magnitudes of each chunk; the per-chunk counts are proportional to the chunk sizes and
    sum exactly to ``keep`` (the CBS code rounds each chunk up and gives the last chunk the rest).
    """
    w = array(w, "w", 1)
    d = w.size
    k = keep_count(keep, d)
    n_candidates = count(n_candidates, "n_candidates")
    if n_candidates:
        rng = as_generator(rng)
    a = np.abs(w)
    masks = [top_mask(a, k)]
    n_chunks = max(1, min(int(math.sqrt(d)), 1000))
    for _ in range(n_candidates):
        chunks = np.array_split(rng.permutation(d), n_chunks)
        mask = np.zeros(d, dtype=bool)
        for idx, q in zip(chunks, quotas([c.size for c in chunks], k)):
            mask[idx[np.argsort(-a[idx], kind="stable")[:q]]] = True
        masks.append(mask)
    return masks


def cbs(w, fisher, keep, *, loss=None, rng, n_starts=RMP_CANDIDATES, epsilon=CBS_EPSILON, rho=CBS_RANGE,
        tau=CBS_MISSES, max_iter=CBS_MAX_ITER, patience=CBS_PATIENCE, update=True):
    """Combinatorial Brain Surgeon: RMP start, swap search, multi-weight update.

    Parameters
    ----------
    w : array_like, shape (d,)
    fisher : Fisher or array_like, shape (d, d)
        The (damped) Fisher or Hessian.
    keep : float in (0, 1] or int
    loss : callable, optional
        ``loss(weights) -> float``: full training loss, used to pick the start among the RMP candidates
        and to choose among the search iterations (as in the CBS code). Without it the start with the
        lowest selection objective ``f`` is taken and the search returns its last (lowest-``f``) mask.
    rng : Generator or int
        For the RMP candidates.
    n_starts : int
        RMP candidates besides global magnitude (0: start from magnitude).
    update : bool
        Apply the multi-weight OBS update to the selected mask (CBS-U).

    Returns
    -------
    PruneResult
        ``info`` holds the :class:`SearchResult` (``"search"``) and the start's index and loss (or ``f``).

    Raises
    ------
    ValueError
        ``w`` not finite; ``fisher`` not a finite symmetric ``(d, d)`` matrix (checked before any work).
    RankDeficientError
        ``update=True`` and the kept block of ``fisher`` is singular; increase the damping.
    """
    w = array(w, "w", 1)
    F = fisher_matrix(fisher, w.size)
    k = keep_count(keep, w.size)
    starts = rmp_masks(w, k, n_starts, rng)
    if loss is None:
        start_losses = [selection_objective(w, F, m) for m in starts]
    else:
        start_losses = [float(loss(np.where(m, w, 0.0))) for m in starts]
    s0 = int(np.argmin(start_losses))                  # first of equals: plain magnitude
    res = cbs_search(w, F, starts[s0], loss=loss, epsilon=epsilon, rho=rho, tau=tau,
                     max_iter=max_iter, patience=patience)
    if update:
        weights, inc = optimal_update(w, F, res.mask)
    else:
        weights, inc = np.where(res.mask, w, 0.0), 0.5 * res.objective
    return PruneResult(weights, res.mask, "cbs", loss_increase=inc, info={"search": res, "start": s0, "start_loss": start_losses[s0],
                                                      "start_mask": starts[s0]})
