"""Second-order pruning on a generic weight vector, against brute force and independent formulas."""

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose

from linear_models import prune
from linear_models.second_order import (
    LOSS_CRITERIA, cbs, cbs_search, empirical_fisher, loss_model_scores, magnitude,
    magnitude_update, mask_overlap, obs, obs_order, optimal_update, prune_in_steps, quadratic_increase,
    removal_increase, selection_objective, step_counts, swap_statistics, top_mask, woodfisher,
    woodfisher_scores)
from linear_models.cbs import _ls_iteration  # the kernel itself, tested against a direct recomputation


def problem(d=8, N=30, seed=0, damping=0.05):
    """Random per-sample gradients with unequal scales and correlations, and weights."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((N, d)) @ (np.eye(d) + 0.4 * rng.standard_normal((d, d))) * rng.uniform(0.2, 2, d)
    w = rng.standard_normal(d) * rng.uniform(0.3, 2, d)
    return w, G, empirical_fisher(G, relative_damping=damping, inverse=True)


def brute_update(w, F, mask):
    """Minimise 1/2 dw' F dw subject to dw_P = -w_P by the KKT system (an independent solve)."""
    d = w.size
    P = np.flatnonzero(~mask)
    E = np.eye(d)[P]                                  # constraint rows: E dw = -w_P
    kkt = np.block([[F, E.T], [E, np.zeros((P.size, P.size))]])
    sol = np.linalg.solve(kkt, np.concatenate([np.zeros(d), -w[P]]))
    return sol[:d]


def test_fisher_is_damped_gram_with_relative_damping():
    w, G, fisher = problem()
    gram = G.T @ G / G.shape[0]
    lam = 0.05 * np.mean(np.diag(gram))
    assert_allclose(fisher.damping, lam, rtol=1e-14)
    assert_allclose(fisher.mean_diagonal, np.mean(np.diag(gram)), rtol=1e-14)
    assert_allclose(fisher.matrix, gram + lam * np.eye(w.size), rtol=1e-13, atol=1e-15)
    assert_allclose(fisher.inverse @ fisher.matrix, np.eye(w.size), atol=1e-10)
    with pytest.raises(ValueError, match="relative_damping"):
        empirical_fisher(G, relative_damping=0.0)
    with pytest.raises(ValueError, match="no scale to damp relative to"):
        empirical_fisher(np.zeros_like(G), relative_damping=0.1)


@pytest.mark.parametrize("removed", [[1], [0, 3], [1, 2, 5, 6], [0, 1, 2, 3, 4, 5, 6]])
def test_optimal_update_matches_kkt_and_the_quadratic_model_exactly(removed):
    w, G, fisher = problem(seed=1)
    F = fisher.matrix
    mask = np.ones(w.size, bool)
    mask[removed] = False
    weights, inc = optimal_update(w, F, mask)
    dw = brute_update(w, F, mask)
    assert_allclose(weights, w + dw, rtol=1e-9, atol=1e-12)
    assert np.all(weights[~mask] == 0)
    # the predicted increase is the quadratic model of the applied change, and the closed form
    P = np.flatnonzero(~mask)
    closed = 0.5 * w[P] @ np.linalg.solve(np.linalg.inv(F)[np.ix_(P, P)], w[P])
    assert_allclose(inc, quadratic_increase(F, weights - w), rtol=1e-10)
    assert_allclose(inc, closed, rtol=1e-9)
    # on the quadratic loss L(v) = 1/2 (v - w)' F (v - w) it is the true loss change; any other
    # kept weights do worse
    L = lambda v: 0.5 * (v - w) @ F @ (v - w)
    rng = np.random.default_rng(0)
    for _ in range(20):
        other = weights + np.where(mask, 1e-3 * rng.standard_normal(w.size), 0.0)
        assert L(other) > L(weights)


def test_brute_force_optimum_over_all_sets_bounds_greedy_and_cbs():
    w, G, fisher = problem(d=10, seed=2)
    F = fisher.matrix
    for k in (3, 5, 7):
        sets = list(itertools.combinations(range(w.size), w.size - k))
        best = min(removal_increase(w, F, ~np.isin(np.arange(w.size), S)) for S in sets)
        # the OBS objective of every method is >= the brute-force optimum
        for res in (obs(w, fisher, k), magnitude_update(w, fisher, k)):
            assert res.loss_increase >= best - 1e-12
        # brute force of CBS's no-update objective f(P) = w_P' F_PP w_P
        fbest = min(selection_objective(w, F, ~np.isin(np.arange(w.size), S)) for S in sets)
        start = top_mask(np.abs(w), k)
        res = cbs_search(w, F, start, epsilon=0.0, rho=10, tau=20)
        assert fbest - 1e-12 <= res.objective <= selection_objective(w, F, start) + 1e-15


def test_swap_deltas_equal_direct_recomputation():
    w, G, fisher = problem(d=9, seed=3)
    F = fisher.matrix
    mask = np.zeros(w.size, bool)
    mask[[0, 2, 3, 7]] = True
    alpha, beta = swap_statistics(w, F, mask)
    f0 = selection_objective(w, F, mask)
    for i in np.flatnonzero(~mask):
        for j in np.flatnonzero(mask):
            new = mask.copy()
            new[i], new[j] = True, False
            direct = selection_objective(w, F, new) - f0
            assert_allclose(-alpha[i] + beta[j] - 2 * w[i] * F[i, j] * w[j], direct, rtol=1e-10, atol=1e-12)
    # and f itself, summed over pairs (no 1/2): f = sum_{a,b in P} w_a F_ab w_b
    P = np.flatnonzero(~mask)
    assert_allclose(f0, sum(w[a] * F[a, b] * w[b] for a in P for b in P), rtol=1e-12)


def test_one_search_iteration_applies_exact_sequential_swaps():
    """Every accepted swap lowers f by >= epsilon given the earlier swaps of the iteration."""
    w, G, fisher = problem(d=40, N=60, seed=4)
    F = np.ascontiguousarray(fisher.matrix)
    mask = top_mask(np.abs(w), 16)
    alpha, beta = swap_statistics(w, F, mask)
    P, R = np.flatnonzero(~mask), np.flatnonzero(mask)
    P = P[np.argsort(-alpha[P], kind="stable")]
    R = R[np.argsort(beta[R] - 2 * w[R] * F[R, P[0]] * w[P[0]], kind="stable")]
    P0, R0 = P.copy(), R.copy()
    eps = 1e-6
    ns = _ls_iteration(F, w, P, R, alpha[P].copy(), beta[R].copy(), eps, 3, 5)
    assert ns > 0
    new = np.zeros(w.size, bool)
    new[R] = True
    assert new.sum() == 16
    changed = np.flatnonzero(P != P0)
    assert changed.size == ns
    # replay the swaps one by one with direct objectives
    cur = np.zeros(w.size, bool)
    cur[R0] = True
    for a in changed:
        i, j = P0[a], P[a]
        before = selection_objective(w, F, cur)
        cur[i], cur[j] = True, False
        assert selection_objective(w, F, cur) <= before - eps + 1e-12
    assert np.array_equal(cur, new)


def test_cbs_is_never_worse_than_its_start_in_objective_and_loss():
    w, G, fisher = problem(d=60, N=40, seed=5, damping=1e-2)
    F = fisher.matrix
    # a loss that is not the quadratic model: f plus a quartic term, so the outer loop must choose
    loss = lambda v: 0.5 * (v - w) @ F @ (v - w) + 0.1 * np.sum((v - w) ** 4)
    for k in (10, 30, 50):
        start = top_mask(np.abs(w), k)
        res = cbs_search(w, F, start, loss=loss, epsilon=1e-8, rho=5, tau=5)
        assert res.objective <= selection_objective(w, F, start) + 1e-15
        assert res.losses[res.best_iteration] <= res.losses[0]
        assert np.all(np.diff(res.objectives) < 0)              # f strictly falls with every iteration
        assert res.mask.sum() == k
        full = cbs(w, fisher, k, loss=loss, rng=0, n_starts=5, epsilon=1e-8)
        magn = magnitude_update(w, fisher, k)
        assert full.info["search"].losses[full.info["search"].best_iteration] <= loss(np.where(start, w, 0))
        assert full.mask.sum() == k and full.loss_increase > 0
        assert np.isfinite(magn.loss_increase)


def test_woodfisher_score_is_the_single_weight_obs_increase_and_its_update():
    w, G, fisher = problem(seed=6)
    scores = woodfisher_scores(w, np.diag(fisher.inverse))
    for q in range(w.size):
        mask = np.ones(w.size, bool)
        mask[q] = False
        weights, inc = optimal_update(w, fisher.matrix, mask)
        assert_allclose(scores[q], inc, rtol=1e-9)
        if q == int(np.argmin(scores)):
            res = woodfisher(w, fisher, w.size - 1, scale=1.0)
            assert_allclose(res.weights, weights, rtol=1e-9, atol=1e-12)
            res9 = woodfisher(w, fisher, w.size - 1)
            assert_allclose(res9.weights[mask], (w + 0.9 * (weights - w))[mask], rtol=1e-9)
    # several weights: the summed single-weight updates (independent formula), pruned set zeroed
    res = woodfisher(w, fisher, 4, scale=0.9)
    P = np.flatnonzero(~res.mask)
    assert set(P) == set(np.argsort(scores, kind="stable")[:4])
    Finv = np.linalg.inv(fisher.matrix)
    expect = w.copy()
    for q in P:
        expect -= 0.9 * w[q] * Finv[:, q] / Finv[q, q]
    expect[P] = 0
    assert_allclose(res.weights, expect, rtol=1e-8, atol=1e-12)


def test_greedy_obs_matches_linear_models_and_is_nested():
    w, G, fisher = problem(d=12, seed=7)
    order = obs_order(w, fisher, 9)
    for k in (10, 6, 3):
        mine = obs(w, fisher, k, order=order)
        ref = prune(w, k, "obs", hessian=fisher.matrix)
        assert np.array_equal(mine.mask, ref.mask)
        assert_allclose(mine.weights, ref.weights, rtol=1e-8, atol=1e-12)
        # one convention everywhere: 1/2 w_S'([H^-1]_SS)^-1 w_S
        assert_allclose(mine.loss_increase, ref.loss_increase, rtol=1e-8)


def test_loss_model_scores_add_the_penalty():
    rng = np.random.default_rng(9)
    w, g, h = rng.standard_normal(30), rng.standard_normal(30), rng.uniform(0.1, 3, 30)
    s = loss_model_scores(w, "taylor2", grad=g, curvature=h, penalty=0.7)
    assert_allclose(s, np.abs(-g * w + 0.5 * h * w ** 2) + 0.35 * w ** 2, rtol=1e-14)
    # the registry's magnitude score abs(w) (ranks as Laurent et al.'s 1/2 w^2) plus the penalty
    assert_allclose(loss_model_scores(w, "magnitude", penalty=2.0), np.abs(w) + w ** 2, rtol=1e-14)
    with pytest.raises(ValueError, match="criterion"):
        loss_model_scores(w, "obd")


def test_prune_paper_cbs_is_the_cbs_function_with_and_without_a_loss():
    """linear_models.prune(criterion="cbs", cbs_search="paper") runs this module's cbs (one implementation)."""
    from linear_models import CBSOptions

    w, G, fisher = problem(d=20, N=60, seed=11)
    loss = lambda v: float(np.mean((G @ (v - w)) ** 2)) + 0.01 * float(np.sum(v ** 2))
    for lo in (None, loss):
        ref = cbs(w, fisher, 8, loss=lo, rng=3, n_starts=5)
        got = prune(w, 8, "cbs", hessian=fisher.matrix, cbs_search="paper", start="random-magnitude", rng=3,
                    loss=lo, cbs_options=CBSOptions(n_starts=5))
        assert np.array_equal(got.mask, ref.mask)
        assert_allclose(got.weights, ref.weights, rtol=1e-12, atol=1e-14)
        assert_allclose(got.loss_increase, ref.loss_increase, rtol=1e-12)
        assert got.objective <= got.start_objective


def test_step_counts_remove_the_same_fraction_each_step():
    assert step_counts(1000, 100, 1).tolist() == [100]
    c = step_counts(3560, 356, 14)
    assert c[-1] == 356 and np.all(np.diff(c) <= 0) and c.size == 14
    ratios = np.concatenate([[c[0] / 3560], c[1:] / c[:-1]])
    assert_allclose(ratios, 0.1 ** (1 / 14), atol=2e-3)     # rounding to whole weights only
    c140 = step_counts(3560, 71, 140)
    assert c140[-1] == 71 and c140.size == 140


def test_prune_in_steps_recomputes_scores_and_reduces_to_one_shot():
    rng = np.random.default_rng(10)
    d = 50
    w = rng.standard_normal(d)
    A = rng.standard_normal((d, d)) / np.sqrt(d)
    calls = []

    def stats(v):                  # a weight-dependent gradient and curvature
        calls.append(v.copy())
        return A @ v, 0.5 + (A ** 2) @ (v ** 2)

    for crit in LOSS_CRITERIA:
        calls.clear()
        one = prune_in_steps(w, 0.2, crit, 1, stats, penalty=0.1)
        g, h = (A @ w, 0.5 + (A ** 2) @ (w ** 2))
        assert np.array_equal(one.mask, top_mask(loss_model_scores(w, crit, grad=g, curvature=h, penalty=0.1), 10))
        many = prune_in_steps(w, 0.2, crit, 7, stats)
        assert many.mask.sum() == 10
        if crit != "magnitude":
            assert len(calls) == 1 + 7
            # the statistics at step t are those of the weights left after step t-1
            assert np.count_nonzero(calls[-1]) == many.info["counts"][-2]
        else:
            assert np.array_equal(many.mask, one.mask)   # magnitude without updates: steps change nothing


def test_mask_overlap():
    a = np.array([True, False, False, True])
    assert mask_overlap(a, a) == 1.0
    assert mask_overlap(a, np.array([False, True, False, True])) == 0.5


def test_linear_counterpart_prediction_is_the_exact_training_loss_increase():
    """Least squares (docs/theory.md Section 5): with H = X'X/n the OBS prediction 2 * 1/2 w_P'([H^-1]_PP)^-1 w_P
    is the exact increase of the mean squared training error, for every method that uses the optimal update."""
    from asymptotics import Spectrum
    from simulations.second_order.linear_counterpart import _linear_task

    rows = _linear_task(("two-level", Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3)), 30, 2.0, 0.5,
                         0, (0.5, 0.2)))
    got = {(r["method"], r["sparsity"], r["metric"]): r["value"] for r in rows}
    for m in ("magnitude+update", "obs", "cbs"):
        for s in (0.5, 0.8):
            assert_allclose(got[(m, s, "predicted_increase")], got[(m, s, "train_loss_increase")], rtol=1e-8)
    for s in (0.5, 0.8):
        # the optimal update never loses to no update or to WoodFisher's on the same quadratic
        assert got[("magnitude+update", s, "train_loss_increase")] <= got[("magnitude", s, "train_loss_increase")]
        assert got[("obs", s, "train_loss_increase")] <= got[("magnitude", s, "train_loss_increase")]
