"""network_experiment with biases, the layers named and layer-wise or global sparsity allocation.

With ``steps=0`` the trained network is its initialization, which the test draws itself from the
documented stream, so the masks can be checked against a NumPy top-k written here.
"""

import warnings

import numpy as np
import pytest

from linear_models.cbs import quotas
from simulations import Network, network_experiment
from simulations.experiments import network_experiment as ne
from simulations.runtime.seeds import stream
from simulations.runtime.sweep import load_config, run_sweep

D, M = 4, 3                       # first layer 12 weights, second layer 3, biases 3 + 1
KW = dict(d=D, width=M, n_train=50, n_test=50, groups=((D, 1.0, 1.0),), steps=0, trials=2, init=1.0,
          importance_samples=50)


def run(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return network_experiment(**{**KW, **kw})


def initial(t, bias, seed=0):
    return Network((D, M, 1), "relu", "squared", bias=bias).init(KW["init"], stream(seed, t, ne.STREAM_INIT))


def top(a, k):
    """Boolean mask of the ``k`` largest entries of ``a`` (no ties in these draws)."""
    m = np.zeros(a.size, dtype=bool)
    m[np.argsort(-a)[:k]] = True
    return m


@pytest.mark.parametrize("bias", [False, True])
def test_layer_scope_keeps_the_fraction_of_every_layer(bias):
    res = run(criteria=("magnitude", "random"), keep=(0.5, 0.25, 5), prune_layers="all", scope="layer", bias=bias)
    idx = res.extras["pruned_indices"]
    assert np.array_equal(idx, np.arange(D * M + M))            # weights only: biases are not pruned
    counts = np.array([[6, 2], [3, 1], list(quotas([12, 3], 5))])  # round(0.5 * 3) == 2, round(0.75) == 1
    assert np.array_equal(res.keep_counts, counts.sum(axis=1))
    layers = (np.arange(12), np.arange(12, 15))
    for t in range(2):
        theta = initial(t, bias)
        for k in range(3):
            for c in ("magnitude", "random"):
                mask = res.extras["masks"][c][t, k]
                assert [int(mask[l].sum()) for l in layers] == list(counts[k])
            mag = res.extras["masks"]["magnitude"][t, k]
            for l, n in zip(layers, counts[k]):
                assert np.array_equal(mag[l], top(np.abs(theta[l]), n))
        rnd = res.extras["masks"]["random"][t]
        assert not np.any(rnd[1] & ~rnd[0])                      # nested: 0.25 inside 0.5


def test_global_scope_is_one_selection_over_the_layers():
    res = run(criteria=("magnitude",), keep=(0.4,), prune_layers="all", bias=True)
    k = int(round(0.4 * 15))
    for t in range(2):
        theta = initial(t, True)
        assert np.array_equal(res.extras["masks"]["magnitude"][t, 0], top(np.abs(theta[:15]), k))


def test_biases_are_pruned_only_when_asked():
    res = run(criteria=("magnitude",), keep=(0.5,), prune_layers="all", bias=True, prune_biases=True, scope="layer")
    assert np.array_equal(res.extras["pruned_indices"], np.arange(19))
    # layer 0: 12 weights + 3 biases, layer 1: 3 weights + 1 bias; biases start at 0, so they go first
    mask = res.extras["masks"]["magnitude"][0, 0]
    assert mask[np.r_[0:12, 15:18]].sum() == round(0.5 * 15) and mask[np.r_[12:15, 18]].sum() == 2
    assert not mask[15:].any()


def test_second_layer_only_and_its_importance_correlation():
    res = run(criteria=("magnitude", "oracle", "obs"), keep=(2,), prune_layers=[1], bias=True)
    assert np.array_equal(res.extras["pruned_indices"], np.arange(12, 15))
    assert res.extras["masks"]["oracle"].shape == (2, 1, 3)
    assert np.all(np.isfinite(res.extras["group_importance"]))     # the first layer's importance is still measured
    assert res.importance_corr["oracle"] == pytest.approx(1.0)


def test_one_layer_layer_scope_equals_global_for_deterministic_criteria():
    a = run(criteria=("magnitude", "obs", "hessian"), keep=(0.3, 0.6), steps=20, finetune_steps=5)
    b = run(criteria=("magnitude", "obs", "hessian"), keep=(0.3, 0.6), steps=20, finetune_steps=5, scope="layer")
    for c in ("magnitude", "obs", "hessian"):
        assert np.array_equal(a.samples[c], b.samples[c])


def test_biases_change_the_trained_network_and_zero_steps_do_not():
    a, b = run(criteria=("magnitude",), keep=(0.5,)), run(criteria=("magnitude",), keep=(0.5,), bias=True)
    assert np.array_equal(a.samples["magnitude"], b.samples["magnitude"])      # biases start at 0
    a, b = (run(criteria=("magnitude",), keep=(0.5,), steps=30, bias=bias) for bias in (False, True))
    assert not np.array_equal(a.samples["dense"], b.samples["dense"])


@pytest.mark.parametrize("bad, match", [
    (dict(prune_layers=2), "prune_layers == 2, the network has 2 weight matrices"),
    (dict(prune_layers=[0, 1.5]), "prune_layers\\[1\\] == 1.5"),
    (dict(prune_layers=[]), "prune_layers == \\[\\]"),
    (dict(prune_layers="second"), "prune_layers"),
    (dict(scope="local"), "scope"),
    (dict(bias="yes"), "bias must be a bool"),
    (dict(prune_biases=True), "prune_biases == True needs bias == True"),
    (dict(prune_layers="all", scope="layer", keep=1), "keep == 1 is too few for scope 'layer'"),
])
def test_bad_selection_is_refused_before_any_work(bad, match):
    with pytest.raises((TypeError, ValueError), match=match):
        network_experiment(**{**KW, "criteria": ("magnitude",), "keep": (0.5,), **bad})


def test_sweep_accepts_the_selection_fields(tmp_path):
    cfg = dict(kind="network", seed=1, d=D, trials=2, keep=[0.5], width=M, steps=5, n_train=50, n_test=50,
               importance_samples=50, criteria=["magnitude", "random"], groups=[[D, 1.0, 1.0]],
               prune_layers=[0, 1], scope="layer", bias=True)
    assert load_config(cfg)["prune_layers"] == [0, 1]
    run_sweep(cfg, tmp_path / "store", progress=False)
    with pytest.raises(Exception, match="scope"):
        load_config(dict(cfg, scope="both"))
