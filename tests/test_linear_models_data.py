"""Data generators: reproducibility, instantiation of spectra, covariance scaling."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from asymptotics import Spectrum
from linear_models import LinearProblem, ar1_covariance, atom_counts, block_covariance, from_spectrum


def test_same_seed_same_data():
    prob = LinearProblem.from_covariance(ar1_covariance(6, 0.5), np.arange(6.0), 0.3)
    a, b = prob.sample(20, rng=7), prob.sample(20, rng=np.random.default_rng(7))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


Z_BOUND_COV = 4.0   # 21 distinct entries (6 x 6 symmetric): P(pass | correct) >= 1 - 21 * 2Q(4) = 0.9987


def test_sample_covariance_matches_sigma(record_z):
    """Each entry of X'X/N is a mean of N products with variance S_ii S_jj + S_ij^2 (Gaussian fourth moments)."""
    S = block_covariance(6, 3, 0.6, variances=[1, 2, 3, 1, 2, 3])
    N = 200_000
    X, _ = LinearProblem.from_covariance(S, np.ones(6), 0.0).sample(N, rng=1)
    se = np.sqrt((np.outer(np.diag(S), np.diag(S)) + S**2) / N)
    z = ((X.T @ X / N - S) / se)[np.triu_indices(6)]
    record_z("linear_models sample covariance vs Sigma (21 entries)", z, Z_BOUND_COV)
    assert z.size == 21 and np.max(np.abs(z)) < Z_BOUND_COV


def test_from_spectrum_counts_and_signal():
    spec = Spectrum([1.0, 25.0, 4.0], [1.0, 0.3, 0.0], [0.5, 0.3, 0.2], "fixed")
    prob = from_spectrum(spec, 101, 0.5, rng=0)
    counts = atom_counts(spec.weights, 101)
    assert list(counts) == [51, 30, 20]          # 50.5, 30.3, 20.2: the spare one goes to the largest remainder
    assert_allclose(np.sqrt(101) * np.abs(prob.beta), np.repeat([1.0, 0.3, 0.0], counts))
    assert_allclose(prob.variances, np.repeat([1.0, 25.0, 4.0], counts))


def test_covariance_scaling_keeps_importance_and_risk():
    prob = LinearProblem.from_covariance(ar1_covariance(5, 0.4), [1.0, -0.5, 0.2, 0.0, 2.0], 0.2)
    d = np.array([1.0, 10.0, 0.1, 2.0, 3.0])
    sc = prob.scaled(d)
    assert_allclose(sc.importance(), prob.importance(), rtol=1e-12)
    assert_allclose(sc.importance(compensate=True), prob.importance(compensate=True), rtol=1e-10)
    b = np.array([0.9, -0.4, 0.3, 0.1, 1.8])
    assert_allclose(sc.risk(b / d), prob.risk(b), rtol=1e-12)
    assert not np.allclose(np.abs(sc.beta), np.abs(prob.beta))


def test_importance_definitions():
    """Drop-one increase of R computed by brute force: set b_i = 0 and evaluate R."""
    prob = LinearProblem.from_covariance(ar1_covariance(4, 0.5, variances=[1, 2, 3, 4]), [1.0, -0.5, 0.2, 0.7], 0.1)
    b = np.array([0.8, -0.3, 0.5, 0.6])
    brute = [prob.risk(np.where(np.arange(4) == i, 0.0, b)) - prob.risk(b) for i in range(4)]
    assert_allclose(prob.importance(b), brute, rtol=1e-12)
    # compensated: re-optimise the others (least squares on Sigma) at b = beta*
    S, beta = prob.sigma, prob.beta
    comp = []
    for i in range(4):
        keep = np.arange(4) != i
        bk = np.zeros(4)
        bk[keep] = np.linalg.solve(S[np.ix_(keep, keep)], S[keep] @ beta)
        comp.append(prob.risk(bk) - prob.risk(beta))
    assert_allclose(prob.importance(compensate=True), comp, rtol=1e-10)


@pytest.mark.parametrize("call,match", [
    (lambda: LinearProblem.diagonal([1.0, -1.0], [1, 1], 0.1), r"variances\[1\] == -1.0, must be > 0"),
    (lambda: LinearProblem.diagonal([1.0, 1.0], [1, 1, 1], 0.1), r"beta has shape \(3,\)"),
    (lambda: LinearProblem.diagonal([1.0, 1.0], [1, 1], -0.1), "noise == -0.1, must be >= 0"),
    (lambda: LinearProblem.from_covariance([[1, 2], [2, 1]], [1, 1], 0.1), "covariance is not positive definite"),
    (lambda: LinearProblem.from_covariance([[1, 1], [1, 1]], [1, 1], 0.1), "covariance has rank 1 < 2"),
    (lambda: LinearProblem.diagonal([1.0], [1.0], 0.1).sample(0, rng=0), "n == 0, must be an integer >= 1"),
    (lambda: ar1_covariance(3, 1.0), r"rho == 1.0, must be in \(-1, 1\)"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_rng_is_required():
    with pytest.raises(ValueError, match="rng is None"):
        LinearProblem.diagonal([1.0], [1.0], 0.1).sample(3, None)
