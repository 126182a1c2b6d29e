"""The steps of one Monte Carlo trial (docs/theory.md Sections 2-4 and 8 at finite ``p``).

A trial is a short pipeline of small functions, each with one job:

======== ==================================================================================
sample   the signal ``beta*``, the initialization ``b0``, a training sample (the Gaussian
         design ``(X, y)``, or for ``p <= n`` its Bartlett sufficient statistics)
fit      ridge / OLS / min-norm by Cholesky on the smaller Gram side; min-norm from ``b0``
         is ``b0 + X^+ (y - X b0)`` (gradient descent from ``b0`` run to convergence)
score    any per-weight criterion of the registry (:mod:`linear_models.criteria`), e.g. magnitude,
         hessian (OBD ``1/2 h_i b_i^2``, ``h = diag(X'X/n)`` or ``lam``), oracle, random
prune    the coordinates by decreasing score, ties broken by a random permutation; risks of
         the pruned estimator at every keep level from cumulative sums
refit    the estimator on a support, with fresh or the same data, at its own ridge, from
         ``b0`` restricted to the support (nested supports share one Cholesky factor)
risk     the exact population risk ``noise^2 + sum_i lam_i (b_i - beta*_i)^2``
======== ==================================================================================

Random numbers come from ``numpy.random.Generator`` objects handed in by the caller (one
stream per purpose, see :func:`stream`), so results do not depend on threads, processes or
on which other criteria run in the same trial. Dense linear algebra goes to BLAS/LAPACK;
the two bulk draws (the design, the Bartlett factor) are small Numba loops (``_named``,
``cache=True``, compiled on first use; their normals were measured ~3x faster than NumPy's
here). The rest is NumPy, so a fresh checkout compiles two small kernels (~2-4 s), not a
whole trial.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numba import njit
from scipy.linalg import lapack, solve_triangular

from linear_models.criteria import Stats, get_criterion
from linear_models.criteria import scores as _registry_scores

from ..runtime.seeds import stream
from ..runtime.workers import one_blas_thread

#: What a score may ask of a trial (:func:`trial_stats`); ``hessian_inverse`` is not offered.
ENGINE_NEEDS = ("hessian_diag", "hessian", "grad", "importance", "rng")
RETRAIN = ("none", "fresh", "same")

#: Child ``k`` of the trial's ``SeedSequence`` feeds one purpose (fixed forever): the training sample,
#: the fresh refit sample, the initialization, the tie-breaking permutation (shared by all criteria,
#: drawn whether or not ties occur), and each criterion that draws random numbers, with the stream key
#: the criterion registry fixes by its name (``linear_models.get_criterion(name).stream``).
DATA_STREAM, FRESH_STREAM, INIT_STREAM, TIES_STREAM = 0, 1, 2, 3


@dataclass(frozen=True)
class TrialJob:
    """The fields every Monte Carlo job has (:class:`Job`, :class:`~simulations.linear.block_kernels.BlockJob`):
    ``gaussian`` signal, ``n`` samples, ``noise``, ``ridge``, ``refit_ridge``, non-decreasing ``keep_counts``,
    ``criteria`` names, ``retrain`` in :data:`RETRAIN`, ``empirical_hessian`` scores, ``seed``."""

    gaussian: bool
    n: int
    noise: float
    ridge: float
    refit_ridge: float
    keep_counts: np.ndarray
    criteria: tuple
    retrain: str
    empirical_hessian: bool
    seed: int


@dataclass(frozen=True)
class Job(TrialJob):
    """Everything a worker needs to run trials (picklable, arrays and scalars only).

    ``lam``, ``b_scale``: per-coordinate variances and signal sizes (``sqrt(p) |beta*_i|`` or its
    standard deviation when ``gaussian``); ``n`` samples; ``keep_counts`` non-decreasing kept
    counts; ``criteria`` names; ``retrain`` in :data:`RETRAIN`; ``refit_ridge`` the ridge of the
    refit; ``init`` the initialization scale ``s0``; ``bartlett`` draws ``(X'X, X'y)`` (``p <= n``).
    """

    lam: np.ndarray
    b_scale: np.ndarray
    bartlett: bool = False
    init: float = 0.0
    extra_criteria: tuple = ()


# ----------------------------------------------------------------------------------------- sample

def sample_signal(rng, b_scale, gaussian):
    """``beta*_i = s_i b_i / sqrt(p)`` with random signs (fixed signal) or ``s_i ~ N(0, 1)``."""
    p = b_scale.size
    s = rng.standard_normal(p) if gaussian else np.where(rng.random(p) < 0.5, -1.0, 1.0)
    return s * b_scale / np.sqrt(p)


def sample_init(rng, p, init):
    """``b0 ~ N(0, init^2 / p I)``: isotropic in weight space (docs/theory.md Section 8)."""
    return (init / np.sqrt(p)) * rng.standard_normal(p)


@njit(cache=True)
def _bartlett_factor(rng, chi2, chol):
    """``M = L T`` and ``diag(M M')``: ``T`` lower triangular, ``T_ii = sqrt(chi2_i)``, ``T_ij ~ N(0, 1)`` drawn
    row by row, ``L`` block-diagonal lower triangular with blocks ``chol (m, B, B)`` (the diagonal design:
    ``B = 1``, ``chol = sqrt(lam)``)."""
    m, B = chol.shape[0], chol.shape[1]
    p = m * B
    M = np.zeros((p, p))
    diag = np.empty(p)
    T = np.zeros((B, p))
    for j in range(m):
        start = j * B
        for r in range(B):
            i = start + r
            for c in range(i):
                T[r, c] = rng.standard_normal()
            T[r, i] = np.sqrt(chi2[i])
            s = 0.0
            for c in range(i + 1):
                x = chol[j, r, r] * T[r, c]
                for a in range(r):
                    x += chol[j, r, a] * T[a, c]
                M[i, c] = x
                s += x * x
            diag[i] = s
        for r in range(B):
            for c in range(start + B):
                T[r, c] = 0.0
    return M, diag


@njit(cache=True)
def _design(rng, sqrt_lam, beta, n, noise):
    """``X`` with rows ``N(0, diag(lam))`` drawn row by row, ``y = X beta + noise z`` and ``diag(X'X)``."""
    p = sqrt_lam.size
    X = np.empty((n, p))
    y = np.empty(n)
    diag = np.zeros(p)
    for i in range(n):
        for j in range(p):
            X[i, j] = sqrt_lam[j] * rng.standard_normal()
        y[i] = row_response(X[i], beta, diag)
    add_noise(rng, y, noise)
    return X, y, diag


@njit(cache=True)
def row_response(x, beta, diag):
    """``x . beta`` summed in coordinate order, with ``x_j^2`` added to ``diag[j]``."""
    s = 0.0
    for j in range(x.size):
        s += x[j] * beta[j]
        diag[j] += x[j] * x[j]
    return s


@njit(cache=True)
def add_noise(rng, y, noise):
    """``y += noise z``, ``z ~ N(0, I)`` drawn in order."""
    for i in range(y.size):
        y[i] += noise * rng.standard_normal()


class Sample:
    """A training sample of ``n`` rows: the design ``(X, y)``, or (Bartlett, ``p <= n``) the factor ``M``
    with ``X'X = M M'`` and ``X'y = M M' beta* + noise M xi``. Gram quantities are formed on demand."""

    def __init__(self, n, X=None, y=None, M=None, xi=None, beta=None, noise=0.0, gram_diag=None):
        self.n, self.X, self.y, self.M, self.xi, self.beta, self.noise = n, X, y, M, xi, beta, noise
        if gram_diag is not None:
            self.gram_diag = gram_diag

    @property
    def bartlett(self):
        return self.M is not None

    @cached_property
    def G(self):
        return self.M @ self.M.T if self.bartlett else self.X.T @ self.X

    @cached_property
    def Xty(self):
        if self.bartlett:
            return self.G @ self.beta + self.noise * (self.M @ self.xi)
        return self.X.T @ self.y

    @cached_property
    def gram_diag(self):
        """``diag(X'X)`` (the empirical Hessian diagonal times ``n``)."""
        A = self.M if self.bartlett else self.X.T
        return np.einsum("ij,ij->i", A, A)


def sample_design(rng, sqrt_lam, beta, n, noise):
    """``n`` Gaussian rows ``x ~ N(0, diag(lam))`` and ``y = X beta* + noise z`` (a Numba loop: its normals
    were measured about 3x faster than NumPy's ``standard_normal`` here)."""
    X, y, diag = _design(rng, sqrt_lam, beta, n, noise)
    return Sample(n, X=X, y=y, gram_diag=diag)


def sample_bartlett(rng, sqrt_lam, beta, n, noise):
    """The sufficient statistics of :func:`sample_design` for ``p <= n`` through the Bartlett decomposition.

    For ``X = Z Lambda^1/2``, ``Z'Z = T T'`` with ``T`` the Bartlett factor of ``Wishart_p(n, I)``
    (``T_ii^2 ~ chi2(n - i)``, ``i = 0..p-1``, ``T_ij ~ N(0, 1)`` below the diagonal) and
    ``(X'X, X'z)`` has the law of ``(M M', M xi)``, ``M = Lambda^1/2 T``, ``xi ~ N(0, I_p)``
    independent of ``T``: ``O(p^2)`` random numbers instead of ``O(n p)``.
    """
    return sample_block_bartlett(rng, sqrt_lam.reshape(-1, 1, 1), beta, n, noise)


def sample_block_bartlett(rng, chol, beta, n, noise):
    """:func:`sample_bartlett` for the design ``X = Z L'`` with ``L`` block-diagonal lower triangular (blocks
    ``chol (m, B, B)``): ``X'X = M M'`` with ``M = L T``, still lower triangular, and ``X'z = M xi``."""
    p = beta.size
    chi2 = rng.chisquare(n - np.arange(p))
    M, diag = _bartlett_factor(rng, chi2, chol)
    return Sample(n, M=M, xi=rng.standard_normal(p), beta=beta, noise=noise, gram_diag=diag)


# -------------------------------------------------------------------------------------------- fit

def _cholesky(A):
    """Lower Cholesky factor of the symmetric positive definite ``A`` (overwritten; LAPACK potrf, upper
    triangle left as is: only the lower one is read afterwards)."""
    c, info = lapack.dpotrf(A.T, lower=1, clean=0, overwrite_a=1)   # A.T: the same matrix, Fortran order
    if info != 0:
        raise np.linalg.LinAlgError("Gram matrix is not positive definite (rank-deficient sample)")
    return c


def _cholesky_solve(A, rhs):
    """Solve ``A x = rhs`` for symmetric positive definite ``A`` (overwritten) by LAPACK potrf/potrs."""
    x, info = lapack.dpotrs(_cholesky(A), rhs, lower=1)
    return x


def fit_gram(G, Xty, n, ridge):
    """Ridge / OLS from ``X'X`` and ``X'y``: ``(X'X/n + ridge I)^-1 X'y/n`` (``p <= n`` or ``ridge > 0``)."""
    A = G / n
    A.flat[:: A.shape[0] + 1] += ridge
    return _cholesky_solve(A, Xty / n)


def fit_dual(X, y, ridge, b0=None):
    """On the ``n x n`` side: ``X' (X X'/n + ridge I)^-1 r/n`` with ``r = y`` (ridge, min-norm) or, from an
    initialization ``b0`` (``ridge = 0`` only), ``b0 + X^+ (y - X b0)``: the interpolator closest to ``b0``."""
    n = X.shape[0]
    K = X @ X.T
    K /= n
    K.flat[:: n + 1] += ridge
    r = y if b0 is None else y - X @ b0
    b = X.T @ _cholesky_solve(K, r / n)
    if b0 is not None:
        b += b0
    return b


def fit_ols_bartlett(M, xi, beta, noise):
    """OLS from a Bartlett sample: ``(M M')^-1 (M M' beta* + noise M xi) = beta* + noise M'^-1 xi``."""
    return beta + noise * solve_triangular(M, xi, lower=True, trans="T", check_finite=False)


def fit(sample, ridge, b0=None):
    """The dense fit: gradient descent from ``b0`` run to convergence on ``(1/n)||y - X b||^2 + ridge ||b||^2``.

    Strictly convex (``ridge > 0`` or ``p <= n``): the unique minimiser, whatever ``b0``. Otherwise the
    interpolator closest to ``b0`` (``b0 = None``: the min-norm interpolator).
    """
    if sample.bartlett:
        if ridge == 0.0:
            return fit_ols_bartlett(sample.M, sample.xi, sample.beta, sample.noise)
        return fit_gram(sample.G, sample.Xty, sample.n, ridge)
    n, p = sample.X.shape
    if p <= n:
        return fit_gram(sample.G, sample.Xty, n, ridge)
    return fit_dual(sample.X, sample.y, ridge, b0 if ridge == 0.0 else None)


def refit(sample, support, ridge, b0=None):
    """The same estimator on the columns ``support`` (sorted indices), started from ``b0[support]``.

    ``k <= n`` kept columns: primal solve on the Gram block (``b0`` does not matter); ``k > n``: the dual,
    from ``b0`` restricted to the support when ``ridge = 0`` (underdetermined refits fit ``y - X_S b0_S``).
    """
    k = support.size
    if k <= sample.n:
        return fit_gram(sample.G[np.ix_(support, support)], sample.Xty[support], sample.n, ridge)
    start = b0[support] if (b0 is not None and ridge == 0.0) else None
    return fit_dual(sample.X[:, support], sample.y, ridge, start)


def refit_nested(sample, order, keep_counts, ridge, b0=None):
    """:func:`refit` on the nested supports ``order[:k]``, ``k`` in ``keep_counts`` (non-decreasing).

    Returns one weight vector per level, on ``order[:k]`` in that order. The primal levels (``k <= n``) share
    one Cholesky factor ``L`` of the Gram block of the largest of them: the factor of a leading block is the
    leading block of the factor, and forward substitution is prefix-consistent, so each level costs one
    back substitution with ``L[:k, :k]``. Levels with ``k > n`` are dual solves on ``X_S X_S'``, accumulated
    level by level from the Gram of the newly kept columns.
    """
    n = sample.n
    out = []
    primal = keep_counts[keep_counts <= n]
    if primal.size:
        top = order[: primal[-1]]
        A = sample.G[np.ix_(top, top)] / n
        A.flat[:: A.shape[0] + 1] += ridge
        L = _cholesky(A)
        z = solve_triangular(L, sample.Xty[top] / n, lower=True, check_finite=False)
        for k in primal:
            out.append(solve_triangular(L[:k, :k], z[:k], lower=True, trans="T", check_finite=False))
    K, done = np.zeros((n, n)), 0
    for k in keep_counts[keep_counts > n]:
        if k > done:                                   # X_S X_S' grows by the Gram of the new columns
            new = sample.X[:, order[done:k]]
            K += new @ new.T
            done = k
        Xs = sample.X[:, order[:k]]
        A = K / n
        A.flat[:: n + 1] += ridge
        start = b0[order[:k]] if (b0 is not None and ridge == 0.0) else None
        r = sample.y if start is None else sample.y - Xs @ start
        b = Xs.T @ _cholesky_solve(A, r / n)
        out.append(b if start is None else b + start)
    return out


# ------------------------------------------------------------------------------ score and prune

def trial_stats(job, t, crit, train, bh, beta, drop):
    """The :class:`linear_models.Stats` of one trial: the Hessian of ``(1/n)||y - X b||^2 / 2`` (``X'X/n``, or
    the population ``diag(lam)`` with ``hessian_scores="population"``) and its diagonal, the gradient at the
    fit, the true importance ``lam beta*^2`` (``oracle``) and the criterion's own stream."""
    n = job.n
    if job.empirical_hessian:
        hdiag = lambda: train.gram_diag / n                                 # noqa: E731
        hess = lambda: train.G / n                                          # noqa: E731
    else:
        hdiag = job.lam
        hess = lambda: np.diag(job.lam)                                     # noqa: E731
    grad = lambda: (train.G @ bh - train.Xty) / n                           # noqa: E731
    rng = stream(job.seed, t, crit.stream) if "rng" in crit.needs else None
    return Stats(criterion=crit.name, hessian=hess, hessian_diag=hdiag, grad=grad, importance=drop, rng=rng)


def tie_order(rng, p):
    """A uniformly random permutation of ``range(p)``: the order in which tied scores are kept."""
    return np.argsort(rng.random(p))


def rank(score, ties):
    """Indices by decreasing score; tied scores in the order of the permutation ``ties``."""
    return ties[np.argsort(-score[ties], kind="stable")]


def pruned_risks(order, err, drop, keep_counts, noise2):
    """Risks without refit of keeping ``order[:k]`` for every ``k`` in ``keep_counts``.

    ``err_i = lam_i (b_i - beta*_i)^2`` is paid on kept coordinates, ``drop_i = lam_i beta*_i^2`` on
    pruned ones: ``noise^2 + sum_kept err + sum_pruned drop``.
    """
    idx = keep_counts - 1
    kept_err = np.cumsum(err[order])[idx]
    kept_drop = np.cumsum(drop[order])[idx]
    return noise2 + kept_err + np.maximum(drop.sum() - kept_drop, 0.0)     # no negative rounding residue


def support_risk(bs, support, beta, lam, drop, noise2):
    """Population risk of the vector equal to ``bs`` on ``support`` and zero elsewhere."""
    d = bs - beta[support]
    return noise2 + max(drop.sum() - drop[support].sum(), 0.0) + float(np.dot(lam[support] * d, d))


# ---------------------------------------------------------------------------------------- trial

def trial(job, t, out_risk):
    """Trial ``t`` of ``job``: writes ``out_risk[c, j]`` (criterion ``c``, keep level ``j``), returns the dense risk.

    Streams (children of ``SeedSequence(job.seed, spawn_key=(t,))``): :data:`DATA_STREAM` the signal and the
    training sample, :data:`FRESH_STREAM` the refit sample, :data:`INIT_STREAM` ``b0``, :data:`TIES_STREAM`
    the tie-breaking permutation, and one per criterion, keyed by the registry's stream key of its name (random scores). A
    criterion's numbers therefore do not depend on which other criteria run beside it, nor in which order.
    """
    p = job.lam.size
    sqrt_lam = np.sqrt(job.lam)
    draw = sample_bartlett if job.bartlett else sample_design
    rng = stream(job.seed, t, DATA_STREAM)
    beta = sample_signal(rng, job.b_scale, job.gaussian)
    train = draw(rng, sqrt_lam, beta, job.n, job.noise)
    b0 = sample_init(stream(job.seed, t, INIT_STREAM), p, job.init) if job.init > 0 else None
    bh = fit(train, job.ridge, b0)
    noise2 = job.noise**2
    err = job.lam * (bh - beta) ** 2
    drop = job.lam * beta**2
    dense = noise2 + err.sum()
    if job.retrain == "fresh":
        refit_on = draw(stream(job.seed, t, FRESH_STREAM), sqrt_lam, beta, job.n, job.noise)
    else:
        refit_on = train if job.retrain == "same" else None
    ties = tie_order(stream(job.seed, t, TIES_STREAM), p)
    for c, name in enumerate(job.criteria):
        crit = get_criterion(name, carried=job.extra_criteria)
        order = rank(_registry_scores(crit, bh, trial_stats(job, t, crit, train, bh, beta, drop)), ties)
        if refit_on is None:
            out_risk[c] = pruned_risks(order, err, drop, job.keep_counts, noise2)
            continue
        fits = refit_nested(refit_on, order, job.keep_counts, job.refit_ridge, b0)
        for j, (k, bs) in enumerate(zip(job.keep_counts, fits)):
            out_risk[c, j] = support_risk(bs, order[:k], beta, job.lam, drop, noise2)
    return dense


def run_trials_of(trial_fn, job, start, stop):
    """Trials ``start <= t < stop`` of ``job`` by ``trial_fn(job, t, out_risk) -> dense risk``, BLAS single-threaded:
    returns ``(risk (m, C, K), dense (m,))``."""
    m = stop - start
    risk = np.empty((m, len(job.criteria), job.keep_counts.size))
    dense = np.empty(m)
    with one_blas_thread():
        for i, t in enumerate(range(start, stop)):
            dense[i] = trial_fn(job, t, risk[i])
    return risk, dense
