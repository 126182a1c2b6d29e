"""Networks with biases and the selection of pruned parameters (layers, biases).

Every kernel of :class:`simulations.Network` with ``bias=True`` is checked against a plain NumPy
re-implementation written here (forward pass, back-propagation, Gauss-Newton factors, brute-force
ablation); ``bias=False`` must give exactly the values of a network whose biases are all zero.
"""

import numpy as np
import pytest

from simulations import Network

SIZES = (5, 4, 3, 3)


def _np_forward(net, theta, X):
    """Pre-activations and activations per layer, by NumPy (z = a W + b)."""
    Ws = net.views(theta)
    bs = net.bias_views(theta) if net.bias else [np.zeros(W.shape[1]) for W in Ws]
    act = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh, "linear": lambda z: z}[net.activation]
    a, zs, acts = X, [], [X]
    for l, (W, b) in enumerate(zip(Ws, bs)):
        z = a @ W + b
        a = act(z) if l < len(Ws) - 1 else z
        zs.append(z)
        acts.append(a)
    return zs, acts


def _np_jacobian(net, theta, x):
    """``J`` (outputs x P) of one sample by back-propagating each output's unit vector."""
    zs, acts = _np_forward(net, theta, x[None, :])
    Ws = net.views(theta)
    L = len(Ws)
    dact = {"relu": lambda z, a: (z > 0).astype(float), "tanh": lambda z, a: 1 - a**2,
            "linear": lambda z, a: np.ones_like(z)}[net.activation]
    J = np.zeros((net.sizes[-1], net.n_params))
    for c in range(net.sizes[-1]):
        delta = np.zeros(net.sizes[-1])
        delta[c] = 1.0
        for l in range(L - 1, -1, -1):
            a, b = net.layer_block(l)
            J[c, a:b] = np.outer(acts[l][0], delta).ravel()
            if net.bias:
                a, b = net.bias_block(l)
                J[c, a:b] = delta
            if l:
                delta = (Ws[l] @ delta) * dact(zs[l - 1][0], acts[l][0])
    return J


def _np_loss(net, theta, X, y):
    f = _np_forward(net, theta, X)[1][-1]
    if net.loss == "squared":
        return np.mean((f[:, 0] - y) ** 2)
    m = f.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(f - m).sum(axis=1))
    return np.mean(lse - f[np.arange(len(y)), y.astype(int)])


def _output_hessian(net, f):
    if net.loss == "squared":
        return np.array([[2.0]])
    p = np.exp(f - f.max())
    p /= p.sum()
    return np.diag(p) - np.outer(p, p)


@pytest.fixture(params=[("tanh", "cross_entropy"), ("relu", "squared")], ids=["tanh-ce", "relu-sq"])
def case(request):
    act, loss = request.param
    sizes = SIZES if loss == "cross_entropy" else SIZES[:-1] + (1,)
    net = Network(sizes, act, loss, bias=True)
    rng = np.random.default_rng(3)
    theta = rng.standard_normal(net.n_params) * 0.7
    X = rng.standard_normal((30, sizes[0]))
    y = rng.integers(0, sizes[-1], 30).astype(float) if loss == "cross_entropy" else rng.standard_normal(30)
    return net, theta, X, y


def test_layout_and_selection():
    net = Network(SIZES, "relu", "cross_entropy", bias=True)
    w = 5 * 4 + 4 * 3 + 3 * 3
    assert (net.n_weights, net.n_params) == (w, w + 4 + 3 + 3)
    assert net.bias_block(0) == (w, w + 4) and net.bias_block(-1) == (w + 7, w + 10)
    assert np.array_equal(net.parameter_indices(), np.arange(w))
    assert np.array_equal(net.parameter_indices([2, 0]), np.r_[0:20, 32:41])
    assert np.array_equal(net.parameter_indices(1, biases=True), np.r_[20:32, w + 4:w + 7])
    theta = net.init(1.0, 0)
    assert np.all(theta[w:] == 0)
    # the weights are those of the bias-free network from the same stream
    assert np.array_equal(theta[:w], Network(SIZES, "relu", "cross_entropy").init(1.0, 0))


@pytest.mark.parametrize("bad, match", [(dict(layers=3), "layers\\[0\\] == 3"), (dict(layers=[]), "layers =="),
                                        (dict(layers="all"), "layers =="), (dict(biases=1), "biases must be")])
def test_selection_refuses_bad_input(bad, match):
    net = Network(SIZES, "relu", "cross_entropy", bias=True)
    with pytest.raises((ValueError, TypeError), match=match):
        net.parameter_indices(**bad)


def test_bias_free_network_refuses_bias_requests():
    net = Network(SIZES, "relu", "cross_entropy")
    with pytest.raises(ValueError, match="no biases"):
        net.bias_block(0)
    with pytest.raises(ValueError, match="no biases"):
        net.parameter_indices(biases=True)
    with pytest.raises(TypeError, match="bias must be a bool"):
        Network(SIZES, "relu", "cross_entropy", bias="yes")


def test_forward_loss_and_gradient_match_numpy(case):
    net, theta, X, y = case
    f = _np_forward(net, theta, X)[1][-1]
    out = net.predict(theta, X)
    np.testing.assert_allclose(out, f[:, 0] if net.loss == "squared" else f, rtol=1e-13, atol=1e-13)
    value, g = net.loss_and_grad(theta, X, y)
    np.testing.assert_allclose(value, _np_loss(net, theta, X, y), rtol=1e-13)
    G = net.per_sample_gradients(theta, X, y)
    ref = []
    for i in range(len(y)):
        J = _np_jacobian(net, theta, X[i])
        fi = f[i]
        if net.loss == "squared":
            dl = np.array([2 * (fi[0] - y[i])])
        else:
            p = np.exp(fi - fi.max())
            p /= p.sum()
            dl = p - np.eye(len(fi))[int(y[i])]
        ref.append(J.T @ dl)
    ref = np.array(ref)
    np.testing.assert_allclose(G, ref, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(g, ref.mean(axis=0), rtol=1e-11, atol=1e-13)


def test_gauss_newton_matches_numpy(case):
    net, theta, X, y = case
    f = _np_forward(net, theta, X)[1][-1]
    ref = sum(_np_jacobian(net, theta, X[i]).T @ _output_hessian(net, f[i]) @ _np_jacobian(net, theta, X[i])
              for i in range(len(y))) / len(y)
    np.testing.assert_allclose(net.ggn_matrix(theta, X), ref, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(net.ggn_diagonal(theta, X), np.diag(ref), rtol=1e-11, atol=1e-13)
    idx = net.parameter_indices([0, 2], biases=True)
    np.testing.assert_allclose(net.ggn_matrix(theta, X, block=idx), ref[np.ix_(idx, idx)], rtol=1e-11, atol=1e-13)


def test_ablation_importance_is_brute_force(case):
    net, theta, X, y = case
    idx = np.r_[0:7, net.n_weights - 2:net.n_params]          # weights of two layers and every bias
    base = _np_loss(net, theta, X, y)
    ref = []
    for q in idx:
        th = theta.copy()
        th[q] = 0.0
        ref.append(_np_loss(net, th, X, y) - base)
    np.testing.assert_allclose(net.ablation_importance(theta, X, y, block=idx), ref, rtol=1e-9, atol=1e-13)


def test_training_with_biases_is_numpy_gradient_descent(case):
    net, theta, X, y = case
    th = theta.copy()
    for _ in range(5):
        th = th - 0.05 * net.loss_and_grad(th, X, y)[1]
    res = net.train(theta, X, y, optimizer="gd", lr=0.05, steps=5)
    np.testing.assert_allclose(res.theta, th, rtol=1e-12, atol=1e-14)
    mask = np.ones(net.n_params, dtype=bool)
    mask[::3] = False
    res = net.train(theta, X, y, optimizer="sgd", batch_size=7, lr=0.05, steps=9, mask=mask, rng=1)
    biases = np.arange(net.n_params) >= net.n_weights
    assert np.all(res.theta[~mask] == 0) and np.any(res.theta[mask & biases] != theta[mask & biases])


def test_zero_biases_equal_the_bias_free_network(case):
    net, theta, X, y = case
    free = Network(net.sizes, net.activation, net.loss)
    w = theta[:net.n_weights]
    th = np.concatenate([w, np.zeros(net.n_params - net.n_weights)])
    assert np.array_equal(net.predict(th, X), free.predict(w, X))
    assert np.array_equal(net.loss_and_grad(th, X, y)[1][:net.n_weights], free.loss_and_grad(w, X, y)[1])
    assert np.array_equal(net.ggn_diagonal(th, X)[:net.n_weights], free.ggn_diagonal(w, X))
    weights_only = np.arange(net.n_params) < net.n_weights          # biases frozen at 0
    a = net.train(th, X, y, optimizer="adam", batch_size=8, steps=6, rng=2, trainable=weights_only)
    b = free.train(w, X, y, optimizer="adam", batch_size=8, steps=6, rng=2)
    assert np.array_equal(a.losses, b.losses) and np.array_equal(a.theta[:net.n_weights], b.theta)


def test_biases_agree_with_pytorch_and_the_bridge_prunes_weights_only():
    torch = pytest.importorskip("torch")
    from torch import nn

    from linear_models import empirical_fisher, prune, prune_module

    torch.set_num_threads(1)
    net = Network(SIZES, "relu", "cross_entropy", bias=True)
    rng = np.random.default_rng(5)
    theta = rng.standard_normal(net.n_params) * 0.5
    X = rng.standard_normal((120, SIZES[0]))
    y = rng.integers(0, SIZES[-1], 120).astype(float)
    layers = []
    for l, (W, b) in enumerate(zip(net.views(theta), net.bias_views(theta))):
        lin = nn.Linear(*W.shape, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.copy_(torch.from_numpy(b.copy()))
        layers += [lin, nn.ReLU()] if l < len(SIZES) - 2 else [lin]
    model = nn.Sequential(*layers)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y).long()
    loss = nn.functional.cross_entropy(model(Xt), yt)
    loss.backward()
    value, g = net.loss_and_grad(theta, X, y)
    assert value == pytest.approx(loss.item(), rel=1e-13)
    for l, i in enumerate((0, 2, 4)):
        np.testing.assert_allclose(g[slice(*net.layer_block(l))].reshape(net.views(theta)[l].shape).T,
                                   model[i].weight.grad.numpy(), rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(g[slice(*net.bias_block(l))], model[i].bias.grad.numpy(), rtol=1e-11, atol=1e-14)
    # the bridge prunes the weights (not the biases): the engine's per-sample gradients of the weights,
    # in the bridge's order (torch's weight is W'), give the same OBS masks and updates
    perm = np.concatenate([(np.arange(a * b).reshape(a, b) + net.offsets[l]).T.ravel()
                           for l, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:]))])
    G = net.per_sample_gradients(theta, X, y)[:, perm]
    model.zero_grad()
    res = prune_module(model, 0.4, "obs", data=(Xt, yt), relative_damping=1e-2)
    ref = prune(theta[perm], 0.4, "obs", hessian=empirical_fisher(G).matrix, relative_damping=1e-2)
    np.testing.assert_array_equal(np.concatenate([res.masks[f"{i}.weight"].numpy().ravel() for i in (0, 2, 4)]),
                                  ref.mask)
    np.testing.assert_allclose(res.weights, ref.weights, rtol=0, atol=1e-10)
    assert all(torch.equal(model[i].bias, torch.from_numpy(net.bias_views(theta)[l].copy()))
               for l, i in enumerate((0, 2, 4)))
