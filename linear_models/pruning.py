"""Pruning library: from magnitude pruning to the Optimal Brain Surgeon and its combinatorial extension.

One entry point, :func:`prune`, with a criterion name and a keep fraction in
``(0, 1]`` or an integer count (the vocabulary of ``torch.nn.utils.prune``):

============ ======================================================== ===========
criterion    score of weight ``i`` (largest kept)                     update
============ ======================================================== ===========
magnitude    ``abs(w_i)``                                             no
hessian      ``1/2 H_ii w_i^2`` (OBD)                                 no
taylor1      ``abs(g_i w_i)``                                         no
taylor2      ``abs(-g_i w_i + 1/2 H_ii w_i^2)``                       no
random       uniform (``rng`` required)                               no
oracle       the true importance (``importance=``)                    no
obs          greedy OBS: remove ``argmin w_i^2 / [H^-1]_ii``, update  yes
             ``w -= w_i H^-1 e_i / [H^-1]_ii``, downdate ``H^-1``
cbs          combinatorial OBS: from a magnitude or OBS mask, swaps    yes
             that lower ``w_S' ([H^-1]_SS)^-1 w_S``, joint update
============ ======================================================== ===========

For a quadratic loss ``L(w) = L* + (w - w*)' H (w - w*)`` at its minimum
``w*``, removing the set ``S`` and re-optimising the rest raises the loss by
``w_S' ([H^-1]_SS)^-1 w_S`` (THEORY.md Section 5); with ``H = X'X`` and
``w`` the least-squares fit, OBS equals the least-squares refit on the kept
support. Singular Hessians (``p > n``) need ``damping`` (``H + damping I``).

Example
-------
>>> import numpy as np
>>> from linear_models import prune
>>> X = np.random.default_rng(0).standard_normal((40, 6)); w = np.linalg.lstsq(X, X @ np.arange(6.0), rcond=None)[0]
>>> res = prune(w, keep=0.5, criterion="obs", hessian=X.T @ X)
>>> int(res.mask.sum()), bool(np.all(res.weights[~res.mask] == 0))
(3, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange
from scipy.linalg import lapack

from pruning_checks import as_generator, check_array, check_choice, check_int, check_scalar, check_symmetric, keep_count

CRITERIA = ("magnitude", "hessian", "taylor1", "taylor2", "random", "oracle", "obs", "cbs")
CBS_STARTS = ("magnitude", "obs")
CBS_RTOL = 1e-12          # a swap must lower the objective by more than this (relative)


@dataclass(frozen=True)
class PruneResult:
    """Pruned weights and what produced them.

    Attributes
    ----------
    weights : ndarray
        Pruned weights (zeros off the mask); updated for ``obs`` and ``cbs``.
    mask : ndarray of bool
        Kept entries.
    criterion : str
    scores : ndarray or None
        Per-weight scores of score-based criteria.
    loss_increase : float or None
        ``w_S' ([H^-1]_SS)^-1 w_S`` of the removed set ``S`` (``obs``, ``cbs``).
    start_loss_increase : float or None
        The same for the starting mask of ``cbs``.
    swaps : int
        Accepted ``cbs`` swaps.
    """

    weights: np.ndarray
    mask: np.ndarray
    criterion: str
    scores: np.ndarray | None = None
    loss_increase: float | None = None
    start_loss_increase: float | None = None
    swaps: int = 0


def _inverse_hessian(H, damping):
    """``(H + damping I)^-1`` via Cholesky, with a clear error when it is not positive definite."""
    p = H.shape[0]
    Hd = H + (damping or 0.0) * np.eye(p)
    c, info = lapack.dpotrf(Hd, lower=1, clean=1)
    if info == 0:
        inv, info = lapack.dpotri(c, lower=1)     # (L L')^-1 from the factor: no general inverse
    if info != 0:
        hint = "pass damping > 0" if not damping else "increase damping"
        raise ValueError(f"hessian is not positive definite (singular when p > n); {hint}.")
    inv = np.tril(inv) + np.tril(inv, -1).T       # potri fills one triangle
    return np.ascontiguousarray(inv)


def removal_cost(w, Hinv, removed):
    """``w_S' ([H^-1]_SS)^-1 w_S``: loss increase of removing the set ``S`` with the optimal update."""
    S = np.flatnonzero(removed)
    if S.size == 0:
        return 0.0
    ws = w[S]
    return float(ws @ np.linalg.solve(Hinv[np.ix_(S, S)], ws))


def obs_update(w, Hinv, removed):
    """The optimal update of the kept weights after removing ``S``: ``w - H^-1_{:S} ([H^-1]_SS)^-1 w_S``."""
    S = np.flatnonzero(removed)
    out = w.copy()
    if S.size:
        out -= Hinv[:, S] @ np.linalg.solve(Hinv[np.ix_(S, S)], w[S])
        out[S] = 0.0
    return out


@njit(cache=True, parallel=True)
def _obs_greedy(w, A, n_remove, order):
    """In place: greedily remove ``n_remove`` weights, updating ``w`` and downdating ``A = H^-1``.

    ``A`` must be symmetric and C-ordered. The surviving weights are kept compacted in the
    leading block of ``A`` (a removed row/column is overwritten by the last active one, the
    column move fused into the rank-one downdate), so every pass over ``A`` reads whole rows.
    ``order`` receives the removed indices; returns the accumulated loss increase.
    """
    p = w.size
    idx = np.arange(p)
    wa = w.copy()
    dg = np.empty(p)
    for a in range(p):
        dg[a] = A[a, a]
    n = p
    loss = 0.0
    col = np.empty(p)
    for step in range(n_remove):
        pos, best = 0, np.inf
        for a in range(n):
            s = wa[a] * wa[a] / dg[a]
            if s < best:
                pos, best = a, s
        d = dg[pos]
        wi = wa[pos]
        loss += best
        last = n - 1
        for b in range(n):
            col[b] = A[pos, b]                     # = A[:, pos] by symmetry
        for a in range(n):
            wa[a] -= wi * col[a] / d
            dg[a] -= col[a] * col[a] / d
        for a in prange(n):
            f = col[a] / d
            row = A[a]
            for b in range(n):
                row[b] = row[b] - f * col[b]
            row[pos] = row[last]                   # column move, while the row is in cache
        for b in range(n):
            A[pos, b] = A[last, b]
        order[step] = idx[pos]
        wa[pos], dg[pos], idx[pos] = wa[last], dg[last], idx[last]
        n -= 1
    w[:] = 0.0
    for a in range(n):
        w[idx[a]] = wa[a]
    return loss


def _cbs_search(w, Hinv, removed, max_swaps):
    """Swap local search on the removed set; returns ``(removed, swaps)``.

    Every pair (i removed, j kept) is scored exactly by rank-one block-inverse identities
    (THEORY.md Section 5's objective), and the best improving swap is taken.
    """
    removed = removed.copy()
    d = np.diag(Hinv)
    swaps = 0
    for _ in range(max_swaps):
        S, K = np.flatnonzero(removed), np.flatnonzero(~removed)
        if S.size == 0 or K.size == 0:
            break
        M = np.linalg.inv(Hinv[np.ix_(S, S)])
        z = M @ w[S]
        f = float(w[S] @ z)
        V = Hinv[np.ix_(S, K)]
        MV = M @ V
        q = np.einsum("ij,ij->j", V, MV)
        vz = V.T @ z
        Mii = np.diag(M)[:, None]
        um = MV - V * Mii                                   # u' m_i
        uMu = q[None, :] - 2 * V * MV + V**2 * Mii - um**2 / Mii
        uz = vz[None, :] - V * z[:, None] - um * z[:, None] / Mii
        r = d[K][None, :] - uMu
        with np.errstate(divide="ignore", invalid="ignore"):
            f_new = f - (z**2)[:, None] / Mii + (w[K][None, :] - uz) ** 2 / r
        f_new = np.where(r > 0, f_new, np.inf)
        a, b = np.unravel_index(np.argmin(f_new), f_new.shape)
        if not f_new[a, b] < f - CBS_RTOL * max(abs(f), np.finfo(float).tiny):
            break
        removed[S[a]], removed[K[b]] = False, True
        swaps += 1
    return removed, swaps


def _check_hessian(hessian, p, need_matrix):
    if hessian is None:
        raise ValueError("hessian is required for this criterion.")
    H = np.asarray(hessian)
    if H.ndim == 1 and not need_matrix:
        return check_array(H, "hessian", 1, shape=(p,))
    return check_symmetric(H, "hessian", p)


def prune(w, keep, criterion="magnitude", *, hessian=None, grad=None, importance=None, rng=None,
          damping=None, start="magnitude", max_swaps=None):
    """Prune a weight vector to ``keep`` entries.

    Parameters
    ----------
    w : array_like, shape (p,)
        Weights (not modified).
    keep : float in (0, 1] or int
        Kept fraction or count.
    criterion : str
        One of :data:`CRITERIA`.
    hessian : array_like, shape (p, p) or (p,), optional
        Loss Hessian (its diagonal suffices for ``hessian``/``taylor2``); required by
        ``hessian``, ``taylor2``, ``obs``, ``cbs``.
    grad : array_like, shape (p,), optional
        Loss gradient at ``w`` (``taylor1``, ``taylor2``).
    importance : array_like, shape (p,), optional
        True importance (``oracle``), e.g. ``LinearProblem.importance()``.
    rng : Generator or int, optional
        For ``random``.
    damping : float, optional
        Added to the Hessian diagonal (``obs``, ``cbs``); needed when it is singular.
    start : {"magnitude", "obs"}
        Starting mask of ``cbs``.
    max_swaps : int, optional
        Bound on ``cbs`` swaps (default ``p``).

    Returns
    -------
    PruneResult
    """
    w = check_array(w, "w", 1)
    p = w.size
    k = keep_count(keep, p)
    check_choice(criterion, "criterion", CRITERIA)
    if damping is not None:
        damping = check_scalar(damping, "damping", low=0)

    if criterion in ("obs", "cbs"):
        H = _check_hessian(hessian, p, need_matrix=True)
        Hinv = _inverse_hessian(H, damping)
        if criterion == "obs" or start == "obs":
            w_upd, A = w.copy(), Hinv.copy()
            order = np.empty(p - k, dtype=np.int64)
            loss = _obs_greedy(w_upd, A, p - k, order)
            removed = np.zeros(p, dtype=bool)
            removed[order] = True
            if criterion == "obs":
                return PruneResult(w_upd, ~removed, criterion, None, float(loss))
        else:
            check_choice(start, "start", CBS_STARTS)
            removed = np.ones(p, dtype=bool)
            removed[_top(np.abs(w), k)] = False
        start_cost = removal_cost(w, Hinv, removed)
        limit = p if max_swaps is None else check_int(max_swaps, "max_swaps")
        removed, swaps = _cbs_search(w, Hinv, removed, limit)
        return PruneResult(obs_update(w, Hinv, removed), ~removed, criterion, None,
                           removal_cost(w, Hinv, removed), start_cost, swaps)

    scores = _scores(w, criterion, hessian, grad, importance, rng)
    mask = np.zeros(p, dtype=bool)
    mask[_top(scores, k)] = True
    return PruneResult(np.where(mask, w, 0.0), mask, criterion, scores)


def _top(scores, k):
    """Indices of the ``k`` largest scores; ties go to the lower index."""
    return np.argsort(-scores, kind="stable")[:k]


def _scores(w, criterion, hessian, grad, importance, rng):
    p = w.size
    if criterion == "magnitude":
        return np.abs(w)
    if criterion == "random":
        if rng is None:
            raise ValueError("rng is required for criterion 'random' (a seed or a Generator).")
        return as_generator(rng).random(p)
    if criterion == "oracle":
        if importance is None:
            raise ValueError("importance is required for criterion 'oracle' (the true importance per weight).")
        return check_array(importance, "importance", 1, shape=(p,))
    h = None
    if criterion in ("hessian", "taylor2"):
        H = _check_hessian(hessian, p, need_matrix=False)
        h = H if H.ndim == 1 else np.diag(H).copy()
    g = None
    if criterion in ("taylor1", "taylor2"):
        if grad is None:
            raise ValueError(f"grad is required for criterion {criterion!r}.")
        g = check_array(grad, "grad", 1, shape=(p,))
    if criterion == "hessian":
        return 0.5 * h * w**2
    if criterion == "taylor1":
        return np.abs(g * w)
    return np.abs(-g * w + 0.5 * h * w**2)
