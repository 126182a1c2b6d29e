"""The criterion registry: a criterion written here, with no change to the package, runs through every
pruning entry point; one scoring ``abs(w)**3`` ranks exactly as magnitude, so it must give magnitude's masks
and risks bit for bit everywhere (and ``sqrt(h) abs(w)`` exactly OBD's)."""

import json

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import asymptotics
import linear_models
from asymptotics import Spectrum
from linear_models import criterion_names, get_criterion, prune, register_criterion, unregister_criterion
from linear_models.criteria import Stats
from simulations import monte_carlo, network_experiment
from simulations.plotting import color, new_figure, plot_curves
from simulations.runtime.sweep import load_config, run_sweep


def cube(w, stats):
    return np.abs(w) ** 3


def sqrt_obd(w, stats):
    return np.sqrt(stats.hessian_diag) * np.abs(w)


@pytest.fixture(scope="module", autouse=True)
def registered():
    register_criterion("cube", cube, label="|w|^3", color="#123456", marker="p")
    register_criterion("sqrt_obd", sqrt_obd, needs=("hessian_diag",))
    yield
    unregister_criterion("cube")
    unregister_criterion("sqrt_obd")


def test_every_theory_criterion_is_in_the_registry():
    assert set(asymptotics.CRITERIA) <= set(criterion_names())
    assert set(asymptotics.BLOCK_CRITERIA) <= set(criterion_names())      # obs, joint: docs/theory.md Section 10
    assert set(linear_models.CRITERIA) <= set(criterion_names())


def test_prune_gives_magnitudes_masks_and_updates():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 12))
    H = X.T @ X
    for _ in range(20):
        w = rng.standard_normal(12)
        for keep in (1, 0.25, 0.5, 11, 1.0):
            a, b = prune(w, keep, "cube"), prune(w, keep, "magnitude")
            assert_array_equal(a.mask, b.mask)
            assert_array_equal(a.weights, b.weights)
            a, b = prune(w, keep, "cube", hessian=H, update="obs"), prune(w, keep, "magnitude", hessian=H, update="obs")
            assert_array_equal(a.weights, b.weights)
            assert a.loss_increase == b.loss_increase
        assert_array_equal(prune(w, 5, "sqrt_obd", hessian=H).mask, prune(w, 5, "hessian", hessian=H).mask)


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_monte_carlo_gives_magnitudes_risks(n_jobs):
    spec = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3))
    res = monte_carlo(spec, 60, 0.6, 0.5, keep=[0.1, 0.3, 1.0], criteria=("magnitude", "cube", "hessian", "sqrt_obd"),
                      trials=12, seed=3, n_jobs=n_jobs, retrain="fresh", ridge=0.1)
    assert_array_equal(res.samples["cube"], res.samples["magnitude"])
    assert_array_equal(res.samples["sqrt_obd"], res.samples["hessian"])
    assert not np.array_equal(res.samples["cube"], res.samples["hessian"])      # the comparison could fail


def test_network_experiment_gives_magnitudes_losses():
    kw = dict(d=6, width=5, n_train=120, n_test=200, groups=((3, 3.0, 0.5), (3, 1.0, 0.5)), steps=60, keep=(0.2, 0.5),
              trials=2, seed=1, importance_samples=300, finetune_steps=5)
    res = network_experiment(**kw, criteria=("magnitude", "cube", "hessian", "sqrt_obd"))
    assert_array_equal(res.samples["cube"], res.samples["magnitude"])
    assert_array_equal(res.samples["sqrt_obd"], res.samples["hessian"])
    assert res.importance_corr["cube"] == res.importance_corr["magnitude"]


def test_sweep_gives_magnitudes_rows_and_no_theory(tmp_path):
    cfg = dict(spectrum=dict(variances=[1.0, 25.0], signal=[1.0, 0.3]), p=40, noise=0.5, trials=4, kappa=[2.0],
               keep=[0.25, 1.0], criteria=["magnitude", "cube"])
    res = run_sweep(cfg, tmp_path / "s", progress=False)[0]
    assert_array_equal(res["mean"][0], res["mean"][1])
    assert np.all(np.isfinite(res["theory"][0])) and np.all(np.isnan(res["theory"][1]))   # no formula for cube
    stored = json.loads((tmp_path / "s" / "config.json").read_text())["config"]
    assert stored["criteria"] == ["magnitude", "cube"] and load_config(cfg)["criteria"] == ["magnitude", "cube"]


def test_figure_helpers_use_the_registered_style():
    fig, (ax,) = new_figure(1)
    x = np.linspace(0.1, 1.0, 4)
    plot_curves(ax, x, {"cube": x}, x, {"cube": x}, {"cube": 0.1 * x})
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["|w|^3 (theory)", "|w|^3 (simulation)"] and color("cube") == "#123456"


def test_a_registered_name_or_a_bad_score_is_refused_in_one_line():
    with pytest.raises(ValueError, match="'magnitude' is already a registered criterion"):
        register_criterion("magnitude", cube)
    with pytest.raises(TypeError, match="score must be callable"):
        register_criterion("x1", 3.0)
    with pytest.raises(ValueError, match="needs contains 'hessain'"):
        register_criterion("x2", cube, needs=("hessain",))
    register_criterion("bad_shape", lambda w, stats: np.ones(w.size + 1))
    register_criterion("bad_nan", lambda w, stats: np.full(w.size, np.nan))
    try:
        with pytest.raises(ValueError, match=r"'bad_shape' returned scores of shape \(5,\), must be \(4,\)"):
            prune(np.ones(4), 2, "bad_shape")
        with pytest.raises(ValueError, match="'bad_nan' returned non-finite scores"):
            prune(np.ones(4), 2, "bad_nan")
    finally:
        unregister_criterion("bad_shape")
        unregister_criterion("bad_nan")
    with pytest.raises(ValueError, match="built-in criterion and cannot be removed"):
        unregister_criterion("magnitude")


def test_missing_needs_are_refused_before_work():
    with pytest.raises(ValueError, match="hessian is required for criterion 'sqrt_obd'"):
        prune(np.ones(4), 2, "sqrt_obd")
    with pytest.raises(ValueError, match="criterion 'sqrt_obd' needs grad"):
        Stats(criterion="sqrt_obd").grad
    with pytest.raises(ValueError, match="a selection algorithm"):
        monte_carlo(Spectrum.isotropic(), 20, 2.0, 0.5, criteria=("obs",), trials=2)
    register_criterion("needs_inverse", lambda w, s: np.diag(s.hessian_inverse), needs=("hessian_inverse",))
    try:
        with pytest.raises(ValueError, match="'needs_inverse', which needs hessian_inverse"):
            monte_carlo(Spectrum.isotropic(), 20, 2.0, 0.5, criteria=("needs_inverse",), trials=2)
    finally:
        unregister_criterion("needs_inverse")


def test_stream_keys_are_fixed_by_name():
    keys = {c: get_criterion(c).stream for c in criterion_names()}
    assert len(set(keys.values())) == len(keys)
    unregister_criterion("cube")
    register_criterion("cube", cube, label="|w|^3", color="#123456", marker="p")
    assert get_criterion("cube").stream == keys["cube"]               # not its position in the registry
