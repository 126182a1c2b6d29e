"""Numba kernels of one Monte Carlo trial (THEORY.md Sections 2-4 at finite ``p``).

Everything a trial does (draw the signal and the Gaussian design, fit ridge /
OLS / min-norm by Cholesky, score, prune at every keep level, refit on the
support, compute exact population risks) runs here, driven by the trial's own
``numpy.random.Generator`` so that results do not depend on threads or processes.
Kernels take only arrays and scalars and write into preallocated outputs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

MAGNITUDE, HESSIAN, ORACLE, RANDOM = 0, 1, 2, 3
RETRAIN_NONE, RETRAIN_FRESH, RETRAIN_SAME = 0, 1, 2


@njit(cache=True)
def _upper_solve(M, xi):
    """Solve ``M' x = xi`` for lower-triangular ``M`` (back substitution on the upper-triangular ``M'``)."""
    p = xi.size
    x = np.empty(p)
    for i in range(p - 1, -1, -1):
        s = xi[i]
        for j in range(i + 1, p):
            s -= M[j, i] * x[j]
        x[i] = s / M[i, i]
    return x


@njit(cache=True)
def _chol_solve(G, rhs):
    """Solve ``G x = rhs`` for symmetric positive definite ``G`` (Cholesky, two substitutions)."""
    L = np.linalg.cholesky(G)
    m = rhs.size
    z = np.empty(m)
    for i in range(m):
        s = rhs[i]
        for j in range(i):
            s -= L[i, j] * z[j]
        z[i] = s / L[i, i]
    return _upper_solve(L, z)


@njit(cache=True)
def _fit_primal(G, Xty, n, ridge):
    """Ridge / OLS from the Gram matrix ``G = X'X`` and ``X'y`` (``p <= n`` or ``ridge > 0``)."""
    k = G.shape[0]
    A = G / n
    for i in range(k):
        A[i, i] += ridge
    return _chol_solve(A, Xty / n)


@njit(cache=True)
def _fit_dual(X, y, ridge):
    """Min-norm (``ridge = 0``) or ridge on the ``n x n`` side: ``X' (X X'/n + ridge I)^-1 y/n``."""
    n = X.shape[0]
    K = X @ X.T / n
    for i in range(n):
        K[i, i] += ridge
    return X.T @ _chol_solve(K, y / n)


@njit(cache=True)
def _fit(X, y, G, ridge):
    """Fit on all columns; ``G`` is ``X'X`` (used when ``p <= n``)."""
    n, p = X.shape
    if p <= n:
        return _fit_primal(G, X.T @ y, n, ridge)          # G / n inside makes a new array
    return _fit_dual(X, y, ridge)


@njit(cache=True)
def _refit(X, y, G, Xty, support, ridge, n):
    """Refit on the columns ``support``: primal from the Gram block if ``k <= n``, else dual (needs ``X``)."""
    k = support.size
    if k <= n:
        Gs = np.empty((k, k))
        for a in range(k):
            for b in range(k):
                Gs[a, b] = G[support[a], support[b]]
        rhs = np.empty(k)
        for a in range(k):
            rhs[a] = Xty[support[a]]
        return _fit_primal(Gs, rhs, n, ridge)
    Xs = np.empty((n, k))
    for a in range(k):
        Xs[:, a] = X[:, support[a]]
    return _fit_dual(Xs, y, ridge)


@njit(cache=True)
def _draw(rng, sqrt_lam, beta, n, noise):
    p = sqrt_lam.size
    X = rng.standard_normal((n, p))
    for i in range(n):                     # row by row: contiguous in C order
        for j in range(p):
            X[i, j] *= sqrt_lam[j]
    y = X @ beta + noise * rng.standard_normal(n)
    return X, y


@njit(cache=True)
def _bartlett(rng, sqrt_lam, n):
    """``M = Lambda^1/2 T`` with ``T`` the Bartlett factor of a ``Wishart_p(n, I)`` matrix (``p <= n``).

    ``T`` is lower triangular, ``T_ii = sqrt(chi2(n - i))`` (``i = 0..p-1``), ``T_ij ~ N(0, 1)`` below the
    diagonal. For ``X = Z Lambda^1/2`` with ``n`` Gaussian rows, ``(X'X, X'z)`` has the law of
    ``(M M', M xi)`` with ``xi ~ N(0, I_p)`` independent of ``T`` (``Z = Q T'`` with ``Q`` Haar and
    independent of ``T``, and ``Q'z ~ N(0, I_p)``).
    """
    p = sqrt_lam.size
    M = np.zeros((p, p))
    for i in range(p):
        for j in range(i):
            M[i, j] = sqrt_lam[i] * rng.standard_normal()
        M[i, i] = sqrt_lam[i] * np.sqrt(rng.chisquare(n - i))
    return M


@njit(cache=True)
def _draw_gram(rng, sqrt_lam, beta, n, noise):
    """``(M, X'X, X'y)`` of a Gaussian sample of ``n`` rows drawn via the Bartlett decomposition."""
    p = sqrt_lam.size
    M = _bartlett(rng, sqrt_lam, n)
    G = M @ M.T
    xty = G @ beta + noise * (M @ rng.standard_normal(p))
    return M, G, xty


@njit(cache=True)
def trial(rng, lam, b_scale, gaussian, n, noise, ridge, keep_counts, criteria, retrain, empirical_hessian,
          out_risk, out_dense, bartlett=False):
    """One trial: writes ``out_risk[c, j]`` (criterion c, keep level j) and returns nothing.

    ``out_dense[0]`` receives the unpruned risk. Random numbers are drawn in a fixed order:
    signal, design, noise, (fresh design, noise), then per criterion a tie-breaking permutation
    (and uniform scores for random pruning).
    """
    p = lam.size
    sqrt_lam = np.sqrt(lam)
    if gaussian:
        s = rng.standard_normal(p)
    else:
        s = np.where(rng.random(p) < 0.5, -1.0, 1.0)
    beta = s * b_scale / np.sqrt(p)
    if bartlett:                       # p <= n: draw the sufficient statistics (M M', M xi), not X
        M = _bartlett(rng, sqrt_lam, n)
        xi = rng.standard_normal(p)
        X, y = np.empty((0, p)), np.empty(0)
        if ridge == 0.0 and retrain != RETRAIN_SAME:
            # OLS: b_hat = W^-1 X'y = beta + noise (M M')^-1 M xi = beta + noise M'^-1 xi
            bh = beta + noise * _upper_solve(M, xi)
            G, Xty = np.empty((0, 0)), np.empty(0)
        else:
            G = M @ M.T
            Xty = G @ beta + noise * (M @ xi)
            bh = _fit_primal(G, Xty, n, ridge)
        diag_g = np.empty(p)
        for j in range(p):
            diag_g[j] = np.sum(M[j, : j + 1] ** 2)
    else:
        X, y = _draw(rng, sqrt_lam, beta, n, noise)
        need_gram = p <= n or (retrain == RETRAIN_SAME)
        G = X.T @ X if need_gram else np.empty((0, 0))
        bh = _fit(X, y, G, ridge)
        Xty = np.empty(0)
        diag_g = np.zeros(p)
        for i in range(n):
            for j in range(p):
                diag_g[j] += X[i, j] * X[i, j]
    err = lam * (bh - beta) ** 2
    drop = lam * beta**2
    out_dense[0] = noise**2 + err.sum()
    if retrain == RETRAIN_FRESH:
        if bartlett:
            _, G2, Xty2 = _draw_gram(rng, sqrt_lam, beta, n, noise)
            X2, y2 = X, y
        else:
            X2, y2 = _draw(rng, sqrt_lam, beta, n, noise)
            G2 = X2.T @ X2
            Xty2 = X2.T @ y2
    elif retrain == RETRAIN_SAME:
        X2, y2, G2 = X, y, G
        Xty2 = Xty if bartlett else X.T @ y
    else:
        X2, y2, G2, Xty2 = X, y, G, np.empty(0)
    for c in range(criteria.size):
        crit = criteria[c]
        if crit == MAGNITUDE:
            score = np.abs(bh)
        elif crit == HESSIAN:
            if empirical_hessian:
                h = np.sqrt(diag_g / n)
            else:
                h = sqrt_lam
            score = h * np.abs(bh)
        elif crit == ORACLE:
            score = drop.copy()
        else:
            score = rng.random(p)
        perm = rng.permutation(p)                          # ties are broken at random
        order = perm[np.argsort(-score[perm], kind="mergesort")]
        if retrain == RETRAIN_NONE:
            cum_err = 0.0
            cum_drop = 0.0
            total_drop = drop.sum()
            j = 0
            for kk in range(keep_counts.size):
                while j < keep_counts[kk]:
                    cum_err += err[order[j]]
                    cum_drop += drop[order[j]]
                    j += 1
                out_risk[c, kk] = noise**2 + cum_err + (total_drop - cum_drop)
        else:
            for kk in range(keep_counts.size):
                k = keep_counts[kk]
                support = np.sort(order[:k])
                bs = _refit(X2, y2, G2, Xty2, support, ridge, n)
                r = noise**2 + drop.sum()
                for a in range(k):
                    i = support[a]
                    r += lam[i] * (bs[a] - beta[i]) ** 2 - drop[i]
                out_risk[c, kk] = r


@njit(cache=True)
def floor_bartlett(rng, lam, n):
    """The floor of the Bartlett path: draw the factor ``M`` (it is the Cholesky factor of ``X'X``)."""
    return _bartlett(rng, np.sqrt(lam), n)[0, 0]


@njit(cache=True)
def floor_trial(rng, lam, n):
    """The floor of a trial: draw the Gaussian design, form the Gram matrix, factor it."""
    X, _ = _draw(rng, np.sqrt(lam), np.zeros(lam.size), n, 0.0)
    p = lam.size
    if p <= n:
        return np.linalg.cholesky(X.T @ X / n)[0, 0]
    return np.linalg.cholesky(X @ X.T / n)[0, 0]
