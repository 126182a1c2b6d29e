"""The pruning library against exact identities (docs/theory.md Section 5) and brute force."""

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose

from linear_models import (CRITERIA, CBSOptions, LinearProblem, ar1_covariance, empirical_fisher, fine_tune_vs_scratch,
                           fit, ols, optimal_update, prune, prune_iterative, refit, removal_increase, rmp_masks,
                           schedule_counts, selection_objective)


def ls_problem(n=80, p=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * rng.uniform(0.3, 3, p)
    y = X @ rng.standard_normal(p) + 0.5 * rng.standard_normal(n)
    return X, y, ols(X, y)


def all_args(w, X, y):
    H = X.T @ X
    return dict(hessian=H, grad=-(2 / len(y)) * X.T @ (y - X @ w), importance=np.abs(w) + 1, rng=0)


@pytest.mark.parametrize("criterion", CRITERIA)
def test_keep_one_is_identity(criterion):
    X, y, w = ls_problem()
    res = prune(w, 1.0, criterion, **all_args(w, X, y))
    assert res.mask.all()
    assert_allclose(res.weights, w, rtol=0, atol=0)


def test_equal_variances_make_magnitude_and_hessian_masks_equal():
    rng = np.random.default_rng(1)
    w = rng.standard_normal(50)
    H = ar1_covariance(50, 0.3) * 2.5           # equal diagonal, correlated off-diagonal
    for keep in (0.1, 0.3, 17, 0.9):
        assert np.array_equal(prune(w, keep, "magnitude").mask, prune(w, keep, "hessian", hessian=H).mask)


@pytest.mark.parametrize("keep", [0.25, 0.5, 9])
def test_greedy_obs_equals_least_squares_refit_on_its_support(keep):
    X, y, w = ls_problem(seed=2)
    res = prune(w, keep, "obs", hessian=2 * X.T @ X)        # the Hessian of the RSS ||y - X b||^2
    assert_allclose(res.weights, refit(X, y, res.mask), rtol=1e-8, atol=1e-10)
    # and the reported loss increase 1/2 dw' H dw is the training-loss increase
    rss = lambda b: float(np.sum((y - X @ b) ** 2))
    assert_allclose(res.loss_increase, rss(res.weights) - rss(w), rtol=1e-8)


def test_obs_joint_formula_matches_brute_refit_for_any_set():
    X, y, w = ls_problem(seed=3)
    H = X.T @ X
    removed = np.zeros(w.size, bool)
    removed[[1, 4, 5, 9]] = True
    rss = lambda b: float(np.sum((y - X @ b) ** 2))
    assert_allclose(optimal_update(w, H, ~removed)[0], refit(X, y, ~removed), rtol=1e-8, atol=1e-10)
    # 1/2 w_S'([H^-1]_SS)^-1 w_S with the Hessian 2H of the residual sum of squares
    assert_allclose(removal_increase(w, 2 * H, ~removed), rss(refit(X, y, ~removed)) - rss(w), rtol=1e-8)


def test_hessian_pruned_ols_is_invariant_under_covariance_scaling_magnitude_is_not():
    prob = LinearProblem.diagonal(np.ones(10), [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1], 0.1)
    X, y = prob.sample(200, rng=4)
    d = np.array([10, 10, 10, 10, 10, 1, 1, 1, 1, 1.0])      # scale up the five strongest features
    Xs = X * d
    b, bs = ols(X, y), ols(Xs, y)
    assert_allclose(bs, b / d, rtol=1e-9)                    # OLS is equivariant
    H, Hs = X.T @ X / 200, Xs.T @ Xs / 200
    for keep in (3, 5, 7):
        h, hs = prune(b, keep, "hessian", hessian=H), prune(bs, keep, "hessian", hessian=Hs)
        assert np.array_equal(h.mask, hs.mask)
        assert_allclose(prob.scaled(d).risk(hs.weights), prob.risk(h.weights), rtol=1e-10)
    m, ms = prune(b, 5, "magnitude"), prune(bs, 5, "magnitude")
    assert not np.array_equal(m.mask, ms.mask)
    assert prob.scaled(d).risk(ms.weights) > prob.risk(m.weights) + 0.1   # scaling changes the outcome


def brute_force_best(w, Hinv, n_remove):
    best, arg = np.inf, None
    for S in itertools.combinations(range(w.size), n_remove):
        S = list(S)
        f = w[S] @ np.linalg.solve(Hinv[np.ix_(S, S)], w[S])
        if f < best:
            best, arg = f, S
    return best, arg


def test_cbs_never_worse_than_its_start_and_reaches_the_optimum_on_18_of_20(capsys):
    """p = 14, keep 7, 20 seeded correlated instances, brute force over all 3432 subsets.

    Deterministic (fixed instances, exact arithmetic up to rounding): CBS is never worse than its start and
    never better than the optimum, for both starts; from the OBS mask it reaches the optimum on 18 of the 20
    instances with worst relative gap 0.40, as the README states.
    """
    n_inst = 20
    hits = {"magnitude": 0, "obs": 0}
    gaps = {"magnitude": [], "obs": []}
    for seed in range(n_inst):
        rng = np.random.default_rng(100 + seed)
        n, p = 30, 14
        X = rng.standard_normal((n, p)) @ np.linalg.cholesky(ar1_covariance(p, 0.7)).T
        y = X @ rng.standard_normal(p) + rng.standard_normal(n)
        w = ols(X, y)
        H = X.T @ X
        best, _ = brute_force_best(w, np.linalg.inv(H), 7)
        best *= 0.5                          # loss increases are 1/2 w_S' ([H^-1]_SS)^-1 w_S
        for start in ("magnitude", "obs"):
            res = prune(w, 7, "cbs", hessian=H, start=start)
            assert res.loss_increase <= res.start_loss_increase * (1 + 1e-12)
            assert res.loss_increase >= best * (1 - 1e-9)                     # cannot beat the optimum
            assert_allclose(res.weights, refit(X, y, res.mask), rtol=1e-7, atol=1e-9)
            hits[start] += bool(res.loss_increase <= best * (1 + 1e-9))
            gaps[start].append(res.loss_increase / best - 1)
    with capsys.disabled():
        for start in hits:
            print(f"\nCBS ({start} start) reached the brute-force optimum on {hits[start]}/{n_inst} instances; "
                  f"worst relative gap {max(gaps[start]):.3g}", end="")
        print()
    assert hits["obs"] >= 18
    assert max(gaps["obs"]) < 0.40


def test_cbs_beats_magnitude_at_high_sparsity():
    X, y, w = ls_problem(n=200, p=40, seed=5)
    H = X.T @ X
    mag = prune(w, 0.1, "magnitude")
    cbs = prune(w, 0.1, "cbs", hessian=H)
    rss = lambda b: float(np.sum((y - X @ b) ** 2))
    assert rss(cbs.weights) <= rss(refit(X, y, mag.mask)) + 1e-9


def test_scores_of_the_simple_criteria():
    w = np.array([3.0, -1.0, 0.5, -2.0])
    h = np.array([0.1, 4.0, 1.0, 1.0])
    g = np.array([1.0, -2.0, 3.0, 0.0])
    assert_allclose(prune(w, 2, "hessian", hessian=h).scores, 0.5 * h * w**2)
    assert_allclose(prune(w, 2, "taylor1", grad=g).scores, np.abs(g * w))
    assert_allclose(prune(w, 2, "taylor2", grad=g, hessian=np.diag(h)).scores, np.abs(-g * w + 0.5 * h * w**2))
    assert prune(w, 2, "oracle", importance=[0, 5, 4, 1]).mask.tolist() == [False, True, True, False]
    r1, r2 = prune(w, 2, "random", rng=3), prune(w, 2, "random", rng=3)
    assert np.array_equal(r1.mask, r2.mask) and r1.mask.sum() == 2


def test_damping_for_singular_hessian():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((10, 30))
    w = fit(X, rng.standard_normal(10))
    with pytest.raises(ValueError, match=r"hessian has rank 10 < 30 .*; pass damping > 0"):
        prune(w, 0.5, "obs", hessian=X.T @ X)
    res = prune(w, 0.5, "obs", hessian=X.T @ X, damping=1e-3)
    assert res.mask.sum() == 15 and np.all(np.isfinite(res.weights))


@pytest.mark.parametrize("kwargs,match", [
    (dict(keep=0.0), r"keep == 0.0, must be in \(0, 1\]"),
    (dict(keep=1.5), r"keep == 1.5, must be in \(0, 1\]"),
    (dict(keep=13), r"keep == 13, an integer count must be in \[1, 12\]"),
    (dict(criterion="l1"), "criterion == 'l1', must be one of"),
    (dict(criterion="obs", hessian=np.triu(np.ones((12, 12)))), "hessian is not symmetric"),
    (dict(criterion="obs", hessian=np.eye(11)), r"hessian has shape \(11, 11\)"),
    (dict(criterion="taylor1"), "grad is required"),
    (dict(criterion="oracle"), "importance is required"),
    (dict(criterion="random"), "rng is required"),
    (dict(criterion="hessian", hessian=np.full(12, np.inf)), r"hessian\[0\] == inf, must be finite"),
])
def test_bad_input(kwargs, match):
    _, _, w = ls_problem()
    args = dict(keep=0.5, criterion="magnitude")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        prune(w, **args)


def test_nan_weights_rejected_and_inputs_untouched():
    X, y, w = ls_problem()
    H = X.T @ X
    w0, H0 = w.copy(), H.copy()
    for c in ("obs", "cbs", "hessian"):
        prune(w, 0.5, c, hessian=H)
    assert np.array_equal(w, w0) and np.array_equal(H, H0)
    with pytest.raises(ValueError, match=r"w\[2\] == nan"):
        prune(np.array([1.0, 2.0, np.nan]), 1, "magnitude")


def reference_iterative(X, y, w, counts, criterion, ridge, locality, finetune_steps, lr):
    """Plain NumPy multi-step pruning: scores recomputed on the current model at every stage.

    Loss (1/n)||y - X w||^2 + ridge ||w||^2; scores get + 1/2 locality w_i^2; GD on the support between stages.
    """
    n, p = X.shape
    cur, mask = w.copy(), np.ones(p, bool)
    for k_s in counts:
        act = np.flatnonzero(mask)
        g = (2 / n) * X[:, act].T @ (X[:, act] @ cur[act] - y) + 2 * ridge * cur[act]
        score = {"magnitude": np.abs(cur[act]), "taylor1": np.abs(g * cur[act])}[criterion]
        score = score + 0.5 * locality * cur[act] ** 2
        mask = np.zeros(p, bool)
        mask[act[np.argsort(-score, kind="stable")[:k_s]]] = True
        cur = np.where(mask, cur, 0.0)
        for _ in range(finetune_steps):          # GD on the same loss, mask fixed
            grad = (2 / n) * X.T @ (X @ cur - y) + 2 * ridge * cur
            cur = np.where(mask, cur - lr * grad, 0.0)
    return cur, mask


def test_schedule_counts():
    assert schedule_counts(100, 10, 2, "geometric").tolist() == [32, 10]       # 100 * 0.1**0.5 = 31.6
    assert schedule_counts(100, 10, 3, "linear").tolist() == [70, 40, 10]
    assert schedule_counts(100, 10, 1, "cubic").tolist() == [10]
    c = schedule_counts(1000, 3, 140, "geometric")
    assert c[-1] == 3 and np.all(np.diff(c) <= 0)


def test_iterative_pruning_recomputes_scores_at_every_stage():
    """taylor1's scores depend on the gradient at the current (pruned) model: multi-step != one-shot.

    Correlated features (AR(1), rho = 0.8), so removing a weight changes the gradient of its neighbours; on this
    instance the recomputed and the stale (one-shot) scores select different weights, so the test can tell them
    apart, and the library must match the recomputing reference exactly.
    """
    X, y, w = ls_problem(n=100, p=30, seed=7)
    X = X @ np.linalg.cholesky(ar1_covariance(30, 0.8)).T
    w = ols(X, y) + 0.3 * np.random.default_rng(70).standard_normal(30)    # off the optimum: a non-zero gradient
    counts = schedule_counts(30, 6, 4, "geometric")
    lib = prune_iterative(X, y, w, 6, "taylor1", steps=4, schedule="geometric", ridge=0.025)
    ref_w, ref_mask = reference_iterative(X, y, w, counts, "taylor1", 0.025, 0.0, 0, None)
    assert np.array_equal(lib.mask, ref_mask)
    assert_allclose(lib.weights, ref_w, rtol=0, atol=0)
    stale, _ = reference_iterative(X, y, w, [6], "taylor1", 0.025, 0.0, 0, None)   # one shot: scores never recomputed
    assert not np.array_equal(ref_mask, stale != 0)
    assert np.array_equal(prune_iterative(X, y, w, 6, "taylor1", steps=1, ridge=0.025).mask, stale != 0)
    # the locality penalty enters every stage's scores
    lib = prune_iterative(X, y, w, 6, "taylor1", steps=4, schedule="geometric", ridge=0.025, locality=0.5)
    ref_w, ref_mask = reference_iterative(X, y, w, counts, "taylor1", 0.025, 0.5, 0, None)
    assert np.array_equal(lib.mask, ref_mask)
    # magnitudes of the survivors do not change when others are removed: multi-step magnitude is one-shot
    assert np.array_equal(prune_iterative(X, y, w, 6, "magnitude", steps=4).mask, prune(w, 6, "magnitude").mask)


def test_iterative_obs_is_greedy_obs_and_stays_at_the_refit_optimum():
    X, y, w = ls_problem(n=100, p=30, seed=7)
    one = prune_iterative(X, y, w, 0.2, "obs", steps=1)
    many = prune_iterative(X, y, w, 0.2, "obs", steps=4, schedule="cubic")
    assert one.mask.sum() == many.mask.sum() == 6
    # the Hessian restricted to the survivors is the downdated inverse: the stages replay greedy OBS
    assert np.array_equal(many.mask, prune(w, 6, "obs", hessian=X.T @ X).mask)
    assert_allclose(many.weights, refit(X, y, many.mask), rtol=1e-8, atol=1e-10)


def test_fine_tuning_between_stages_moves_the_weights_and_changes_the_mask():
    """Fine-tuning between stages (loss with a ridge term) against a plain NumPy re-implementation."""
    X, y, w = ls_problem(n=100, p=30, seed=7)
    X = X @ np.linalg.cholesky(ar1_covariance(30, 0.8)).T          # correlated: fine-tuning shifts weight around
    w = ols(X, y)
    mu, ft = 0.005, 200
    lr = 1.0 / (2 * np.linalg.norm(X, 2) ** 2 / 100 + 2 * mu)
    counts = schedule_counts(30, 6, 4, "geometric")
    lib = prune_iterative(X, y, w, 6, "magnitude", steps=4, finetune_steps=ft, ridge=mu, lr=lr)
    ref_w, ref_mask = reference_iterative(X, y, w, counts, "magnitude", mu, 0.0, ft, lr)
    assert np.array_equal(lib.mask, ref_mask)
    assert_allclose(lib.weights, ref_w, rtol=1e-10, atol=1e-12)
    assert np.all(lib.weights[~lib.mask] == 0) and lib.mask.sum() == 6
    no_ft = prune_iterative(X, y, w, 6, "magnitude", steps=4, ridge=mu)
    assert np.max(np.abs(lib.weights[lib.mask] - w[lib.mask])) > 1e-2       # fine-tuning moved the survivors
    assert not np.array_equal(lib.mask, no_ft.mask)                         # and changed which weights survive


def test_fine_tune_vs_scratch_converge_to_the_closest_solution():
    """GD from b0 on an underdetermined support converges to the interpolator closest to b0."""
    rng = np.random.default_rng(8)
    n, p = 20, 60
    X, y = rng.standard_normal((n, p)), rng.standard_normal(n)
    w = fit(X, y)
    res = prune(w, 40, "magnitude")
    out = fine_tune_vs_scratch(X, y, res.weights, res.mask, steps=20000, dense_steps=100, rng=0)
    Xs = X[:, res.mask]
    for name, b in out.items():
        assert np.all(b[~res.mask] == 0)
        assert_allclose(Xs @ b[res.mask], y, atol=1e-6)        # all interpolate on the support
    b0 = res.weights[res.mask]
    closest = b0 + np.linalg.pinv(Xs) @ (y - Xs @ b0)
    assert_allclose(out["fine-tune"][res.mask], closest, rtol=1e-6, atol=1e-8)
    assert_allclose(out["fine-tune"], refit(X, y, res.mask, init=res.weights), rtol=1e-6, atol=1e-8)
    assert_allclose(out["scratch-E zero"][res.mask], np.linalg.pinv(Xs) @ y, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------ second-order methods of the neighbouring papers


def tiny_ls(seed, n=40, p=10, rho=0.7):
    """A least-squares problem at its optimum: the quadratic model L(w + d) - L(w) = d' X'X d is exact."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) @ np.linalg.cholesky(ar1_covariance(p, rho)).T
    y = X @ rng.standard_normal(p) + rng.standard_normal(n)
    return X, y, ols(X, y)


def rss(X, y, b):
    return float(np.sum((y - X @ b) ** 2))


def test_empirical_fisher_and_relative_damping():
    rng = np.random.default_rng(20)
    G = rng.standard_normal((30, 5)) * [1, 2, 3, 4, 5]
    F_loop = sum(np.outer(g, g) for g in G) / 30
    assert_allclose(empirical_fisher(G, damping=1e-3).matrix, F_loop + 1e-3 * np.eye(5), rtol=1e-13)
    assert_allclose(empirical_fisher(G, relative_damping=0.1).matrix, F_loop + 0.1 * np.trace(F_loop) / 5 * np.eye(5),
                    rtol=1e-13)
    # per-sample gradients of (y_n - x_n.w)^2 at the least-squares optimum: F = (4/N) sum r_n^2 x_n x_n'
    X, y, w = tiny_ls(21)
    G = -2 * X * (y - X @ w)[:, None]
    assert_allclose(empirical_fisher(G).matrix, 4 * (X * ((y - X @ w) ** 2)[:, None]).T @ X / 40, rtol=1e-12)
    with pytest.raises(ValueError, match="pass damping or relative_damping, not both"):
        empirical_fisher(G, damping=1.0, relative_damping=0.1)
    H = X.T @ X
    a = prune(w, 4, "obs", hessian=H, relative_damping=0.05)
    b = prune(w, 4, "obs", hessian=H, damping=0.05 * np.mean(np.diag(H)))
    assert np.array_equal(a.mask, b.mask) and np.array_equal(a.weights, b.weights)


def test_woodfisher_scores_and_single_weight_update():
    X, y, w = tiny_ls(22)
    H = X.T @ X
    Hinv = np.linalg.inv(H)                                            # plain inverse, test only
    res = prune(w, 6, "woodfisher", hessian=H)
    assert_allclose(res.scores, w**2 / (2 * np.diag(Hinv)), rtol=1e-10)
    assert np.array_equal(res.mask, np.isin(np.arange(10), np.argsort(-res.scores)[:6]))
    P = np.flatnonzero(~res.mask)
    want = w - 0.9 * sum(w[q] * Hinv[:, q] / Hinv[q, q] for q in P)
    want[P] = 0
    assert_allclose(res.weights, want, rtol=1e-9, atol=1e-12)
    # removing one weight with scale 1 is the exact OBS step: the least-squares refit on the rest
    one = prune(w, 9, "woodfisher", hessian=H, update_scale=1.0)
    assert_allclose(one.weights, refit(X, y, one.mask), rtol=1e-8, atol=1e-10)
    assert_allclose(rss(X, y, one.weights) - rss(X, y, w), 2 * one.scores[~one.mask][0], rtol=1e-8)


@pytest.mark.parametrize("criterion,extra", [("magnitude", {}), ("woodfisher", {}), ("taylor1", "grad")])
def test_any_mask_with_the_obs_update_is_the_refit_and_its_predicted_loss_change_is_exact(criterion, extra):
    """The multi-weight update of a mask from any selector: the predicted loss increase 1/2 w_S'([H^-1]_SS)^-1 w_S
    with H = 2 X'X (the Hessian of the RSS) equals the brute-force increase of the training loss, and no other
    update of the kept weights does better."""
    X, y, w = tiny_ls(23)
    H = 2 * X.T @ X
    kwargs = dict(grad=-(2 / 40) * X.T @ (y - X @ w) + 0.1) if extra else {}
    res = prune(w, 4, criterion, hessian=H, update="obs", **kwargs)
    assert_allclose(res.weights, refit(X, y, res.mask), rtol=1e-8, atol=1e-10)
    assert_allclose(res.loss_increase, rss(X, y, res.weights) - rss(X, y, w), rtol=1e-8)
    plain = prune(w, 4, criterion, hessian=H, update="none", **kwargs)
    assert np.array_equal(plain.mask, res.mask)
    assert rss(X, y, plain.weights) >= rss(X, y, res.weights)
    rng = np.random.default_rng(24)
    for _ in range(20):                                               # random perturbations of the update
        other = res.weights + np.where(res.mask, 1e-3 * rng.standard_normal(10), 0.0)
        assert rss(X, y, other) > rss(X, y, res.weights)


def brute_force_quadratic(w, H, n_remove):
    return min(selection_objective(w, H, ~np.isin(np.arange(w.size), S))
               for S in itertools.combinations(range(w.size), n_remove))


@pytest.mark.parametrize("start", ["magnitude", "random-magnitude"])
def test_cbs_paper_search_never_worse_than_its_start(start, capsys):
    """CBS-S on 12 weights, 7 removed: against brute force over all 792 removed sets of w_P' H_PP w_P."""
    hits, n_inst = 0, 8
    for seed in range(n_inst):
        X, y, w = tiny_ls(200 + seed, n=40, p=12, rho=0.8)
        H = X.T @ X
        res = prune(w, 5, "cbs", hessian=H, start=start, cbs_search="paper", rng=seed,
                    cbs_options=CBSOptions(n_starts=10))
        best = brute_force_quadratic(w, H, 7)
        assert res.objective <= res.start_objective
        assert res.objective >= best * (1 - 1e-12)
        assert_allclose(res.objective, rss(X, y, np.where(res.mask, w, 0.0)) - rss(X, y, w), rtol=1e-8)
        assert_allclose(res.weights, refit(X, y, res.mask), rtol=1e-8, atol=1e-10)          # then the update
        assert_allclose(res.loss_increase, removal_increase(w, H, res.mask), rtol=1e-8)   # 1/2 w_P'([H^-1]_PP)^-1 w_P
        mag = prune(w, 5, "magnitude")
        assert res.start_objective <= selection_objective(w, H, mag.mask) * (1 + 1e-12)       # magnitude is a start
        hits += res.objective <= best * (1 + 1e-9)
    with capsys.disabled():
        print(f"\nCBS paper search ({start} start) reached the optimum of w_P'H_PP w_P on {hits}/{n_inst}")


def test_cbs_paper_search_limits():
    X, y, w = tiny_ls(30, n=40, p=12, rho=0.8)
    H = X.T @ X
    frozen = prune(w, 5, "cbs", hessian=H, cbs_search="paper", cbs_options=CBSOptions(epsilon=1e12))
    assert frozen.swaps == 0 and np.array_equal(frozen.mask, prune(w, 5, "magnitude").mask)
    none = prune(w, 5, "cbs", hessian=H, cbs_search="paper", cbs_options=CBSOptions(max_iterations=0))
    assert none.swaps == 0
    a = prune(w, 5, "cbs", hessian=H, cbs_search="paper", start="random-magnitude", rng=3)
    b = prune(w, 5, "cbs", hessian=H, cbs_search="paper", start="random-magnitude", rng=3)
    assert np.array_equal(a.mask, b.mask)                                               # seeded
    with pytest.raises(ValueError, match="rng is required for start 'random-magnitude'"):
        prune(w, 5, "cbs", hessian=H, start="random-magnitude")
    with pytest.raises(ValueError, match="swap_range == 0, must be an integer >= 1"):
        CBSOptions(swap_range=0)
    with pytest.raises(ValueError, match="cbs_search == 'fast', must be one of 'exact', 'paper'"):
        prune(w, 5, "cbs", hessian=H, cbs_search="fast")


def test_rmp_masks_keep_k_and_start_with_magnitude():
    w = np.random.default_rng(31).standard_normal(50)
    starts = rmp_masks(w, 12, 6, np.random.default_rng(0))
    assert len(starts) == 7
    assert np.array_equal(starts[0], prune(w, 12, "magnitude").mask)
    assert all(s.sum() == 12 for s in starts)
    assert len({s.tobytes() for s in starts}) > 1
    # each kept weight is no smaller than any removed weight of the same chunk: replay the chunks
    rng = np.random.default_rng(0)
    for s in starts[1:]:
        for c in np.array_split(rng.permutation(50), 7):
            kept, gone = np.abs(w[c][s[c]]), np.abs(w[c][~s[c]])
            assert kept.size == 0 or gone.size == 0 or kept.min() >= gone.max()


def test_locality_penalty_adds_half_lambda_w_squared_to_loss_model_scores():
    w = np.array([3.0, -1.0, 0.5, -2.0])
    h, g = np.array([0.1, 4.0, 1.0, 1.0]), np.array([1.0, -2.0, 3.0, 0.0])
    lam = 0.7
    assert_allclose(prune(w, 2, "taylor1", grad=g, locality=lam).scores, np.abs(g * w) + 0.5 * lam * w**2)
    assert_allclose(prune(w, 2, "taylor2", grad=g, hessian=h, locality=lam).scores,
                    np.abs(-g * w + 0.5 * h * w**2) + 0.5 * lam * w**2)
    assert_allclose(prune(w, 2, "hessian", hessian=h, locality=lam).scores, 0.5 * (h + lam) * w**2)
    with pytest.raises(ValueError, match="locality applies to magnitude, hessian, taylor1, taylor2"):
        prune(w, 2, "obs", hessian=np.diag(h), locality=lam)
    with pytest.raises(ValueError, match="locality == -1.0, must be >= 0"):
        prune(w, 2, "taylor1", grad=g, locality=-1.0)


@pytest.mark.parametrize("criterion,kwargs", [("obs", {}), ("woodfisher", {}), ("magnitude", dict(update="obs")),
                                              ("cbs", dict(cbs_search="paper"))])
def test_precomputed_inverse_gives_identical_results(criterion, kwargs):
    X, y, w = tiny_ls(40, n=30, p=12)
    H = X.T @ X
    direct = prune(w, 5, criterion, hessian=H, damping=0.5, **kwargs)
    Hinv = np.linalg.inv(H + 0.5 * np.eye(12))
    given = prune(w, 5, criterion, hessian=H, damping=0.5, hessian_inverse=Hinv, **kwargs)
    assert np.array_equal(direct.mask, given.mask)
    assert_allclose(given.weights, direct.weights, rtol=1e-9, atol=1e-12)


def test_scope_counts_global_and_per_layer():
    from linear_models.pruning import scope_counts

    assert scope_counts(0.5, [12, 3]) == [8]                            # round(7.5) over all 15
    assert scope_counts(0.5, [12, 3], "layer") == [6, 2]               # round(1.5) == 2, per layer
    assert scope_counts(5, [12, 3], "layer") == [4, 1]                 # 5 * (12, 3) / 15 = (4, 1)
    assert scope_counts(7, [12, 3], "layer") == [6, 1]                 # (5.6, 1.4): the larger remainder rounds up
    with pytest.raises(ValueError, match=r"keep == 1 is too few for scope 'layer': parameter 'b' would keep"):
        scope_counts(1, [12, 3], "layer", names=["a", "b"])
    with pytest.raises(ValueError, match="scope"):
        scope_counts(0.5, [12, 3], "block")
