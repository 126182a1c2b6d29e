"""The empirical Fisher, the quadratic model of the loss and the multi-weight OBS update.

**Empirical Fisher** (Yu et al. 2022, docs/references.md): ``F = lambda I + (1/N) G'G`` with the
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

Also the toolkit's one pruning result type, :class:`PruneResult`, and the one damping resolver,
:func:`resolve_damping`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import lapack

from pruning_checks import array, check_symmetric, real

from ._spd import RankDeficientError, spd_factor, spd_inv  # noqa: F401  (named in the docstrings)

#: Relative damping of the empirical Fisher: ``lambda = DEFAULT_DAMPING * mean(diag(G'G / N))``.
DEFAULT_DAMPING = 1e-2


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
        check_square(self.matrix, "fisher.matrix")
        if self.inverse is not None:
            check_square(self.inverse, "fisher.inverse", self.matrix.shape[0])
        if int(self.n_samples) < 1:
            raise ValueError(f"fisher.n_samples == {self.n_samples}, must be >= 1.")


def check_square(M, name, d=None):
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


def fisher_matrix(fisher, d, name="fisher"):
    """The ``(d, d)`` matrix of a :class:`Fisher` (validated when built) or of an array (validated here)."""
    if isinstance(fisher, Fisher):
        return check_shape(fisher.matrix, f"{name}.matrix", d)
    return np.ascontiguousarray(check_symmetric(fisher, name, d))


def fisher_inverse(fisher, d, who):
    """``fisher.inverse`` of a :class:`Fisher` with ``d`` weights, or an error saying how to get one."""
    if not isinstance(fisher, Fisher):
        raise TypeError(f"{who} needs a Fisher (from empirical_fisher(..., inverse=True)), got {type(fisher).__name__}.")
    check_shape(fisher.matrix, "fisher.matrix", d)
    if fisher.inverse is None:
        raise ValueError(f"{who} needs the Fisher inverse: empirical_fisher(..., inverse=True).")
    return fisher.inverse


def check_shape(M, name, d):
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
        Fisher changes by orders of magnitude during training; docs/references.md).
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


def check_mask(mask, d):
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
    F = fisher_matrix(F, w.size, "F")
    mask = check_mask(mask, w.size)
    K, P = np.flatnonzero(mask), np.flatnonzero(~mask)
    out = np.zeros_like(w)
    if P.size == 0:
        return w.copy(), 0.0
    wP = w[P]
    if K.size == 0:
        return out, 0.5 * float(wP @ (F[np.ix_(P, P)] @ wP))
    b = F[np.ix_(K, P)] @ wP
    c, s = spd_factor(F[np.ix_(K, K)], "F restricted to the kept weights", hint="increase the damping")
    dK = s * cho_solve(c, s * b)
    out[K] = w[K] + dK
    # 1/2 (w_P' F_PP w_P - b' F_KK^-1 b): the Schur complement form of 1/2 w_P'([F^-1]_PP)^-1 w_P
    inc = 0.5 * (float(wP @ (F[np.ix_(P, P)] @ wP)) - float(b @ dK))
    return out, inc


def cho_solve(c, b):
    """Solve with a lower Cholesky factor ``c`` (LAPACK potrs)."""
    x, info = lapack.dpotrs(c, b, lower=1)
    if info != 0:  # pragma: no cover - potrs only fails on bad arguments
        raise np.linalg.LinAlgError("Cholesky solve failed.")
    return x


def removal_increase(w, F, mask):
    """``1/2 w_P' ([F^-1]_PP)^-1 w_P``: predicted loss increase of removing ``P`` with the optimal update.

    Raises as :func:`optimal_update`."""
    return optimal_update(w, F, mask)[1]
