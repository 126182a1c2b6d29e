"""The block-diagonal Fisher of :mod:`linear_models.blockwise`: its blocks (:func:`layer_blocks`), the
:class:`BlockFisher` built from per-sample gradients (:func:`block_fisher`), and the memory estimate
refused before any work (:func:`memory_estimate`, :func:`check_memory`)."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import blas

from pruning_checks import check_array, check_int, check_scalar

from .second_order import resolve_damping, spd_inverse

#: Memory the block-wise and full-matrix paths may use unless told otherwise (bytes).
DEFAULT_MAX_MEMORY = 2 * 2**30
#: Rows of per-sample gradients accumulated into the blocks at a time.
CHUNK_ROWS = 1024

def format_bytes(n):
    """``n`` bytes as a short human-readable string (``"1.5 GiB"``)."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def memory_estimate(sizes, copies=2):
    """Bytes of ``copies`` float64 matrices per block for blocks of the given sizes (``sum s^2 * 8 * copies``).

    ``copies``: 1 for the Fisher blocks alone (CBS, separable criteria with an ``"obs"`` update), 2 with
    their inverses (``obs``, ``woodfisher``); the full-matrix path is one block of size ``d``.
    """
    return int(sum(int(s) ** 2 for s in sizes)) * 8 * int(copies)


def check_memory(nbytes, max_memory, what, hint):
    """Raise ``MemoryError`` (one line: what, its size, the limit, and ``hint``) if ``nbytes > max_memory``.

    ``max_memory=None`` means :data:`DEFAULT_MAX_MEMORY`."""
    limit = DEFAULT_MAX_MEMORY if max_memory is None else check_scalar(max_memory, "max_memory", low=0,
                                                                         include_low=False)
    if nbytes > limit:
        raise MemoryError(f"{what} needs {format_bytes(nbytes)} > max_memory == {format_bytes(limit)}; {hint}.")
    return nbytes


def layer_blocks(layer_sizes, block_size, names=None):
    """Contiguous blocks of at most ``block_size`` weights, each inside one layer, covering the flat vector.

    Parameters
    ----------
    layer_sizes : sequence of int
        Weights per layer, in the order of the flat vector.
    block_size : int >= 1
        Each layer is cut into ``ceil(n_l / block_size)`` blocks of near-equal size (``numpy.array_split``),
        so no block exceeds ``block_size`` and a layer smaller than it is one block.
    names : sequence of str, optional
        Layer names for the error message.

    Returns
    -------
    list of (start, stop)

    Raises
    ------
    ValueError
        ``block_size`` is not a positive integer or is larger than every layer (a block lies inside one
        layer; the message names the largest layer).
    """
    sizes = [check_int(s, f"layer_sizes[{i}]", low=1) for i, s in enumerate(layer_sizes)]
    if not sizes:
        raise ValueError("layer_sizes is empty; there are no weights to cut into blocks.")
    if isinstance(block_size, bool) or not isinstance(block_size, numbers.Integral):
        raise TypeError(f"block_size must be a positive integer (or None for the full matrix), "
                        f"got {type(block_size).__name__}.")
    block_size = check_int(block_size, "block_size", low=1)
    big = int(np.argmax(sizes))
    if block_size > sizes[big]:
        name = f"{names[big]!r} with " if names is not None else f"layer {big} with "
        raise ValueError(f"block_size == {block_size} is larger than every layer (largest: {name}{sizes[big]} "
                         f"weights); blocks lie inside a layer, so pass block_size <= {sizes[big]} "
                         "(or None for the full matrix).")
    blocks, start = [], 0
    for n in sizes:
        n_blocks = -(-n // block_size)
        for part in np.array_split(np.arange(start, start + n), n_blocks):
            blocks.append((int(part[0]), int(part[-1]) + 1))
        start += n
    return blocks


def _check_blocks(blocks, d=None):
    try:
        blocks = [(int(a), int(b)) for a, b in blocks]
    except (TypeError, ValueError):
        raise TypeError("blocks must be a sequence of (start, stop) pairs.") from None
    if not blocks:
        raise ValueError("blocks is empty.")
    pos = 0
    for i, (a, b) in enumerate(blocks):
        if a != pos or b <= a:
            raise ValueError(f"blocks[{i}] == {(a, b)}: blocks must be non-empty contiguous ranges covering "
                             f"[0, d) in order (expected start {pos}).")
        pos = b
    if d is not None and pos != d:
        raise ValueError(f"blocks cover [0, {pos}), must cover the {d} weights.")
    return blocks


@dataclass(frozen=True, eq=False)
class BlockFisher:
    """A block-diagonal (damped) Fisher or Hessian with the inverses of its blocks.

    Attributes
    ----------
    blocks : list of (start, stop)
        Contiguous ranges covering ``[0, d)``.
    matrices : list of ndarray, shape (s_b, s_b)
        The damped blocks ``F_b + damping I`` (views into one buffer).
    inverses : list of ndarray or None
        ``(F_b + damping I)^-1``, or None when not computed.
    diagonal : ndarray, shape (d,)
        The undamped diagonal (OBD's curvature).
    damping : float
        Absolute damping added to every block's diagonal.
    n_samples : int
        Per-sample gradients averaged (0 for a matrix given directly).
    """

    blocks: list
    matrices: list = field(repr=False)
    inverses: list | None = field(repr=False)
    diagonal: np.ndarray = field(repr=False)
    damping: float
    n_samples: int = 0

    @property
    def d(self):
        return self.blocks[-1][1]

    @property
    def sizes(self):
        return [b - a for a, b in self.blocks]

    @property
    def nbytes(self):
        return memory_estimate(self.sizes, 1 if self.inverses is None else 2)

    def restrict(self, start, stop):
        """The blocks inside ``[start, stop)`` (a layer, for layer-wise pruning), shifted to start at 0; the
        same matrices and inverses (not copied), damping and sample count. ``self`` for the whole range.

        Raises
        ------
        ValueError
            ``[start, stop)`` cuts through a block.
        """
        if (start, stop) == (0, self.d):
            return self
        idx = [i for i, (s, e) in enumerate(self.blocks) if s >= start and e <= stop]
        if sum(self.blocks[i][1] - self.blocks[i][0] for i in idx) != stop - start:
            raise ValueError(f"[{start}, {stop}) cuts through a block of {self.blocks}; restrict to whole blocks.")
        return BlockFisher([(self.blocks[i][0] - start, self.blocks[i][1] - start) for i in idx],
                           [self.matrices[i] for i in idx],
                           None if self.inverses is None else [self.inverses[i] for i in idx],
                           self.diagonal[start:stop], self.damping, self.n_samples)

    @classmethod
    def from_matrix(cls, H, blocks, *, damping=0.0, relative_damping=None, inverse=True, max_memory=None):
        """The diagonal blocks of a full symmetric ``H`` (``(d, d)``), damped by ``damping`` or by
        ``relative_damping`` times ``mean(diag(H))`` (the same absolute damping in every block, as the
        full matrix would get).

        Raises
        ------
        ValueError
            ``H`` not finite, square and symmetric; ``blocks`` not a partition of ``[0, d)``.
        MemoryError
            The blocks (and inverses) would exceed ``max_memory``.
        RankDeficientError
            ``inverse=True`` and a damped block is singular; increase the damping.
        """
        H = np.asarray(H, dtype=float)
        if H.ndim != 2 or H.shape[0] != H.shape[1]:
            raise ValueError(f"H has shape {H.shape}, must be square (d, d).")
        from pruning_checks import check_symmetric
        H = check_symmetric(H, "H", H.shape[0])
        blocks = _check_blocks(blocks, H.shape[0])
        check_memory(memory_estimate([b - a for a, b in blocks], 2 if inverse else 1), max_memory,
                     "the Fisher blocks", "pass a smaller block size")
        diag = np.diag(H).copy()
        lam = resolve_damping(float(np.mean(diag)), damping, relative_damping)
        mats = _allocate([b - a for a, b in blocks])
        for (a, b), M in zip(blocks, mats):
            M[...] = H[a:b, a:b]
        return finish_block_fisher(blocks, mats, diag, lam, 0, inverse)


def _allocate(sizes):
    buf = np.zeros(sum(s * s for s in sizes))
    mats, off = [], 0
    for s in sizes:
        mats.append(buf[off:off + s * s].reshape(s, s))
        off += s * s
    return mats


def finish_block_fisher(blocks, mats, diag, lam, n, inverse):
    for M in mats:
        M[np.diag_indices_from(M)] += lam
    invs = None
    if inverse:
        hint = "pass damping > 0" if not lam else "increase the damping"
        invs = [spd_inverse(M, f"the Fisher block [{a}:{b}]", hint=hint) for (a, b), M in zip(blocks, mats)]
    return BlockFisher(blocks, mats, invs, diag, float(lam), int(n))


def block_fisher(grads, blocks, *, damping=0.0, relative_damping=None, inverse=True, max_memory=None):
    """The empirical Fisher ``(1/N) sum_n g_n g_n'`` in diagonal blocks, damped, with the blocks' inverses.

    Parameters
    ----------
    grads : array_like, shape (N, d), or iterable of arrays of shape (n_i, d)
        Per-sample gradients, all at once or in chunks (a generator keeps only one chunk in memory;
        ``N = sum n_i``).
    blocks : sequence of (start, stop)
        Contiguous ranges covering ``[0, d)`` (e.g. :func:`layer_blocks`).
    damping, relative_damping : float, optional
        Absolute damping, or that multiple of the mean diagonal of the whole (undamped) Fisher; the
        same ``lambda`` is added to every block, as :func:`linear_models.empirical_fisher` adds it to
        the full matrix.
    inverse : bool
        Also compute the inverse of every damped block (Cholesky).
    max_memory : float, optional
        Bytes allowed for the blocks and inverses (default :data:`DEFAULT_MAX_MEMORY`).

    Returns
    -------
    BlockFisher

    Raises
    ------
    ValueError
        ``blocks`` not a partition of ``[0, d)``; a chunk not finite or not ``d`` columns wide; no samples.
    MemoryError
        Before any work, when the blocks (and inverses) would exceed ``max_memory``.
    RankDeficientError
        ``inverse=True`` and a damped block is singular; increase the damping.
    """
    blocks = _check_blocks(blocks)
    d = blocks[-1][1]
    sizes = [b - a for a, b in blocks]
    check_memory(memory_estimate(sizes, 2 if inverse else 1), max_memory,
                 f"the Fisher in {len(blocks)} blocks (largest {max(sizes)})", "pass a smaller block size")
    if isinstance(grads, np.ndarray) or (hasattr(grads, "__array__") and not hasattr(grads, "__next__")):
        G = np.asarray(grads, dtype=float)
        chunks = (G[i:i + CHUNK_ROWS] for i in range(0, max(G.shape[0], 1), CHUNK_ROWS)) if G.ndim == 2 else [G]
    else:
        chunks = grads
    mats = _allocate(sizes)
    diag = np.zeros(d)
    n = 0
    for c, Gc in enumerate(chunks):
        Gc = check_array(Gc, f"grads chunk {c}", 2)
        if Gc.shape[1] != d:
            raise ValueError(f"grads chunk {c} has shape {Gc.shape}, must be (n, {d}) to match the blocks.")
        if Gc.shape[0] == 0:
            continue
        n += Gc.shape[0]
        diag += np.einsum("ij,ij->j", Gc, Gc)
        for (a, b), M in zip(blocks, mats):
            out = blas.dsyrk(1.0, Gc[:, a:b], beta=1.0, c=M.T, trans=1, lower=0, overwrite_c=1)
            if not np.shares_memory(out, M):  # pragma: no cover - f2py copies only on a layout mismatch
                M.T[...] = out
    if n == 0:
        raise ValueError("grads has no samples (rows); the Fisher needs at least one.")
    for M in mats:
        # dsyrk filled the upper triangle of M.T, i.e. the lower triangle of M
        M[...] = np.tril(M) + np.tril(M, -1).T
        M /= n
    diag /= n
    lam = resolve_damping(float(np.mean(diag)), damping, relative_damping)
    return finish_block_fisher(blocks, mats, diag, lam, n, inverse)
