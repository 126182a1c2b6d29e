"""The steps of one Monte Carlo trial with a block-diagonal design (docs/theory.md Section 10 at finite ``p``).

The design has ``m = p / B`` consecutive blocks; block ``j`` has covariance ``Sigma_j`` (that of its
block type) with lower Cholesky factor ``L_j``, so ``X = Z L'`` with ``Z`` standard Gaussian and ``L``
block-diagonal. The steps are those of :mod:`simulations.linear.kernels` with three changes:

======== ==================================================================================
sample   one sign per block (fixed signal) or ``N(0, S_k)`` per block (gaussian signal); the
         design row by row, ``x = L z``; or (``p <= n``) the Bartlett sufficient statistics:
         ``Z'Z = T T'`` (Bartlett), so ``X'X = L T T' L' = M M'`` with ``M = L T``, which is
         still lower triangular, and ``X'z = M xi`` (``xi ~ N(0, I_p)``), so OLS is
         ``beta* + noise M'^-1 xi`` as in the diagonal engine
score    registry scores (``hessian_diag = diag(X'X/n)`` or ``diag(Sigma)``, ``hessian`` and
         ``hessian_inverse`` the training ``X'X/n`` or the population ``Sigma``, ``importance =
         Sigma_ii beta*_i^2``), plus the theory's two second-order rules: ``obs``, the one-shot OBS
         saliency ``b_i^2 / (2 [H^-1]_ii)`` (the registry's ``woodfisher`` score) and ``joint``
         (:mod:`linear_models.joint`, per block of size ``B``); ``H`` the training ``X'X/n`` or
         the population ``Sigma`` as ``hessian_scores`` says
update   optionally the population OBS update inside each block,
         ``w_S <- b_S + Sigma_SS^-1 Sigma_SP b_P``, ``w_P <- 0``
risk     ``noise^2 + sum_j (w_j - beta*_j)' Sigma_j (w_j - beta*_j)`` per block: not a sum over
         coordinates, so each keep level's masked (or updated) vector is formed and its block
         quadratic form summed (``O(p B)`` per level); for diagonal blocks the diagonal engine's
         prefix sums are used, which gives its numbers bit for bit
======== ==================================================================================

Streams are those of :mod:`simulations.linear.kernels` (data, fresh sample, ties, one per criterion
by name), so with ``B = 1`` and diagonal blocks a trial draws exactly the numbers of the diagonal engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy.linalg import solve_triangular

from linear_models.block_data import block_diagonal, block_signal
from linear_models.criteria import Stats, get_criterion
from linear_models.criteria import scores as _registry_scores
from linear_models.joint import joint_patterns, pattern_costs, patterns_to_masks

from ..runtime.seeds import stream
from . import kernels
from .kernels import (DATA_STREAM, FRESH_STREAM, TIES_STREAM, Sample, add_noise, fit, rank, row_response,
                      tie_order)

#: Criteria whose rules this module implements itself (the theory's second-order rules).
SECOND_ORDER = ("obs", "joint")
UPDATES = ("none", "obs")


@dataclass(frozen=True)
class BlockJob(kernels.TrialJob):
    """Everything a worker needs to run block trials (picklable arrays and scalars only).

    ``cov (m, B, B)``, ``chol (m, B, B)`` and ``inv (m, B, B)``: ``Sigma_j``, its lower Cholesky
    factor and its inverse per block; ``types (m,)`` the block type of each block; ``signal (K, B)``;
    ``factors (K, B, B)`` or None: ``F_k F_k' = S_k`` for a full gaussian signal covariance;
    ``upd (K, 2^B, B, B)``: the population OBS update matrix of each block type and kept pattern;
    ``diagonal``: every block is diagonal (prefix-sum risks).
    """

    cov: np.ndarray
    chol: np.ndarray
    inv: np.ndarray
    types: np.ndarray
    signal: np.ndarray
    factors: np.ndarray | None
    upd: np.ndarray
    update: str
    bartlett: bool
    diagonal: bool
    extra_criteria: tuple = ()

    @property
    def block_size(self):
        return int(self.cov.shape[1])

    @property
    def p(self):
        return int(self.cov.shape[0] * self.cov.shape[1])


def update_matrices(cov):
    """``U (K, 2^B, B, B)`` with ``w = U[k, s] b`` the population-OBS-updated block of type ``k`` and kept
    pattern ``s`` (bit ``i`` = coordinate ``i`` kept): identity on ``S``, ``Sigma_SS^-1 Sigma_SP`` from ``P``
    into ``S``, zero rows on ``P``."""
    K, B = cov.shape[0], cov.shape[1]
    U = np.zeros((K, 1 << B, B, B))
    for k in range(K):
        for s in range(1 << B):
            S = np.array([i for i in range(B) if (s >> i) & 1], dtype=int)
            P = np.array([i for i in range(B) if not (s >> i) & 1], dtype=int)
            U[k, s, S, S] = 1.0
            if S.size and P.size:
                U[k, s][np.ix_(S, P)] = np.linalg.solve(cov[k][np.ix_(S, S)], cov[k][np.ix_(S, P)])
    return U


# ----------------------------------------------------------------------------------------- sample

@njit(cache=True)
def _block_design(rng, chol, beta, n, noise):
    """``X`` with rows ``L z`` (``z ~ N(0, I_p)`` drawn row by row), ``y = X beta + noise e`` and ``diag(X'X)``."""
    m, B = chol.shape[0], chol.shape[1]
    p = m * B
    X = np.empty((n, p))
    y = np.empty(n)
    diag = np.zeros(p)
    z = np.empty(B)
    for i in range(n):
        for j in range(m):
            for r in range(B):
                z[r] = rng.standard_normal()
                x = chol[j, r, r] * z[r]
                for a in range(r):
                    x += chol[j, r, a] * z[a]
                X[i, j * B + r] = x
        y[i] = row_response(X[i], beta, diag)
    add_noise(rng, y, noise)
    return X, y, diag


def sample_design(rng, chol, beta, n, noise):
    """``n`` rows ``x ~ N(0, Sigma)`` (``x = L z``) and ``y = X beta* + noise e``."""
    X, y, diag = _block_design(rng, chol, beta, n, noise)
    return Sample(n, X=X, y=y, gram_diag=diag)


# ------------------------------------------------------------------------------------------- risk

def block_quadratic(cov, d):
    """``sum_j d_j' Sigma_j d_j`` for ``d (p,)`` in blocks (``cov (m, B, B)``)."""
    return float(block_quadratics(cov, d[None])[0])


@njit(cache=True)
def _block_quadratics(cov, D):
    m, B = cov.shape[0], cov.shape[1]
    out = np.empty(D.shape[0])
    for r in range(D.shape[0]):
        s = 0.0
        for j in range(m):
            o = j * B
            for a in range(B):
                da = D[r, o + a]
                q = cov[j, a, a] * da
                for b in range(a + 1, B):
                    q += 2.0 * cov[j, a, b] * D[r, o + b]
                s += q * da
        out[r] = s
    return out


def block_quadratics(cov, D):
    """``sum_j d_j' Sigma_j d_j`` for every row ``d`` of ``D (levels, p)``: shape ``(levels,)``.

    A compiled loop over the upper triangle of each block (symmetric entries doubled), each row summed on
    its own in block order: a row's value does not depend on the other rows (so keep 1 gives the dense
    risk bit for bit).
    """
    return _block_quadratics(cov, np.ascontiguousarray(D, dtype=np.float64))


def updated_blocks(job, bh):
    """``V (m, 2^B, B)``: block ``j`` of the fit after the population OBS update for each kept pattern."""
    B = job.block_size
    return np.einsum("jsab,jb->jsa", job.upd[job.types], bh.reshape(-1, B))


def pruned_vectors(job, bh, masks, V=None):
    """The masked fit for every mask of ``masks (levels, p)``, or with ``update == "obs"`` the
    population-OBS-updated one (``V`` from :func:`updated_blocks`): shape ``(levels, p)``."""
    if job.update == "none":
        return np.where(masks, bh, 0.0)
    B = job.block_size
    pats = (masks.reshape(masks.shape[0], -1, B).astype(np.int64) << np.arange(B)).sum(axis=2)   # (levels, m)
    V = updated_blocks(job, bh) if V is None else V
    return V[np.arange(V.shape[0])[None, :], pats].reshape(masks.shape[0], -1)


# -------------------------------------------------------------------------------------- Hessians

class Hessians:
    """The Hessian the scores use: the training ``X'X/n`` or the population ``Sigma``, each on demand."""

    def __init__(self, job, train):
        self.job, self.train = job, train

    def diag(self):
        if self.job.empirical_hessian:
            return self.train.gram_diag / self.train.n
        return np.diagonal(self.job.cov, axis1=1, axis2=2).ravel()

    def full(self):
        if self.job.empirical_hessian:
            return self.train.G / self.train.n
        return block_diagonal(self.job.cov)

    def _inverse(self):
        if "inv" not in self.__dict__:
            n, tr = self.train.n, self.train
            if tr.bartlett:                                             # (M M'/n)^-1 = n M'^-1 M^-1
                Minv = solve_triangular(tr.M, np.eye(tr.M.shape[0]), lower=True, check_finite=False)
                self.__dict__["inv"] = n * (Minv.T @ Minv)
            else:
                self.__dict__["inv"] = np.linalg.inv(tr.G / n)
        return self.__dict__["inv"]

    def inverse(self):
        return self._inverse() if self.job.empirical_hessian else block_diagonal(self.job.inv)

    def inverse_diag(self):
        if self.job.empirical_hessian:
            return np.diag(self._inverse()).copy()
        return np.diagonal(self.job.inv, axis1=1, axis2=2).ravel()

    def inverse_blocks(self):
        if self.job.empirical_hessian:
            B = self.job.block_size
            idx = np.arange(self.job.p).reshape(-1, B)
            return self._inverse()[idx[:, :, None], idx[:, None, :]]
        return self.job.inv


# ---------------------------------------------------------------------------------------- trial

def criterion_masks(job, t, name, hess, train, bh, beta, importance, ties):
    """``(order, masks)``: a ranking (``masks`` None) for per-weight criteria, or one mask per keep level
    (``order`` None) for ``joint``."""
    if name == "joint":
        pats = joint_patterns(pattern_costs(bh, hess.inverse_blocks()), job.keep_counts)
        return None, patterns_to_masks(pats, job.block_size)
    if name == "obs":                                 # the registry's woodfisher saliency b^2 / (2 [H^-1]_ii)
        score = bh * bh / (2.0 * hess.inverse_diag())
        return rank(score, ties), None
    crit = get_criterion(name, carried=job.extra_criteria)
    rng = stream(job.seed, t, crit.stream) if "rng" in crit.needs else None
    stats = Stats(criterion=name, hessian=hess.full, hessian_diag=hess.diag, hessian_inverse=hess.inverse,
                  grad=lambda: (train.G @ bh - train.Xty) / train.n, importance=importance, rng=rng)
    return rank(_registry_scores(crit, bh, stats), ties), None


def nested_order(masks):
    """An order whose prefixes are the masks (non-decreasing counts), or None if the masks are not nested."""
    prev = np.zeros(masks.shape[1], bool)
    parts = []
    for mk in masks:
        if np.any(prev & ~mk):
            return None
        parts.append(np.flatnonzero(mk & ~prev))
        prev = prev | mk
    parts.append(np.flatnonzero(~prev))
    return np.concatenate(parts)


def trial(job, t, out_risk):
    """Trial ``t`` of ``job``: writes ``out_risk[c, j]`` (criterion ``c``, keep level ``j``), returns the dense risk.

    Streams as in :func:`simulations.linear.kernels.trial`: :data:`~simulations.linear.kernels.DATA_STREAM`
    the signal and the training sample, ``FRESH_STREAM`` the refit sample, ``TIES_STREAM`` the tie-breaking
    permutation, one per criterion by the registry's stream key of its name.
    """
    p, B = job.p, job.block_size
    draw = kernels.sample_block_bartlett if job.bartlett else sample_design
    rng = stream(job.seed, t, DATA_STREAM)
    beta = block_signal(rng, job.types, job.signal, job.gaussian, job.factors) / np.sqrt(p)
    train = draw(rng, job.chol, beta, job.n, job.noise)
    bh = fit(train, job.ridge)
    noise2 = job.noise**2
    sig_diag = np.diagonal(job.cov, axis1=1, axis2=2).ravel()
    importance = sig_diag * beta**2
    if job.diagonal:
        err = sig_diag * (bh - beta) ** 2
        dense = noise2 + err.sum()
    else:
        dense = noise2 + block_quadratic(job.cov, bh - beta)
    if job.retrain == "fresh":
        refit_on = draw(stream(job.seed, t, FRESH_STREAM), job.chol, beta, job.n, job.noise)
    else:
        refit_on = train if job.retrain == "same" else None
    ties = tie_order(stream(job.seed, t, TIES_STREAM), p)
    hess = Hessians(job, train)
    V = updated_blocks(job, bh) if job.update == "obs" and refit_on is None else None
    for c, name in enumerate(job.criteria):
        order, masks = criterion_masks(job, t, name, hess, train, bh, beta, importance, ties)
        if refit_on is None:
            if order is not None and job.diagonal and job.update == "none":
                out_risk[c] = kernels.pruned_risks(order, err, importance, job.keep_counts, noise2)
                continue
            if masks is None:
                rank_of = np.empty(p, np.int64)
                rank_of[order] = np.arange(p)
                masks = rank_of[None, :] < job.keep_counts[:, None]
            out_risk[c] = noise2 + block_quadratics(job.cov, pruned_vectors(job, bh, masks, V) - beta)
            continue
        if order is None:
            order = nested_order(masks)
        if order is not None:
            fits = kernels.refit_nested(refit_on, order, job.keep_counts, job.refit_ridge)
            supports = [order[:k] for k in job.keep_counts]
        else:
            supports = [np.flatnonzero(mk) for mk in masks]
            fits = [kernels.refit(refit_on, s, job.refit_ridge) for s in supports]
        if job.diagonal:
            for j, (support, bs) in enumerate(zip(supports, fits)):
                out_risk[c, j] = kernels.support_risk(bs, support, beta, sig_diag, importance, noise2)
            continue
        W = np.zeros((len(supports), p))
        for j, (support, bs) in enumerate(zip(supports, fits)):
            W[j, support] = bs
        out_risk[c] = noise2 + block_quadratics(job.cov, W - beta)
    return dense


def run_block_trials(job, start, stop):
    """Trials ``start <= t < stop``: returns ``(risk (m, C, K), dense (m,))``."""
    return kernels.run_trials_of(trial, job, start, stop)
