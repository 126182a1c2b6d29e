"""Block spectra of the proportional limit: block-diagonal covariance with small blocks
(docs/theory.md Section 10).

Coordinates come in blocks of one size ``B`` (1 to 4). Block type ``k`` covers a
fraction ``weights[k]`` of the ``p`` coordinates (so ``p weights[k] / B`` blocks),
has feature covariance ``covariances[k]`` (``B x B``, symmetric positive definite)
and true weights ``sqrt(p) beta*_block = s b_k``, with

- ``"fixed"`` signal: ``b_k = signal[k]`` and one random sign ``s = +-1`` per block
  (the relative signs inside a block are kept);
- ``"gaussian"`` signal: ``sqrt(p) beta*_block ~ N(0, S_k)`` with
  ``S_k = diag(signal[k]**2)``, or a full ``S_k = signal_cov[k]``.

A diagonal-covariance :class:`~asymptotics.Spectrum` is the special case of
diagonal blocks (:meth:`BlockSpectrum.from_spectrum`), and a finite block-diagonal
problem is the special case of ``p / B`` block types of weight ``B / p`` each
(:meth:`BlockSpectrum.from_arrays`).

Example
-------
>>> from asymptotics import BlockSpectrum
>>> spec = BlockSpectrum.correlated_pair(0.5, scale=5.0, signal=(1.0, 0.2))
>>> spec.block_size, spec.n_types
(2, 1)
>>> spec.covariances[0].tolist()
[[1.0, 2.5], [2.5, 25.0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pruning_checks import check_array, check_choice, check_int, check_scalar, check_vector

from .spectrum import SIGNAL_DISTS, WEIGHT_SUM_ATOL, Spectrum

MAX_BLOCK_SIZE = 4          # blocks of 1..4 coordinates (the pattern integrals grow like 2^B)
SYMMETRY_RTOL = 1e-10       # asymmetry above this (relative to the largest entry) is an error
PD_RTOL = 1e-12             # smallest eigenvalue must exceed this times the largest (positive definite)
PSD_RTOL = 1e-12            # signal covariance: eigenvalues above -PSD_RTOL * largest (positive semi-definite)
SIGNAL_COV_RTOL = 1e-10     # diag(signal_cov) must equal signal**2 to this (relative) when both are given


def _matrices(value, name, B=None):
    """A finite ``(K, B, B)`` float copy of ``value`` (a single ``(B, B)`` matrix gives ``K = 1``)."""
    arr = check_array(value, name)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] != arr.shape[2]:
        raise ValueError(f"{name} must be a non-empty sequence of square B x B matrices, got shape {arr.shape}.")
    if B is not None and arr.shape[1:] != (B, B):
        raise ValueError(f"{name} has blocks of shape {arr.shape[1:]} but covariances has {(B, B)}; they must match.")
    for k, M in enumerate(arr):
        scale = max(float(np.abs(M).max(initial=0.0)), np.finfo(float).tiny)
        asym = np.abs(M - M.T)
        if asym.max(initial=0.0) > SYMMETRY_RTOL * scale:
            i, j = np.unravel_index(np.argmax(asym), M.shape)
            raise ValueError(f"{name}[{k}] is not symmetric: {name}[{k}][{i}, {j}] == {M[i, j]} but "
                             f"{name}[{k}][{j}, {i}] == {M[j, i]}.")
        arr[k] = 0.5 * (M + M.T)
    return arr


@dataclass(frozen=True, eq=False)
class BlockSpectrum:
    """Block types of feature covariances and signals (docs/theory.md Section 10).

    Parameters
    ----------
    covariances : array_like of float, shape (K, B, B) or (B, B)
        Covariance ``Sigma_k`` of each block type: symmetric positive definite, ``1 <= B <= 4``.
        A single matrix is one block type.
    signal : array_like of float, shape (K, B) or (B,), or None
        Signal ``b_k`` (``sqrt(p) beta*_block = s b_k``; gaussian signal: the standard deviations
        ``sqrt(diag S_k)``). May be None only when ``signal_cov`` is given.
    weights : array_like of float, shape (K,), optional
        Fraction ``pi_k >= 0`` of the coordinates in each block type, summing to 1 (default: equal).
    signal_dist : {"fixed", "gaussian"}
        One random sign per block, or ``sqrt(p) beta*_block ~ N(0, S_k)``.
    signal_cov : array_like of float, shape (K, B, B), optional
        Full signal covariance ``S_k`` (symmetric positive semi-definite) for gaussian signal;
        default ``diag(signal[k]**2)``.

    Raises
    ------
    ValueError
        Non-finite, non-symmetric, non-positive-definite or mismatched input (the message names the
        parameter and the offending entry); ``signal_cov`` with fixed signal.
    TypeError
        Non-numeric input.

    Attributes
    ----------
    block_size : int
        ``B``.
    n_types : int
        ``K``.
    signal_second_moment : ndarray, shape (K, B, B)
        ``E[b b']`` per block type: ``b_k b_k'`` (fixed) or ``S_k`` (gaussian).
    eigenvalues, eigenvectors : ndarray, shapes (K, B) and (K, B, B)
        ``Sigma_k = V diag(e) V'`` (exact for diagonal blocks: ``V = I``, ``e = diag``).
    """

    covariances: np.ndarray
    signal: np.ndarray | None
    weights: np.ndarray | None = None
    signal_dist: str = "fixed"
    signal_cov: np.ndarray | None = None

    def __post_init__(self):
        cov = _matrices(self.covariances, "covariances")
        K, B = cov.shape[0], cov.shape[1]
        if B > MAX_BLOCK_SIZE:
            raise ValueError(f"covariances has blocks of size {B}, must be at most {MAX_BLOCK_SIZE}.")
        eig = np.empty((K, B))
        vec = np.empty((K, B, B))
        for k, M in enumerate(cov):
            if np.count_nonzero(M - np.diag(np.diag(M))) == 0:      # diagonal: exact eigen-decomposition
                e, V = np.diag(M).copy(), np.eye(B)
            else:
                e, V = np.linalg.eigh(M)
            if not e.min() > PD_RTOL * max(e.max(), 0.0):
                raise ValueError(f"covariances[{k}] is not positive definite (smallest eigenvalue "
                                 f"{e.min():.6g}, largest {e.max():.6g}).")
            eig[k], vec[k] = e, V
        check_choice(self.signal_dist, "signal_dist", SIGNAL_DISTS)
        scov = None
        if self.signal_cov is not None:
            if self.signal_dist != "gaussian":
                raise ValueError("signal_cov is given but signal_dist == 'fixed'; a signal covariance needs "
                                 "signal_dist='gaussian'.")
            scov = _matrices(self.signal_cov, "signal_cov", B)
            if scov.shape[0] != K:
                raise ValueError(f"signal_cov has {scov.shape[0]} blocks but covariances has {K}; they must match.")
            for k, S in enumerate(scov):
                e = np.linalg.eigvalsh(S)
                if e.min() < -PSD_RTOL * max(e.max(), np.finfo(float).tiny):
                    raise ValueError(f"signal_cov[{k}] is not positive semi-definite (smallest eigenvalue "
                                     f"{e.min():.6g}).")
        if self.signal is None:
            if scov is None:
                raise ValueError("signal is None; give the signal (or signal_cov with signal_dist='gaussian').")
            b = np.sqrt(np.maximum(np.diagonal(scov, axis1=1, axis2=2), 0.0))
        else:
            b = check_array(self.signal, "signal")
            if b.ndim == 1 and K == 1:
                b = b[None]
            if b.shape != (K, B):
                raise ValueError(f"signal has shape {b.shape} but covariances has {K} blocks of size {B}; "
                                 f"signal must have shape {(K, B)}.")
            if scov is not None:
                d = np.diagonal(scov, axis1=1, axis2=2)
                if not np.allclose(d, b**2, rtol=SIGNAL_COV_RTOL, atol=0):
                    raise ValueError("signal**2 does not match the diagonal of signal_cov; give one of them "
                                     "(signal=None with signal_cov).")
        if self.weights is None:
            w = np.full(K, 1.0 / K)
        else:
            w = check_vector(self.weights, "weights", nonnegative=True)
            if w.size != K:
                raise ValueError(f"weights has {w.size} entries but covariances has {K} blocks; they must match.")
            total = float(w.sum())
            if abs(total - 1.0) > WEIGHT_SUM_ATOL:
                raise ValueError(f"weights sum to {total!r}, must sum to 1.")
        if self.signal_dist == "gaussian":
            second = scov if scov is not None else np.einsum("ki,ij->kij", b**2, np.eye(B))
        else:
            second = b[:, :, None] * b[:, None, :]
        for name, arr in (("covariances", cov), ("signal", b), ("weights", w), ("signal_cov", scov),
                          ("eigenvalues", eig), ("eigenvectors", vec), ("signal_second_moment", second)):
            if arr is not None:
                arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    # ------------------------------------------------------------------ views
    @property
    def block_size(self) -> int:
        """Block size ``B``."""
        return int(self.covariances.shape[1])

    @property
    def n_types(self) -> int:
        """Number of block types ``K``."""
        return int(self.covariances.shape[0])

    @property
    def is_diagonal(self) -> bool:
        """Every block covariance is diagonal (then Section 10 reduces to Sections 2-4)."""
        off = self.covariances * (1.0 - np.eye(self.block_size))
        return bool(np.count_nonzero(off) == 0)

    def eigen_atoms(self):
        """The fixed point's atoms: ``(weights, variances, second_moment)``, each of shape ``(K B,)``.

        The traces of docs/theory.md Section 10 are sums over the eigenvalues ``e_kj`` of ``Sigma_k``
        with weight ``pi_k / B`` each and signal second moment ``v_kj' E[b b'] v_kj``.
        """
        K, B = self.n_types, self.block_size
        m2 = np.einsum("kij,kil,klj->kj", self.eigenvectors, self.signal_second_moment, self.eigenvectors)
        return np.repeat(self.weights / B, B), self.eigenvalues.ravel(), np.maximum(m2, 0.0).ravel()

    def __repr__(self):
        if self.n_types <= 4:
            return (f"BlockSpectrum(covariances={self.covariances.tolist()}, signal={self.signal.tolist()}, "
                    f"weights={self.weights.tolist()}, signal_dist={self.signal_dist!r}"
                    + (", signal_cov=..." if self.signal_cov is not None else "") + ")")
        return (f"BlockSpectrum(<{self.n_types} block types of size {self.block_size}>, "
                f"signal_dist={self.signal_dist!r})")

    # ---------------------------------------------------------- constructors
    @classmethod
    def correlated_pair(cls, r, *, scale=1.0, signal=(1.0, 1.0), signal_dist="fixed") -> "BlockSpectrum":
        """One two-feature block type with correlation ``r``, the second feature scaled by ``scale``.

        ``Sigma = [[1, r c], [r c, c^2]]`` with ``c = scale``, true weights ``signal = (b_1, b_2)``
        (their relative sign is kept). docs/theory.md Section 10, "What to exhibit".

        Raises
        ------
        ValueError
            ``abs(r) >= 1`` or ``scale <= 0``.
        """
        r = check_scalar(r, "r", low=-1, high=1, include_low=False, include_high=False)
        c = check_scalar(scale, "scale", low=0, include_low=False)
        b = check_vector(signal, "signal")
        if b.size != 2:
            raise ValueError(f"signal has {b.size} entries, must have 2 (one per feature of the pair).")
        return cls([[[1.0, r * c], [r * c, c * c]]], [b], [1.0], signal_dist)

    @classmethod
    def ar1(cls, B, rho, *, variance=1.0, signal=1.0, signal_dist="fixed") -> "BlockSpectrum":
        """One block type of size ``B`` with Toeplitz (AR(1)) covariance ``variance * rho^|i-j|``.

        ``signal`` is a scalar (the same weight on every feature) or a length-``B`` vector.

        Raises
        ------
        ValueError
            ``B`` outside 1..4, ``abs(rho) >= 1``, ``variance <= 0`` or a signal of the wrong length.
        """
        B = check_int(B, "B", low=1, high=MAX_BLOCK_SIZE)
        rho = check_scalar(rho, "rho", low=-1, high=1, include_low=False, include_high=False)
        v = check_scalar(variance, "variance", low=0, include_low=False)
        b = check_vector(signal, "signal")
        if b.size == 1:
            b = np.full(B, b[0])
        if b.size != B:
            raise ValueError(f"signal has {b.size} entries, must have 1 or B == {B}.")
        idx = np.arange(B)
        cov = v * rho ** np.abs(idx[:, None] - idx[None, :]).astype(float)
        return cls([cov], [b], [1.0], signal_dist)

    @classmethod
    def from_arrays(cls, covariance, beta, *, block_size=None) -> "BlockSpectrum":
        """The deterministic equivalent of a finite block-diagonal problem.

        Parameters
        ----------
        covariance : array_like, shape (m, B, B) or (p, p)
            The ``m = p / B`` diagonal blocks, or the full block-diagonal ``p x p`` covariance
            (then ``block_size`` is required and the entries off the blocks must be zero).
        beta : array_like, shape (p,)
            True weights ``beta*``; each block becomes a block type of weight ``B / p`` with
            ``b = sqrt(p) beta*_block`` and fixed signal.
        block_size : int, optional
            ``B`` for a full ``(p, p)`` covariance.

        Raises
        ------
        ValueError
            Shapes that do not match, non-zero entries off the blocks, or the checks of the class.
        """
        arr = check_array(covariance, "covariance")
        beta = check_vector(beta, "beta")
        if arr.ndim == 2:
            if block_size is None:
                raise ValueError("covariance is a full (p, p) matrix; give block_size= (the size B of its blocks).")
            B = check_int(block_size, "block_size", low=1, high=MAX_BLOCK_SIZE)
            p = arr.shape[0]
            if arr.shape != (p, p) or p % B:
                raise ValueError(f"covariance has shape {arr.shape}, must be (p, p) with p a multiple of "
                                 f"block_size == {B}.")
            m = p // B
            blocks = np.stack([arr[j * B:(j + 1) * B, j * B:(j + 1) * B] for j in range(m)])
            mask = np.kron(np.eye(m), np.ones((B, B)))
            off = np.abs(arr * (1.0 - mask))
            if off.max(initial=0.0) > 0.0:
                i, j = np.unravel_index(np.argmax(off), off.shape)
                raise ValueError(f"covariance is not block-diagonal with block_size == {B}: "
                                 f"covariance[{i}, {j}] == {arr[i, j]}.")
        elif arr.ndim == 3:
            blocks = arr
            m, B = arr.shape[0], arr.shape[1]
            if block_size is not None and check_int(block_size, "block_size", low=1) != B:
                raise ValueError(f"block_size == {block_size} but covariance has blocks of size {B}.")
        else:
            raise ValueError(f"covariance must have shape (m, B, B) or (p, p), got shape {arr.shape}.")
        p = m * B
        if beta.size != p:
            raise ValueError(f"beta has {beta.size} entries but covariance has {p} coordinates; they must match.")
        return cls(blocks, np.sqrt(p) * beta.reshape(m, B), np.full(m, 1.0 / m), "fixed")

    @classmethod
    def from_spectrum(cls, spectrum, *, block_size=1) -> "BlockSpectrum":
        """The diagonal-block version of a :class:`~asymptotics.Spectrum`.

        Atom ``k`` becomes a block type ``lam_k I_B`` with signal ``b_k`` on every coordinate (gaussian
        signal: ``S = b_k^2 I_B``, independent coordinates) and the same weight. Every result of
        docs/theory.md Sections 2-4 must be reproduced exactly (Section 10).

        Raises
        ------
        TypeError
            ``spectrum`` is not a Spectrum.
        """
        if not isinstance(spectrum, Spectrum):
            raise TypeError(f"spectrum must be an asymptotics.Spectrum, got {type(spectrum).__name__}.")
        B = check_int(block_size, "block_size", low=1, high=MAX_BLOCK_SIZE)
        cov = np.einsum("k,ij->kij", spectrum.variances, np.eye(B))
        b = np.repeat(spectrum.signal[:, None], B, axis=1)
        return cls(cov, b, spectrum.weights, spectrum.signal_dist)
