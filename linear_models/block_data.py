"""Finite block-diagonal problems from a block spectrum (docs/theory.md Section 10).

:func:`from_block_spectrum` is what :func:`linear_models.from_spectrum` does with a block
spectrum: anything with ``covariances`` (``(K, B, B)``), ``signal`` (``(K, B)``), ``weights``
(``(K,)``), ``signal_dist`` and ``signal_cov`` (``(K, B, B)`` or None), such as
``asymptotics.BlockSpectrum`` (duck-typed: this package does not import ``asymptotics``).

Layout: ``p = m B`` coordinates in ``m`` consecutive blocks; block type ``k`` gets
``atom_counts(weights, m)[k]`` blocks (largest remainders), types in order. True weights per
block: ``sqrt(p) beta*_block = s b_k`` with one random sign ``s`` per block (``"fixed"``; the
relative signs inside the block are kept) or ``sqrt(p) beta*_block ~ N(0, S_k)``
(``"gaussian"``; ``S_k = diag(b_k^2)`` or ``signal_cov[k]``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pruning_checks import as_generator, check_int

from .data import LinearProblem, atom_counts


def block_layout(weights, block_size, p):
    """Block type of each of the ``m = p / B`` blocks, shape ``(m,)``.

    Raises
    ------
    ValueError
        ``p`` not a multiple of ``block_size``.
    """
    if p % block_size:
        raise ValueError(f"p == {p} is not a multiple of the block size {block_size}; a block spectrum needs "
                         "whole blocks.")
    counts = atom_counts(np.asarray(weights, dtype=float), p // block_size)
    return np.repeat(np.arange(len(counts)), counts)


def signal_factors(spectrum):
    """Per block type ``F_k`` with ``F_k F_k' = S_k`` (gaussian signal), shape ``(K, B, B)``, or None when
    ``S_k = diag(b_k^2)`` (then ``F_k = diag(b_k)``, applied elementwise)."""
    scov = getattr(spectrum, "signal_cov", None)
    if scov is None:
        return None
    e, V = np.linalg.eigh(np.asarray(scov, dtype=float))
    return V * np.sqrt(np.maximum(e, 0.0))[:, None, :]


def block_signal(rng, types, signal, gaussian, factors):
    """``sqrt(p) beta*`` of one draw, shape ``(m B,)``: one sign per block (fixed) or ``N(0, S_k)`` per block."""
    m, B = types.size, signal.shape[1]
    b = signal[types]
    if not gaussian:
        s = np.where(rng.random(m) < 0.5, -1.0, 1.0)
        return (s[:, None] * b).ravel()
    g = rng.standard_normal(m * B).reshape(m, B)
    if factors is None:
        return (b * g).ravel()
    return np.einsum("jab,jb->ja", factors[types], g).ravel()


def block_diagonal(blocks):
    """The ``(m B, m B)`` block-diagonal matrix of ``blocks`` ``(m, B, B)``."""
    m, B = blocks.shape[0], blocks.shape[1]
    out = np.zeros((m * B, m * B))
    idx = np.arange(m * B).reshape(m, B)
    out[idx[:, :, None], idx[:, None, :]] = blocks
    return out


def from_block_spectrum(spectrum, p, noise, rng):
    """A block-diagonal :class:`~linear_models.LinearProblem` drawn from a block spectrum (module docstring).

    Parameters
    ----------
    spectrum : block spectrum
        ``covariances (K, B, B)``, ``signal (K, B)``, ``weights (K,)``, ``signal_dist``, ``signal_cov``.
    p : int
        Number of features, a multiple of ``B``.
    noise : float
        Noise standard deviation.
    rng : int or numpy.random.Generator

    Returns
    -------
    LinearProblem
        Full covariance ``Sigma`` (block-diagonal, design rows ``N(0, Sigma)``), ``beta*``, ``noise``, and
        ``block_size == B``; its ``risk`` is exact, ``importance()`` is ``Sigma_ii beta*_i^2``.

    Raises
    ------
    ValueError
        ``p`` not a multiple of ``B``, an unknown ``signal_dist``.
    """
    p = check_int(p, "p", low=1)
    rng = as_generator(rng)
    cov = np.asarray(spectrum.covariances, dtype=float)
    B = cov.shape[1]
    types = block_layout(spectrum.weights, B, p)
    if spectrum.signal_dist not in ("fixed", "gaussian"):
        raise ValueError(f"signal_dist == {spectrum.signal_dist!r}, must be 'fixed' or 'gaussian'.")
    gaussian = spectrum.signal_dist == "gaussian"
    beta = block_signal(rng, types, np.asarray(spectrum.signal, dtype=float), gaussian,
                        signal_factors(spectrum) if gaussian else None) / np.sqrt(p)
    prob = LinearProblem.from_covariance(block_diagonal(cov[types]), beta, noise)
    return replace(prob, block_size=B)
