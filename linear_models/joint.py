"""The ``joint`` selection: exact combinatorial OBS per block with one Lagrange multiplier
(docs/theory.md Section 10).

Definition at finite ``p``. The weights come in consecutive blocks of ``block_size = B``
coordinates (``p`` a multiple of ``B``). For block ``j`` and each kept pattern ``S`` of its
coordinates (pruned ``P``), the cost is the OBS loss increase of removing ``P`` from that block,

    c_j(S) = w_P' ([H^-1]_PP)^-1 w_P          (c_j(block) = 0),

with ``[H^-1]_PP`` the ``P x P`` entries of the inverse Hessian (for a block-diagonal ``H``
the blocks are independent and ``sum_j c_j`` is the exact loss increase, times 2, of the whole
mask with the OBS update; for any other ``H`` only its diagonal blocks of ``H^-1`` are read).
The selection keeps, in every block, a pattern minimising ``c_j(S) + t |S|`` with one
multiplier ``t >= 0`` for the whole model, ``t`` lowered until exactly ``k`` weights are kept:

1. per block and size ``s``: ``m_j(s) = min_{|S| = s} c_j(S)`` (ties: the pattern with the
   smallest bit index, bit ``i`` = coordinate ``i`` of the block kept);
2. the lower convex hull of ``(s, m_j(s))``, ``s = 0..B``: the sizes the Lagrangian can pick;
   its edges ``s_a -> s_b`` switch on at ``t_e = (m_j(s_a) - m_j(s_b)) / (s_b - s_a)``
   (points exactly on a chord are kept, so edges have length 1 where they can);
3. all edges of all blocks in decreasing ``t_e`` (ties: lower block first, then the block's own
   edge order) are taken while the kept count stays at most ``k``; if the next edge
   ``s_a -> s_b`` would overshoot, its block moves instead to its cheapest pattern of size
   ``s_a + (k - kept)`` and the selection stops. So the count is exact, at most one block is
   off the Lagrangian's choice, and without that block the mask minimises ``sum_j c_j``
   over all masks of its count (a Lagrangian optimum).

The limit (docs/theory.md Section 10, criterion ``joint``) is the same rule with ``t`` set by the
expected kept fraction; the one partial block does not matter there.

Example
-------
>>> import numpy as np
>>> from linear_models.joint import joint_mask
>>> H = np.kron(np.eye(2), np.array([[1.0, 0.9], [0.9, 1.0]]))
>>> w = np.array([1.0, -1.0, 0.6, 0.6])
>>> joint_mask(w, np.linalg.inv(H), 2, 3).tolist()        # a count the multiplier reaches: optimal
[True, True, True, False]
>>> joint_mask(w, np.linalg.inv(H), 2, 2).tolist()        # one partial block (cost 0.258; optimum 0.2)
[True, False, True, False]

At ``k = 2`` the first block's hull jumps from 0 to 2 kept weights in one edge (keeping one of its
two anti-aligned, correlated weights costs 0.19, keeping none 0.2), so the count is only reached
with that block partial; the mask of least total cost keeps the second block whole (cost 0.2).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from pruning_checks import check_array, check_int

#: Largest block of the exact per-block enumeration (2^B patterns per block).
MAX_JOINT_BLOCK = 8


def block_inverse_blocks(hessian_inverse, block_size):
    """The diagonal ``B x B`` blocks of ``hessian_inverse``: shape ``(p / B, B, B)``."""
    p = hessian_inverse.shape[0]
    m = p // block_size
    idx = np.arange(p).reshape(m, block_size)
    return hessian_inverse[idx[:, :, None], idx[:, None, :]]


def pattern_costs(w, inv_blocks):
    """``c_j(S)`` for every block ``j`` and kept pattern ``S`` (bit ``i`` = coordinate ``i`` kept).

    Parameters
    ----------
    w : ndarray, shape (p,)
    inv_blocks : ndarray, shape (m, B, B)
        Diagonal blocks of ``H^-1`` (``p = m B``), symmetric positive definite.

    Returns
    -------
    ndarray, shape (m, 2^B)
        ``w_P' ([H^-1]_PP)^-1 w_P``; 0 for the full pattern.
    """
    m, B = inv_blocks.shape[0], inv_blocks.shape[1]
    W = w.reshape(m, B)
    costs = np.zeros((m, 1 << B))
    for s in range((1 << B) - 1):
        P = np.array([i for i in range(B) if not (s >> i) & 1])
        sub = inv_blocks[:, P[:, None], P[None, :]]
        wp = W[:, P]
        if P.size == 1:
            costs[:, s] = wp[:, 0] ** 2 / sub[:, 0, 0]
        else:
            costs[:, s] = np.einsum("ji,ji->j", wp, np.linalg.solve(sub, wp[:, :, None])[:, :, 0])
    return costs


@njit(cache=True)
def _popcount(s):
    c = 0
    while s:
        c += s & 1
        s >>= 1
    return c


@njit(cache=True)
def _joint_patterns(costs, B, counts):
    """Kept pattern (bit mask) of every block for each kept count in ``counts``: shape (levels, m)."""
    m, NS = costs.shape
    best = np.empty((m, B + 1))
    arg = np.empty((m, B + 1), dtype=np.int64)
    for j in range(m):
        for s in range(B + 1):
            best[j, s] = np.inf
            arg[j, s] = -1
        for pat in range(NS):
            s = _popcount(pat)
            if costs[j, pat] < best[j, s]:
                best[j, s] = costs[j, pat]
                arg[j, s] = pat
    # lower convex hull per block (monotone chain over s = 0..B; collinear points kept)
    e_block = np.empty(m * B, dtype=np.int64)
    e_from = np.empty(m * B, dtype=np.int64)
    e_to = np.empty(m * B, dtype=np.int64)
    e_t = np.empty(m * B)
    ne = 0
    hull = np.empty(B + 1, dtype=np.int64)
    for j in range(m):
        h = 0
        for s in range(B + 1):
            while h >= 2:
                a, b = hull[h - 2], hull[h - 1]
                # drop b if it lies strictly above the chord a -> s
                if (best[j, b] - best[j, a]) * (s - a) > (best[j, s] - best[j, a]) * (b - a):
                    h -= 1
                else:
                    break
            hull[h] = s
            h += 1
        for e in range(h - 1):
            a, b = hull[e], hull[e + 1]
            e_block[ne] = j
            e_from[ne] = a
            e_to[ne] = b
            e_t[ne] = (best[j, a] - best[j, b]) / (b - a)
            ne += 1
    order = np.argsort(-e_t[:ne], kind="mergesort")        # stable: block order, then edge order
    out = np.empty((counts.size, m), dtype=np.int64)
    for lv in range(counts.size):
        k = counts[lv]
        for j in range(m):
            out[lv, j] = arg[j, 0]
        kept = 0
        for q in range(ne):
            if kept == k:
                break
            i = order[q]
            j, a, b = e_block[i], e_from[i], e_to[i]
            if kept + (b - a) <= k:
                out[lv, j] = arg[j, b]
                kept += b - a
            else:
                out[lv, j] = arg[j, a + (k - kept)]
                kept = k
    return out


def joint_patterns(costs, counts):
    """Kept patterns of the ``joint`` rule (module docstring) from the costs of :func:`pattern_costs`.

    Parameters
    ----------
    costs : ndarray, shape (m, 2^B)
    counts : ndarray of int, shape (levels,)
        Kept counts, each in ``0..m B``.

    Returns
    -------
    ndarray of int64, shape (levels, m)
        Bit masks (bit ``i`` = coordinate ``i`` of the block kept).
    """
    B = int(costs.shape[1]).bit_length() - 1
    return _joint_patterns(np.ascontiguousarray(costs, dtype=np.float64), B,
                           np.ascontiguousarray(counts, dtype=np.int64))


def patterns_to_masks(patterns, B):
    """``(levels, m)`` bit masks to boolean masks ``(levels, m B)``."""
    bits = (patterns[..., None] >> np.arange(B)) & 1
    return bits.reshape(patterns.shape[0], -1).astype(bool)


def joint_mask(w, hessian_inverse, block_size, k):
    """The ``joint`` selection (module docstring): a boolean mask keeping exactly ``k`` of ``w``.

    Parameters
    ----------
    w : array_like, shape (p,)
        Weights.
    hessian_inverse : array_like, shape (p, p)
        Inverse of the (damped) Hessian; only its diagonal ``B x B`` blocks are read.
    block_size : int
        ``B``, 1 to :data:`MAX_JOINT_BLOCK`; ``p`` must be a multiple of it.
    k : int
        Kept count, ``0 <= k <= p``.

    Returns
    -------
    ndarray of bool, shape (p,)

    Raises
    ------
    ValueError
        ``block_size`` out of range or not dividing ``p``, ``k`` out of range, non-finite input.
    """
    w = check_array(w, "w", 1)
    p = w.size
    B = check_int(block_size, "block_size", low=1, high=MAX_JOINT_BLOCK)
    if p % B:
        raise ValueError(f"block_size == {B} does not divide p == {p}; the joint criterion needs whole blocks.")
    k = check_int(k, "k", low=0, high=p)
    Hinv = check_array(hessian_inverse, "hessian_inverse", 2, shape=(p, p))
    costs = pattern_costs(w, block_inverse_blocks(Hinv, B))
    return patterns_to_masks(joint_patterns(costs, np.array([k])), B)[0]
