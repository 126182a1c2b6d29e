"""Block-wise second-order pruning: a block-diagonal Fisher/Hessian, one global selection.

At the size of the CBS paper's MLPNet (784-40-20-10, ``d = 32,360`` weights) the full Fisher
takes ``d^2 * 8`` bytes = 8.4 GB in double precision, and its inverse as much again. WoodFisher
(Singh & Alistarh 2020, Section 4) and the CBS code (Yu et al. 2022; docs/references.md) make such
networks tractable by keeping only **diagonal blocks** of the Fisher: contiguous runs of
``block_size`` weights (1,000-2,000 in their experiments), each inside one layer, with the
couplings between blocks dropped. The toolkit does the same here, and keeps the pruning
**global**: the weights removed are chosen over all blocks at once, not a fixed share per block.

How the global selection is made (docs/references.md, Hassibi & Stork 1993; Singh & Alistarh 2020;
Yu et al. 2022):

============ ===================================================================================
obs          greedy Optimal Brain Surgeon on the block-diagonal Hessian, exactly: the next weight
             removed is the one of least saliency ``w_q^2 / [H^-1]_qq`` over *all* blocks (a heap
             holds the best candidate of each block); only its block's weights are updated and
             its block's inverse downdated, since the other blocks do not couple to it. The
             result equals :func:`linear_models.prune`'s ``obs`` with the block-diagonal matrix.
woodfisher   the single-weight saliencies ``w_q^2 / (2 [H^-1]_qq)`` of every block ranked
             together (one threshold; removals are allocated across blocks by this global
             order, as WoodFisher does), then each block's summed single-weight updates scaled
             by 0.9.
cbs          the CBS paper's swap search (CBS-S, :func:`linear_models.second_order.cbs_search`)
             over all weights at once on ``f(P) = w_P' H_PP w_P`` with ``H`` block-diagonal, so a
             swap may move a removal from one block to another; randomized-magnitude starts as in
             the paper; then the multi-weight OBS update (CBS-U) in every block.
others       any registered per-weight score (magnitude, OBD ``hessian`` with the blocks'
             diagonal, ``taylor1``/``taylor2``, user criteria needing no full matrix) with one
             global threshold, then the criterion's update (``"obs"``: the multi-weight update per
             block; ``"single"``: WoodFisher's).
============ ===================================================================================

Blocks of size 1 give the diagonal model: ``obs`` then removes by OBD's saliency
``1/2 H_ii w_i^2`` (of the damped diagonal) with no change of the kept weights; one block
covering all weights is the full-matrix method of :mod:`linear_models.second_order`
(tests/test_blockwise.py checks both to 1e-10).

Memory is estimated before any work (:func:`memory_estimate`) and refused above ``max_memory``
(2 GiB by default) with the size named.

Example
-------
>>> import numpy as np
>>> from linear_models.blockwise import block_fisher, prune_blockwise
>>> rng = np.random.default_rng(0)
>>> G, w = rng.standard_normal((200, 12)), rng.standard_normal(12)
>>> fisher = block_fisher(G, [(0, 4), (4, 8), (8, 12)], relative_damping=1e-2)
>>> res = prune_blockwise(w, 0.5, "obs", fisher)
>>> int(res.mask.sum()), res.info["removed_per_block"]
(6, [3, 2, 1])
"""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit

from pruning_checks import as_generator, check_array, check_choice, check_int, check_scalar, keep_count

from . import criteria as _criteria
from .cbs import flat_blocks, swap_search
from .criteria import get_criterion
from .fisher_blocks import (DEFAULT_MAX_MEMORY, BlockFisher, block_fisher, check_memory, format_bytes, layer_blocks,
                            memory_estimate)
from .pruning import CBSOptions, criterion_stats
from .second_order import (CBS_EPSILON, CBS_MAX_ITER, CBS_MISSES, CBS_PATIENCE, CBS_RANGE, WOODFISHER_SCALE,
                           PruneResult, optimal_update, quadratic_increase, rmp_masks, single_weight_update,
                           top_indices)

__all__ = ["BlockFisher", "DEFAULT_MAX_MEMORY", "block_fisher", "check_memory", "cbs_search_blocks",
           "format_bytes", "layer_blocks", "memory_estimate", "prune_blockwise"]


# ---------------------------------------------------------------------------------------------- greedy OBS

#: Removals whose rank-one downdates of a block's inverse are held as factors before they are applied
#: at once (one matrix product instead of as many passes over the block).
LAZY_RANK = 128


@njit(cache=True)
def _obs_head(wa, dg, active):
    """``(position, saliency)`` of the least ``w^2 / [H^-1]_qq`` among the active weights (first of equals)."""
    pos, best = -1, np.inf
    for a in range(wa.size):
        if active[a]:
            s = wa[a] * wa[a] / dg[a]
            if s < best:
                pos, best = a, s
    return pos, best


@njit(cache=True)
def _obs_remove(A, C, k, wa, dg, active, pos, r):
    """Remove ``pos``: OBS update of ``wa``, downdate of the diagonal ``dg``; the rank-one downdate of the
    inverse is stored as row ``k`` of ``C`` (the current inverse is ``A - C[:k]' C[:k]``)."""
    n = wa.size
    for b in range(n):
        r[b] = A[pos, b]
    for j in range(k):
        f = C[j, pos]
        if f != 0.0:
            for b in range(n):
                r[b] -= f * C[j, b]
    d = r[pos]
    wi = wa[pos]
    s = 1.0 / np.sqrt(d)
    for b in range(n):
        wa[b] -= wi * r[b] / d
        dg[b] -= r[b] * r[b] / d
        C[k, b] = r[b] * s
    active[pos] = False
    wa[pos] = 0.0


class _OBSBlock:
    """Greedy OBS state of one block: the inverse with its pending downdates, weights, diagonal."""

    def __init__(self, w, A, start, overwrite):
        self.A = A if overwrite else np.array(A, order="C", copy=True)
        self.idx = np.arange(start, start + w.size)
        self.wa = np.array(w, dtype=float)
        self.dg = np.diag(self.A).copy()
        self.active = np.ones(w.size, dtype=np.bool_)
        self.n_active = w.size
        self.C = np.empty((min(LAZY_RANK, w.size), w.size))
        self.k = 0
        self.r = np.empty(w.size)

    def head(self):
        return _obs_head(self.wa, self.dg, self.active)

    def remove(self, pos):
        removed = int(self.idx[pos])
        _obs_remove(self.A, self.C, self.k, self.wa, self.dg, self.active, pos, self.r)
        self.k += 1
        self.n_active -= 1
        if self.k == self.C.shape[0] and self.n_active:
            self._flush()
        return removed

    def _flush(self):
        C = self.C[:self.k]
        if self.n_active < 0.75 * self.wa.size:          # compact to the active weights
            keep = np.flatnonzero(self.active)
            C = C[:, keep]
            self.A = self.A[np.ix_(keep, keep)]
            self.idx, self.wa, self.dg = self.idx[keep], self.wa[keep], self.dg[keep]
            self.active = np.ones(keep.size, dtype=np.bool_)
            self.r = np.empty(keep.size)
            self.C = np.empty((min(LAZY_RANK, keep.size), keep.size))
        self.A -= C.T @ C
        self.k = 0

    def weights(self, out):
        out[self.idx[self.active]] = self.wa[self.active]


def _obs_blocks(w, fisher, n_remove, overwrite):
    """Greedy OBS over all blocks; returns ``(weights, mask, removal order, summed saliencies)``.

    Each block's rank-one downdates are applied :data:`LAZY_RANK` at a time as one product (the row
    of the current inverse that a removal needs is rebuilt from the pending factors), so the cost of a
    removal is a fraction of a pass over its block at matrix-product speed, not a pass at memory speed.
    """
    blocks = [_OBSBlock(w[a:b], Ainv, a, overwrite) for (a, b), Ainv in zip(fisher.blocks, fisher.inverses)]
    heap = []
    for bi, blk in enumerate(blocks):
        pos, best = blk.head()
        heap.append((best, bi, pos))
    heapq.heapify(heap)
    order = np.empty(n_remove, dtype=np.int64)
    total = 0.0
    for step in range(n_remove):
        best, bi, pos = heapq.heappop(heap)
        total += best
        blk = blocks[bi]
        order[step] = blk.remove(pos)
        if blk.n_active:
            pos, best = blk.head()
            heapq.heappush(heap, (best, bi, pos))
    weights = np.zeros(w.size)
    for blk in blocks:
        blk.weights(weights)
    mask = np.ones(w.size, dtype=bool)
    mask[order] = False
    return weights, mask, order, total


# ---------------------------------------------------------------------------------------------- CBS search

def _flat(fisher):
    """The :func:`linear_models.cbs.flat_blocks` layout of the damped blocks (their own buffer when contiguous)."""
    mats = fisher.matrices
    base = mats[0].base if mats[0].base is not None else mats[0]
    sz = np.array(fisher.sizes, dtype=np.int64)
    buf = base.reshape(-1) if base.size == int((sz * sz).sum()) else None
    return flat_blocks(mats, [a for a, _ in fisher.blocks], buf)


def _bd_matvec(fisher, x):
    return np.concatenate([M @ x[a:b] for (a, b), M in zip(fisher.blocks, fisher.matrices)])


def _objective(w, fisher, mask):
    """``f(P) = w_P' F_PP w_P`` with ``F`` block-diagonal."""
    wp = np.where(mask, 0.0, w)
    return float(sum(float(wp[a:b] @ (M @ wp[a:b])) for (a, b), M in zip(fisher.blocks, fisher.matrices)))


def cbs_search_blocks(w, fisher, mask, *, loss=None, epsilon=CBS_EPSILON, rho=CBS_RANGE, tau=CBS_MISSES,
                      max_iter=CBS_MAX_ITER, patience=CBS_PATIENCE):
    """The CBS paper's swap search (:func:`linear_models.second_order.cbs_search`) over all weights with a
    block-diagonal ``F`` (a :class:`BlockFisher`), never forming the ``d x d`` matrix.

    Parameters and result as :func:`linear_models.second_order.cbs_search`; with one block covering all
    weights it performs the same arithmetic on the same matrix.

    Raises
    ------
    ValueError
        ``mask`` not a ``(d,)`` boolean array, invalid limits.
    """
    w = np.ascontiguousarray(check_array(w, "w", 1, shape=(fisher.d,)))
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != w.shape:
        raise ValueError(f"mask must be a boolean array of shape {w.shape}, got {mask.dtype} {mask.shape}.")
    mask = mask.copy()
    epsilon = check_scalar(epsilon, "epsilon", low=0)
    rho, tau = check_int(rho, "rho", low=1), check_int(tau, "tau")
    max_iter, patience = check_int(max_iter, "max_iter"), check_int(patience, "patience", low=1)
    layout = _flat(fisher)
    blk = layout[4]
    dg = np.concatenate([np.diag(M) for M in fisher.matrices])

    def statistics(m):
        Fw = _bd_matvec(fisher, np.where(m, 0.0, w))
        return 2 * w * Fw - dg * w * w, 2 * w * Fw + dg * w * w

    def column(p0):
        a0, b0 = fisher.blocks[blk[p0]]
        col = np.zeros(w.size)
        col[a0:b0] = fisher.matrices[blk[p0]][:, p0 - a0]
        return col

    return swap_search(w, mask, lambda m: _objective(w, fisher, m), statistics, column, layout, loss=loss,
                       epsilon=epsilon, rho=rho, tau=tau, max_iter=max_iter, patience=patience)


# ---------------------------------------------------------------------------------------------- updates

def update_blocks(w, fisher, mask, update, scale):
    """Weights after ``update`` ("none", "obs", "single") of the mask, and ``1/2 dw' F dw`` (block-diagonal)."""
    out = np.where(mask, w, 0.0)
    inc = 0.0
    for bi, ((a, b), M) in enumerate(zip(fisher.blocks, fisher.matrices)):
        mb = mask[a:b]
        if mb.all():
            continue
        if update == "obs":
            out[a:b], part = optimal_update(w[a:b], M, mb)
        else:
            if update == "single":
                out[a:b] = single_weight_update(w[a:b], fisher.inverses[bi], mb, scale)
            part = quadratic_increase(M, out[a:b] - w[a:b])
        inc += part
    return out, inc


def prune_blockwise(w, keep, criterion, fisher, *, grad=None, importance=None, rng=None, update=None,
                    update_scale=WOODFISHER_SCALE, locality=0.0, start="magnitude", cbs_options=None, loss=None,
                    overwrite=False):
    """Prune ``w`` to ``keep`` weights with a block-diagonal Fisher, one global selection (module docstring).

    Parameters
    ----------
    w : array_like, shape (d,)
    keep : float in (0, 1] or int
        Kept fraction or count over all blocks.
    criterion : str or Criterion
        ``"obs"``, ``"cbs"``, ``"woodfisher"`` or any registered per-weight score that needs no full
        matrix (``hessian_diag`` is the blocks' undamped diagonal).
    fisher : BlockFisher
        With inverses for ``obs``, ``woodfisher`` and ``update="single"``.
    grad, importance : array_like, shape (d,), optional
        For criteria that need them.
    rng : Generator or int, optional
        ``random`` and ``start="random-magnitude"``.
    update : {"none", "obs", "single"}, optional
        Default: the criterion's own.
    update_scale : float
        Scale of the ``"single"`` update (0.9).
    locality : float
        Laurent et al.'s penalty on the scores of criteria that take it.
    start : {"magnitude", "random-magnitude"}
        ``cbs``'s start: global magnitude, or the best of it and ``cbs_options.n_starts`` randomized
        variants (:func:`linear_models.rmp_masks`) by ``loss`` (or by the objective without ``loss``).
    cbs_options : CBSOptions, optional
        Limits of the CBS search (the paper's MNIST values by default).
    loss : callable, optional
        ``loss(masked_weights) -> float`` for ``cbs`` (start and iteration chosen by it).
    overwrite : bool
        ``obs`` may downdate ``fisher.inverses`` in place (saves one copy of the blocks).

    Returns
    -------
    PruneResult
        ``loss_increase`` is ``1/2 dw' F dw`` with ``F`` the damped block-diagonal matrix; ``info`` holds
        ``"blocks"``, ``"removed_per_block"`` and, for ``obs``, the removal ``"order"``.

    Raises
    ------
    ValueError
        Before any work: ``w`` not finite or not of length ``fisher.d``; ``keep`` out of range; an inverse
        needed but not computed; a criterion needing the full matrix; invalid options.
    """
    if not isinstance(fisher, BlockFisher):
        raise TypeError(f"fisher must be a BlockFisher (from block_fisher), got {type(fisher).__name__}.")
    w = check_array(w, "w", 1, shape=(fisher.d,))
    d = w.size
    k = keep_count(keep, d)
    crit = get_criterion(criterion)
    name = crit.name
    if update is not None:
        check_choice(update, "update", _criteria.UPDATES)
    if not crit.separable and update not in (None, "obs"):
        raise ValueError(f"update == {update!r}: criterion {name!r} always applies the OBS update.")
    update = crit.update if update is None else update
    update_scale = check_scalar(update_scale, "update_scale")
    locality = check_scalar(locality, "locality", low=0)
    need_inv = name in ("obs", "woodfisher") or update == "single"
    if need_inv and fisher.inverses is None:
        raise ValueError(f"criterion {name!r} with update {update!r} needs the block inverses: "
                         "block_fisher(..., inverse=True).")
    if crit.separable and name != "woodfisher" and ({"hessian", "hessian_inverse"} & set(crit.needs)):
        raise ValueError(f"criterion {name!r} needs the full hessian; block-wise second order provides its "
                         "diagonal and block inverses (use the full matrix: block_size=None).")
    info = {"blocks": list(fisher.blocks)}

    if name == "obs":
        weights, mask, order, total = _obs_blocks(w, fisher, d - k, overwrite)
        info["order"] = order
        res = PruneResult(weights, mask, "obs", None, 0.5 * float(total), info=info)
    elif name == "cbs":
        check_choice(start, "start", ("magnitude", "random-magnitude"))
        opts = CBSOptions() if cbs_options is None else cbs_options
        if start == "random-magnitude" and rng is None:
            raise ValueError("rng is required for start 'random-magnitude' (a seed or a Generator).")
        n_starts = opts.n_starts if start == "random-magnitude" else 0
        starts = rmp_masks(w, k, n_starts, None if rng is None else as_generator(rng))
        if loss is None:
            start_vals = [_objective(w, fisher, m) for m in starts]
        else:
            start_vals = [float(loss(np.where(m, w, 0.0))) for m in starts]
        s0 = int(np.argmin(start_vals))
        sr = cbs_search_blocks(w, fisher, starts[s0], loss=loss, epsilon=opts.epsilon, rho=opts.swap_range,
                               tau=opts.max_misses, max_iter=opts.max_iterations, patience=opts.patience)
        mask = sr.mask
        weights, inc = update_blocks(w, fisher, mask, "obs", update_scale)
        start_inc = update_blocks(w, fisher, starts[s0], "obs", update_scale)[1]
        info.update(search=sr, start=s0, start_mask=starts[s0])
        res = PruneResult(weights, mask, "cbs", None, inc, start_inc, int(sum(sr.swaps[:sr.best_iteration])),
                          sr.objective, sr.start_objective, info=info)
    else:
        if name == "woodfisher":
            if locality:
                raise ValueError("locality does not apply to criterion 'woodfisher'.")
            dinv = np.concatenate([np.diag(A) for A in fisher.inverses])
            scores = w * w / (2.0 * dinv)
        else:
            stats = criterion_stats(crit, d, {"hessian_diag": fisher.diagonal}, grad, importance, rng)
            for need in crit.needs:
                if not stats.has(need):
                    raise ValueError(f"{need} is required for criterion {name!r}.")
            scores = _criteria.scores(crit, w, stats, locality=locality)
        mask = np.zeros(d, dtype=bool)
        mask[top_indices(scores, k)] = True
        weights, inc = update_blocks(w, fisher, mask, update, update_scale)
        res = PruneResult(weights, mask, name, scores, inc, info=info)
    info["removed_per_block"] = [int((~res.mask[a:b]).sum()) for a, b in fisher.blocks]
    return res
