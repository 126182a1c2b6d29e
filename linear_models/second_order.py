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

**Empirical Fisher** (NEIGHBOURS.md D): ``F = lambda I + (1/N) G'G`` with the
damping ``lambda = damping * mean(diag(G'G/N))`` given *relative* to the Fisher's
mean diagonal (:class:`Fisher` records both). A fixed absolute damping is
meaningless across training lengths: trained to zero loss the Fisher's
diagonal collapses far below any fixed damping and every update vanishes.

**Quadratic model.** Near a trained ``w`` (gradient ignored), a change ``dw``
raises the loss by ``1/2 dw' F dw``. Removing ``P`` with the optimal change of
the kept weights (multi-weight Optimal Brain Surgeon)::

    dw = -F^-1[:, P] ([F^-1]_PP)^-1 w_P,     increase = 1/2 w_P' ([F^-1]_PP)^-1 w_P,

computed here through the kept block, ``dw_K = F_KK^-1 F_KP w_P``, which is the
same vector (block inversion) and cheaper when few weights are kept.

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

**Loss-modelling criteria** (Laurent et al. 2020; NEIGHBOURS.md C), with the
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

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange
from scipy.linalg import lapack

from pruning_checks import array, as_generator, check_symmetric, count, keep_count, real
from pruning_checks import check_choice as choice
from pruning_checks.threads import parallel_section
from ._spd import RankDeficientError, spd_factor, spd_inv  # noqa: F401  (named in the docstrings)

from . import criteria as _criteria
from .schedules import schedule_counts

#: Relative damping of the empirical Fisher: ``lambda = DEFAULT_DAMPING * mean(diag(G'G / N))``.
DEFAULT_DAMPING = 1e-2
#: Scale of WoodFisher's summed single-weight updates (CBS repository's MLPNet scripts).
WOODFISHER_SCALE = 0.9
#: CBS hyperparameters of the MNIST scripts (NEIGHBOURS.md D): swap threshold, scan range, miss limit.
CBS_EPSILON = 1e-4
CBS_RANGE = 10
CBS_MISSES = 20
CBS_MAX_ITER = 100
CBS_PATIENCE = 5
#: Randomised-magnitude candidates besides global magnitude (``--max-mag-perb``).
RMP_CANDIDATES = 50
LOSS_CRITERIA = ("magnitude", "taylor1", "taylor2", "hessian")


# ----------------------------------------------------------------------------------------------
# Fisher
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fisher:
    """The damped empirical Fisher ``F = damping I + G'G / N`` and its inverse.

    Attributes
    ----------
    matrix : ndarray, shape (d, d)
    inverse : ndarray, shape (d, d) or None
    damping : float
        The absolute damping added to the diagonal.
    relative_damping : float
        ``damping / mean_diagonal``.
    mean_diagonal : float
        Mean diagonal of the undamped ``G'G / N``.
    n_samples : int
    """

    matrix: np.ndarray
    inverse: np.ndarray | None
    damping: float
    relative_damping: float
    mean_diagonal: float
    n_samples: int

    def __post_init__(self):
        """Refuse a non-finite, non-square or asymmetric ``matrix`` (and ``inverse``) at construction, so
        that every function taking a Fisher can trust it (and only check it against the weights)."""
        _check_square(self.matrix, "fisher.matrix")
        if self.inverse is not None:
            _check_square(self.inverse, "fisher.inverse", self.matrix.shape[0])
        if int(self.n_samples) < 1:
            raise ValueError(f"fisher.n_samples == {self.n_samples}, must be >= 1.")


def _check_square(M, name, d=None):
    """A finite, symmetric (up to ``1e-10`` of the largest entry) 2-D ndarray of shape ``(d, d)``; no copy."""
    if not isinstance(M, np.ndarray) or M.ndim != 2 or M.shape[0] != M.shape[1] or M.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a square real ndarray, got {type(M).__name__} "
                         f"with shape {np.shape(M)}.")
    if d is not None and M.shape[0] != d:
        raise ValueError(f"{name} has shape {M.shape}, must be ({d}, {d}) to match the {d} weights.")
    bad = ~np.isfinite(M)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"{name}[{i}, {j}] == {M[i, j]}, must be finite.")
    scale = max(float(np.abs(M).max(initial=0.0)), np.finfo(float).tiny)
    if not np.allclose(M, M.T, rtol=0, atol=1e-10 * scale):
        i, j = np.unravel_index(np.argmax(np.abs(M - M.T)), M.shape)
        raise ValueError(f"{name} is not symmetric: {name}[{i}, {j}] == {M[i, j]} but {name}[{j}, {i}] == {M[j, i]}.")
    return M


def _fisher_matrix(fisher, d, name="fisher"):
    """The ``(d, d)`` matrix of a :class:`Fisher` (validated when built) or of an array (validated here)."""
    if isinstance(fisher, Fisher):
        return _check_shape(fisher.matrix, f"{name}.matrix", d)
    return np.ascontiguousarray(check_symmetric(fisher, name, d))


def _fisher_inverse(fisher, d, who):
    """``fisher.inverse`` of a :class:`Fisher` with ``d`` weights, or an error saying how to get one."""
    if not isinstance(fisher, Fisher):
        raise TypeError(f"{who} needs a Fisher (from empirical_fisher(..., inverse=True)), got {type(fisher).__name__}.")
    _check_shape(fisher.matrix, "fisher.matrix", d)
    if fisher.inverse is None:
        raise ValueError(f"{who} needs the Fisher inverse: empirical_fisher(..., inverse=True).")
    return fisher.inverse


def _check_shape(M, name, d):
    if M.shape != (d, d):
        raise ValueError(f"{name} has shape {M.shape}, must be ({d}, {d}) to match the {d} weights.")
    return M


def spd_inverse(A, name="fisher", *, size=None, hint="increase the damping"):
    """Inverse of a symmetric positive definite matrix (scaled to unit diagonal, Cholesky potrf/potri).

    Raises
    ------
    RankDeficientError
        ``A`` is singular or not positive definite at the package's tolerance (eigenvalues at most
        ``size * eps`` times the largest after scaling to unit diagonal; :mod:`linear_models._spd`).
    """
    return spd_inv(np.asarray(A, dtype=float), name, size=size, hint=hint)


def resolve_damping(mean_diagonal, damping=None, relative_damping=None):
    """The absolute damping ``lambda`` added to a Hessian's diagonal: ``damping`` itself, or
    ``relative_damping * mean_diagonal`` (damping relative to the mean diagonal, as SparseGPT and the
    CBS code do; the scale of a Fisher changes by orders of magnitude during training).

    The one resolver of the toolkit (:func:`linear_models.prune`, :func:`empirical_fisher`, the network
    experiments).

    Raises
    ------
    ValueError
        If both are given, if ``damping < 0`` or ``relative_damping <= 0`` (pass ``damping=0`` for none),
        if either is not finite, or if the mean diagonal is not positive (nothing to scale by).
    """
    if relative_damping is not None:
        if damping:
            raise ValueError("pass damping or relative_damping, not both.")
        rel = real(relative_damping, "relative_damping", low=0, low_open=True)
        if not mean_diagonal > 0:
            raise ValueError(f"relative_damping == {rel:g}: the matrix's mean diagonal is {mean_diagonal!r}, so there "
                             "is no scale to damp relative to; pass an absolute damping instead.")
        return rel * mean_diagonal
    return 0.0 if damping is None else real(damping, "damping", low=0)


def empirical_fisher(grads, *, damping=0.0, relative_damping=None, inverse=False):
    """``F = lambda I + (1/N) G'G`` from per-sample gradients.

    Parameters
    ----------
    grads : array_like, shape (N, d)
        Per-sample gradients of the per-sample loss.
    damping : float >= 0
        Absolute damping ``lambda``.
    relative_damping : float > 0, optional
        Instead of ``damping``: ``lambda = relative_damping * mean(diag(G'G/N))`` (the scale of a
        Fisher changes by orders of magnitude during training; NEIGHBOURS.md D).
    inverse : bool
        Also compute ``F^-1`` (Cholesky).

    Returns
    -------
    Fisher

    Raises
    ------
    ValueError
        ``grads`` is not a finite 2-D array with at least one row (sample) and one column; both
        ``damping`` and ``relative_damping``; ``relative_damping`` with all-zero gradients.
    RankDeficientError
        ``inverse=True`` and ``F`` is singular at the package's tolerance (``N < d`` without damping,
        for instance); increase the damping.
    """
    G = np.ascontiguousarray(array(grads, "grads", 2))
    if G.shape[0] == 0 or G.shape[1] == 0:
        raise ValueError(f"grads has shape {G.shape}; the Fisher needs at least one sample (row) and one weight "
                         f"(column).")
    N = G.shape[0]
    F = G.T @ G
    F /= N
    mean_diag = float(np.mean(np.diag(F)))
    lam = resolve_damping(mean_diag, damping, relative_damping)
    rel = float(relative_damping) if relative_damping is not None else (lam / mean_diag if mean_diag > 0 else math.inf)
    F[np.diag_indices_from(F)] += lam
    Finv = spd_inverse(F, size=max(G.shape)) if inverse else None
    return Fisher(F, Finv, lam, rel, mean_diag, N)


# ----------------------------------------------------------------------------------------------
# Quadratic model and updates
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PruneResult:
    """Pruned weights and what produced them: the one result type of every pruning function.

    Attributes
    ----------
    weights : ndarray, shape (p,)
        Pruned weights (zeros off the mask); updated when the method updates the kept weights.
    mask : ndarray of bool, shape (p,)
        Kept entries.
    criterion : str
        The criterion or method (``"magnitude+update"``, ``"cbs-exact"``, ...).
    scores : ndarray or None
        Per-weight scores of score-based criteria (largest kept).
    loss_increase : float or None
        The quadratic model's predicted loss increase ``1/2 dw' H dw`` of the applied change ``dw``
        (with the optimal multi-weight update: ``1/2 w_P' ([H^-1]_PP)^-1 w_P`` for the pruned set
        ``P``; docs/theory.md Section 5), in the units of the loss whose Hessian is ``H``.
    start_loss_increase : float or None
        ``cbs``: the same for its starting mask.
    swaps : int
        Accepted ``cbs`` swaps.
    objective, start_objective : float or None
        ``cbs``: the objective its search minimised at the returned and at the starting mask.
    info : dict
        Method-specific diagnostics.
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
    info: dict = field(default_factory=dict, repr=False)


def _mask(mask, d):
    m = np.asarray(mask)
    if m.dtype != bool or m.shape != (d,):
        raise ValueError(f"mask must be a boolean array of shape ({d},), got dtype {m.dtype} and shape {m.shape}.")
    return m


def top_indices(scores, k):
    """Indices of the ``k`` largest scores; ties go to the lower index."""
    return np.argsort(-scores, kind="stable")[:k]


def top_mask(scores, k):
    """Mask of the ``k`` largest scores (ties go to the lower index)."""
    mask = np.zeros(scores.size, dtype=bool)
    mask[top_indices(scores, k)] = True
    return mask


def quadratic_increase(F, delta):
    """``1/2 delta' F delta``: the quadratic model's loss change for a weight change ``delta``."""
    return 0.5 * float(delta @ (F @ delta))


def optimal_update(w, F, mask):
    """The multi-weight OBS update for removing the complement of ``mask``.

    Returns ``(weights, increase)``: ``w + dw`` with ``dw = -F^-1[:, P] ([F^-1]_PP)^-1 w_P`` (zero on
    ``P``) and the predicted loss increase ``1/2 w_P' ([F^-1]_PP)^-1 w_P = 1/2 dw' F dw``, both
    computed through the kept block: ``dw_K = F_KK^-1 F_KP w_P`` (block inversion; one solve of the
    kept size).

    Raises
    ------
    ValueError
        ``w`` not finite, ``F`` not a finite symmetric ``(d, d)`` matrix, ``mask`` not ``(d,)`` bool.
    RankDeficientError
        ``F_KK`` is singular at the package's tolerance (:mod:`linear_models._spd`); increase the damping.
    """
    w = array(w, "w", 1)
    F = _fisher_matrix(F, w.size, "F")
    mask = _mask(mask, w.size)
    K, P = np.flatnonzero(mask), np.flatnonzero(~mask)
    out = np.zeros_like(w)
    if P.size == 0:
        return w.copy(), 0.0
    wP = w[P]
    if K.size == 0:
        return out, 0.5 * float(wP @ (F[np.ix_(P, P)] @ wP))
    b = F[np.ix_(K, P)] @ wP
    c, s = spd_factor(F[np.ix_(K, K)], "F restricted to the kept weights", hint="increase the damping")
    dK = s * _cho_solve(c, s * b)
    out[K] = w[K] + dK
    # 1/2 (w_P' F_PP w_P - b' F_KK^-1 b): the Schur complement form of 1/2 w_P'([F^-1]_PP)^-1 w_P
    inc = 0.5 * (float(wP @ (F[np.ix_(P, P)] @ wP)) - float(b @ dK))
    return out, inc


def _cho_solve(c, b):
    x, info = lapack.dpotrs(c, b, lower=1)
    if info != 0:  # pragma: no cover - potrs only fails on bad arguments
        raise np.linalg.LinAlgError("Cholesky solve failed.")
    return x


def removal_increase(w, F, mask):
    """``1/2 w_P' ([F^-1]_PP)^-1 w_P``: predicted loss increase of removing ``P`` with the optimal update.

    Raises as :func:`optimal_update`."""
    return optimal_update(w, F, mask)[1]


def magnitude(w, keep):
    """Global magnitude pruning (no update)."""
    w = array(w, "w", 1)
    mask = top_mask(np.abs(w), keep_count(keep, w.size))
    return PruneResult(np.where(mask, w, 0.0), mask, "magnitude")


def magnitude_update(w, fisher, keep):
    """Magnitude mask, then the multi-weight OBS update (``magnitude+update``).

    Raises ``ValueError`` (before any work) when ``w`` is not finite or ``fisher`` does not match its size, :class:`RankDeficientError` when the kept block is singular."""
    w = array(w, "w", 1)
    F = _fisher_matrix(fisher, w.size)
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
    Finv = _check_square(np.asarray(Finv), "Finv", w.size)
    mask = _mask(mask, w.size)
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
    Finv = _fisher_inverse(fisher, w.size, "woodfisher")
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
    Finv = _fisher_inverse(fisher, w.size, "obs")
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
    _fisher_inverse(fisher, w.size, "obs")
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
# CBS: randomised-magnitude starts, swap local search, outer loop
# ----------------------------------------------------------------------------------------------

def selection_objective(w, F, mask):
    """``f(P) = w_P' F_PP w_P``: CBS's selection objective (twice the no-update quadratic increase).

    ``ValueError`` when ``F`` is not ``(d, d)`` or ``mask`` not a ``(d,)`` boolean array (``d = w.size``)."""
    F = _check_shape(np.asarray(F), "F", np.size(w))
    wp = np.where(_mask(mask, np.size(w)), 0.0, w)
    return float(wp @ (F @ wp))


def swap_statistics(w, F, mask):
    """``(alpha, beta)`` of every weight for the pruned set ``P`` (the complement of ``mask``).

    ``alpha_i = 2 w_i (F w_P)_i - F_ii w_i^2`` (meaningful on ``P``) and
    ``beta_j = 2 w_j (F w_P)_j + F_jj w_j^2`` (meaningful on the kept weights); swapping ``i`` out of
    ``P`` and ``j`` in changes :func:`selection_objective` by ``-alpha_i + beta_j - 2 w_i F_ij w_j``.
    ``ValueError`` when ``F`` is not ``(d, d)`` or ``mask`` not a ``(d,)`` boolean array.
    """
    F = _check_shape(np.asarray(F), "F", np.size(w))
    wp = np.where(_mask(mask, np.size(w)), 0.0, w)
    Fw = F @ wp
    dg = np.diag(F)
    return 2 * w * Fw - dg * w * w, 2 * w * Fw + dg * w * w


@njit(cache=True)
def _ls_iteration(F, w, P, R, alpha, beta, eps, rho, tau):
    """One local-search iteration; swaps are applied to ``P``/``R`` in place; returns their number.

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
            change = (beta[b] + upd[j]) - 2.0 * w[i] * F[i, j] * w[j] - (alpha[a] + upd[i])
            if -change >= eps:
                used[b] = True
                si[ns], sj[ns] = a, b
                ns += 1
                wi, wj = w[i], w[j]
                for x in range(d):
                    upd[x] += 2.0 * w[x] * (F[x, j] * wj - F[x, i] * wi)
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
    F = _fisher_matrix(F, d, "F")
    mask = _mask(mask, d).copy()
    epsilon = real(epsilon, "epsilon", low=0)
    rho, tau = count(rho, "rho", low=1), count(tau, "tau")
    max_iter, patience = count(max_iter, "max_iter"), count(patience, "patience", low=1)
    objectives = [selection_objective(w, F, mask)]
    losses = [] if loss is None else [float(loss(np.where(mask, w, 0.0)))]
    swaps = []
    best_mask, best_it = mask.copy(), 0
    converged = False
    for it in range(1, max_iter + 1):
        P, R = np.flatnonzero(~mask), np.flatnonzero(mask)
        if P.size == 0 or R.size == 0:
            converged = True
            break
        alpha, beta = swap_statistics(w, F, mask)
        alpha, beta = alpha[P], beta[R]
        oa = np.argsort(-alpha, kind="stable")
        P, alpha = P[oa], alpha[oa]
        p0 = P[0]
        ob = np.argsort(beta - 2.0 * w[R] * F[R, p0] * w[p0], kind="stable")
        R, beta = R[ob], beta[ob]
        ns = _ls_iteration(F, w, P, R, alpha, beta, epsilon, rho, tau)
        if ns == 0:
            converged = True
            break
        mask = np.zeros(d, dtype=bool)
        mask[R] = True
        swaps.append(int(ns))
        objectives.append(selection_objective(w, F, mask))
        if loss is None:
            best_mask, best_it = mask.copy(), it
            continue
        losses.append(float(loss(np.where(mask, w, 0.0))))
        if losses[-1] < losses[best_it]:
            best_mask, best_it = mask.copy(), it
        if it - best_it >= patience:
            break
    return SearchResult(best_mask, objectives[best_it], objectives[0], losses, objectives, swaps, best_it, converged)


def _quotas(sizes, k):
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
        for idx, q in zip(chunks, _quotas([c.size for c in chunks], k)):
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
    F = _fisher_matrix(fisher, w.size)
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
    pa, pb = ~_mask(a, a.size), ~_mask(b, a.size)
    n = pa.sum()
    return float((pa & pb).sum() / n) if n else 1.0
