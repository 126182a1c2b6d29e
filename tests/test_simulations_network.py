"""The network engine and the shallow-network experiment: derivatives against central finite differences,
training steps against a plain NumPy re-implementation, the linear special case against ``linear_models``,
reproducibility across worker counts, bad input."""

import numpy as np
import pytest

from linear_models import fit, prune
from simulations import network_experiment
from simulations.networks import _kernels as K
from simulations import Network
from simulations.experiments.network_experiment import _draw_data, _NetJob

H = 1e-5                      # central differences: truncation ~ H^2, rounding ~ 1e-16 / H, both << 1e-6
RTOL = 1e-6

NETS = [((5, 7, 1), "squared"), ((4, 5, 3, 1), "squared"), ((6, 4, 3), "cross_entropy"),
        ((4, 5, 3, 3), "cross_entropy")]
ACTS = ("relu", "tanh", "linear")


def rel_err(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


def problem(sizes, loss, act, n=9, seed=0):
    rng = np.random.default_rng(seed)
    net = Network(sizes, act, loss)
    theta = net.init(1.5, rng)
    X = rng.standard_normal((n, sizes[0]))
    y = rng.standard_normal(n) if loss == "squared" else rng.integers(0, sizes[-1], n).astype(float)
    return net, theta, X, y


def fd(fun, theta):
    """Central differences of ``fun`` (scalar or array valued) at ``theta``, stacked on the last axis."""
    cols = []
    for q in range(theta.size):
        e = np.zeros_like(theta)
        e[q] = H
        cols.append((np.asarray(fun(theta + e)) - np.asarray(fun(theta - e))) / (2 * H))
    return np.stack(cols, axis=-1)


def output_hessian(net, theta, X):
    """``(n, k, k)`` Hessians of the per-sample loss in the network output, written out by hand."""
    f = net.predict(theta, X)
    if net.loss == "squared":
        return np.full((X.shape[0], 1, 1), 2.0)
    p = np.exp(f - f.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return np.stack([np.diag(pi) - np.outer(pi, pi) for pi in p])


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("sizes,loss", NETS)
def test_derivatives_equal_central_finite_differences(sizes, loss, act):
    net, theta, X, y = problem(sizes, loss, act)
    value, g = net.loss_and_grad(theta, X, y)
    assert value == pytest.approx(net.loss_value(theta, X, y), rel=1e-14)
    assert rel_err(g, fd(lambda t: net.loss_value(t, X, y), theta)) < RTOL
    # per-sample gradients: row i is the gradient of sample i's loss
    G = net.per_sample_gradients(theta, X, y)
    ref = np.stack([fd(lambda t: net.loss_value(t, X[i:i + 1], y[i:i + 1]), theta) for i in range(X.shape[0])])
    assert rel_err(G, ref) < RTOL
    np.testing.assert_allclose(G.mean(axis=0), g, rtol=0, atol=1e-13 * np.abs(g).max())
    # Gauss-Newton: (1/n) sum_i J_i' H_i J_i with J from differences of the outputs
    J = fd(lambda t: net.predict(t, X).reshape(X.shape[0], -1), theta)          # (n, k, P)
    ggn = np.einsum("iap,iab,ibq->pq", J, output_hessian(net, theta, X), J) / X.shape[0]
    assert rel_err(net.ggn_diagonal(theta, X), np.diag(ggn)) < RTOL
    assert rel_err(net.ggn_matrix(theta, X), ggn) < RTOL
    a, b = net.layer_block(0)
    assert rel_err(net.ggn_matrix(theta, X, block=0), ggn[a:b, a:b]) < RTOL
    # the batched training gradient (BLAS path) equals the per-sample one
    g2 = np.zeros_like(g)
    tot = K.batch_grad(theta, net._sizes, net._act, net._loss, X, y, 1.0 / X.shape[0], g2)
    np.testing.assert_allclose(g2, g, rtol=1e-12, atol=1e-14)
    assert tot / X.shape[0] == pytest.approx(value, rel=1e-12)


def test_ggn_is_the_hessian_when_the_loss_is_quadratic():
    # linear activation, squared loss, first layer only: the loss is quadratic in W, GGN block = Hessian block
    net, theta, X, y = problem((5, 3, 1), "squared", "linear")
    a, b = net.layer_block(0)
    hess = fd(lambda t: net.loss_and_grad(t, X, y)[1][a:b], theta)[:, a:b]
    assert rel_err(net.ggn_matrix(theta, X, block=0), hess) < RTOL


@pytest.mark.parametrize("sizes,loss", NETS)
@pytest.mark.parametrize("act", ("relu", "tanh"))
def test_ablation_importance_is_the_loss_change_of_zeroing_one_weight(sizes, loss, act):
    net, theta, X, y = problem(sizes, loss, act, n=30)
    theta[::7] = 0.0                                  # already-zero weights have importance 0
    base = net.loss_value(theta, X, y)
    ref = []
    for q in range(theta.size):
        t = theta.copy()
        t[q] = 0.0
        ref.append(net.loss_value(t, X, y) - base)
    np.testing.assert_allclose(net.ablation_importance(theta, X, y), ref, rtol=1e-9, atol=1e-13)
    a, b = net.layer_block(-1)
    np.testing.assert_allclose(net.ablation_importance(theta, X, y, block=-1), ref[a:b], rtol=1e-9, atol=1e-13)


def test_optimizer_steps_equal_a_numpy_reimplementation():
    net, theta, X, y = problem((4, 5, 3), "cross_entropy", "tanh", n=12)
    lr, steps = 0.05, 4
    # Adam, full batch (PyTorch's form)
    t, m, v = theta.copy(), np.zeros_like(theta), np.zeros_like(theta)
    for s in range(1, steps + 1):
        g = net.loss_and_grad(t, X, y)[1] + 0.01 * t
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        t = t - lr / (1 - 0.9**s) * m / (np.sqrt(v) / np.sqrt(1 - 0.999**s) + 1e-8)
    res = net.train(theta, X, y, optimizer="adam", lr=lr, steps=steps, weight_decay=0.01)
    np.testing.assert_allclose(res.theta, t, rtol=1e-11, atol=1e-13)
    # SGD with momentum, minibatches of 5 from the permutations a Generator draws (12 = 5 + 5 + 2 per epoch)
    t, buf = theta.copy(), None
    rng = np.random.default_rng(3)
    batches = []
    for _ in range(2):
        perm = rng.permutation(12)
        batches += [perm[:5], perm[5:10], perm[10:]]
    for s, rows in enumerate(batches):
        g = net.loss_and_grad(t, X[rows], y[rows])[1]
        buf = g if s == 0 else 0.9 * buf + g
        t = t - lr * buf
    res = net.train(theta, X, y, optimizer="sgd", lr=lr, steps=6, batch_size=5, momentum=0.9, rng=3)
    np.testing.assert_allclose(res.theta, t, rtol=1e-11, atol=1e-13)


def test_mask_keeps_pruned_weights_at_zero_and_trainable_freezes():
    net, theta, X, y = problem((5, 7, 1), "squared", "relu", n=40)
    rng = np.random.default_rng(1)
    mask = rng.random(theta.size) < 0.5
    frozen = np.ones(theta.size, dtype=bool)
    frozen[-7:] = False
    res = net.train(theta, X, y, optimizer="adam", lr=1e-2, steps=50, batch_size=8, rng=2, mask=mask,
                    trainable=frozen, checkpoints=[0, 25, 50])
    assert np.all(res.theta[~mask] == 0.0)
    np.testing.assert_array_equal(res.theta[-7:], np.where(mask, theta, 0.0)[-7:])
    assert np.any(res.theta[mask & frozen] != theta[mask & frozen])
    np.testing.assert_array_equal(res.snapshots[-1], res.theta)
    np.testing.assert_array_equal(res.snapshots[0], np.where(mask, theta, 0.0))


def test_linear_network_with_a_fixed_second_layer_is_a_linear_model():
    # width 1, linear activation, second layer frozen at v: f(x) = x . (W v), gradient descent on W is
    # gradient descent on b = W v; run to convergence it is OLS (n > d)
    rng = np.random.default_rng(4)
    d, n = 6, 200
    X = rng.standard_normal((n, d)) * np.array([3.0, 3.0, 1.0, 1.0, 0.3, 0.3])
    y = X @ np.array([0.2, -0.1, 0.5, 0.0, 1.0, -2.0]) + 0.1 * rng.standard_normal(n)
    net = Network((d, 1, 1), "linear", "squared")
    theta = net.init(1.0, rng)
    theta[-1] = 0.8
    trainable = np.arange(theta.size) < d
    L = 2 * np.linalg.norm(X, 2) ** 2 / n * theta[-1] ** 2
    res = net.train(theta, X, y, optimizer="gd", lr=1.0 / L, steps=3000, trainable=trainable)
    b = res.theta[:d] * res.theta[-1]
    b_ols = fit(X, y)
    np.testing.assert_allclose(b, b_ols, rtol=1e-9, atol=1e-12)
    W = res.theta[:d]
    Hnet = net.ggn_matrix(res.theta, X, block=0)
    np.testing.assert_allclose(Hnet, 2 * theta[-1] ** 2 * X.T @ X / n, rtol=1e-12)
    g = net.loss_and_grad(res.theta, X, y)[1][:d]
    for crit, kw_net, kw_lin in [
        ("magnitude", {}, {}),
        ("hessian", dict(hessian=np.diag(Hnet)), dict(hessian=X.T @ X / n)),
        ("taylor2", dict(hessian=np.diag(Hnet), grad=g), dict(hessian=2 * X.T @ X / n, grad=g / theta[-1])),
        ("obs", dict(hessian=Hnet), dict(hessian=X.T @ X)),
    ]:
        pn = prune(W, 3, crit, **kw_net)
        pl = prune(b_ols, 3, crit, **kw_lin)
        np.testing.assert_array_equal(pn.mask, pl.mask)
        np.testing.assert_allclose(pn.weights * theta[-1], pl.weights, rtol=1e-7, atol=1e-10)


def test_experiment_linear_case_equals_linear_models():
    # the same check through network_experiment: pruned test loss equals pruning the OLS fit of the same data
    kw = dict(d=6, width=1, n_train=300, n_test=500, groups=[(2, 5.0, 0.2), (2, 1.0, 0.5), (2, 1.0, 0.0)],
              noise=0.1, activation="linear", init=1.0, optimizer="adam", lr=1e-2, steps=3000, keep=[2, 4],
              criteria=("magnitude", "hessian", "obs"), trials=2, seed=7, freeze_second_layer=True,
              importance_samples=100)
    res = network_experiment(**kw)
    job = _NetJob(6, 1, 300, 500, (2, 2, 2), np.array([5.0, 1, 1]), np.array([0.2, 0.5, 0.0]), 0.1, "linear",
                  1.0, "adam", 1e-2, 0.0, 3000, None, np.array([2, 4]), (), 0, 7, "linear", 4, "first", True,
                  1e-3, 100, np.zeros(0, dtype=np.int64), 0)
    for t in range(2):
        X, y, Xt, yt, *_ = _draw_data(job, t)
        b = fit(X, y)
        var = np.var(yt)
        assert res.samples["dense"][t] == pytest.approx(np.mean((Xt @ b - yt) ** 2) / var, rel=1e-6)
        for c, kw_lin in [("magnitude", {}), ("hessian", dict(hessian=X.T @ X)), ("obs", dict(hessian=X.T @ X))]:
            for j, k in enumerate((2, 4)):
                bp = prune(b, k, c, **kw_lin).weights
                ref = np.mean((Xt @ bp - yt) ** 2) / var
                assert res.samples[c][t, j] == pytest.approx(ref, rel=1e-5), (c, k)


TINY = dict(d=4, width=5, n_train=60, n_test=50, groups=[(2, 3.0, 0.5), (2, 1.0, 0.0)], steps=30, lr=1e-2,
            keep=[0.3, 1.0], criteria=("magnitude", "hessian", "taylor1", "taylor2", "random", "oracle", "obs",
                                       "cbs"), importance_samples=200, trials=3)


def test_experiment_is_bitwise_identical_for_any_n_jobs_and_keep_one_is_dense():
    a = network_experiment(**TINY, seed=2, batch_size=16, finetune_steps=5, record_every=10)
    b = network_experiment(**TINY, seed=2, batch_size=16, finetune_steps=5, record_every=10, n_jobs=2)
    for c in a.samples:
        np.testing.assert_array_equal(a.samples[c], b.samples[c])
    for c in a.extras["corr_over_steps"]:
        np.testing.assert_array_equal(a.extras["corr_over_steps"][c], b.extras["corr_over_steps"][c])
    assert a.extras["corr_over_steps"]["magnitude"].shape == (3, 4)
    c = network_experiment(**TINY, seed=3, batch_size=16, finetune_steps=5)
    assert not np.array_equal(a.samples["dense"], c.samples["dense"])
    # keep = 1.0 without fine-tuning is the dense network for every criterion
    d = network_experiment(**TINY, seed=2)
    for crit in TINY["criteria"]:
        np.testing.assert_allclose(d.samples[crit][:, 1], d.samples["dense"], rtol=1e-12)
    assert d.importance_corr["oracle"] == pytest.approx(1.0)
    assert d.extras["group_abs_weight"].shape == (3, 2)


def test_random_stream_does_not_depend_on_the_other_criteria():
    a = network_experiment(**dict(TINY, criteria=("random",)), seed=1)
    b = network_experiment(**dict(TINY, criteria=("magnitude", "random")), seed=1)
    np.testing.assert_array_equal(a.samples["random"], b.samples["random"])


@pytest.mark.parametrize("kw,msg", [
    (dict(d=5), "group counts sum to 4"),
    (dict(width=0), "width == 0"),
    (dict(groups=[(2, -1.0, 0.1), (2, 1.0, 0.0)]), "groups[0] scale"),
    (dict(activation="sigmoid"), "activation == 'sigmoid'"),
    (dict(optimizer="rmsprop"), "optimizer == 'rmsprop'"),
    (dict(lr=0.0), "lr == 0.0"),
    (dict(keep=[0.3, 1.5]), "keep[1] == 1.5"),
    (dict(keep=[100, 0.5]), "keep[0] == 100 is an integer (a count) and must be in [1, 20]"),
    (dict(keep=[True]), "keep[0] == True is a bool"),
    (dict(keep=[0, 0.5]), "keep[0] == 0"),
    (dict(criteria=("magnitude", "obd")), "criteria == 'obd'"),
    (dict(noise=-1.0), "noise == -1.0"),
    (dict(n_jobs=0), "n_jobs == 0"),
    (dict(batch_size=10, optimizer="gd"), "optimizer == 'gd' is full-batch"),
    (dict(momentum=0.9), "momentum == 0.9"),
    (dict(teacher="deep"), "teacher == 'deep'"),
    (dict(record_every=0), "record_every == 0"),
])
def test_bad_arguments_are_named(kw, msg):
    args = dict(TINY, **kw)
    with pytest.raises((ValueError, TypeError)) as err:
        network_experiment(**args)
    assert msg in str(err.value)


def test_network_checks_its_inputs():
    with pytest.raises(ValueError, match="scalar output"):
        Network((3, 2, 2), "relu", "squared")
    net = Network((3, 2, 3), "relu", "cross_entropy")
    theta = net.init(1.0, 0)
    with pytest.raises(ValueError, match=r"y\[0\] == 3.0"):
        net.loss_value(theta, np.zeros((2, 3)), np.array([3.0, 0.0]))
    with pytest.raises(ValueError, match="X has shape"):
        net.predict(theta, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="rng is required"):
        net.train(theta, np.zeros((4, 3)), np.zeros(4), optimizer="sgd", lr=0.1, steps=1, batch_size=2)


def test_options_shallow_teacher_all_layers_sgd_tanh():
    res = network_experiment(**dict(TINY, criteria=("magnitude", "hessian", "obs", "oracle"), keep=[5, 1.0]),
                             teacher="shallow", prune_layers="all", optimizer="sgd", momentum=0.9, batch_size=8,
                             activation="tanh", seed=4)
    assert res.keep_counts.tolist() == [5, 25]
    assert np.all(np.isfinite(res.samples["dense"]))
    for c in ("magnitude", "hessian", "obs", "oracle"):
        np.testing.assert_allclose(res.samples[c][:, 1], res.samples["dense"], rtol=1e-12)
        assert np.all(res.samples[c][:, 0] >= 0)


@pytest.mark.slow
def test_dask_local_cluster_is_bitwise_identical():
    distributed = pytest.importorskip("distributed")
    args = dict(TINY, seed=5, batch_size=16)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
        with distributed.Client(cl) as client:
            on_dask = network_experiment(**args, client=client)
    serial = network_experiment(**args)
    for c in serial.samples:
        np.testing.assert_array_equal(on_dask.samples[c], serial.samples[c])


def test_ggn_matrix_accumulated_in_blocks_equals_one_block(monkeypatch):
    import simulations.networks.model as nw
    net, theta, X, y = problem((6, 4, 3), "cross_entropy", "relu", n=50)
    whole = net.ggn_matrix(theta, X)
    monkeypatch.setattr(nw, "GGN_ROWS", 7)                 # 2 samples x 3 classes per block, 25 blocks
    np.testing.assert_allclose(net.ggn_matrix(theta, X), whole, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.diag(whole), net.ggn_diagonal(theta, X), rtol=1e-12)
