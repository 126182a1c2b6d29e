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
matrix, its numerical rank and what to do. The eigenvalues are computed only when needed: a
Cholesky factorisation that succeeds with ``1 / trace(G^-1)`` (a lower bound on the smallest
eigenvalue, from the factor) far above the tolerance is accepted as it stands
(:data:`CERTIFICATE_MARGIN`), which keeps the cost of a well-conditioned solve near that of
the Cholesky factorisation alone.

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
        (entries with a non-positive diagonal, which are refused, would have scale 1).

    Raises
    ------
    RankDeficientError
        ``G`` has fewer than ``p`` eigenvalues above the tolerance, or a negative one below ``-tol``.
    """
    c, s, _ = _factor(G, name, size, what, hint, inverse=False)
    return c, s


#: A successful Cholesky factorisation is accepted without eigenvalues when the lower bound
#: ``lambda_min >= 1 / trace(G^-1)`` exceeds this many times the tolerance's upper bound
#: ``||G||_1 * size * eps`` (far from the threshold, where rounding cannot change the answer);
#: otherwise the eigenvalues decide. Either way the decision is the eigenvalue rule's.
CERTIFICATE_MARGIN = 100.0


def _factor(G, name, size, what, hint, inverse):
    """``(c, s, X)``: the factor and scale of :func:`spd_factor` and ``X``, the inverse of the scaled
    matrix (``inverse=True``) or of its factor ``c``."""
    G = np.asarray(G, dtype=float)
    p = G.shape[0]
    size = p if size is None else max(int(size), p)
    d = np.diag(G).copy()
    s = np.ones(p)
    pos = d > 0
    s[pos] = 1.0 / np.sqrt(d[pos])
    Gs = G * s[:, None] * s[None, :]
    rule = (name, size, f" {what}" if what else "", hint)
    c, info = lapack.dpotrf(Gs, lower=1, clean=1)
    if info != 0:
        _eigenvalue_rule(Gs, *rule)
        raise RankDeficientError(                       # eigenvalues just above the tolerance
            f"{name} is too close to singular to factor (Cholesky pivot {int(info)} of {p} not positive, after "
            f"scaling to unit diagonal); {hint}.")
    if inverse:
        X, info = lapack.dpotri(c, lower=1)
        X = np.tril(X) + np.tril(X, -1).T
        trace_inv = float(np.trace(X))
    else:
        X, info = lapack.dtrtri(c, lower=1)
        trace_inv = float(np.sum(X * X))                  # ||L^-1||_F^2 = trace(G^-1)
    bound = CERTIFICATE_MARGIN * float(np.abs(Gs).sum(axis=0).max()) * size * EPS
    if info != 0 or not (np.isfinite(trace_inv) and trace_inv > 0 and 1.0 / trace_inv > bound):
        _eigenvalue_rule(Gs, *rule)
    return c, s, X


def _eigenvalue_rule(Gs, name, size, noun, hint):
    """Raise :class:`RankDeficientError` unless every eigenvalue of ``Gs`` exceeds ``lambda_max * size * eps``."""
    p = Gs.shape[0]
    lam = np.linalg.eigvalsh(Gs)
    lam_max = max(float(lam[-1]), 0.0)
    rtol = size * EPS
    tol = lam_max * rtol
    if lam[0] < -tol:
        raise RankDeficientError(
            f"{name} is not positive definite (smallest eigenvalue {lam[0] / max(lam_max, EPS):.2g} times the "
            f"largest, after scaling to unit diagonal); {hint}.")
    rank = int(np.count_nonzero(lam > tol))
    if rank < p:
        raise RankDeficientError(f"{name} has rank {rank} < {p}{noun} (eigenvalues at most {rtol:.1e} times the "
                                 f"largest, after scaling to unit diagonal, count as zero); {hint}.")


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
    """``G^-1`` (symmetric, C-ordered) after :func:`spd_factor`'s decision (raises its :class:`RankDeficientError`)."""
    _, s, inv = _factor(G, name, size, "", hint, inverse=True)
    return np.ascontiguousarray(inv * s[:, None] * s[None, :])
