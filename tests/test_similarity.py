"""Linear CKA and linear mode connectivity against direct formulas (simulations/similarity.py)."""

import numpy as np
import pytest

from linear_models import fit
from simulations.networks.similarity import PATH_POINTS, linear_cka, mc_from_path, mode_connectivity


def _cka_hsic(a, b):
    """Plain Gram-matrix CKA: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)), K = AA', L = BB', H the centring."""
    a = np.atleast_2d(a.T).T
    b = np.atleast_2d(b.T).T
    n = a.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    K, L = a @ a.T, b @ b.T

    def hsic(k, l):
        return np.trace(k @ H @ l @ H) / (n - 1) ** 2

    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


def _orthogonal(k, rng):
    q, r = np.linalg.qr(rng.standard_normal((k, k)))
    return q * np.sign(np.diag(r))


# ---------------------------------------------------------------- CKA

@pytest.mark.parametrize("k", [1, 3, 10])
def test_cka_with_itself_is_one(k):
    a = np.random.default_rng(k).standard_normal((80, k))
    assert linear_cka(a, a) == pytest.approx(1.0, abs=1e-13)


@pytest.mark.parametrize("k", [2, 5])
def test_cka_invariant_to_orthogonal_transform_scaling_and_shift(k):
    rng = np.random.default_rng(10 + k)
    a = rng.standard_normal((60, k))
    b = a @ rng.standard_normal((k, k)) + 0.3 * rng.standard_normal((60, k))     # correlated, CKA < 1
    ref = linear_cka(a, b)
    assert ref < 0.999
    Q = _orthogonal(k, rng)
    for c in (1e-6, 0.5, -3.0, 1e5):
        np.testing.assert_allclose(linear_cka(c * a @ Q + 7.0, b), ref, rtol=1e-10)
        np.testing.assert_allclose(linear_cka(a, c * b @ Q - 2.0), ref, rtol=1e-10)
    assert linear_cka(a, a @ Q) == pytest.approx(1.0, abs=1e-12)


def test_cka_not_invariant_to_anisotropic_scaling():
    """The invariance test above could fail: an unequal column scaling does change CKA."""
    a = np.random.default_rng(3).standard_normal((100, 3))
    assert linear_cka(a, a * np.array([1.0, 1.0, 10.0])) < 0.9


@pytest.mark.parametrize("shape", [(40, 1, 1), (50, 3, 5), (30, 10, 2)])
def test_cka_equals_gram_hsic_reimplementation(shape):
    n, k1, k2 = shape
    rng = np.random.default_rng(n + k1 + k2)
    a = rng.standard_normal((n, k1)) + rng.standard_normal(k1)
    b = a[:, :1] @ rng.standard_normal((1, k2)) + rng.standard_normal((n, k2))
    np.testing.assert_allclose(linear_cka(a, b), _cka_hsic(a, b), rtol=1e-10)


def test_cka_of_single_outputs_is_squared_correlation():
    rng = np.random.default_rng(5)
    x = rng.standard_normal(200)
    y = 0.5 * x + rng.standard_normal(200)
    np.testing.assert_allclose(linear_cka(x, y), np.corrcoef(x, y)[0, 1] ** 2, rtol=1e-12)


def test_cka_of_softmax_outputs_equals_reimplementation():
    rng = np.random.default_rng(6)
    logits = rng.standard_normal((120, 10))
    p1 = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    l2 = logits + 0.7 * rng.standard_normal((120, 10))
    p2 = np.exp(l2) / np.exp(l2).sum(1, keepdims=True)
    value = linear_cka(p1, p2)
    assert 0.0 < value < 1.0
    np.testing.assert_allclose(value, _cka_hsic(p1, p2), rtol=1e-10)


def test_cka_bad_input():
    a = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(ValueError, match="rows"):
        linear_cka(a, a[:9])
    with pytest.raises(ValueError, match="outputs_b is constant"):
        linear_cka(a, np.full((10, 2), 3.0))
    with pytest.raises(ValueError, match="outputs_a contains NaN"):
        linear_cka(np.where(a > 1, np.nan, a), a)
    with pytest.raises(ValueError, match="outputs_a must be 1-D"):
        linear_cka(np.zeros((2, 2, 2)), a)


# ---------------------------------------------------------------- mode connectivity

def _mse(X, y):
    return lambda b: float(np.mean((y - X @ b) ** 2))


def test_mc_definition_by_hand():
    t = np.linspace(0, 1, 5)
    # endpoints 0.2 and 0.4 (mean 0.3), a bump to 1.0 at t = 0.5: mc = 0.3 - 1.0
    mc, t_star, barrier = mc_from_path(t, [0.2, 0.25, 1.0, 0.35, 0.4])
    assert (mc, t_star) == (pytest.approx(-0.7), 0.5)
    assert barrier == pytest.approx(1.0 - 0.3)
    # linear errors: the endpoints tie for the largest deviation, the first (t = 0) wins: mc = +1/2
    mc, t_star, barrier = mc_from_path(t, t)
    assert (mc, t_star, barrier) == (pytest.approx(0.5), 0.0, pytest.approx(0.0, abs=1e-15))


def test_mc_two_interpolators_is_exactly_zero():
    """Underdetermined least squares: every point of the segment between two interpolators interpolates."""
    rng = np.random.default_rng(1)
    n, p = 30, 80
    X, y = rng.standard_normal((n, p)), rng.standard_normal(n)
    b0 = rng.standard_normal(p)
    th0 = fit(X, y)                           # min-norm interpolator
    th1 = b0 + fit(X, y - X @ b0)             # the interpolator closest to b0 (where GD from b0 ends)
    assert np.linalg.norm(th1 - th0) > 1.0
    res = mode_connectivity(th0, th1, _mse(X, y))
    assert res.t.size == PATH_POINTS and res.errors.shape == (PATH_POINTS,)
    assert np.max(res.errors) < 1e-20
    assert abs(res.mc) < 1e-12 and res.mc >= -1e-12 and res.barrier <= 1e-12


def test_mc_convex_ridge_fits_no_barrier():
    """Two ridge fits (different penalties) under a convex train MSE: path errors equal the direct
    quadratic, the chord barrier is <= 0, and mc >= -|E(1) - E(0)|/2 (the bound convexity gives)."""
    rng = np.random.default_rng(2)
    n, p = 100, 20
    X = rng.standard_normal((n, p))
    y = X @ rng.standard_normal(p) + rng.standard_normal(n)
    th0, th1 = fit(X, y, 0.05), fit(X, y, 3.0)
    res = mode_connectivity(th0, th1, _mse(X, y))
    direct = [np.mean((y - X @ ((1 - t) * th0 + t * th1)) ** 2) for t in np.linspace(0, 1, 11)]
    np.testing.assert_allclose(res.errors, direct, rtol=1e-13)
    assert res.barrier <= 1e-12
    assert res.mc >= -abs(res.errors[-1] - res.errors[0]) / 2 - 1e-12


def test_mc_convex_equal_endpoints_closed_form():
    """theta = b_ls +- v: E(t) = E_min + (2t - 1)^2 q, q = ||Xv||^2/n, so mc = +q at t* = 1/2 (no barrier)."""
    rng = np.random.default_rng(3)
    n, p = 60, 10
    X, y = rng.standard_normal((n, p)), rng.standard_normal(n)
    b, v = fit(X, y), 0.3 * rng.standard_normal(p)
    q = np.sum((X @ v) ** 2) / n
    res = mode_connectivity(b - v, b + v, _mse(X, y))
    assert res.t_star == 0.5
    np.testing.assert_allclose(res.mc, q, rtol=1e-10)
    assert res.mc >= 0 and res.barrier <= 1e-12


def test_mc_double_well_barrier():
    res = mode_connectivity([-1.0, 0.0], [1.0, 0.0], lambda th: (th[0] ** 2 - 1) ** 2 + th[1] ** 2)
    np.testing.assert_allclose(res.errors, (np.linspace(-1, 1, 11) ** 2 - 1) ** 2, atol=1e-15)
    assert res.mc == pytest.approx(-1.0) and res.t_star == 0.5 and res.barrier == pytest.approx(1.0)


def test_mc_permuted_network_barrier():
    """A two-unit ReLU network and its hidden-unit permutation compute the same function (both endpoints at
    zero error); the average of the two is a different function, so the path has a barrier."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((200, 2))
    W, v = np.array([[1.0, 0.5], [-0.7, 1.2]]), np.array([1.0, -2.0])
    y = np.maximum(x @ W.T, 0) @ v

    def err(theta):
        return float(np.mean((y - np.maximum(x @ theta[:4].reshape(2, 2).T, 0) @ theta[4:]) ** 2))

    th0 = np.concatenate([W.ravel(), v])
    th1 = np.concatenate([W[::-1].ravel(), v[::-1]])
    res = mode_connectivity(th0, th1, err)
    assert res.errors[0] < 1e-28 and res.errors[-1] < 1e-28
    mid = err(0.5 * (th0 + th1))
    assert res.mc == pytest.approx(-mid) and res.t_star == 0.5 and mid > 0.5
    assert res.barrier == pytest.approx(mid)


def test_mc_bad_input():
    f = lambda th: 0.0
    with pytest.raises(ValueError, match="theta_0 has shape"):
        mode_connectivity(np.zeros(3), np.zeros(4), f)
    with pytest.raises(ValueError, match="points"):
        mode_connectivity(np.zeros(3), np.ones(3), f, points=2)
    with pytest.raises(TypeError, match="error must be a callable"):
        mode_connectivity(np.zeros(3), np.ones(3), 1.0)
    with pytest.raises(ValueError, match="NaN"):
        mode_connectivity(np.zeros(3), np.ones(3), lambda th: np.nan)
    with pytest.raises(ValueError, match="theta_1 contains NaN"):
        mode_connectivity(np.zeros(3), np.array([0, np.inf, 0]), f)
