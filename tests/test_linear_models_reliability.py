"""Defect classes of the linear-model library, one test (or a few) per class.

* rank deficiency decided by the rounding of a Cholesky factorisation instead of a tolerance
  relative to the spectrum (the same decision in every estimator and second-order routine);
* zero-sample statistics and non-finite matrices laundered into NaN results;
* shape mismatches between weights and a Hessian / Fisher / inverse, used silently or failing deep.
"""

import re

import numpy as np
import pytest

import linear_models
from linear_models import (Fisher, cbs, cbs_search, empirical_fisher, fit, min_norm, obs, optimal_update, prune,
                           removal_increase, ridge, selection_objective, single_weight_update, woodfisher)
from linear_models.second_order import magnitude_update, obs_order, swap_statistics

SEEDS = range(200)


def _collinear(seed, n=1000):
    X = np.random.default_rng(seed).uniform(size=(n, 4))
    X[:, 3] = X[:, 2] + X[:, 1]
    return X


def _numerical_rank(X):
    """Independent reference: numpy's rank of ``X`` with unit-norm columns (rank is scale-invariant)."""
    return int(np.linalg.matrix_rank(X / np.linalg.norm(X, axis=0)))


def _refused(call, match):
    """True iff ``call()`` raises the documented rank error with a message matching ``match``."""
    try:
        call()
    except ValueError as exc:
        return isinstance(exc, getattr(linear_models, "RankDeficientError", ())) and bool(
            re.search(match, str(exc)))
    return False


def test_collinear_design_is_refused_for_every_seed():
    """Rank deficiency decided by rounding: an exactly collinear design (x4 = x2 + x3, n = 1000, uniform
    entries) must be refused by fit with the same error for every seed (the Cholesky-based decision
    accepted 74 of these 200 and returned an arbitrary least-squares solution)."""
    y = np.random.default_rng(12345).standard_normal(1000)
    refused = []
    for seed in SEEDS:
        X = _collinear(seed)
        assert _numerical_rank(X) == 3
        refused.append(_refused(lambda: fit(X, y), r"^X has rank 3 < 4 columns .*; use ridge > 0"))
    assert sum(refused) == len(SEEDS), f"refused for {sum(refused)} of {len(SEEDS)} seeds"


def test_collinear_matrices_are_refused_by_every_routine():
    """Rank deficiency decided by rounding, the same decision everywhere: the Gram matrix of a collinear
    design is refused by OBS pruning (Hessian inverse), by the empirical Fisher's inverse and by the
    multi-weight update of a kept block holding the collinear columns, for every seed; min-norm refuses
    collinear rows."""
    mask = np.array([False, True, True, True])
    w = np.array([1.0, 2.0, 3.0, 4.0])
    counts = {"prune obs": 0, "empirical_fisher": 0, "optimal_update": 0, "min_norm": 0}
    for seed in SEEDS:
        X = _collinear(seed)
        H = X.T @ X / X.shape[0]
        counts["prune obs"] += _refused(lambda: prune(w, 2, "obs", hessian=H), r"^hessian has rank 3 < 4 .*damping")
        counts["empirical_fisher"] += _refused(lambda: empirical_fisher(X, inverse=True),
                                               r"^fisher has rank 3 < 4 .*damping")
        counts["optimal_update"] += _refused(lambda: optimal_update(w, H, mask),
                                             r"^F restricted to the kept weights has rank 2 < 3 .*damping")
        Xt = _collinear(seed, n=40).T.copy()                 # 4 samples, 40 features, sample 4 = sample 2 + 3
        assert _numerical_rank(Xt.T) == 3
        counts["min_norm"] += _refused(lambda: min_norm(Xt, np.ones(4)), r"^X has rank 3 < 4 rows .*ridge > 0")
    assert counts == dict.fromkeys(counts, len(SEEDS))


def test_badly_scaled_full_rank_design_is_accepted():
    """Rank deficiency decided by rounding, the other side: a well-conditioned design with columns scaled
    by 1e-6 and 1e6 has full rank (numpy says so too) and is fitted to full accuracy; the tolerance is
    relative to the spectrum of the matrix scaled to unit diagonal, not absolute."""
    scale = np.array([1e-6, 1e6, 1.0, 1.0])
    for seed in range(50):
        rng = np.random.default_rng(seed)
        X0 = rng.uniform(size=(1000, 4))
        y = X0 @ np.array([1.0, -2.0, 3.0, 0.5]) + 0.1 * rng.standard_normal(1000)
        X = X0 * scale
        assert np.linalg.matrix_rank(X) == 4
        reference = np.linalg.lstsq(X0, y, rcond=None)[0] / scale       # exact rescaling of the unscaled fit
        np.testing.assert_allclose(fit(X, y), reference, rtol=1e-9)
        H = X.T @ X / 1000
        res = prune(reference, 2, "obs", hessian=H)                        # not refused, finite
        assert res.mask.sum() == 2 and np.all(np.isfinite(res.weights))
        F = empirical_fisher(X, inverse=True)
        reference_inverse = np.linalg.inv(X0.T @ X0 / 1000) / np.outer(scale, scale)
        np.testing.assert_allclose(F.inverse, reference_inverse, rtol=1e-9)
        # rows scaled by 1e-6 and 1e6 (n < p): the min-norm interpolator, exactly rescaled
        Z0 = rng.standard_normal((4, 40))
        Z = Z0 * scale[:, None]
        np.testing.assert_allclose(min_norm(Z, np.ones(4)), np.linalg.pinv(Z0) @ (1.0 / scale), rtol=1e-9)


def test_ridge_too_small_to_matter_is_refused():
    """Rank deficiency decided by rounding: a ridge below double precision relative to the Gram matrix
    leaves it numerically singular; refused, saying to increase the ridge."""
    X = _collinear(0)
    assert _refused(lambda: ridge(X, np.ones(1000), 1e-300), r"^X has rank 3 < 4 columns .*increase ridge")
    b = ridge(X, np.ones(1000), 1e-3)
    assert np.all(np.isfinite(b))


# ------------------------------------------------------------------------------ zero samples, non-finite


def test_zero_sample_statistics_are_refused():
    """Zero-sample statistics: an empirical Fisher of no gradients (all NaN before) and an estimator
    without samples are refused, naming the parameter."""
    for G in (np.zeros((0, 3)), np.zeros((4, 0))):
        with pytest.raises(ValueError, match=r"^grads has shape \(\d, \d\); the Fisher needs at least one sample"):
            empirical_fisher(G)
        with pytest.raises(ValueError, match=r"^grads has shape"):
            empirical_fisher(G, relative_damping=1e-2, inverse=True)
    for X in (np.zeros((0, 3)), np.zeros((3, 0))):
        with pytest.raises(ValueError, match=r"^X has shape \(\d, \d\); it needs at least one sample"):
            fit(X, np.zeros(X.shape[0]))


def _problem(d=6, seed=0):
    rng = np.random.default_rng(seed)
    G, w = rng.standard_normal((50, d)), rng.standard_normal(d)
    return w, empirical_fisher(G, relative_damping=1e-2, inverse=True)


def test_non_finite_hessian_or_fisher_is_refused_before_work():
    """Non-finite values laundered into numbers: a NaN/inf Hessian (or Fisher, or inverse) given to CBS,
    OBS, WoodFisher or the multi-weight update is refused before any work, naming the parameter (CBS and
    the update returned NaN weights, OBS NaN weights and WoodFisher a NaN weight)."""
    w, F = _problem()
    H = F.matrix
    for bad in (np.nan, np.inf):
        Hb = H.copy()
        Hb[1, 2] = Hb[2, 1] = bad
        with pytest.raises(ValueError, match=r"^fisher\[1, 2\] == (nan|inf), must be finite"):
            cbs(w, Hb, 3, rng=0)
        with pytest.raises(ValueError, match=r"^F\[1, 2\] == (nan|inf), must be finite"):
            optimal_update(w, Hb, np.arange(6) < 3)
        with pytest.raises(ValueError, match=r"^F\[1, 2\] == (nan|inf), must be finite"):
            cbs_search(w, Hb, np.arange(6) < 3)
        with pytest.raises(ValueError, match=r"^hessian\[1, 2\] == (nan|inf), must be finite"):
            prune(w, 3, "cbs", hessian=Hb)
        for field in ("matrix", "inverse"):                     # a Fisher built by hand: refused when built
            args = dict(matrix=H, inverse=F.inverse, damping=0.0, relative_damping=0.0, mean_diagonal=1.0,
                        n_samples=50)
            args[field] = Hb
            with pytest.raises(ValueError, match=rf"^fisher\.{field}\[1, 2\] == (nan|inf), must be finite"):
                Fisher(**args)
    wn = w.copy()
    wn[4] = np.nan
    for call in (lambda: cbs(wn, H, 3, rng=0), lambda: obs(wn, F, 3), lambda: woodfisher(wn, F, 3),
                 lambda: prune(wn, 3, "woodfisher", hessian=H), lambda: optimal_update(wn, H, np.arange(6) < 3)):
        with pytest.raises(ValueError, match=r"^w\[4\] == nan, must be finite"):
            call()


# ------------------------------------------------------------------------------ shapes


def test_shape_mismatch_between_weights_and_matrix_is_refused():
    """Deep or unclear errors, silently accepted input: a Fisher/Hessian/inverse of another size than the
    weights is refused up front naming the parameter and both sizes (before: the leading block used
    silently by OBS, the multi-weight update and removal_increase; a raw matmul or broadcast message
    from CBS, WoodFisher and the selection objective)."""
    w, _ = _problem(6)
    _, F7 = _problem(7, seed=1)
    mask = np.arange(6) < 3
    fisher_msg = r"^fisher\.matrix has shape \(7, 7\), must be \(6, 6\) to match the 6 weights"
    array_msg = r"^(F|fisher) has shape \(7, 7\)(; axis 0 must have length 6|, must be \(6, 6\) to match the 6 weights)"
    calls = {
        fisher_msg: [lambda: obs(w, F7, 3), lambda: obs_order(w, F7, 3), lambda: woodfisher(w, F7, 3),
                     lambda: magnitude_update(w, F7, 3), lambda: cbs(w, F7, 3, rng=0)],
        array_msg: [lambda: cbs(w, F7.matrix, 3, rng=0), lambda: optimal_update(w, F7.matrix, mask),
                    lambda: removal_increase(w, F7.matrix, mask), lambda: cbs_search(w, F7.matrix, mask),
                    lambda: selection_objective(w, F7.matrix, mask), lambda: swap_statistics(w, F7.matrix, mask)],
        r"^Finv has shape \(7, 7\), must be \(6, 6\)": [lambda: single_weight_update(w, F7.inverse, mask)],
        r"^hessian has shape \(7, 7\)": [lambda: prune(w, 3, "obs", hessian=F7.matrix)],
        r"^hessian_inverse has shape \(7, 7\)": [lambda: prune(w, 3, "obs", hessian=F7.matrix[:6, :6],
                                                              hessian_inverse=F7.inverse)],
        r"^grad has shape \(7,\)": [lambda: prune(w, 3, "taylor1", grad=np.ones(7))],
        r"^importance has shape \(5,\)": [lambda: prune(w, 3, "oracle", importance=np.ones(5))],
    }
    n = 0
    for match, group in calls.items():
        for call in group:
            with pytest.raises(ValueError, match=match):
                call()
            n += 1
    assert n == 16
    with pytest.raises(ValueError, match=r"^obs needs the Fisher inverse"):          # before: a Numba typing error
        obs(w, empirical_fisher(np.random.default_rng(2).standard_normal((50, 6))), 3)
    with pytest.raises(ValueError, match=r"^mask must be a boolean array of shape \(6,\)"):
        selection_objective(w, F7.matrix[:6, :6], np.arange(7) < 3)


def test_masks_and_orders_are_checked_not_cast():
    """Deep or unclear errors, silently accepted input: a 0/1 or fractional mask was cast to bool by
    gradient descent, a removal order with a repeated or out-of-range index silently kept more weights
    than asked (or indexed from the end), and masks of different lengths broadcast in mask_overlap."""
    from linear_models import gradient_descent
    from linear_models.second_order import mask_overlap

    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((20, 4)), rng.standard_normal(20)
    for mask in ([1, 0, 1, 1], [0.5, 1.0, 1.0, 1.0]):
        with pytest.raises(ValueError, match=r"^mask must be a boolean array of shape \(4,\), got dtype"):
            gradient_descent(X, y, 3, mask=mask)
    w, F = _problem()
    for order, match in (([0, 0, 1], r"^order repeats an index"), ([0, 1, -1], r"^order holds index -1"),
                         ([0, 1, 6], r"^order holds index 6, must be in \[0, 6\)"),
                         ([0.0, 1.0, 2.0], r"^order must be a 1-D array of integer indices")):
        with pytest.raises(ValueError, match=match):
            obs(w, F, 3, order=order)
    good = obs(w, F, 3, order=obs_order(w, F, 3))
    assert good.mask.sum() == 3 and np.array_equal(good.mask, obs(w, F, 3).mask)
    a = np.array([True, False, True, False])
    with pytest.raises(ValueError, match=r"^mask must be a boolean array of shape \(4,\)"):
        mask_overlap(a, np.array([True]))
    with pytest.raises(ValueError, match=r"^mask must be a boolean array of shape \(4,\), got dtype int"):
        mask_overlap(a, np.array([1, 0, 1, 0]))
    assert mask_overlap(a, np.array([True, True, False, False])) == 0.5       # a prunes {1, 3}, b {2, 3}


def test_rank_decision_is_numpys_rule_on_both_sides_of_the_threshold():
    """Rank deficiency decided by rounding, at the threshold itself: for matrices whose smallest
    eigenvalue sweeps from far below to far above the tolerance, the factorisation, the inverse and the
    solve refuse exactly those that numpy.linalg.matrix_rank (hermitian, default tolerance) calls
    rank-deficient, after the same scaling to unit diagonal (whose rounding is shared, so that the
    comparison is of the decision and not of the last bits of the scaling)."""
    from linear_models._spd import RankDeficientError, spd_factor, spd_inv, spd_solve

    rng = np.random.default_rng(7)
    outcomes = {True: 0, False: 0}
    for p in (5, 40):
        for ratio in np.logspace(-18, -8, 200):
            Q = np.linalg.qr(rng.standard_normal((p, p)))[0]
            lam = np.logspace(0, np.log10(ratio), p)
            G = (Q * lam) @ Q.T
            G = 0.5 * (G + G.T)
            s = 1.0 / np.sqrt(np.diag(G))
            full = np.linalg.matrix_rank(G * s[:, None] * s[None, :], hermitian=True) == p
            outcomes[bool(full)] += 1
            for call in (lambda: spd_factor(G, "G", hint="h"), lambda: spd_inv(G, "G", hint="h"),
                         lambda: spd_solve(G, np.ones(p), "G", hint="h")):
                try:
                    call()
                    accepted = True
                except RankDeficientError:
                    accepted = False
                assert accepted == full, (p, ratio)
    assert min(outcomes.values()) >= 100, outcomes          # both sides of the threshold are exercised
