"""The networks of the three-regime grid (:mod:`simulations.regimes.grid`): the problem of a dense seed (data,
student, initialization), SGD with the step schedule, the task's error, the outputs CKA compares and one-shot
magnitude masks."""

from __future__ import annotations

import numpy as np

from pruning_checks import check_int

from ..networks.model import Network
from ..runtime.seeds import children, generator
from .config import DECAYS, DENSE_KEY, check_density


def make_problem(cfg, j):
    """Data, student network and dense initialization of dense seed ``j``.

    Returns ``(net, theta0, (X, y), (Xt, yt), dense_seq)`` with ``dense_seq`` the SeedSequence of the
    dense run's minibatch order.
    """
    j = check_int(j, "j", low=0)
    root = np.random.SeedSequence(cfg["seed"], spawn_key=(DENSE_KEY + j,))
    s_teacher, s_data, s_init, s_dense = children(root, 4)
    if cfg["task"] == "digits":                 # the split is fixed; seeds differ in init and minibatch order
        from ..networks.datasets import digits

        data = digits()
        net = Network((data.n_features, *cfg["hidden"], data.n_classes), "relu", "cross_entropy")
        y_tr, y_te = data.y_train.astype(float), data.y_test.astype(float)
        return (net, net.init(cfg["init"], generator(s_init)), (np.ascontiguousarray(data.X_train), y_tr),
                (np.ascontiguousarray(data.X_test), y_te), s_dense)
    d, k = cfg["d"], cfg["teacher_width"]
    r = generator(s_teacher)
    teacher = Network((d, k, 1), "relu", "squared")
    t_theta = np.concatenate([r.standard_normal((d, k)).ravel() / np.sqrt(d),
                              np.where(r.random(k) < 0.5, -1.0, 1.0) * np.sqrt(2.0 / k)])
    r = generator(s_data)

    def sample(n):
        X = np.ascontiguousarray(r.standard_normal((n, d)))
        return X, teacher.predict(t_theta, X) + cfg["noise"] * r.standard_normal(n)

    train, test = sample(cfg["n_train"]), sample(cfg["n_test"])
    net = Network((d, cfg["width"], 1), "relu", "squared")
    theta0 = net.init(cfg["init"], generator(s_init))
    return net, theta0, train, test, s_dense


def train_schedule(net, theta, X, y, *, lr, steps, batch, momentum, seq, mask=None, stop=None):
    """SGD with momentum for ``steps`` steps, lr times 0.1 at each of :data:`DECAYS` (fractions of ``steps``).

    Each constant-lr segment draws its minibatch order from its own child of ``seq`` (so a run stopped
    early, ``stop < steps``, is exactly the prefix of the full run); momentum restarts at each decay.
    """
    stop = steps if stop is None else int(stop)
    edges = [0] + [int(round(f * steps)) for f in DECAYS] + [steps]
    segs = children(seq, len(edges) - 1)
    theta = np.array(theta, dtype=float)
    if mask is not None:
        theta[~mask] = 0.0
    for s, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        n_steps = min(b, stop) - a
        if n_steps <= 0:
            break
        res = net.train(theta, X, y, optimizer="sgd", lr=lr * 0.1**s, steps=n_steps,
                        batch_size=batch if batch < X.shape[0] else None, momentum=momentum, mask=mask,
                        rng=generator(segs[s]))
        theta = res.theta
        if not res.finite:
            raise FloatingPointError(f"training diverged at lr {lr * 0.1**s:g}, batch {batch}; lower lr.")
    return theta


def rel_error(net, theta, X, y):
    """The task's error: squared loss, mean squared error relative to ``Var(y)`` of the same sample;
    cross-entropy, the classification error (fraction misclassified)."""
    out = net.predict(theta, X)
    if net.loss == "cross_entropy":
        return float(np.mean(np.argmax(out, axis=1) != y))
    return float(np.mean((out - y) ** 2) / np.var(y))


def outputs(net, theta, X):
    """What CKA compares: regression outputs, or softmax probabilities (as Zhou et al.)."""
    out = net.predict(theta, X)
    if net.loss == "cross_entropy":
        e = np.exp(out - out.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return out


def magnitude_mask(net, theta, density):
    """One-shot magnitude pruning, the same density in every layer but the last (which stays dense, like the
    final layer in Zhou et al.): in each, keep the ``round(density * size)`` largest ``|w|``."""
    density = check_density(density, "density")
    mask = np.ones(theta.size, dtype=bool)
    for layer in range(len(net.sizes) - 2):
        a, b = net.layer_block(layer)
        k = max(1, int(round(density * (b - a))))
        order = np.argsort(-np.abs(theta[a:b]), kind="stable")
        mask[a:b] = False
        mask[a + order[:k]] = True
    return mask
