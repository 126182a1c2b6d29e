"""Pruning library: from magnitude pruning to the Optimal Brain Surgeon and its combinatorial extension.

One entry point, :func:`prune`, with a criterion name and a keep fraction in
``(0, 1]`` or an integer count (the vocabulary of ``torch.nn.utils.prune``). The
criteria, their scores and what they need are the registry of
:mod:`linear_models.criteria` (users add theirs with
:func:`linear_models.register_criterion`); ``obs`` is greedy Optimal Brain Surgeon
(remove ``argmin w_i^2 / [H^-1]_ii``, update ``w -= w_i H^-1 e_i / [H^-1]_ii``,
downdate ``H^-1``) and ``cbs`` combinatorial OBS: from a magnitude, OBS or
randomized-magnitude mask, swaps that lower ``w_S' ([H^-1]_SS)^-1 w_S``
(``cbs_search="exact"``) or, as in the CBS paper, ``w_P' H_PP w_P`` (``"paper"``),
then the joint update.

Any mask can get the multi-weight OBS update (``update="obs"``, e.g.
magnitude + update) or none (``update="none"``). Loss-modelling criteria
(``magnitude``, ``hessian`` = OBD, ``taylor1`` = LM, ``taylor2`` = QM) take
Laurent et al.'s locality penalty ``locality = lambda``: every score gets
``+ 1/2 lambda w_i^2`` (the penalty ``lambda/2 ||w - w0||^2`` at ``w = w0``).
The second-order algorithms themselves (empirical Fisher, multi-weight OBS update through
the kept block, WoodFisher's update, RMP starts, the CBS paper's swap search with the CBS
code's exact in-iteration correction of ``alpha``/``beta``, loss-model scores, multi-step
pruning) live once, in :mod:`linear_models.second_order`; ``prune`` selects among them,
and the network experiments call them directly. Every result is a :class:`PruneResult` whose
``loss_increase`` is the quadratic model's ``1/2 dw' H dw`` (the model ``L* + 1/2 dw' H dw`` with ``H``
the Hessian passed in).
``damping`` adds ``damping I`` to the Hessian; ``relative_damping`` adds that
multiple of the Hessian's mean diagonal instead (the scale of a Fisher changes
by orders of magnitude during training). :func:`linear_models.empirical_fisher` builds
``F = damping I + (1/N) sum_n g_n g_n'`` from per-sample gradients.

For a quadratic loss ``L(w) = L* + 1/2 (w - w*)' H (w - w*)`` at its minimum
``w*``, removing the set ``S`` and re-optimising the rest raises the loss by
``1/2 w_S' ([H^-1]_SS)^-1 w_S`` (docs/theory.md Section 5; for the residual sum of squares
``||y - X w||^2`` the Hessian is ``2 X'X``); with ``H = X'X`` and
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

import numbers
from dataclasses import dataclass

import numpy as np
from pruning_checks import as_generator, check_array, check_choice, check_int, check_scalar, check_symmetric, keep_count
from pruning_checks.threads import parallel_section

from . import criteria as _criteria
from .criteria import Stats, get_criterion
from .cbs import quotas
from .joint import joint_mask
from .second_order import (CBS_EPSILON, CBS_MAX_ITER, CBS_MISSES, CBS_PATIENCE, CBS_RANGE, RMP_CANDIDATES,
                           WOODFISHER_SCALE, PruneResult, cbs, cbs_search, obs_greedy, optimal_update, resolve_damping,
                           quadratic_increase, rmp_masks, selection_objective, single_weight_update, spd_inverse, top_indices,
                           top_mask)

CBS_STARTS = ("magnitude", "obs", "random-magnitude")
CBS_SEARCHES = ("exact", "paper")
#: Sparsity allocation over layers: one selection over every pruned weight, or the same kept fraction in each
#: layer (``torch.nn.utils.prune.global_unstructured`` against ``l1_unstructured`` layer by layer).
SCOPES = ("global", "layer")


def scope_counts(keep, sizes, scope="global", names=None):
    """Kept weights of each group of ``sizes`` weights under a sparsity ``scope``.

    ``"global"``: one count over all ``sum(sizes)`` weights (a list of one). ``"layer"``: a fraction keeps
    ``round(keep * n_g)`` (at least 1) of each group; an integer count is split over the groups in proportion
    to their sizes (largest remainders, :func:`linear_models.cbs.quotas`).

    Parameters
    ----------
    keep : float in (0, 1] or int
    sizes : sequence of int
        Weights per group (layer).
    scope : {"global", "layer"}
    names : sequence of str, optional
        Group names for the error message (default ``layer i``).

    Returns
    -------
    list of int

    Raises
    ------
    ValueError
        ``keep`` out of range, an unknown scope, or an integer too small to leave every group a weight.
    """
    check_choice(scope, "scope", SCOPES)
    d = int(sum(sizes))
    if scope == "global":
        return [keep_count(keep, d)]
    if isinstance(keep, numbers.Integral) and not isinstance(keep, (bool, np.bool_)):
        counts = [int(q) for q in quotas(sizes, keep_count(keep, d))]
        if min(counts) < 1:
            i = int(np.argmin(counts))
            where = f"parameter {names[i]!r}" if names is not None else f"layer {i}"
            raise ValueError(f"keep == {keep} is too few for scope 'layer': {where} would keep no weight "
                             f"(sizes {list(sizes)}).")
        return counts
    return [keep_count(keep, n) for n in sizes]
UPDATES = _criteria.UPDATES
CBS_RTOL = 1e-12          # a swap must lower the objective by more than this (relative)
WOODFISHER_UPDATE_SCALE = WOODFISHER_SCALE   # the CBS paper's WoodFisher baseline scales its update by 0.9


@dataclass(frozen=True)
class CBSOptions:
    """Limits of the CBS paper's selection (CBS-S; docs/references.md), MNIST values by default.

    Attributes
    ----------
    epsilon : float
        A swap is valid if it lowers ``w_P' H_PP w_P`` by at least ``epsilon`` (absolute).
    swap_range : int
        ``rho``: the i-th pruned candidate is paired with remaining candidates of rank ``[i - rho, i + rho)``.
    max_misses : int
        ``tau``: an iteration stops after more than this many candidates without a valid partner.
    max_iterations : int
        Outer iterations at most.
    patience : int
        Stop when the best objective is this many iterations old.
    n_starts : int
        Randomized-magnitude starts besides plain magnitude (``start="random-magnitude"``).
    """

    epsilon: float = CBS_EPSILON
    swap_range: int = CBS_RANGE
    max_misses: int = CBS_MISSES
    max_iterations: int = CBS_MAX_ITER
    patience: int = CBS_PATIENCE
    n_starts: int = RMP_CANDIDATES

    def __post_init__(self):
        check_scalar(self.epsilon, "epsilon", low=0)
        for name, low in (("swap_range", 1), ("max_misses", 1), ("max_iterations", 0), ("patience", 1),
                          ("n_starts", 0)):
            check_int(getattr(self, name), name, low=low)


def _cbs_search(w, Hinv, removed, max_swaps):
    """Swap local search on the removed set; returns ``(removed, swaps)``.

    Every pair (i removed, j kept) is scored exactly by rank-one block-inverse identities
    (docs/theory.md Section 5's objective), and the best improving swap is taken.
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
          damping=None, relative_damping=None, hessian_inverse=None, update=None,
          update_scale=WOODFISHER_UPDATE_SCALE, locality=0.0, start="magnitude", max_swaps=None, cbs_search="exact",
          cbs_options=None, loss=None, block_size=None):
    """Prune a weight vector to ``keep`` entries.

    Parameters
    ----------
    w : array_like, shape (p,)
        Weights (not modified).
    keep : float in (0, 1] or int
        Kept fraction or count.
    criterion : str or Criterion
        A registered criterion (:func:`linear_models.criteria.criterion_names`; built-ins in the module
        docstring of :mod:`linear_models.criteria`).
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
        skips the ``O(p^3)`` inversion. ``hessian`` and ``damping`` are still required (the
        multi-weight update and CBS's paper search use the damped ``hessian``); it is trusted to match.
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
        randomized variants (:func:`rmp_masks`) and starts from the one with the lowest search
        objective (with ``cbs_search="paper"`` and ``loss``: the lowest ``loss``).
    max_swaps : int, optional
        Bound on swaps of the exact ``cbs`` search (default ``p``).
    cbs_search : {"exact", "paper"}
        ``"exact"``: best single swap at a time on ``w_S' ([H^-1]_SS)^-1 w_S`` (the loss increase
        with the update); ``"paper"``: the CBS paper's windowed multi-swap search on ``w_P' H_PP w_P``
        (``H`` damped) with the limits of ``cbs_options`` and the CBS code's exact in-iteration
        correction of ``alpha``/``beta`` (:func:`linear_models.second_order.cbs_search`).
    cbs_options : CBSOptions, optional
    loss : callable, optional
        ``loss(masked_weights) -> float`` (e.g. the training loss of the masked network) for
        ``cbs_search="paper"``: chooses the start and the returned search iteration, as the CBS code
        does; without it both are chosen by the search objective.
    block_size : int, optional
        ``joint`` only: the size ``B`` of the consecutive blocks (``p`` a multiple of ``B``; default 1,
        every weight its own block). ``joint`` keeps per block the pattern minimising
        ``w_P' ([H^-1]_PP)^-1 w_P + t |S|`` with one multiplier ``t`` set so exactly ``keep`` weights are
        kept (:mod:`linear_models.joint`, docs/theory.md Section 10); its update may be ``"obs"``
        (default) or ``"none"``.

    Returns
    -------
    PruneResult

    Raises
    ------
    ValueError
        Before any work: ``w``, ``hessian``, ``hessian_inverse``, ``grad`` or ``importance`` not finite
        or not of the shape of ``w`` (``(p,)``, or ``(p, p)`` and symmetric), and invalid options.
    RankDeficientError
        The (damped) ``hessian`` is singular or not positive definite at the package's tolerance
        (:mod:`linear_models._spd`) and must be inverted; pass ``damping > 0``.
    """
    w = check_array(w, "w", 1)
    p = w.size
    k = keep_count(keep, p)
    crit = get_criterion(criterion)
    criterion = crit.name
    if update is not None:
        check_choice(update, "update", UPDATES)
    update_scale = check_scalar(update_scale, "update_scale")
    locality = check_scalar(locality, "locality", low=0)
    if locality and not crit.locality:
        raise ValueError(f"locality applies to {', '.join(c for c in _criteria.criterion_names() if get_criterion(c).locality)}, "
                         f"not to criterion {criterion!r}.")
    if block_size is not None and criterion != "joint":
        raise ValueError(f"block_size applies to criterion 'joint', not to {criterion!r}.")
    if criterion == "joint" and update not in (None, "obs", "none"):
        raise ValueError(f"update == {update!r}: criterion 'joint' takes update 'obs' (default) or 'none'.")
    if not crit.separable and criterion != "joint" and update not in (None, "obs"):
        raise ValueError(f"update == {update!r}: criterion {criterion!r} always applies the OBS update.")
    update = crit.update if update is None else update

    need_inverse = "hessian_inverse" in crit.needs or update != "none"
    H = Hd = Hinv = None
    if need_inverse:
        H = _check_hessian(hessian, p, need_matrix=True)
        lam = resolve_damping(float(np.mean(np.diag(H))), damping, relative_damping)
        Hd = H + lam * np.eye(p) if lam else np.array(H, dtype=float)       # the damped Hessian
        if hessian_inverse is None:
            Hinv = _inverse(Hd, lam)
        else:
            Hinv = np.ascontiguousarray(check_symmetric(hessian_inverse, "hessian_inverse", p))
    elif damping is not None or relative_damping is not None:
        resolve_damping(1.0, damping, relative_damping)          # still validated (nothing to damp)

    if criterion == "obs":
        w_upd, A = w.copy(), Hinv.copy()
        order = np.empty(p - k, dtype=np.int64)
        with parallel_section():
            loss_inc = obs_greedy(w_upd, A, p - k, order)
        mask = np.ones(p, dtype=bool)
        mask[order] = False
        return PruneResult(w_upd, mask, criterion, None, 0.5 * float(loss_inc))

    if criterion == "joint":
        mask = joint_mask(w, Hinv, 1 if block_size is None else block_size, k)
        if update == "none":
            weights = np.where(mask, w, 0.0)
            return PruneResult(weights, mask, criterion, None, quadratic_increase(Hd, weights - w))
        weights, inc = optimal_update(w, Hd, mask)
        return PruneResult(weights, mask, criterion, None, inc)

    if criterion == "cbs":
        return _prune_cbs(w, k, Hd, Hinv, rng, start, max_swaps, cbs_search, cbs_options, loss)

    stats = _stats(crit, p, hessian, H, Hinv, grad, importance, rng)
    scores = _criteria.scores(crit, w, stats, locality=locality)
    mask = np.zeros(p, dtype=bool)
    mask[top_indices(scores, k)] = True
    if update == "none":
        return PruneResult(np.where(mask, w, 0.0), mask, criterion, scores)
    if update == "single":
        weights = single_weight_update(w, Hinv, mask, update_scale)
        return PruneResult(weights, mask, criterion, scores, quadratic_increase(Hd, weights - w))
    weights, inc = optimal_update(w, Hd, mask)
    return PruneResult(weights, mask, criterion, scores, inc)


def criterion_stats(crit, p, given, grad, importance, rng):
    """``Stats`` of ``crit`` from the statistics ``given`` plus ``grad``, ``importance`` (checked to shape
    ``(p,)``) and ``rng`` where ``crit`` needs them (its needs are not checked here)."""
    given = dict(given)
    if grad is not None and "grad" in crit.needs:
        given["grad"] = check_array(grad, "grad", 1, shape=(p,))
    if importance is not None and "importance" in crit.needs:
        given["importance"] = check_array(importance, "importance", 1, shape=(p,))
    if rng is not None and "rng" in crit.needs:
        given["rng"] = as_generator(rng)
    return Stats(criterion=crit.name, **given)


def _stats(crit, p, hessian, H, Hinv, grad, importance, rng):
    """The :class:`~linear_models.criteria.Stats` of a score-based criterion, its needs checked first."""
    name = crit.name
    given = {}
    if hessian is not None and H is None and ({"hessian", "hessian_diag"} & set(crit.needs)):
        H = _check_hessian(hessian, p, need_matrix="hessian" in crit.needs)
    if H is not None:
        given["hessian" if np.ndim(H) == 2 else "hessian_diag"] = H
    if Hinv is not None:
        given["hessian_inverse"] = Hinv
    stats = criterion_stats(crit, p, given, grad, importance, rng)
    for need in crit.needs:
        if not stats.has(need):
            what = {"hessian_diag": "hessian", "hessian_inverse": "hessian", "rng": "rng"}.get(need, need)
            extra = {"rng": " (a seed or a Generator)", "importance": " (the true importance per weight)"}.get(need, "")
            raise ValueError(f"{what} is required for criterion {name!r}{extra}.")
    return stats


def _inverse(Hd, damping):
    """``Hd^-1`` via Cholesky; :class:`~linear_models.RankDeficientError` (a ``ValueError``) naming the
    numerical rank when ``Hd`` is singular (as when ``p > n``) or not positive definite."""
    return spd_inverse(Hd, "hessian", hint="pass damping > 0" if not damping else "increase damping")


def _removal_cost(w, Hd, mask):
    """``1/2 w_S' ([H^-1]_SS)^-1 w_S`` of the removed set ``S = ~mask`` (the quadratic model's loss increase)."""
    return optimal_update(w, Hd, mask)[1]


def _prune_cbs(w, k, Hd, Hinv, rng, start, max_swaps, search, options, loss):
    p = w.size
    check_choice(start, "start", CBS_STARTS)
    check_choice(search, "cbs_search", CBS_SEARCHES)
    opts = CBSOptions() if options is None else options
    if not isinstance(opts, CBSOptions):
        raise TypeError(f"cbs_options must be a CBSOptions, got {type(opts).__name__}.")
    if loss is not None and search != "paper":
        raise ValueError("loss applies to cbs_search 'paper' (the exact search minimises the loss increase).")
    if start == "random-magnitude" and rng is None:
        raise ValueError("rng is required for start 'random-magnitude' (a seed or a Generator).")
    objective = ((lambda m: _removal_cost(w, Hd, m)) if search == "exact"
                 else (lambda m: selection_objective(w, Hd, m)))
    search_args = dict(epsilon=opts.epsilon, rho=opts.swap_range, tau=opts.max_misses,
                       max_iter=opts.max_iterations, patience=opts.patience)
    if search == "paper" and start != "obs":
        n_starts = opts.n_starts if start == "random-magnitude" else 0
        res = cbs(w, Hd, k, loss=loss, rng=rng, n_starts=n_starts, update=False, **search_args)
        sr = res.info["search"]
        mask, start_mask, swaps = sr.mask, res.info["start_mask"], int(sum(sr.swaps[:sr.best_iteration]))
    else:
        if start == "obs":
            w_upd, A = w.copy(), Hinv.copy()
            order = np.empty(p - k, dtype=np.int64)
            with parallel_section():
                obs_greedy(w_upd, A, p - k, order)
            start_mask = np.ones(p, dtype=bool)
            start_mask[order] = False
        elif start == "random-magnitude":
            start_mask = min(rmp_masks(w, k, opts.n_starts, as_generator(rng)), key=objective)   # first of equals
        else:
            start_mask = top_mask(np.abs(w), k)
        if search == "exact":
            limit = p if max_swaps is None else check_int(max_swaps, "max_swaps")
            removed, swaps = _cbs_search(w, Hinv, ~start_mask, limit)
            mask = ~removed
        else:
            sr = cbs_search(w, Hd, start_mask, loss=loss, **search_args)
            mask, swaps = sr.mask, int(sum(sr.swaps[:sr.best_iteration]))
    weights, inc = optimal_update(w, Hd, mask)
    return PruneResult(weights, mask, "cbs", None, inc, _removal_cost(w, Hd, start_mask), swaps,
                       objective(mask), objective(start_mask))
