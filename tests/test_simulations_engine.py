"""The Monte Carlo engine: reproducibility across backends and criteria, agreement with linear_models and
with theory, initialization, refit ridge, kept counts, bad input."""

import inspect
import itertools
import time
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import norm

import linear_models
from asymptotics import CRITERIA, Spectrum, dense_risk, pruned_risk
from linear_models import LinearProblem
from simulations import monte_carlo
from simulations.linear import kernels
from linear_models.criteria import Stats, criterion_names, get_criterion
from linear_models.criteria import scores as registry_scores
from simulations.linear.engine import KeepCollisionWarning, make_job

SPEC = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3))
KEEP = (0.1, 0.25, 0.5, 1.0)


def same(a, b):
    return a.samples.keys() == b.samples.keys() and all(np.array_equal(a.samples[c], b.samples[c]) for c in a.samples)


# ------------------------------------------------------------------------------- reproducibility

def test_serial_and_process_pool_are_bitwise_identical():
    args = dict(p=60, kappa=2.0, noise=0.5, keep=KEEP, trials=24, seed=3)
    serial = monte_carlo(SPEC, **args)
    assert same(serial, monte_carlo(SPEC, **args, n_jobs=2))
    assert same(serial, monte_carlo(SPEC, **args, n_jobs=3))
    assert not same(serial, monte_carlo(SPEC, **dict(args, seed=4)))


def test_trial_t_does_not_depend_on_the_number_of_trials():
    a = monte_carlo(SPEC, 40, 0.6, 0.5, keep=KEEP, trials=5, seed=1, retrain="same")
    b = monte_carlo(SPEC, 40, 0.6, 0.5, keep=KEEP, trials=9, seed=1, retrain="same")
    assert all(np.array_equal(a.samples[c], b.samples[c][:5]) for c in a.samples)


def _scheduler_clients(cluster):
    return {c for c in cluster.scheduler.clients if not str(c).startswith("fire-and-forget")}


def test_dask_is_bitwise_identical_reuses_a_client_and_closes_its_own():
    distributed = pytest.importorskip("distributed")
    args = dict(p=50, kappa=0.6, noise=0.5, ridge=0.1, keep=KEEP, trials=12, seed=5, retrain="fresh")
    serial = monte_carlo(SPEC, **args)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
        with distributed.Client(cl) as client:
            before = _scheduler_clients(cl)
            assert same(serial, monte_carlo(SPEC, **args, client=client))
            assert same(serial, monte_carlo(SPEC, **args, client=client))      # the same client, reused
            assert _scheduler_clients(cl) == before and client.status == "running"
            assert same(serial, monte_carlo(SPEC, **args, client=cl.scheduler_address))  # its own client...
            deadline = time.monotonic() + 10
            while _scheduler_clients(cl) != before and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _scheduler_clients(cl) == before                                  # ...closed at the end


@pytest.mark.parametrize("kappa,retrain,init,ridge", [
    (2.0, "none", 0.0, 0.0), (0.5, "fresh", 1.0, 0.0), (0.5, "same", 0.0, 0.1), (2.0, "fresh", 0.0, 0.1),
])
def test_a_criterion_does_not_depend_on_the_others(kappa, retrain, init, ridge):
    spec = Spectrum([1.0, 25.0], [1.0, 0.3], [0.5, 0.5], "gaussian")
    args = dict(keep=(0.2, 0.6, 1.0), retrain=retrain, init=init, ridge=ridge, trials=3, seed=7)
    full = monte_carlo(spec, 30, kappa, 0.5, criteria=CRITERIA, **args)
    for order in (CRITERIA[::-1], ("random", "magnitude", "oracle", "hessian")):
        assert same(full, monte_carlo(spec, 30, kappa, 0.5, criteria=order, **args))
    for c in CRITERIA:
        alone = monte_carlo(spec, 30, kappa, 0.5, criteria=(c,), **args)
        assert_array_equal(alone.samples[c], full.samples[c])
        assert_array_equal(alone.samples["dense"], full.samples["dense"])


@pytest.mark.parametrize("kappa,retrain", [(2.0, "none"), (0.6, "fresh"), (2.0, "same")])
def test_a_keep_level_does_not_depend_on_the_others(kappa, retrain):
    """The masks of a criterion are prefixes of one ranking, so keep levels need no streams of their own.
    Without refit a level is bitwise the same; refits share one Cholesky factor across levels, so the
    summation order (not the mask or the draws) may differ: equal to rounding."""
    args = dict(retrain=retrain, trials=3, seed=12)
    alone = monte_carlo(SPEC, 40, kappa, 0.5, keep=(0.3,), **args)
    many = monte_carlo(SPEC, 40, kappa, 0.5, keep=(0.1, 0.3, 0.8, 1.0), **args)
    for c in (*CRITERIA, "dense"):
        got = many.samples[c] if c == "dense" else many.samples[c][:, 1:2]
        if retrain == "none":
            assert_array_equal(alone.samples[c], got)
        else:
            assert_allclose(alone.samples[c], got, rtol=1e-10)


def test_ties_are_broken_by_a_random_permutation():
    score = np.array([0.0, 2.0, 1.0, 2.0, 2.0, 1.0, 2.0])         # four tied maxima: 1, 3, 4, 6
    firsts = []
    for t in range(200):
        order = kernels.rank(score, kernels.tie_order(kernels.stream(0, t, kernels.TIES_STREAM), score.size))
        assert set(order[:4]) == {1, 3, 4, 6} and set(order[4:6]) == {2, 5} and order[6] == 0
        firsts.append(order[0])
    counts = np.bincount(firsts, minlength=7)[[1, 3, 4, 6]]
    # each tied index comes first with probability 1/4: 200 draws, counts 50 +- 6.1; a count below 25 or above
    # 75 (|z| > 4.1) has probability below 1e-4 per index for a uniform permutation
    assert counts.min() > 25 and counts.max() < 75


def test_keep_one_equals_dense():
    res = monte_carlo(SPEC, 40, 2.0, 0.5, keep=KEEP, trials=6, seed=2)
    for c in CRITERIA:   # the same sum in another order: equal to rounding
        assert_allclose(res.samples[c][:, -1], res.samples["dense"], rtol=1e-12)


def test_noiseless_risks_are_never_negative():
    """Noiseless OLS recovers beta* exactly: the risk at keep 1 is a difference of two sums of the dropped
    signal in different orders (about -1e-15 in 31 of 80 values here before it was clamped at zero)."""
    spec = Spectrum([1.0, 25.0, 3.0], [1.0, 0.3, 0.7], [0.3, 0.3, 0.4], "gaussian")
    for retrain in ("none", "same"):
        res = monte_carlo(spec, 50, 2.0, 0.0, keep=(0.98, 1.0), retrain=retrain, trials=20, seed=1)
        assert all(np.all(v >= 0) for v in res.samples.values())


def test_colliding_keep_levels_warn_and_report_the_effective_keep():
    with pytest.warns(KeepCollisionWarning, match=r"keep 0.11 and 0.12 both keep 1 weights.*keep_effective"):
        res = monte_carlo(SPEC, 10, 2.0, 0.5, keep=(0.11, 0.12, 0.5), trials=3, seed=0)
    assert res.keep_counts.tolist() == [1, 1, 5]
    assert_array_equal(res.keep_effective, [0.1, 0.1, 0.5])
    assert_array_equal(res.samples["magnitude"][:, 0], res.samples["magnitude"][:, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_array_equal(monte_carlo(SPEC, 400, 2.0, 0.5, keep=KEEP, trials=2).keep_effective, KEEP)


# --------------------------------------------------------------------- initialization, refit ridge

@pytest.mark.parametrize("kappa,ridge,retrain", [(2.0, 0.0, "fresh"), (0.5, 0.2, "same"), (2.0, 0.3, "none")])
def test_init_does_not_matter_for_strictly_convex_fits(kappa, ridge, retrain):
    """Ridge > 0 or n > p (dense fit and every refit): gradient descent forgets b0, bitwise."""
    args = dict(ridge=ridge, keep=(0.3, 1.0), retrain=retrain, trials=3, seed=4)
    assert same(monte_carlo(SPEC, 30, kappa, 0.5, **args), monte_carlo(SPEC, 30, kappa, 0.5, init=3.0, **args))


def test_init_moves_min_norm_fits_only():
    args = dict(keep=(0.3, 1.0), retrain="fresh", trials=3, seed=4)
    a, b = monte_carlo(SPEC, 40, 0.5, 0.5, **args), monte_carlo(SPEC, 40, 0.5, 0.5, init=3.0, **args)
    assert not np.array_equal(a.samples["dense"], b.samples["dense"])
    # keep 0.3 keeps 12 < n = 20 weights: a determined refit, independent of b0 (masks still move with b0,
    # so only the oracle and random criteria, whose masks ignore the fit, stay equal)
    for c in ("oracle", "random"):
        assert_array_equal(a.samples[c][:, 0], b.samples[c][:, 0])
        assert not np.array_equal(a.samples[c][:, 1], b.samples[c][:, 1])   # keep 1: underdetermined refit


def test_init_exact_finite_sample_risk_isotropic(record_z):
    """Isotropic design, fixed signal r, b0 ~ N(0, s0^2/p I), n < p. Min-norm from b0 has error
    (I - P)(b0 - beta*) + X^+ z with P the projection on the row space of X, so exactly
    E risk = sigma^2 + (1 - n/p)(s0^2 + r^2) + sigma^2 n/(p - n - 1)  (E tr (XX')^-1 = n/(p - n - 1)).
    A mask S of k > n weights chosen independently of the data (random; oracle, whose scores all tie here),
    refit on fresh data from b0_S: the dropped signal is noise, sigma_S^2 = sigma^2 + (1 - k/p) r^2, and
    E risk = sigma^2 + (1 - k/p) r^2 + (1 - n/k)(k/p)(s0^2 + r^2) + sigma_S^2 n/(k - n - 1)."""
    p, n, r, sigma, trials = 100, 40, 1.0, 0.5, 400
    keep = np.array([0.6, 1.0])
    zs = []
    for s0 in (0.0, 2.0):
        res = monte_carlo(Spectrum.isotropic(signal=r), p, n / p, sigma, keep=tuple(keep),
                          criteria=("oracle", "random"), retrain="fresh", init=s0, trials=trials, seed=31)
        dense = sigma**2 + (1 - n / p) * (s0**2 + r**2) + sigma**2 * n / (p - n - 1)
        zs.append((res.mean["dense"] - dense) / res.sem["dense"])
        k = keep * p
        sig_s = sigma**2 + (1 - k / p) * r**2
        refit = sigma**2 + (1 - k / p) * r**2 + (1 - n / k) * (k / p) * (s0**2 + r**2) + sig_s * n / (k - n - 1)
        for c in ("oracle", "random"):
            zs.extend((res.mean[c] - refit) / res.sem[c])
    z = np.array(zs)
    record_z("engine init exact isotropic (dense, fresh refit from b0)", z)
    assert np.max(np.abs(z)) < _bound(z.size)       # 10 z-values: bound 3.29, a correct engine passes w.p. >= 0.99


def test_refit_ridge_acts_on_the_refit_only():
    args = dict(ridge=0.5, keep=(0.3, 0.7, 1.0), trials=3, seed=9)
    base = monte_carlo(SPEC, 30, 0.6, 0.5, retrain="fresh", **args)
    assert same(base, monte_carlo(SPEC, 30, 0.6, 0.5, retrain="fresh", refit_ridge=0.5, **args))
    other = monte_carlo(SPEC, 30, 0.6, 0.5, retrain="fresh", refit_ridge=0.05, **args)
    assert_array_equal(other.samples["dense"], base.samples["dense"])
    assert not np.array_equal(other.samples["magnitude"], base.samples["magnitude"])
    assert same(monte_carlo(SPEC, 30, 0.6, 0.5, **args), monte_carlo(SPEC, 30, 0.6, 0.5, refit_ridge=0.05, **args))


# ------------------------------------------------------- the trial steps against linear_models

def _ridge_call(fn, *args, ridge):
    """Call a linear_models function with its ridge argument, whatever the argument is named."""
    if "ridge" in inspect.signature(fn).parameters:
        return fn(*args, ridge=ridge)
    return fn(*args, ridge)


def _close(a, b):
    b = np.asarray(b)
    assert_allclose(a, b, rtol=1e-10, atol=1e-10 * np.max(np.abs(b)))


def _bartlett_twin(X, y, beta, noise):
    """The Bartlett sample with exactly the sufficient statistics of ``(X, y)``: ``M = chol(X'X)``,
    ``xi = M^-1 X'(y - X beta) / noise``."""
    M = np.linalg.cholesky(X.T @ X)
    xi = np.linalg.solve(M, X.T @ (y - X @ beta)) / noise
    return kernels.Sample(X.shape[0], M=M, xi=xi, beta=beta, noise=noise)


@pytest.mark.parametrize("n,p", [(30, 50), (90, 40)])
@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_trial_steps_agree_with_linear_models(n, p, ridge):
    """Fits, masks, pruned and refit risks of the trial steps equal linear_models' on the same (X, y)."""
    rng = np.random.default_rng(100 * n + p)
    lam = rng.uniform(0.5, 5.0, p)
    beta = rng.standard_normal(p) / np.sqrt(p)
    prob = LinearProblem.diagonal(lam, beta, 0.5)
    X, y = prob.sample(n, rng)
    X2, y2 = prob.sample(n, rng)                     # a fresh sample for the refits
    samples = [kernels.Sample(n, X=X, y=y)] + ([_bartlett_twin(X, y, beta, 0.5)] if p <= n else [])
    ref = _ridge_call(linear_models.fit, X, y, ridge=ridge)
    counts = np.array([1, 7, p // 2, p - 3, p])
    for sample in samples:
        bh = kernels.fit(sample, ridge)
        _close(bh, ref)
        err, drop = lam * (bh - beta) ** 2, lam * beta**2
        assert_allclose(0.25 + err.sum(), prob.risk(ref), rtol=1e-10)
        sqrt_h = np.sqrt(sample.gram_diag / n)
        for c in CRITERIA:
            ties = kernels.tie_order(kernels.stream(1, 0, kernels.TIES_STREAM), p)
            stats = Stats(criterion=c, hessian_diag=sqrt_h**2, importance=drop, rng=kernels.stream(1, 0, 13))
            order = kernels.rank(registry_scores(c, bh, stats), ties)
            risks = kernels.pruned_risks(order, err, drop, counts, 0.25)
            for k, r in zip(counts, risks):
                lm = linear_models.prune(ref, int(k), c, hessian=X.T @ X / n, importance=prob.importance(),
                                         rng=kernels.stream(1, 0, 13))
                mask = np.zeros(p, dtype=bool)
                mask[order[:k]] = True
                assert_array_equal(mask, lm.mask)
                assert_allclose(r, prob.risk(lm.weights), rtol=1e-10)
                support = np.flatnonzero(mask)
                for refit_on, (Xr, yr) in ((sample, (X, y)), (kernels.Sample(n, X=X2, y=y2), (X2, y2))):
                    if ridge == 0 and k == n:
                        continue
                    bs = kernels.refit(refit_on, support, ridge)
                    full = _ridge_call(linear_models.refit, Xr, yr, mask, ridge=ridge)
                    _close(bs, full[mask])
                    assert_allclose(kernels.support_risk(bs, support, beta, lam, drop, 0.25), prob.risk(full),
                                    rtol=1e-10)


def _min_norm_from(X, y, b0):
    return b0 + np.linalg.lstsq(X, y - X @ b0, rcond=None)[0]


@pytest.mark.parametrize("retrain", ["fresh", "same"])
def test_a_whole_trial_equals_linear_models_on_the_same_draws(retrain):
    """kernels.trial against a reference assembled from linear_models (fit at ridge, prune, refit at
    refit_ridge from b0) on the same streams: mask at ridge 0.3, refits at 0 started from b0 (k = 24 > n = 18
    underdetermined, k = 9 determined), gaussian signal (no ties)."""
    spec = Spectrum([1.0, 25.0], [1.0, 0.3], [0.5, 0.5], "gaussian")
    job = make_job(spec, 30, 0.6, 0.5, ridge=0.3, refit_ridge=0.0, keep=(0.3, 0.8, 1.0), retrain=retrain,
                   init=2.0, seed=8)[0]
    for t in range(3):
        out = np.empty((len(CRITERIA), 3))
        dense = kernels.trial(job, t, out)
        rng = kernels.stream(8, t, kernels.DATA_STREAM)
        beta = kernels.sample_signal(rng, job.b_scale, True)
        train = kernels.sample_design(rng, np.sqrt(job.lam), beta, 18, 0.5)
        b0 = kernels.sample_init(kernels.stream(8, t, kernels.INIT_STREAM), 30, 2.0)
        refit_on = train if retrain == "same" else kernels.sample_design(
            kernels.stream(8, t, kernels.FRESH_STREAM), np.sqrt(job.lam), beta, 18, 0.5)
        prob = LinearProblem.diagonal(job.lam, beta, 0.5)
        X, y, Xr, yr = train.X, train.y, refit_on.X, refit_on.y
        bh = _ridge_call(linear_models.fit, X, y, ridge=0.3)
        assert_allclose(dense, prob.risk(bh), rtol=1e-10)
        for c, name in enumerate(CRITERIA):
            for j, k in enumerate(job.keep_counts):
                mask = linear_models.prune(bh, int(k), name, hessian=X.T @ X / 18, importance=prob.importance(),
                                           rng=kernels.stream(8, t, get_criterion("random").stream)).mask
                b = np.zeros(30)
                b[mask] = (_min_norm_from(Xr[:, mask], yr, b0[mask]) if k > 18
                           else _ridge_call(linear_models.fit, Xr[:, mask], yr, ridge=0.0))
                assert_allclose(out[c, j], prob.risk(b), rtol=1e-10)


def test_fits_from_an_initialization_agree_with_plain_numpy():
    """Min-norm from b0 is b0 + X^+ (y - X b0) (NumPy's lstsq gives X^+); refits on k > n columns start from
    b0 restricted to the support; strictly convex fits ignore b0."""
    rng = np.random.default_rng(5)
    n, p = 25, 60
    X = rng.standard_normal((n, p)) * np.sqrt(rng.uniform(0.5, 5.0, p))
    y = rng.standard_normal(n)
    b0 = rng.standard_normal(p)
    sample = kernels.Sample(n, X=X, y=y)
    _close(kernels.fit(sample, 0.0, b0), _min_norm_from(X, y, b0))
    support = np.sort(rng.choice(p, 40, replace=False))
    Xs = X[:, support]
    _close(kernels.refit(sample, support, 0.0, b0), _min_norm_from(Xs, y, b0[support]))
    small = support[:20]                                  # k = 20 < n: least squares, b0 irrelevant
    assert_array_equal(kernels.refit(sample, small, 0.0, b0), kernels.refit(sample, small, 0.0))
    _close(kernels.refit(sample, small, 0.0), np.linalg.lstsq(X[:, small], y, rcond=None)[0])
    assert_array_equal(kernels.fit(sample, 0.2, b0), kernels.fit(sample, 0.2))
    if "init" in inspect.signature(linear_models.fit).parameters:          # linear_models with init= (issue 7A)
        _close(kernels.fit(sample, 0.0, b0), linear_models.fit(X, y, 0.0, init=b0))
        mask = np.zeros(p, dtype=bool)
        mask[support] = True
        _close(kernels.refit(sample, support, 0.0, b0), linear_models.refit(X, y, mask, 0.0, init=b0)[mask])


# ------------------------------------------------------------------------------------ theory

def _bound(m):
    """|z| bound for the maximum of m z-values at a 1% family-wise level (Bonferroni): a correct formula
    passes with probability at least 0.99, whatever the correlation between the z-values."""
    return norm.ppf(1 - 0.005 / m)


@pytest.mark.slow
@pytest.mark.parametrize("kappa,ridge,retrain,dist,p,trials", [
    (2.0, 0.0, "none", "fixed", 500, 300), (0.6, 0.0, "none", "fixed", 500, 300),
    (0.6, 0.2, "fresh", "gaussian", 1000, 200), (2.0, 0.0, "fresh", "fixed", 500, 1500),
])
def test_engine_agrees_with_theory(kappa, ridge, retrain, dist, p, trials, record_z):
    spec = Spectrum([1.0, 25.0], [1.0, 0.3], [0.5, 0.5], dist)
    # Sizes chosen on the earlier engine: the gaussian ridge case has a finite-p excess of about 1.3% at
    # p = 500 that falls to 0.4% at p = 1000 (an O(1/p) effect), so it runs at p = 1000; the fresh OLS case
    # moves all 16 points together (they share the trial's fresh sample), so it runs 1500 trials.
    res = monte_carlo(spec, p, kappa, 0.5, ridge=ridge, keep=KEEP, retrain=retrain, trials=trials, seed=11,
                      hessian_scores="population", n_jobs=2)
    th_retrain = None if retrain == "none" else retrain
    zs = [(res.mean["dense"] - dense_risk(spec, kappa, 0.5, ridge=ridge)) / res.sem["dense"]]
    for c in CRITERIA:
        th = pruned_risk(spec, kappa, 0.5, keep=res.keep_effective, criterion=c, ridge=ridge, retrain=th_retrain)
        zs.append((res.mean[c] - th) / res.sem[c])
    z = np.concatenate([np.atleast_1d(v) for v in zs])
    z = z[np.isfinite(z)]                          # keep = 1 without refit equals dense exactly (sem > 0)
    bound = _bound(z.size)                         # 3.6 to 3.7 for the 14 to 17 z-values here
    record_z(f"engine kappa={kappa} ridge={ridge} retrain={retrain} {dist}", z)
    assert np.max(np.abs(z)) < bound


@pytest.mark.slow
@pytest.mark.parametrize("ridge,retrain", [(0.0, "none"), (0.0, "fresh"), (0.1, "same")])
def test_bartlett_sampler_matches_explicit_design(ridge, retrain, record_z):
    """The Bartlett path (sufficient statistics of the Wishart Gram) has the law of the explicit design."""
    spec = Spectrum([1.0, 25.0], [1.0, 0.3], [0.5, 0.5], "gaussian")
    args = dict(ridge=ridge, keep=KEEP, retrain=retrain, trials=2000)
    a = monte_carlo(spec, 60, 2.0, 0.5, **args, seed=21, sampler="bartlett", n_jobs=2)
    b = monte_carlo(spec, 60, 2.0, 0.5, **args, seed=22, sampler="design", n_jobs=2)
    z = [(a.mean[c] - b.mean[c]) / np.hypot(a.sem[c], b.sem[c]) for c in (*CRITERIA, "dense")]
    z = np.concatenate([np.atleast_1d(v) for v in z])
    z = z[np.isfinite(z)]
    record_z(f"engine bartlett vs design ridge={ridge} retrain={retrain}", z)
    assert np.max(np.abs(z)) < _bound(z.size)      # 17 z-values: bound 3.68


# ------------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("kwargs,match", [
    (dict(p=0), "p == 0, must be an integer >= 1"),
    (dict(kappa=-1.0), "kappa == -1.0, must be > 0"),
    (dict(kappa=1.0), "interpolation threshold"),
    (dict(kappa=1e300), "kappa \\* p == 2e\\+301 samples"),
    (dict(noise=1e155), "noise == 1e\\+155, too large"),
    (dict(keep=[0.5, 0.2]), "keep must be non-decreasing"),
    (dict(keep=[0.0]), r"keep\[0\] == 0.0, must be in \(0, 1\]"),
    (dict(criteria=("magnitude", "l1")), "criteria == 'l1'"),
    (dict(criteria=("magnitude", "magnitude")), "names a criterion twice"),
    (dict(retrain="sometimes"), "retrain == 'sometimes'"),
    (dict(hessian_scores="exact"), "hessian_scores == 'exact'"),
    (dict(sampler="fast"), "sampler == 'fast'"),
    (dict(trials=0), "trials == 0, must be an integer >= 1"),
    (dict(n_jobs=0), "n_jobs == 0"),
    (dict(n_jobs=1.5), "n_jobs == 1.5"),
    (dict(seed=-1), "seed == -1"),
    (dict(init=-1.0), "init == -1.0, must be >= 0"),
    (dict(refit_ridge=-0.1), "refit_ridge == -0.1, must be >= 0"),
    (dict(client=""), "client == ''"),
    (dict(kappa=0.5, keep=[0.5], retrain="fresh"), "keeps n == 10 weights: with refit_ridge 0"),
])
def test_bad_input(kwargs, match):
    args = dict(p=20, kappa=2.0, noise=0.5, keep=KEEP, trials=2, seed=0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        monte_carlo(SPEC, args.pop("p"), args.pop("kappa"), args.pop("noise"), **args)


@pytest.mark.parametrize("keep,match", [
    (1, "keep == 1 is an integer \\(a count\\); monte_carlo takes kept fractions: pass 1.0"),
    (True, "keep == True is a bool"),
    (np.array([1, 2]), "keep == \\[1, 2\\] holds integers \\(counts\\); monte_carlo takes kept fractions"),
    (0.5j, "keep == 0.5j is complex"),
])
def test_integer_bool_and_complex_keep_are_refused(keep, match):
    with pytest.raises(TypeError, match=match):
        monte_carlo(SPEC, 20, 2.0, 0.5, keep=keep, trials=2)


def test_bad_client_type_and_positional_options_are_refused():
    with pytest.raises(TypeError, match="client must be a dask.distributed.Client or a scheduler address"):
        monte_carlo(SPEC, 20, 2.0, 0.5, trials=2, client=object())
    with pytest.raises(TypeError):
        monte_carlo(SPEC, 20, 2.0, 0.5, 0.1)        # ridge and the rest are keyword-only


def test_retrain_none_alias_and_validation_without_work():
    a = monte_carlo(SPEC, 20, 2.0, 0.5, retrain=None, trials=2)
    assert same(a, monte_carlo(SPEC, 20, 2.0, 0.5, retrain="none", trials=2)) and a.config["retrain"] == "none"
    job, keep, config = make_job(SPEC, 20, 2.0, 0.5, keep=(0.5, 1.0), init=1.0, refit_ridge=0.2)
    assert (job.refit_ridge, job.init, keep.tolist(), config["keep_counts"]) == (0.2, 1.0, [0.5, 1.0], [10, 20])


def test_bartlett_needs_p_at_most_n():
    with pytest.raises(ValueError, match="sampler == 'bartlett' needs p <= n"):
        monte_carlo(SPEC, 40, 0.5, 0.5, keep=KEEP, trials=2, sampler="bartlett")


def test_n_jobs_means_that_many_workers():
    import os

    from simulations.runtime.workers import n_workers as _workers

    assert _workers(None) == _workers(1) == 1
    assert _workers(3) == 3 and _workers(5) == 5          # not capped at the core count
    assert _workers(-1) == (os.cpu_count() or 1)


def test_bartlett_ols_shortcut_equals_the_gram_solve():
    rng = np.random.default_rng(3)
    sample = kernels.sample_bartlett(rng, np.sqrt(rng.uniform(1, 4, 12)), rng.standard_normal(12), 30, 0.7)
    _close(kernels.fit(sample, 0.0), kernels.fit_gram(sample.G, sample.Xty, 30, 0.0))
    assert_allclose(np.tril(sample.M), sample.M)


def test_streams_are_children_of_the_trial_seed_sequence():
    child = np.random.SeedSequence(5, spawn_key=(3,)).spawn(12)[11]
    expected = np.random.Generator(np.random.PCG64(child)).random(4)
    assert_array_equal(kernels.stream(5, 3, 11).random(4), expected)
    keys = [get_criterion(c).stream for c in criterion_names()]
    purposes = {kernels.DATA_STREAM, kernels.FRESH_STREAM, kernels.INIT_STREAM, kernels.TIES_STREAM}
    assert len(set(keys)) == len(keys) and not set(keys) & purposes       # one stream per criterion, by name
    assert [get_criterion(c).stream for c in CRITERIA] == [10, 11, 12, 13]  # the engine's keys, unchanged
    for a, b in itertools.combinations(range(3), 2):
        assert not np.array_equal(kernels.stream(0, a, 0).random(3), kernels.stream(0, b, 0).random(3))
