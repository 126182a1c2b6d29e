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
    x = np.empty(m)
    for i in range(m - 1, -1, -1):
        s = z[i]
        for j in range(i + 1, m):
            s -= L[j, i] * x[j]
        x[i] = s / L[i, i]
    return x


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
        return _fit_primal(G.copy(), X.T @ y, n, ridge)
    return _fit_dual(X, y, ridge)


@njit(cache=True)
def _refit(X, y, G, Xty, support, ridge):
    """Refit on the columns ``support``: primal from the Gram block if ``k <= n``, else dual."""
    n = X.shape[0]
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
    for j in range(p):
        X[:, j] *= sqrt_lam[j]
    y = X @ beta + noise * rng.standard_normal(n)
    return X, y


@njit(cache=True)
def trial(rng, lam, b_scale, gaussian, n, noise, ridge, keep_counts, criteria, retrain, empirical_hessian,
          out_risk, out_dense):
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
    X, y = _draw(rng, sqrt_lam, beta, n, noise)
    need_gram = p <= n or (retrain == RETRAIN_SAME)
    G = X.T @ X if need_gram else np.empty((0, 0))
    bh = _fit(X, y, G, ridge)
    err = lam * (bh - beta) ** 2
    drop = lam * beta**2
    out_dense[0] = noise**2 + err.sum()
    if retrain == RETRAIN_FRESH:
        X2, y2 = _draw(rng, sqrt_lam, beta, n, noise)
        G2 = X2.T @ X2
        Xty2 = X2.T @ y2
    elif retrain == RETRAIN_SAME:
        X2, y2, G2 = X, y, G
        Xty2 = X.T @ y
    else:
        X2, y2, G2, Xty2 = X, y, G, np.empty(0)
    for c in range(criteria.size):
        crit = criteria[c]
        if crit == MAGNITUDE:
            score = np.abs(bh)
        elif crit == HESSIAN:
            if empirical_hessian:
                h = np.empty(p)
                for j in range(p):
                    h[j] = np.sqrt(np.sum(X[:, j] ** 2) / n)
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
                bs = _refit(X2, y2, G2, Xty2, support, ridge)
                r = noise**2 + drop.sum()
                for a in range(k):
                    i = support[a]
                    r += lam[i] * (bs[a] - beta[i]) ** 2 - drop[i]
                out_risk[c, kk] = r


@njit(cache=True)
def floor_trial(rng, lam, n):
    """The floor of a trial: draw the Gaussian design, form the Gram matrix, factor it."""
    p = lam.size
    X = rng.standard_normal((n, p))
    for j in range(p):
        X[:, j] *= np.sqrt(lam[j])
    if p <= n:
        return np.linalg.cholesky(X.T @ X / n)[0, 0]
    return np.linalg.cholesky(X @ X.T / n)[0, 0]
