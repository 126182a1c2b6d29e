"""Finite-sample data with covariance scaling (docs/theory.md Sections 1-2).

A :class:`LinearProblem` is ``x ~ N(0, Sigma)``, ``y = x . beta* + noise z``.
Its population risk of a weight vector ``b`` is
``R(b) = noise^2 + (b - beta*)' Sigma (b - beta*)``, and covariance scaling
``x -> D x`` gives the equivalent problem ``Sigma -> D Sigma D``,
``beta* -> D^-1 beta*`` (:meth:`LinearProblem.scaled`): importance
``Sigma_ii beta*_i^2`` is invariant, magnitudes are not.

Example
-------
>>> import numpy as np
>>> from linear_models import LinearProblem
>>> prob = LinearProblem.diagonal([1.0, 4.0], [1.0, 0.5], noise=0.1)
>>> X, y = prob.sample(50, rng=0)
>>> X.shape, float(prob.risk(prob.beta))
((50, 2), 0.010000000000000002)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pruning_checks import as_generator, check_array, check_int, check_scalar, check_symmetric
from ._spd import spd_factor


@dataclass(frozen=True, eq=False)
class LinearProblem:
    """A Gaussian linear model: covariance (full or diagonal), true weights and noise level.

    Use :meth:`diagonal`, :meth:`from_covariance`, :func:`from_spectrum`,
    :func:`ar1_covariance` or :func:`block_covariance` to build one.
    """

    beta: np.ndarray
    noise: float
    variances: np.ndarray | None = None      # diagonal Sigma
    covariance: np.ndarray | None = None     # full Sigma (None when diagonal)
    block_size: int | None = None            # B of a block-diagonal Sigma (from a block spectrum)

    @classmethod
    def diagonal(cls, variances, beta, noise):
        lam = check_array(variances, "variances", 1, positive=True)
        b = check_array(beta, "beta", 1, shape=(lam.size,))
        return cls(b, check_scalar(noise, "noise", low=0), lam, None)

    @classmethod
    def from_covariance(cls, covariance, beta, noise):
        """A full covariance ``(p, p)``; a singular or indefinite one (decided relative to its spectrum,
        :mod:`linear_models._spd`) raises :class:`~linear_models.RankDeficientError` (a ``ValueError``)."""
        b = check_array(beta, "beta", 1)
        S = check_symmetric(covariance, "covariance", b.size)
        spd_factor(S, "covariance", hint="a Gaussian design needs a positive definite covariance")
        return cls(b, check_scalar(noise, "noise", low=0), None, S)

    @property
    def p(self) -> int:
        return int(self.beta.size)

    @property
    def sigma(self) -> np.ndarray:
        """The covariance matrix (built from the diagonal if needed)."""
        return np.diag(self.variances) if self.covariance is None else self.covariance

    @property
    def diag(self) -> np.ndarray:
        return self.variances if self.covariance is None else np.diag(self.covariance).copy()

    def _sigma_times(self, v):
        return self.variances * v if self.covariance is None else self.covariance @ v

    def sample(self, n, rng):
        """Draw ``(X, y)`` with ``n`` rows; ``rng`` is a seed or a Generator."""
        n = check_int(n, "n", low=1)
        rng = as_generator(rng)
        Z = rng.standard_normal((n, self.p))
        if self.covariance is None:
            X = Z * np.sqrt(self.variances)
        else:
            X = Z @ np.linalg.cholesky(self.covariance).T
        y = X @ self.beta + self.noise * rng.standard_normal(n)
        return X, y

    def risk(self, b):
        """Population test risk ``noise^2 + (b - beta*)' Sigma (b - beta*)``."""
        d = check_array(b, "b", 1, shape=(self.p,)) - self.beta
        return self.noise**2 + float(d @ self._sigma_times(d))

    def importance(self, b=None, *, compensate=False):
        """Risk increase when each weight alone is set to zero (docs/theory.md Section 1).

        Without compensation: ``Sigma_ii b_i^2 - 2 b_i [Sigma (b - beta*)]_i``
        (``Sigma_ii beta*_i^2`` at ``b = beta*``, the default). With compensation
        (the other weights re-optimised, OBS): ``b_i^2 / [Sigma^-1]_ii`` at ``b = beta*``.
        """
        b = self.beta if b is None else check_array(b, "b", 1, shape=(self.p,))
        if compensate:
            if self.covariance is None:
                return self.variances * b**2
            return b**2 / np.diag(np.linalg.inv(self.covariance))
        return self.diag * b**2 - 2 * b * self._sigma_times(b - self.beta)

    def scaled(self, factors):
        """Covariance scaling ``x -> D x``: ``Sigma -> D Sigma D``, ``beta* -> beta* / D``."""
        d = check_array(factors, "factors", 1)
        if d.size == 1:
            d = np.full(self.p, d[0])
        if d.size != self.p or (d <= 0).any():
            raise ValueError(f"factors must be {self.p} positive numbers (or one), got {d.size} values.")
        if self.covariance is None:
            return LinearProblem(self.beta / d, self.noise, self.variances * d**2, None)
        return LinearProblem(self.beta / d, self.noise, None, self.covariance * np.outer(d, d), self.block_size)


def atom_counts(weights, p):
    """Integer counts per atom summing to ``p`` (largest-remainder rounding of ``weights * p``)."""
    raw = weights * p
    counts = np.floor(raw).astype(int)
    short = p - counts.sum()
    if short:
        counts[np.argsort(-(raw - counts), kind="stable")[:short]] += 1
    return counts


def ar1_covariance(p, rho, *, variances=None):
    """``Sigma_ij = sqrt(v_i v_j) rho^|i-j|`` (correlated neighbours, where OBD and OBS differ)."""
    p = check_int(p, "p", low=1)
    rho = check_scalar(rho, "rho", low=-1, high=1)
    if abs(rho) >= 1:
        raise ValueError(f"rho == {rho}, must be in (-1, 1).")
    v = np.ones(p) if variances is None else check_array(variances, "variances", 1, shape=(p,))
    idx = np.arange(p)
    return np.sqrt(np.outer(v, v)) * rho ** np.abs(idx[:, None] - idx[None, :])


def block_covariance(p, block, rho, *, variances=None):
    """Equicorrelated blocks of size ``block`` with within-block correlation ``rho``."""
    p = check_int(p, "p", low=1)
    block = check_int(block, "block", low=1)
    rho = check_scalar(rho, "rho", low=0, high=1)
    if rho >= 1:
        raise ValueError(f"rho == {rho}, must be < 1.")
    v = np.ones(p) if variances is None else check_array(variances, "variances", 1, shape=(p,))
    g = np.arange(p) // block
    C = np.where(g[:, None] == g[None, :], rho, 0.0)
    np.fill_diagonal(C, 1.0)
    return np.sqrt(np.outer(v, v)) * C
