"""Biases, pruned layers and layer-wise scope in the second-order experiments (digits, MLPNet, MNIST-1D).

Each result is checked against an independent computation: the defaults against the library calls of
the original pipeline, layer scope against a NumPy re-implementation of magnitude pruning layer by
layer, biases against the trained parameters they must keep.
"""

import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")

from linear_models import second_order as so  # noqa: E402
from linear_models.cbs import quotas  # noqa: E402
from simulations import Network  # noqa: E402
from simulations.networks.datasets import teacher  # noqa: E402
from simulations.second_order import cbs_table as T  # noqa: E402
from simulations.second_order import digits_mlp as E  # noqa: E402
from simulations.second_order import loss_modelling as LM  # noqa: E402
from simulations.second_order import mlpnet_table as mt  # noqa: E402

SMALL = (64, 16, 10)            # 1,184 weights
DEEP = (64, 12, 8, 10)          # three layers: 768 + 96 + 80 weights


def _np_layer_magnitude(theta, blocks, keep):
    """Magnitude pruning of each ``[a, b)`` of ``theta`` alone, by NumPy: the ``round(keep * n)`` largest
    ``abs`` kept (stable order among equals), everything outside the blocks untouched."""
    out = theta.copy()
    for a, b in blocks:
        w = theta[a:b]
        k = max(1, int(round(keep * (b - a))))
        kept = np.argsort(-np.abs(w), kind="stable")[:k]
        part = np.zeros_like(w)
        part[kept] = w[kept]
        out[a:b] = part
    return out


def _record(monkeypatch, module):
    """Make ``module.accuracy`` also record every parameter vector it is given."""
    seen = []
    real = module.accuracy

    def accuracy(net, theta, X, y):
        seen.append(theta.copy())
        return real(net, theta, X, y)
    monkeypatch.setattr(module, "accuracy", accuracy)
    return seen


# ------------------------------------------------------------------------------------------------ defaults
def test_default_table_rows_are_the_library_calls_of_the_global_pipeline():
    """No bias, every layer, one global selection: the rows are those of ``so.magnitude`` / ``so.woodfisher`` /
    ``so.obs`` on the whole trained vector with its full empirical Fisher, to the bit."""
    task = T._TableTask("digits", 0, (0.5, 0.9), E.DAMPING, ("magnitude", "woodfisher", "obs"), 1, sizes=SMALL)
    assert task == T._TableTask("digits", 0, (0.5, 0.9), E.DAMPING, ("magnitude", "woodfisher", "obs"), 1,
                                sizes=SMALL, bias=False, layers=None, scope="global")
    got = {(r["method"], r["sparsity"], r["metric"]): r["value"] for r in T.table_rows([task])}
    data = E.load_data("digits")
    net = Network(SMALL, "relu", "cross_entropy")
    theta = E.train_dense(net, data, 0)
    fisher = so.empirical_fisher(net.per_sample_gradients(theta, data.X_train, data.y_train.astype(float)),
                                 relative_damping=E.DAMPING, inverse=True)
    assert got[("fisher", 0.0, "absolute_damping")] == fisher.damping
    order = so.obs_order(theta, fisher, theta.size - round(0.1 * theta.size))
    for s in (0.5, 0.9):
        for m, res in (("magnitude", so.magnitude(theta, 1 - s)), ("woodfisher", so.woodfisher(theta, fisher, 1 - s)),
                       ("obs", so.obs(theta, fisher, 1 - s, order=order))):
            assert got[(m, s, "test_accuracy")] == E.accuracy(net, res.weights, data.X_test, data.y_test)
            assert got[(m, s, "train_loss")] == net.loss_value(res.weights, data.X_train, data.y_train.astype(float))


# ------------------------------------------------------------------------------------------------ selection
def test_selection_counts_follow_round_keep_n_per_layer_or_quotas_for_counts():
    net = Network(DEEP, "relu", "cross_entropy", bias=True)
    sizes = [768, 96, 80]
    glob = E.selection(net)
    assert glob.groups == ((0, 944),) and glob.d == net.n_weights and not glob.everything
    assert glob.counts(0.3) == [round(0.3 * 944)]
    lay = E.selection(net, scope="layer")
    assert lay.groups == ((0, 768), (768, 864), (864, 944)) and lay.layer_sizes == tuple(sizes)
    assert lay.counts(0.3) == [round(0.3 * n) for n in sizes] == [230, 29, 24]
    assert lay.counts(100) == list(quotas(sizes, 100)) and sum(lay.counts(100)) == 100
    with pytest.raises(ValueError, match="keep == 2 is too few for scope 'layer'"):
        lay.counts(2)
    part = E.selection(net, layers=[-1, 0], scope="layer")
    assert part.layers == (0, 2) and np.array_equal(part.index, np.r_[0:768, 864:944])
    assert part.groups == ((0, 768), (768, 848))
    assert np.all(part.index < net.n_weights)                          # never a bias
    bias_free = E.selection(Network(DEEP, "relu", "cross_entropy"))
    assert bias_free.everything and bias_free.layers is None


def test_layer_scope_magnitude_prunes_each_layer_alone():
    """Layer scope keeps ``round(keep * n_l)`` of each layer, and the pruned network is NumPy's magnitude
    pruning of each layer alone; the CBS table's row is the accuracy of that network to the bit."""
    task = T._TableTask("digits", 1, (0.7,), E.DAMPING, ("magnitude",), 1, sizes=DEEP, scope="layer")
    got = {(r["method"], r["metric"]): r["value"] for r in T.table_rows([task])}
    data = E.load_data("digits")
    net = Network(DEEP, "relu", "cross_entropy")
    theta = E.train_dense(net, data, 1)
    blocks = [net.layer_block(l) for l in range(3)]
    ref = _np_layer_magnitude(theta, blocks, 0.3)
    assert [int(np.count_nonzero(ref[a:b])) for a, b in blocks] == [230, 29, 24]
    assert got[("magnitude", "test_accuracy")] == E.accuracy(net, ref, data.X_test, data.y_test)
    assert got[("magnitude", "train_loss")] == net.loss_value(ref, data.X_train, data.y_train.astype(float))
    sel = E.selection(net, scope="layer")
    w, mask, parts = E.prune_groups(sel, 0.3, lambda g, k: so.magnitude(sel.weights(theta, g), k))
    assert np.array_equal(w, ref) and len(parts) == 3
    assert [int(mask[a:b].sum()) for a, b in sel.groups] == [230, 29, 24]


# ------------------------------------------------------------------------------------------------ biases
def test_biases_are_kept_and_the_fisher_is_over_the_pruned_weights(monkeypatch):
    seen = _record(monkeypatch, T)
    dims = []
    real = so.empirical_fisher

    def fisher(G, **kw):
        dims.append(np.shape(G)[1])
        return real(G, **kw)
    monkeypatch.setattr(T.so, "empirical_fisher", fisher)
    for scope, layers, want in (("global", None, [944]), ("layer", None, [768, 96, 80]), ("global", (1, 2), [176])):
        seen.clear()
        dims.clear()
        task = T._TableTask("digits", 0, (0.6,), E.DAMPING, ("magnitude", "woodfisher", "obs"), 1, sizes=DEEP,
                            bias=True, layers=layers, scope=scope)
        T.table_rows([task])
        assert dims == want
        net = Network(DEEP, "relu", "cross_entropy", bias=True)
        dense, pruned = seen[0], seen[1:]
        assert np.any(dense[net.n_weights:] != 0)                      # the biases were trained
        sel = E.selection(net, layers, scope)
        untouched = np.setdiff1d(np.arange(net.n_params), sel.index)
        for th in pruned:
            assert np.array_equal(th[untouched], dense[untouched])     # biases and unpruned layers as trained
            assert [int(np.count_nonzero(th[sel.index[a:b]])) for a, b in sel.groups] == sel.counts(0.4)


def test_mlpnet_run_seed_with_biases_and_layer_scope(monkeypatch):
    """Block-wise Fisher: layer scope with biases keeps each layer's count and every bias, and the block
    Fisher covers the pruned weights only; the default rows equal an explicit bias-free global run."""
    data = teacher(0, n_train=300, n_val=50, n_test=200, d=8, hidden=(6,), n_classes=10)
    kw = dict(sparsities=(0.5,), block_size=64, n_fisher=200, n_starts=1, epochs=1)
    assert mt.run_seed(data, 0, **kw) == mt.run_seed(data, 0, bias=False, layers=None, scope="global", **kw)
    seen = _record(monkeypatch, mt)
    blocks = []
    real = mt.block_fisher

    def block_fisher(chunks, bl, **k):
        blocks.append(list(bl))
        return real(chunks, bl, **k)
    monkeypatch.setattr(mt, "block_fisher", block_fisher)
    rows = mt.run_seed(data, 0, bias=True, scope="layer", layers=(0, 2), **kw)
    net = Network((8, 40, 20, 10), "relu", "cross_entropy", bias=True)
    sel = E.selection(net, (0, 2), "layer")
    assert blocks[0][-1][1] == sel.d == 320 + 200
    assert all(b - a <= 64 for a, b in blocks[0])
    dense = seen[0]
    untouched = np.setdiff1d(np.arange(net.n_params), sel.index)
    assert len(seen) == 1 + len(mt.METHODS)
    for th in seen[1:]:
        assert np.array_equal(th[untouched], dense[untouched])
        assert [int(np.count_nonzero(th[sel.index[a:b]])) for a, b in sel.groups] == [160, 100]
    assert {r["method"] for r in rows} == {"dense", *mt.METHODS}


# ------------------------------------------------------------------------------------------------ loss modelling
def test_loss_modelling_on_mnist1d_with_biases_and_layer_scope(monkeypatch):
    pytest.importorskip("mnist1d")
    got = []
    monkeypatch.setattr(LM, "fine_tune", lambda net, data, theta, mask, *a, **k: (got.append((theta, mask)) or
                                                                                  (theta, 0)))
    task = LM._LMTask("mnist1d", 0, 0.8, (("magnitude", 1, 0.0), ("taylor2", 2, 0.0)), 0, sizes=(40, 12, 10),
                      bias=True, scope="layer", dense=True)
    rows = LM.lm_rows([task])
    net = Network((40, 12, 10), "relu", "cross_entropy", bias=True)
    assert [r["method"] for r in rows[:2]] == ["dense", "dense"] and 0.1 < rows[0]["value"] <= 1
    for theta, mask in got:
        assert mask.shape == (net.n_params,) and mask[net.n_weights:].all()
        assert [int(mask[a:b].sum()) for a, b in (net.layer_block(0), net.layer_block(1))] == [96, 24]
        assert np.all(theta[~mask] == 0)
    assert np.array_equal(got[0][0][net.n_weights:], got[1][0][net.n_weights:])     # biases as trained


def test_loss_modelling_cli_refuses_missing_mnist1d_before_work(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.setattr(LM, "lm_rows", lambda *a, **k: pytest.fail("ran before checking"))
    with pytest.raises(ImportError, match=r"^loss_modelling needs mnist1d.*pip install -e '\.\[mnist1d\]'"):
        LM.loss_modelling(tmp_path / "out", quick=True, data="mnist1d")
    with pytest.raises(SystemExit, match=r"error: loss_modelling needs mnist1d, which is not installed"):
        LM.main(["--data", "mnist1d", "--quick", "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit, match=r"error: layers\[0\] == 4"):
        LM.main(["--layers", "4", "--quick", "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kw, exc, match", [
    (dict(scope="layers"), ValueError, r"^scope == 'layers'"),
    (dict(layers=3), ValueError, r"^layers\[0\] == 3"),
    (dict(layers=[]), ValueError, r"^layers == \[\]"),
    (dict(bias="yes"), TypeError, r"^bias == 'yes', must be True or False"),
    (dict(data="mnist1d", sizes=(64, 10)), ValueError, r"^sizes == \(64, 10\): mnist1d has 40 features"),
])
def test_bad_options_are_named_before_any_work(kw, exc, match, monkeypatch, tmp_path):
    monkeypatch.setattr(E, "load_data", lambda *a: pytest.fail("loaded before checking"))
    base = dict(data="digits", sizes=SMALL) | kw
    with pytest.raises(exc, match=match):
        T._TableTask(base.pop("data"), 0, (0.5,), 0.1, ("magnitude",), 1, **base)
    base = dict(data="digits", sizes=SMALL) | kw
    with pytest.raises(exc, match=match):
        LM._LMTask(base.pop("data"), 0, 0.5, (("magnitude", 1, 0.0),), 1, **base)
    if "sizes" not in kw:
        monkeypatch.setattr(LM, "lm_rows", lambda *a, **k: pytest.fail("ran before checking"))
        with pytest.raises(exc, match=match):
            LM.loss_modelling(tmp_path, quick=True, **kw)
        monkeypatch.setattr(Network, "train", lambda *a, **k: pytest.fail("trained before checking"))
        data = teacher(0, n_train=30, n_val=5, n_test=20, d=8, hidden=(6,), n_classes=10)
        with pytest.raises(exc, match=match):
            mt.run_seed(data, 0, **kw)


def test_mlpnet_cli_checks_its_flags_before_loading(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(mt, "load", lambda *a: pytest.fail("loaded before checking"))
    with pytest.raises(SystemExit, match=r"error: layers\[0\] == 7"):
        mt.main(["--data", "synthetic", "--layers", "7", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        mt.main(["--data", "synthetic", "--scope", "neuron", "--out", str(tmp_path)])
    assert "invalid choice: 'neuron'" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"^sparsities\[0\] == 1.0"):
        mt.run_seed(teacher(0, n_train=30, n_val=5, n_test=20, d=8, hidden=(6,), n_classes=10), 0, sparsities=(1.0,))
    assert mt.option_suffix(True, (0, 2), "layer") == "-bias-layers0-2-layer" and mt.option_suffix() == ""


def test_mnist1d_summary_sets_the_dense_network_beside_the_published_baselines():
    task = LM._LMTask("mnist1d", 0, 0.9, (("magnitude", 1, 0.0),), 0, bias=True, scope="layer", dense=True)
    rows = [E.row("loss-modelling", "mnist1d", m, 0.0, "test_accuracy", v, s)
            for m, vals in (("dense", (0.60, 0.62)), ("mlp", (0.66,)), ("logistic", (0.30, 0.31, 0.32)))
            for s, v in enumerate(vals)]
    md = LM.dense_summary(rows, task)
    assert md.startswith("### mnist1d: dense 40-100-100-10, with biases (not pruned), the same fraction of each "
                         "layer: test accuracy (%) 61.00 +- 1.00 over 2 seed(s) (Adam, lr 0.01, batch 100, 30 epochs)")
    assert "| MLP 40-100-100-10 | about 68 | 66.00 (one seed) |" in md
    assert "| logistic regression 40-10 | about 32 | 31.00 +- 0.58 (3 seeds) |" in md
    assert E.pm(0.5, float("nan"), 100) == "50.00 (one seed)" and E.pm(float("nan"), 0.1) == "cannot be assessed"
    with pytest.raises(ValueError, match=r"^seeds == 0"):
        E.mnist1d_baselines(0)
