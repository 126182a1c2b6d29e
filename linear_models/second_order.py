"""Second-order pruning of any weight vector: empirical Fisher, WoodFisher, OBS, CBS, loss-model criteria.

The one implementation of these algorithms in the toolkit: :func:`linear_models.prune` reaches them
through its criteria (``obs``, ``woodfisher``, ``cbs`` with ``cbs_search="paper"``, the loss-model
criteria with ``locality``), and the network experiments (``simulations.second_order.cbs_table``)
call the functions below directly.

Everything here takes a flat weight vector ``w`` (length ``d``) and either the
per-sample gradient matrix ``G`` (``N x d``), a Fisher/Hessian matrix, or a
gradient and a curvature diagonal, so a trained network (through its flat
parameter vector) and a linear model use the same functions. Pruning is global
and unstructured; a ``mask`` is a boolean array of *kept* weights and ``P``
(the pruned set) its complement.

The empirical Fisher, the quadratic model and the multi-weight update live in
:mod:`linear_models.fisher`, the CBS search in :mod:`linear_models.cbs`; their public names are
re-exported here, so ``linear_models.second_order`` is the one namespace of these algorithms.

**Methods** (names as in the CBS table):

=================== =================================================================
magnitude           keep the largest ``abs(w)``; no update
magnitude+update    magnitude mask, then the multi-weight OBS update
woodfisher          score ``w_q^2 / (2 [F^-1]_qq)``, *joint* (one Fisher over all
                    layers, no per-layer blocks) and *global* (one threshold over all
                    layers); update: the sum of the single-weight OBS updates
                    ``-w_q F^-1 e_q / [F^-1]_qq`` over the pruned ``q``, scaled by
                    :data:`WOODFISHER_SCALE` = 0.9, pruned weights then set to 0
obs                 greedy OBS: remove ``argmin w_i^2 / [F^-1]_ii`` one at a time,
                    update, downdate ``F^-1`` (:func:`obs_greedy`); the
                    sequential updates compose to the multi-weight update of the set
cbs                 Combinatorial Brain Surgeon: randomised-magnitude starts (RMP),
                    swap local search on ``f(P) = w_P' F_PP w_P``, outer loop on the
                    full training loss, then the multi-weight update
=================== =================================================================

**Loss-modelling criteria** (Laurent et al. 2020; docs/references.md), with the
gradient ``g`` and a curvature diagonal ``h`` (the exact generalised
Gauss-Newton diagonal for networks): ``magnitude`` ``1/2 w^2``, ``taylor1``
``abs(g w)``, ``taylor2`` ``abs(-g w + 1/2 h w^2)``, ``hessian`` (OBD)
``1/2 h w^2``, each plus the locality penalty ``1/2 lambda w^2``; no update.
:func:`prune_in_steps` reaches the target in ``steps`` steps, each removing the
same fraction ``r = 1 - (1 - s)^(1/steps)`` of the remaining weights, with the
statistics recomputed on the pruned weights (no training between steps).

Example
-------
>>> import numpy as np
>>> from linear_models.second_order import empirical_fisher, optimal_update, woodfisher
>>> rng = np.random.default_rng(0)
>>> G, w = rng.standard_normal((50, 8)), rng.standard_normal(8)
>>> fisher = empirical_fisher(G, relative_damping=1e-2, inverse=True)
>>> res = woodfisher(w, fisher, keep=0.5)
>>> int(res.mask.sum()), bool(np.all(res.weights[~res.mask] == 0))
(4, True)
>>> upd, increase = optimal_update(w, fisher.matrix, res.mask)
>>> bool(increase > 0)
True
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from pruning_checks import array, count, keep_count, real
from pruning_checks import check_choice as choice
from pruning_checks.threads import parallel_section

from . import criteria as _criteria
from .cbs import (CBS_EPSILON, CBS_MAX_ITER, CBS_MISSES, CBS_PATIENCE, CBS_RANGE, RMP_CANDIDATES,  # noqa: F401
                  SearchResult, cbs, cbs_search, rmp_masks, selection_objective, swap_statistics)
from .fisher import (DEFAULT_DAMPING, Fisher, PruneResult, check_mask, check_square, empirical_fisher,  # noqa: F401
                     fisher_inverse, fisher_matrix, optimal_update, quadratic_increase, removal_increase,
                     resolve_damping, spd_inverse, top_indices, top_mask)
from .schedules import schedule_counts

#: Scale of WoodFisher's summed single-weight updates (CBS repository's MLPNet scripts).
WOODFISHER_SCALE = 0.9
LOSS_CRITERIA = ("magnitude", "taylor1", "taylor2", "hessian")


def magnitude(w, keep):
    """Global magnitude pruning (no update)."""
    w = array(w, "w", 1)
    mask = top_mask(np.abs(w), keep_count(keep, w.size))
    return PruneResult(np.where(mask, w, 0.0), mask, "magnitude")


def magnitude_update(w, fisher, keep):
    """Magnitude mask, then the multi-weight OBS update (``magnitude+update``).

    Raises ``ValueError`` (before any work) when ``w`` is not finite or ``fisher`` does not match its size, :class:`RankDeficientError` when the kept block is singular."""
    w = array(w, "w", 1)
    F = fisher_matrix(fisher, w.size)
    mask = top_mask(np.abs(w), keep_count(keep, w.size))
    weights, inc = optimal_update(w, F, mask)
    return PruneResult(weights, mask, "magnitude+update", loss_increase=inc)


def woodfisher_scores(w, inverse_diagonal):
    """WoodFisher's (OBS) saliency ``w_q^2 / (2 [F^-1]_qq)``: the loss increase of removing ``q`` alone."""
    return w * w / (2.0 * inverse_diagonal)


def single_weight_update(w, Finv, mask, scale=WOODFISHER_SCALE):
    """WoodFisher's update: ``w + scale F^-1 s`` with ``s_q = -w_q / [F^-1]_qq`` on the pruned ``q`` (the
    single-weight OBS updates of every removed weight, summed and scaled); pruned weights set to zero.

    Raises ``ValueError`` when ``w``, ``Finv`` (finite, symmetric, ``(d, d)``) or ``mask`` do not match."""
    w = array(w, "w", 1)
    Finv = check_square(np.asarray(Finv), "Finv", w.size)
    mask = check_mask(mask, w.size)
    dg = np.diag(Finv)
    P = np.flatnonzero(~mask)
    s = -w[P] / dg[P]
    weights = w + scale * (Finv[:, P] @ s)
    weights[P] = 0.0
    return weights


def woodfisher(w, fisher, keep, *, scale=WOODFISHER_SCALE):
    """WoodFisher, joint and global: lowest scores pruned, summed single-weight OBS updates scaled by ``scale``.

    The update is ``dw = scale * F^-1 s`` with ``s_q = -w_q / [F^-1]_qq`` on the pruned ``q`` (each
    weight's own OBS update as if it were removed alone, added up); pruned weights are then set to
    zero. ``loss_increase`` is the quadratic model's ``1/2 dw' F dw`` of the applied change.

    Raises ``ValueError`` (before any work) when ``w`` is not finite or ``fisher`` does not match its size or has no inverse.
    """
    w = array(w, "w", 1)
    scale = real(scale, "scale", low=0)
    Finv = fisher_inverse(fisher, w.size, "woodfisher")
    scores = woodfisher_scores(w, np.diag(Finv).copy())
    mask = top_mask(scores, keep_count(keep, w.size))
    weights = single_weight_update(w, Finv, mask, scale)
    return PruneResult(weights, mask, "woodfisher", scores, quadratic_increase(fisher.matrix, weights - w))


@njit(cache=True, parallel=True)
def obs_greedy(w, A, n_remove, order):
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


def obs_order(w, fisher, n_remove):
    """Greedy OBS removal order: ``n_remove`` indices, each the ``argmin w_i^2 / [F^-1]_ii`` after the
    previous removals and updates (``linear_models``' compacted downdating kernel).

    Raises ``ValueError`` (before any work) when ``w`` is not finite or ``fisher`` does not match its size or has no inverse, and for ``n_remove >= d``."""
    w = array(w, "w", 1)
    Finv = fisher_inverse(fisher, w.size, "obs")
    n_remove = count(n_remove, "n_remove")
    if n_remove > w.size - 1:
        raise ValueError(f"n_remove == {n_remove}, must be <= {w.size - 1} (at least one weight kept).")
    A = np.array(Finv, dtype=float, order="C", copy=True)
    wu = w.copy()
    order = np.empty(n_remove, dtype=np.int64)
    with parallel_section():
        obs_greedy(wu, A, n_remove, order)
    return order


def obs(w, fisher, keep, *, order=None):
    """Greedy OBS to ``keep`` weights; pass ``order`` (from :func:`obs_order` at a higher sparsity) to
    reuse one greedy path for several sparsities (greedy removal sets are nested).

    Raises ``ValueError`` (before any work) when ``w`` is not finite or ``fisher`` does not match its size or has no inverse, and for an ``order`` that is not distinct indices in
    ``[0, d)`` or is too short."""
    w = array(w, "w", 1)
    k = keep_count(keep, w.size)
    fisher_inverse(fisher, w.size, "obs")
    if order is None:
        order = obs_order(w, fisher, w.size - k)
    else:
        order = _order(order, w.size)
    if len(order) < w.size - k:
        raise ValueError(f"order has {len(order)} removals, {w.size - k} are needed.")
    mask = np.ones(w.size, dtype=bool)
    mask[order[:w.size - k]] = False
    weights, inc = optimal_update(w, fisher.matrix, mask)
    return PruneResult(weights, mask, "obs", loss_increase=inc)


def _order(order, d):
    """A removal order: distinct integer indices in ``[0, d)`` (repeats would remove fewer weights)."""
    o = np.asarray(order)
    if o.ndim != 1 or (o.size and o.dtype.kind not in "iu"):
        raise ValueError(f"order must be a 1-D array of integer indices, got dtype {o.dtype} and shape {o.shape}.")
    if o.size and (o.min() < 0 or o.max() >= d):
        raise ValueError(f"order holds index {int(o.min() if o.min() < 0 else o.max())}, must be in [0, {d}).")
    if np.unique(o).size != o.size:
        raise ValueError("order repeats an index; a removal order lists each weight at most once.")
    return o


# ----------------------------------------------------------------------------------------------
# Loss-modelling criteria and multi-step pruning
# ----------------------------------------------------------------------------------------------

def loss_model_scores(w, criterion, *, grad=None, curvature=None, penalty=0.0):
    """Scores of Laurent et al. (lowest pruned) plus the locality penalty ``1/2 penalty w^2``.

    The registry's scores (:mod:`linear_models.criteria`): ``magnitude``: ``abs(w)`` (Laurent et al.'s
    ``1/2 w^2`` ranks the same); ``taylor1``: ``abs(g w)``; ``taylor2``: ``abs(-g w + 1/2 h w^2)``;
    ``hessian`` (OBD): ``1/2 h w^2``, with ``h`` the curvature diagonal (the generalised Gauss-Newton
    diagonal for networks).
    """
    w = array(w, "w", 1)
    choice(criterion, "criterion", LOSS_CRITERIA)
    lam = real(penalty, "penalty", low=0)
    if criterion in ("taylor1", "taylor2") and grad is None:
        raise ValueError(f"grad is required for criterion {criterion!r}.")
    if criterion in ("taylor2", "hessian") and curvature is None:
        raise ValueError(f"curvature is required for criterion {criterion!r}.")
    g = None if grad is None else array(grad, "grad", 1, shape=(w.size,))
    h = None if curvature is None else array(curvature, "curvature", 1, shape=(w.size,))
    return _criteria.scores(criterion, w, _criteria.Stats(criterion=criterion, grad=g, hessian_diag=h), locality=lam)


def step_counts(d, k, steps):
    """Kept counts after each of ``steps`` steps: ``round(d ((k/d)^(t/steps)))``, the last exactly ``k``.

    Every step removes the same fraction ``1 - (k/d)^(1/steps)`` of the remaining weights (rounded);
    counts never increase. The ``"geometric"`` schedule of :func:`linear_models.schedule_counts`.
    """
    return schedule_counts(d, k, count(steps, "steps", low=1), "geometric")


def prune_in_steps(w, keep, criterion, steps, statistics=None, *, penalty=0.0):
    """Prune to ``keep`` in ``steps`` steps with scores recomputed on the pruned weights, no training.

    Parameters
    ----------
    w : array_like, shape (d,)
    keep : float in (0, 1] or int
    criterion : one of :data:`LOSS_CRITERIA`
    steps : int >= 1
    statistics : callable, optional
        ``statistics(weights) -> (grad, curvature)`` at the current pruned weights (required unless
        ``criterion == "magnitude"``).
    penalty : float
        Locality penalty ``lambda``.

    Returns
    -------
    PruneResult
        ``info["counts"]``: kept count after each step.
    """
    w = array(w, "w", 1)
    d = w.size
    k = keep_count(keep, d)
    choice(criterion, "criterion", LOSS_CRITERIA)
    if criterion != "magnitude" and statistics is None:
        raise ValueError(f"statistics is required for criterion {criterion!r} (a function of the weights).")
    counts = step_counts(d, k, steps)
    mask = np.ones(d, dtype=bool)
    cur = w.copy()
    for k_t in counts:
        g = h = None
        if criterion != "magnitude":
            g, h = statistics(cur)
        s = loss_model_scores(cur, criterion, grad=g, curvature=h, penalty=penalty)
        s = np.where(mask, s, -np.inf)                   # removed weights stay removed
        mask = top_mask(s, int(k_t))
        cur = np.where(mask, w, 0.0)
    return PruneResult(cur, mask, criterion, info={"counts": counts})


METHODS = ("magnitude", "magnitude+update", "woodfisher", "obs", "cbs")


def mask_overlap(a, b):
    """Fraction of the pruned weights of ``a`` that ``b`` also prunes (1 when both prune the same set).

    ``a`` and ``b`` are boolean masks (kept weights) of one shape; anything else is a ``ValueError``."""
    a = np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"a must be a 1-D boolean mask, got shape {a.shape}.")
    pa, pb = ~check_mask(a, a.size), ~check_mask(b, a.size)
    n = pa.sum()
    return float((pa & pb).sum() / n) if n else 1.0
