"""Symmetric positive definite factorisations with one rank decision for the whole package.

Every estimator (OLS, min-norm, ridge on either Gram side) and every second-order routine
(Fisher/Hessian inverse, the kept block of the multi-weight OBS update) factors its matrix
through :func:`spd_factor`, so "is this matrix singular?" has one answer everywhere, and that
answer does not depend on whether a Cholesky factorisation happens to survive rounding.

The decision, as :func:`numpy.linalg.matrix_rank` makes it: the matrix is first scaled to unit
diagonal (``S G S`` with ``S = diag(G)^-1/2``; a congruence, so rank and definiteness are
unchanged, and a badly scaled but well-conditioned matrix becomes well-conditioned), its
eigenvalues are computed, and eigenvalues at or below ``tol = lambda_max * size * eps`` count as
zero, where ``size`` is the largest dimension of the data the matrix was formed from
(``max(n, p)`` for ``X'X``; the rounding of a Gram matrix grows with the length of its sums).
Fewer than ``p`` eigenvalues above ``tol`` is a :class:`RankDeficientError` that names the
matrix, its numerical rank and what to do.

Example
-------
>>> import numpy as np
>>> from linear_models._spd import RankDeficientError, spd_factor
>>> X = np.random.default_rng(0).uniform(size=(1000, 4)); X[:, 3] = X[:, 2] + X[:, 1]
>>> try:
...     spd_factor(X.T @ X, "X", size=1000, what="columns", hint="use ridge > 0")
... except RankDeficientError as e:
...     print(str(e)[:24])
X has rank 3 < 4 columns
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

EPS = np.finfo(float).eps


class RankDeficientError(np.linalg.LinAlgError):
    """A Gram, Hessian or Fisher matrix is singular (or not positive definite) at the tolerance of
    :mod:`linear_models._spd`: ``eigenvalue <= lambda_max * size * eps`` after scaling to unit diagonal.

    A subclass of :class:`numpy.linalg.LinAlgError`, hence of :class:`ValueError`.
    """


def spd_factor(G, name, *, size=None, what="", hint):
    """Cholesky factor of ``G`` scaled to unit diagonal, after the package's rank decision.

    Parameters
    ----------
    G : ndarray, shape (p, p)
        Symmetric, finite (checked by the caller).
    name : str
        What the error calls the matrix (``"X"``, ``"hessian"``, ...).
    size : int, optional
        Largest dimension of the data ``G`` was formed from (default ``p``).
    what : str
        Noun after the dimension in the message (``"columns"``, ``"rows"``), or empty.
    hint : str
        What to do, appended to the message.

    Returns
    -------
    (c, s) : lower Cholesky factor of ``diag(s) G diag(s)`` and the scale ``s = diag(G)^-1/2``
        (entries with a non-positive diagonal, already refused, would have scale 1).

    Raises
    ------
    RankDeficientError
        ``G`` has fewer than ``p`` eigenvalues above the tolerance, or a negative one below ``-tol``.
    """
    G = np.asarray(G, dtype=float)
    p = G.shape[0]
    size = p if size is None else max(int(size), p)
    d = np.diag(G).copy()
    s = np.ones(p)
    pos = d > 0
    s[pos] = 1.0 / np.sqrt(d[pos])
    Gs = G * s[:, None] * s[None, :]
    lam = np.linalg.eigvalsh(Gs) if p else np.zeros(0)
    lam_max = max(float(lam[-1]), 0.0) if p else 0.0
    rtol = size * EPS
    tol = lam_max * rtol
    noun = f" {what}" if what else ""
    if p and lam[0] < -tol:
        raise RankDeficientError(
            f"{name} is not positive definite (smallest eigenvalue {lam[0] / max(lam_max, EPS):.2g} times the "
            f"largest, after scaling to unit diagonal); {hint}.")
    rank = int(np.count_nonzero(lam > tol))
    if rank < p:
        raise RankDeficientError(_rank_message(name, rank, p, noun, rtol, hint))
    c, info = lapack.dpotrf(Gs, lower=1, clean=1)
    if info != 0:      # eigenvalues just above the tolerance; Cholesky needs a little more room
        raise RankDeficientError(_rank_message(name, int(info) - 1, p, noun, rtol, hint))
    return c, s


def _rank_message(name, rank, p, noun, rtol, hint):
    return (f"{name} has rank {rank} < {p}{noun} (eigenvalues at most {rtol:.1e} times the largest, after "
            f"scaling to unit diagonal, count as zero); {hint}.")


def spd_solve(G, rhs, name, *, size=None, what="", hint):
    """``G^-1 rhs`` through :func:`spd_factor` (raises its :class:`RankDeficientError`)."""
    c, s = spd_factor(G, name, size=size, what=what, hint=hint)
    rhs = np.asarray(rhs, dtype=float)
    scale = s if rhs.ndim == 1 else s[:, None]
    x, info = lapack.dpotrs(c, scale * rhs, lower=1)
    if info != 0:  # pragma: no cover - potrs only fails on bad arguments
        raise np.linalg.LinAlgError("Cholesky solve failed.")
    return scale * x


def spd_inv(G, name, *, size=None, hint):
    """``G^-1`` (symmetric, C-ordered) through :func:`spd_factor` (raises its :class:`RankDeficientError`)."""
    c, s = spd_factor(G, name, size=size, hint=hint)
    inv, info = lapack.dpotri(c, lower=1)
    if info != 0:  # pragma: no cover - potri fails only on a zero diagonal of a successful potrf
        raise RankDeficientError(f"{name} could not be inverted; {hint}.")
    inv = np.tril(inv) + np.tril(inv, -1).T
    return np.ascontiguousarray(inv * s[:, None] * s[None, :])
