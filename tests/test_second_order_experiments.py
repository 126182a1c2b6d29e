"""The second-order experiments on small networks: determinism, the tidy tables, brute-force checks."""

import csv

import numpy as np
import pytest
from numpy.testing import assert_allclose

pytest.importorskip("sklearn")
import simulations as network_mod

from linear_models import second_order as so  # noqa: E402
from pruning_checks import keep_count  # noqa: E402
from simulations.second_order import cbs_table as T  # noqa: E402
from simulations.second_order import digits_mlp as E  # noqa: E402
from simulations.second_order import loss_modelling as LM  # noqa: E402

SMALL = (64, 16, 10)            # 1,184 weights: the experiments' pipeline at a size the default suite affords


@pytest.mark.slow
def test_table_rows_are_bitwise_identical_for_any_worker_count():
    tasks = [T._TableTask("digits", s, (0.5, 0.9), E.DAMPING, E.METHODS, 3, sizes=SMALL) for s in range(2)]
    serial = T.table_rows(tasks, n_jobs=1)
    parallel = T.table_rows(tasks, n_jobs=2)
    assert serial == parallel            # dict equality of floats: bitwise
    methods = {r["method"] for r in serial}
    assert methods == set(E.METHODS) | {"dense", "fisher"}
    accs = [r["value"] for r in serial if r["metric"] == "test_accuracy"]
    assert all(0.0 <= a <= 1.0 for a in accs)
    # the dense network learned (a 1,184-weight net on digits: far above the 10% of chance)
    assert min(r["value"] for r in serial if r["method"] == "dense" and r["metric"] == "test_accuracy") > 0.6
    # a different seed is a different network
    a = [r["value"] for r in serial if r["seed"] == 0 and r["metric"] == "test_accuracy"]
    b = [r["value"] for r in serial if r["seed"] == 1 and r["metric"] == "test_accuracy"]
    assert a != b


def test_cbs_in_the_pipeline_never_raises_the_masked_training_loss_of_its_start():
    data = E.load_data("digits")
    net = E.network(sizes=SMALL)
    theta = E.train_dense(net, data, 0)
    Xtr, ytr = data.X_train, data.y_train.astype(float)
    fisher = so.empirical_fisher(net.per_sample_gradients(theta, Xtr, ytr), relative_damping=E.DAMPING, inverse=True)
    loss = lambda v: net.loss_value(v, Xtr, ytr)
    for keep in (0.3, 0.1):
        res = so.cbs(theta, fisher, keep, loss=loss, rng=0, n_starts=5, update=False)
        start = so.top_mask(np.abs(theta), keep_count(keep, theta.size))
        assert loss(res.weights) <= loss(np.where(start, theta, 0.0))      # start 0 of RMP is magnitude
        assert res.info["search"].objective <= res.info["search"].start_objective


def test_per_sample_gradients_and_fisher_match_finite_differences_on_a_tiny_network():
    """6-4-3 network: the empirical Fisher from the engine's per-sample gradients equals one built
    from central finite differences of each sample's loss (relative error <= 1e-6)."""
    net = network_mod.Network((6, 4, 3), activation="tanh", loss="cross_entropy")
    rng = np.random.default_rng(0)
    theta = net.init(1.0, rng)
    X = rng.standard_normal((7, 6))
    y = rng.integers(0, 3, 7).astype(float)
    G = net.per_sample_gradients(theta, X, y)
    h = 1e-6
    Gfd = np.empty_like(G)
    for q in range(theta.size):
        e = np.zeros(theta.size)
        e[q] = h
        for i in range(7):
            Gfd[i, q] = (net.loss_value(theta + e, X[i:i + 1], y[i:i + 1])
                         - net.loss_value(theta - e, X[i:i + 1], y[i:i + 1])) / (2 * h)
    assert np.max(np.abs(G - Gfd)) <= 1e-6 * np.max(np.abs(Gfd))
    F = so.empirical_fisher(G, relative_damping=0.1).matrix
    Ffd = Gfd.T @ Gfd / 7
    Ffd[np.diag_indices_from(Ffd)] += 0.1 * np.mean(np.diag(Gfd.T @ Gfd / 7))
    assert_allclose(F, Ffd, rtol=1e-6, atol=1e-6 * np.max(np.abs(Ffd)))


def test_step_by_step_pruning_on_the_network_recomputes_statistics():
    data = E.load_data("digits")
    tasks = [LM._LMTask("digits", 0, 0.8, (("magnitude", 1, 0.0), ("taylor2", 1, 0.0), ("taylor2", 5, 0.0),
                                           ("hessian", 5, 1e-2)), 1, sizes=SMALL)]
    rows = LM.lm_rows(tasks)
    got = {(r["method"], r["steps"], r["penalty"], r["metric"]): r["value"] for r in rows}
    assert got[("taylor2", 1, 0.0, "train_loss_after_pruning")] != got[("taylor2", 5, 0.0, "train_loss_after_pruning")]
    assert all(0 <= v <= 1 for k, v in got.items() if k[3].startswith("test_accuracy"))
    assert data.n_classes == 10


def test_spearman_and_bootstrap_interval():
    a = np.arange(10.0)
    assert LM.spearman(a, a ** 3) == pytest.approx(1.0)
    assert LM.spearman(a, -a) == pytest.approx(-1.0)
    est, lo, hi = LM.bootstrap_spearman(a, -a + 0.1 * np.random.default_rng(0).standard_normal(10),
                                       np.random.default_rng(1), n_boot=200)
    assert lo <= est <= hi and hi < 0


@pytest.mark.slow
def test_cbs_table_quick_writes_the_named_outputs(tmp_path):
    paths = T.cbs_table(tmp_path, quick=True)
    assert [p.name for p in paths] == ["cbs-table.png", "cbs-table.pdf", "cbs-table.csv", "cbs-table.md"]
    with open(paths[2]) as fh:
        rows = list(csv.DictReader(fh))
    assert set(E.CSV_COLUMNS) <= set(rows[0])
    acc = [r for r in rows if r["metric"] == "test_accuracy" and r["method"] in E.METHODS]
    assert {r["method"] for r in acc} == set(E.METHODS) and {r["data"] for r in acc} == {"digits"}
    assert all(0 <= float(r["value"]) <= 1 for r in acc)
