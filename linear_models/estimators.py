"""Estimators of the linear model (docs/theory.md Section 2 conventions).

Ridge minimises ``(1/n)||y - X b||^2 + mu ||b||^2``; ``mu = 0`` is OLS
(``n > p``) or the minimum-norm interpolator (``n < p``). Every solve is a
Cholesky solve on the smaller Gram side; no explicit inverse is formed. Whether
that Gram matrix is singular is decided once for the package
(:mod:`linear_models._spd`): scaled to unit diagonal, eigenvalues at most
``max(n, p) * eps`` times the largest count as zero, and a rank-deficient design
raises :class:`~linear_models.RankDeficientError` (a ``ValueError``) naming its
rank, whatever the rounding of the factorisation.
Gradient descent on ``(1/n)||y - X b||^2`` from ``init`` converges, for
``n < p``, to the interpolator closest to ``init``:
``init + X^+ (y - X init)`` (docs/theory.md Section 8); :func:`fit` with ``init=``
returns that limit directly. With ``ridge > 0`` or ``n >= p`` the objective is
strictly convex and the limit does not depend on ``init``.

Example
-------
>>> import numpy as np
>>> from linear_models import fit, min_norm
>>> X = np.random.default_rng(0).standard_normal((5, 8)); y = np.ones(5)
>>> b = fit(X, y)                         # n < p, ridge 0: min-norm interpolator
>>> bool(np.allclose(X @ b, y)), bool(np.allclose(b, min_norm(X, y)))
(True, True)
>>> b0 = np.ones(8)
>>> c = fit(X, y, init=b0)                # the interpolator closest to b0
>>> bool(np.allclose(X @ c, y)), bool(np.allclose(c, b0 + np.linalg.pinv(X) @ (y - X @ b0)))
(True, True)
"""

from __future__ import annotations

import numpy as np

from pruning_checks import check_array, check_int, check_scalar
from ._spd import RankDeficientError, spd_solve

__all__ = ["RankDeficientError", "fit", "gradient_descent", "lipschitz", "min_norm", "ols", "ridge"]

_RIDGE_HINT = "use ridge > 0 (fit(X, y, ridge=...) or ridge(X, y, ...))"


def _xy(X, y):
    X = check_array(X, "X", 2)
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X has shape {X.shape}; it needs at least one sample (row) and one feature (column).")
    y = check_array(y, "y", 1, shape=(X.shape[0],))
    return X, y


def _gram_solve(G, rhs, X, side, hint):
    """``G^-1 rhs`` for ``G = X'X`` (``side="columns"``) or ``XX'`` (``"rows"``), plus a ridge, if any."""
    return spd_solve(G, rhs, "X", size=max(X.shape), what=side, hint=hint)


def ols(X, y):
    """Least squares ``argmin ||y - X b||^2`` for ``n >= p`` and full column rank.

    Raises
    ------
    ValueError
        ``n < p``, or input that is not finite or has the wrong shape.
    RankDeficientError
        ``X`` has numerical column rank below ``p`` (:mod:`linear_models._spd`); use ``ridge > 0``.
    """
    X, y = _xy(X, y)
    n, p = X.shape
    if n < p:
        raise ValueError(f"ols needs n >= p, got X with shape {X.shape}; use min_norm or ridge.")
    return _gram_solve(X.T @ X, X.T @ y, X, "columns", _RIDGE_HINT + ", or drop the collinear columns")


def min_norm(X, y):
    """Minimum-norm interpolator ``X' (X X')^-1 y`` for ``n <= p`` and full row rank.

    Raises
    ------
    ValueError
        ``n > p``, or input that is not finite or has the wrong shape.
    RankDeficientError
        ``X`` has numerical row rank below ``n`` (:mod:`linear_models._spd`); use ``ridge > 0``.
    """
    X, y = _xy(X, y)
    n, p = X.shape
    if n > p:
        raise ValueError(f"min_norm needs n <= p, got X with shape {X.shape}; use ols.")
    return X.T @ _gram_solve(X @ X.T, y, X, "rows", _RIDGE_HINT + ", or drop the duplicated samples")


def _ridge(X, y, mu):
    n, p = X.shape
    hint = f"ridge == {mu:g} is too small for this design at double precision; increase ridge"
    if n >= p:
        return _gram_solve(X.T @ X / n + mu * np.eye(p), X.T @ y / n, X, "columns", hint)
    return X.T @ _gram_solve(X @ X.T / n + mu * np.eye(n), y / n, X, "rows", hint)


def ridge(X, y, ridge):
    """``argmin (1/n)||y - X b||^2 + ridge ||b||^2`` (``ridge > 0``), solved on the smaller Gram side.

    Raises
    ------
    ValueError
        ``ridge <= 0``, or input that is not finite or has the wrong shape.
    RankDeficientError
        ``ridge`` is so small that ``X'X/n + ridge I`` is numerically singular.
    """
    X, y = _xy(X, y)
    return _ridge(X, y, check_scalar(ridge, "ridge", low=0, include_low=False))


def _check_init(init, p):
    return None if init is None else check_array(init, "init", 1, shape=(p,))


def fit(X, y, ridge=0.0, *, init=None):
    """The limit of gradient descent on ``(1/n)||y - X b||^2 + ridge ||b||^2`` started at ``init``.

    ``ridge > 0``: the ridge estimator; ``ridge == 0``: OLS (``n >= p``) or, for
    ``n < p``, the interpolator closest to ``init`` (``init + X^+ (y - X init)``;
    the minimum-norm interpolator when ``init`` is None). ``init`` has no effect
    (the result is identical) when ``ridge > 0`` or ``n >= p``.

    Parameters
    ----------
    X, y : arrays, shapes (n, p) and (n,)
    ridge : float
        ``mu >= 0``.
    init : array, shape (p,), optional
        Starting point ``b0`` of gradient descent.

    Raises
    ------
    ValueError
        Input that is not finite or has the wrong shape; ``ridge < 0``.
    RankDeficientError
        ``ridge == 0`` and ``X`` is rank-deficient (numerical rank below ``min(n, p)``, decided
        relative to its spectrum by :mod:`linear_models._spd`); use ``ridge > 0``.
    """
    X, y = _xy(X, y)
    mu = check_scalar(ridge, "ridge", low=0)
    b0 = _check_init(init, X.shape[1])
    if mu > 0:
        return _ridge(X, y, mu)
    if X.shape[0] >= X.shape[1]:
        return ols(X, y)
    if b0 is None:
        return min_norm(X, y)
    return b0 + min_norm(X, y - X @ b0)


def lipschitz(X):
    """Lipschitz constant ``2 ||X||_2^2 / n`` of the gradient of ``(1/n)||y - X b||^2``."""
    return 2.0 * float(np.linalg.norm(X, 2)) ** 2 / X.shape[0]


def gradient_descent(X, y, steps, *, lr=None, init=None, ridge=0.0, mask=None):
    """Full-batch gradient descent on ``(1/n)||y - X b||^2 + ridge ||b||^2``.

    Parameters
    ----------
    X, y : arrays, shapes (n, p) and (n,)
    steps : int
        Number of steps (early stopping when small).
    lr : float, optional
        Step size; defaults to ``1 / L`` with ``L`` the gradient's Lipschitz constant.
    init : array, shape (p,), optional
        Starting point (zeros by default).
    ridge : float
        ``mu >= 0``.
    mask : bool array, shape (p,), optional
        Only these coordinates move (the others stay at ``init``): training on a support.

    Raises
    ------
    ValueError
        Input that is not finite or has the wrong shape, a ``mask`` that is not a boolean ``(p,)`` array,
        ``X`` without rows or columns.
    """
    X, y = _xy(X, y)
    n, p = X.shape
    steps = check_int(steps, "steps")
    mu = check_scalar(ridge, "ridge", low=0)
    b = np.zeros(p) if init is None else _check_init(init, p)
    m = np.ones(p, dtype=bool) if mask is None else np.asarray(mask)
    if m.dtype != bool or m.shape != (p,):            # 0/1 or 0.5 entries are not a mask: refused, not cast
        raise ValueError(f"mask must be a boolean array of shape ({p},), got dtype {m.dtype} and shape {m.shape}.")
    Xm = X[:, m]
    target = y - X[:, ~m] @ b[~m]                    # the frozen coordinates' contribution
    step = 1.0 / (lipschitz(Xm) + 2 * mu) if lr is None else check_scalar(lr, "lr", low=0, include_low=False)
    bm = b[m].copy()
    for _ in range(steps):
        grad = (2.0 / n) * (Xm.T @ (Xm @ bm - target)) + 2 * mu * bm
        bm -= step * grad
    b[m] = bm
    return b
