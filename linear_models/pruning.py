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
cbs          combinatorial OBS: from a magnitude, OBS or randomized-  yes
             magnitude mask, swaps that lower ``w_S' ([H^-1]_SS)^-1
             w_S`` (``cbs_search="exact"``) or, as in the CBS paper,
             ``w_P' H_PP w_P`` (``"paper"``), then the joint update
woodfisher   ``w_i^2 / (2 [H^-1]_ii)`` (``H`` the damped empirical     single
             Fisher), then the single-weight OBS updates summed and
             scaled by ``update_scale`` (0.9 as in the CBS paper)
============ ======================================================== ===========

Any mask can get the multi-weight OBS update (``update="obs"``, e.g.
magnitude + update) or none (``update="none"``). Loss-modelling criteria
(``magnitude``, ``hessian`` = OBD, ``taylor1`` = LM, ``taylor2`` = QM) take
Laurent et al.'s locality penalty ``locality = lambda``: every score gets
``+ 1/2 lambda w_i^2`` (the penalty ``lambda/2 ||w - w0||^2`` at ``w = w0``).
``damping`` adds ``damping I`` to the Hessian; ``relative_damping`` adds that
multiple of the Hessian's mean diagonal instead (the scale of a Fisher changes
by orders of magnitude during training). :func:`empirical_fisher` builds
``F = damping I + (1/N) sum_n g_n g_n'`` from per-sample gradients.

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

CRITERIA = ("magnitude", "hessian", "taylor1", "taylor2", "random", "oracle", "obs", "cbs", "woodfisher")
CBS_STARTS = ("magnitude", "obs", "random-magnitude")
CBS_SEARCHES = ("exact", "paper")
UPDATES = ("none", "obs", "single")
LOSS_MODEL_CRITERIA = ("magnitude", "hessian", "taylor1", "taylor2")     # take the locality penalty
CBS_RTOL = 1e-12          # a swap must lower the objective by more than this (relative)
WOODFISHER_UPDATE_SCALE = 0.9   # the CBS paper's WoodFisher baseline scales its single-weight update by 0.9


@dataclass(frozen=True)
class CBSOptions:
    """Limits of the CBS paper's selection (CBS-S; NEIGHBOURS.md D), MNIST values by default.

    Attributes
    ----------
    epsilon : float
        A swap is valid if it lowers ``w_P' H_PP w_P`` by at least ``epsilon`` (absolute).
    swap_range : int
        ``rho``: the i-th pruned candidate is paired with remaining candidates of rank ``[i - rho, i + rho)``.
    max_misses : int
        ``tau``: an iteration stops after this many candidates without a valid partner.
    max_iterations : int
        Outer iterations at most.
    patience : int
        Stop when the best objective is this many iterations old.
    n_starts : int
        Randomized-magnitude starts besides plain magnitude (``start="random-magnitude"``).
    """

    epsilon: float = 1e-4
    swap_range: int = 10
    max_misses: int = 20
    max_iterations: int = 100
    patience: int = 5
    n_starts: int = 50

    def __post_init__(self):
        check_scalar(self.epsilon, "epsilon", low=0)
        for name, low in (("swap_range", 1), ("max_misses", 1), ("max_iterations", 0), ("patience", 1),
                          ("n_starts", 0)):
            check_int(getattr(self, name), name, low=low)


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
    objective, start_objective : float or None
        ``cbs``: the objective its search minimised (``loss_increase`` for ``cbs_search="exact"``,
        ``w_P' H_PP w_P`` for ``"paper"``) at the returned and at the starting mask.
    """

    weights: np.ndarray
    mask: np.ndarray
    criterion: str
    scores: np.ndarray | None = None
    loss_increase: float | None = None
    start_loss_increase: float | None = None
    swaps: int = 0
    objective: float | None = None
    start_objective: float | None = None


def empirical_fisher(grads, *, damping=0.0, relative_damping=None):
    """``F = lambda I + (1/N) sum_n g_n g_n'`` from per-sample gradients ``grads`` (shape ``(N, p)``).

    ``lambda`` is ``damping``, or ``relative_damping`` times the mean diagonal of ``(1/N) sum g g'``.
    """
    G = check_array(grads, "grads", 2, nonempty=True)
    F = G.T @ G / G.shape[0]
    lam = _damping(F, damping, relative_damping)
    F[np.diag_indices_from(F)] += lam
    return F


def _damping(H, damping, relative_damping):
    """The absolute damping: ``damping`` or ``relative_damping * mean(diag(H))`` (not both)."""
    if relative_damping is not None:
        if damping:
            raise ValueError("pass damping or relative_damping, not both.")
        rel = check_scalar(relative_damping, "relative_damping", low=0)
        return rel * float(np.mean(np.diag(H)))
    return 0.0 if damping is None else check_scalar(damping, "damping", low=0)


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


def quadratic_cost(w, H, removed):
    """``w_P' H_PP w_P``: the quadratic model's loss increase of zeroing the set ``P`` without an update.

    For ``L(w) = L* + (w - w*)' H (w - w*)`` at its minimum this is the exact increase (the CBS paper's
    selection objective, without its factor 1/2 convention).
    """
    P = np.flatnonzero(removed)
    return float(w[P] @ H[np.ix_(P, P)] @ w[P]) if P.size else 0.0


def single_weight_update(w, Hinv, removed, scale=WOODFISHER_UPDATE_SCALE):
    """WoodFisher's update: the single-weight OBS updates ``-w_q H^-1 e_q / [H^-1]_qq`` of every removed
    ``q``, summed and multiplied by ``scale``; the removed weights are then set to zero."""
    P = np.flatnonzero(removed)
    out = w.copy()
    if P.size:
        out -= scale * (Hinv[:, P] @ (w[P] / np.diag(Hinv)[P]))
        out[P] = 0.0
    return out


def randomized_magnitude_starts(w, k, n_starts, rng):
    """Removed-set masks: global magnitude first, then ``n_starts`` randomized variants (CBS paper, RMP).

    A variant shuffles the weights, splits them into ``min(sqrt(p), 1000)`` chunks and keeps the largest
    magnitudes of each chunk; chunk quotas are the largest-remainder split of ``k`` in proportion to chunk
    sizes, so every mask keeps exactly ``k``.
    """
    p = w.size
    first = np.ones(p, dtype=bool)
    first[_top(np.abs(w), k)] = False
    starts = [first]
    n_chunks = max(1, min(int(np.sqrt(p)), 1000))
    for _ in range(n_starts):
        chunks = np.array_split(rng.permutation(p), n_chunks)
        sizes = np.array([c.size for c in chunks])
        raw = k * sizes / p
        quota = np.floor(raw).astype(int)
        quota[np.argsort(-(raw - quota), kind="stable")[: k - quota.sum()]] += 1
        removed = np.ones(p, dtype=bool)
        for c, q in zip(chunks, quota):
            removed[c[_top(np.abs(w[c]), q)]] = False
        starts.append(removed)
    return starts


def _cbs_paper_search(w, H, removed, opts):
    """The CBS paper's local search on ``f(P) = w_P' H_PP w_P``; returns ``(best removed set, swaps)``.

    One iteration: ``alpha_i = 2 w_i (H w_P)_i - H_ii w_i^2`` for ``i`` in ``P`` (sorted descending),
    ``beta_j = 2 w_j (H w_P)_j + H_jj w_j^2`` for ``j`` outside (sorted ascending by
    ``beta_j - gamma(i0, j)``, ``i0`` the first pruned candidate); a swap changes ``f`` by
    ``-alpha_i + beta_j - gamma_ij`` with ``gamma_ij = 2 w_i H_ij w_j`` and is valid if that lowers ``f`` by
    at least ``epsilon``. Candidate ``i`` (rank ``r``) takes the first valid unused partner of rank in
    ``[r - rho, r + rho)``; ``tau`` misses end the scan; all swaps are applied together, so ``f`` is
    re-evaluated and the best mask seen (the start included) is returned.
    """
    cur = removed.copy()
    best, best_f, best_it, swaps = cur.copy(), quadratic_cost(w, H, cur), 0, 0
    dH = np.diag(H)
    for it in range(1, opts.max_iterations + 1):
        P, R = np.flatnonzero(cur), np.flatnonzero(~cur)
        if P.size == 0 or R.size == 0:
            break
        u = H[:, P] @ w[P]
        alpha = 2 * w[P] * u[P] - dH[P] * w[P] ** 2
        Ps = P[np.argsort(-alpha, kind="stable")]
        a_sorted = np.sort(alpha)[::-1]
        beta = 2 * w[R] * u[R] + dH[R] * w[R] ** 2
        i0 = Ps[0]
        Rs_order = np.argsort(beta - 2 * w[i0] * H[i0, R] * w[R], kind="stable")
        Rs, b_sorted = R[Rs_order], beta[Rs_order]
        gain = lambda r, c: a_sorted[r] - b_sorted[c] + 2 * w[Ps[r]] * H[Ps[r], Rs[c]] * w[Rs[c]]
        if gain(0, 0) < opts.epsilon:
            break
        used = np.zeros(Rs.size, dtype=bool)
        pairs, misses = [], 0
        for r in range(Ps.size):
            lo, hi = max(0, r - opts.swap_range), min(Rs.size, r + opts.swap_range)
            partner = next((c for c in range(lo, hi) if not used[c] and gain(r, c) >= opts.epsilon), None)
            if partner is None:
                misses += 1
                if misses >= opts.max_misses:
                    break
                continue
            used[partner] = True
            pairs.append((Ps[r], Rs[partner]))
        if not pairs:
            break
        for i, j in pairs:
            cur[i], cur[j] = False, True
        swaps += len(pairs)
        f = quadratic_cost(w, H, cur)
        if f < best_f:
            best, best_f, best_it = cur.copy(), f, it
        elif it - best_it >= opts.patience:
            break
    return best, swaps


def _check_hessian(hessian, p, need_matrix):
    if hessian is None:
        raise ValueError("hessian is required for this criterion.")
    H = np.asarray(hessian)
    if H.ndim == 1 and not need_matrix:
        return check_array(H, "hessian", 1, shape=(p,))
    return check_symmetric(H, "hessian", p)


def prune(w, keep, criterion="magnitude", *, hessian=None, grad=None, importance=None, rng=None,
          damping=None, relative_damping=None, hessian_inverse=None, update=None,
          update_scale=WOODFISHER_UPDATE_SCALE, locality=0.0, start="magnitude", max_swaps=None, cbs_search="exact",
          cbs_options=None):
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
        Loss Hessian or Fisher (its diagonal suffices for ``hessian``/``taylor2``); required by
        ``hessian``, ``taylor2``, ``obs``, ``cbs``, ``woodfisher`` and by any ``update``.
    grad : array_like, shape (p,), optional
        Loss gradient at ``w`` (``taylor1``, ``taylor2``).
    importance : array_like, shape (p,), optional
        True importance (``oracle``), e.g. ``LinearProblem.importance()``.
    rng : Generator or int, optional
        For ``random`` and for ``start="random-magnitude"``.
    damping : float, optional
        Added to the Hessian diagonal before it is inverted; needed when it is singular.
    relative_damping : float, optional
        Instead of ``damping``: that multiple of the Hessian's mean diagonal.
    hessian_inverse : array_like, shape (p, p), optional
        ``(hessian + damping I)^-1`` computed once by the caller (e.g. for a sweep over sparsities);
        skips the ``O(p^3)`` inversion. ``hessian`` is still required (CBS's paper search and the
        criteria's diagonals use it); it is trusted to match.
    update : {"none", "obs", "single"}, optional
        Update of the kept weights: none, the multi-weight OBS update (optimal for the quadratic
        model), or WoodFisher's summed single-weight updates times ``update_scale``. Default: the
        criterion's own (``obs``/``cbs``: "obs", ``woodfisher``: "single", others: "none").
    update_scale : float
        Scale of the "single" update (0.9 by default, as in the CBS paper's WoodFisher baseline).
    locality : float
        ``lambda >= 0`` of the locality penalty: ``+ 1/2 lambda w_i^2`` on the scores of
        ``magnitude``, ``hessian``, ``taylor1``, ``taylor2``.
    start : {"magnitude", "obs", "random-magnitude"}
        Starting mask of ``cbs``; "random-magnitude" tries magnitude and ``cbs_options.n_starts``
        randomized variants and starts from the one with the lowest search objective.
    max_swaps : int, optional
        Bound on swaps of the exact ``cbs`` search (default ``p``).
    cbs_search : {"exact", "paper"}
        ``"exact"``: best single swap at a time on ``w_S' ([H^-1]_SS)^-1 w_S`` (the loss increase
        with the update); ``"paper"``: the CBS paper's windowed multi-swap search on ``w_P' H_PP w_P``
        with the limits of ``cbs_options``.
    cbs_options : CBSOptions, optional

    Returns
    -------
    PruneResult
    """
    w = check_array(w, "w", 1)
    p = w.size
    k = keep_count(keep, p)
    check_choice(criterion, "criterion", CRITERIA)
    if update is not None:
        check_choice(update, "update", UPDATES)
    update_scale = check_scalar(update_scale, "update_scale")
    locality = check_scalar(locality, "locality", low=0)
    if locality and criterion not in LOSS_MODEL_CRITERIA:
        raise ValueError(f"locality applies to {', '.join(LOSS_MODEL_CRITERIA)}, not to criterion {criterion!r}.")
    default_update = {"obs": "obs", "cbs": "obs", "woodfisher": "single"}.get(criterion, "none")
    if criterion in ("obs", "cbs") and update not in (None, "obs"):
        raise ValueError(f"update == {update!r}: criterion {criterion!r} always applies the OBS update.")
    update = default_update if update is None else update

    need_inverse = criterion in ("obs", "cbs", "woodfisher") or update != "none"
    if need_inverse:
        H = _check_hessian(hessian, p, need_matrix=True)
        if hessian_inverse is None:
            Hinv = _inverse_hessian(H, _damping(H, damping, relative_damping))
        else:
            Hinv = np.ascontiguousarray(check_symmetric(hessian_inverse, "hessian_inverse", p))
    elif damping is not None or relative_damping is not None:
        _damping(np.zeros((1, 1)), damping, relative_damping)          # still validated

    if criterion == "obs":
        w_upd, A = w.copy(), Hinv.copy()
        order = np.empty(p - k, dtype=np.int64)
        loss = _obs_greedy(w_upd, A, p - k, order)
        mask = np.ones(p, dtype=bool)
        mask[order] = False
        return PruneResult(w_upd, mask, criterion, None, float(loss))

    if criterion == "cbs":
        return _prune_cbs(w, k, H, Hinv, rng, start, max_swaps, cbs_search, cbs_options)

    if criterion == "woodfisher":
        scores = w**2 / (2 * np.diag(Hinv))
    else:
        scores = _scores(w, criterion, hessian, grad, importance, rng) + 0.5 * locality * w**2
    mask = np.zeros(p, dtype=bool)
    mask[_top(scores, k)] = True
    if update == "none":
        return PruneResult(np.where(mask, w, 0.0), mask, criterion, scores)
    removed = ~mask
    weights = obs_update(w, Hinv, removed) if update == "obs" else single_weight_update(w, Hinv, removed, update_scale)
    return PruneResult(weights, mask, criterion, scores, removal_cost(w, Hinv, removed) if update == "obs" else None)



def _prune_cbs(w, k, H, Hinv, rng, start, max_swaps, search, options):
    p = w.size
    check_choice(start, "start", CBS_STARTS)
    check_choice(search, "cbs_search", CBS_SEARCHES)
    opts = CBSOptions() if options is None else options
    if not isinstance(opts, CBSOptions):
        raise TypeError(f"cbs_options must be a CBSOptions, got {type(opts).__name__}.")
    objective = (lambda m: removal_cost(w, Hinv, m)) if search == "exact" else (lambda m: quadratic_cost(w, H, m))
    if start == "obs":
        w_upd, A = w.copy(), Hinv.copy()
        order = np.empty(p - k, dtype=np.int64)
        _obs_greedy(w_upd, A, p - k, order)
        removed = np.zeros(p, dtype=bool)
        removed[order] = True
    elif start == "random-magnitude":
        if rng is None:
            raise ValueError("rng is required for start 'random-magnitude' (a seed or a Generator).")
        starts = randomized_magnitude_starts(w, k, opts.n_starts, as_generator(rng))
        removed = min(starts, key=objective)                             # first of equals: plain magnitude
    else:
        removed = np.ones(p, dtype=bool)
        removed[_top(np.abs(w), k)] = False
    start_cost, start_obj = removal_cost(w, Hinv, removed), objective(removed)
    if search == "exact":
        limit = p if max_swaps is None else check_int(max_swaps, "max_swaps")
        removed, swaps = _cbs_search(w, Hinv, removed, limit)
    else:
        removed, swaps = _cbs_paper_search(w, H, removed, opts)
    return PruneResult(obs_update(w, Hinv, removed), ~removed, "cbs", None, removal_cost(w, Hinv, removed),
                       start_cost, swaps, objective(removed), start_obj)


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
