"""Defect classes of the network half (networks, experiments, second order, regimes, CLI), a test or a few
per class (issue 14, sections 2, 4, 7 and 8):

* non-finite values laundered into plausible numbers (the ReLU kernel, non-finite parameters, diverged
  training, degenerate data, summaries of non-finite inputs);
* unbounded allocation instead of an error (refused from the arguments, before any work);
* one meaning per argument, entry by entry (keep counts and fractions; hints that lead to another error);
* deep or unclear errors and silently accepted input (types, seeds, empty or repeated grids, output paths).
"""

import json
import re
import warnings

import numpy as np
import pytest

from simulations import network_experiment
from simulations.networks import _kernels as K
from simulations.networks.model import Network


def _small_net():
    net = Network((3, 4, 1), "relu", "squared")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3))
    return net, net.init(1.0, rng), X, X[:, 0].copy()


SMALL = dict(d=4, width=4, n_train=60, n_test=60, groups=((4, 1.0, 1.0),), steps=40, trials=2,
             criteria=("magnitude",), keep=(0.5,), importance_samples=60)


def _no_training(monkeypatch):
    """Training is work: a refused call must fail before it."""
    def train(*a, **k):
        raise AssertionError("trained before refusing the arguments")
    monkeypatch.setattr(Network, "train", train)


def _set_limit(monkeypatch, nbytes):
    """Lower the memory limit (a module constant read at call time) so that nothing large is attempted."""
    import simulations.networks.memory as memory     # imported here: on code without it, the test fails alone

    monkeypatch.setattr(memory, "MEMORY_LIMIT", nbytes)


# ------------------------------------------------------------------------------------------------------------
# 2. non-finite values laundered into plausible numbers
# ------------------------------------------------------------------------------------------------------------

def test_relu_kernel_propagates_nan():
    """The ReLU kernel computed ``z if z > 0 else 0`` (NaN -> 0): a network of NaN parameters predicted 0."""
    assert np.isnan(K._act(np.nan, K.RELU)) and K._act(-1.0, K.RELU) == 0.0 and K._act(2.0, K.RELU) == 2.0
    assert np.isnan(K._dact(np.nan, np.nan, K.RELU))
    net, theta, X, _ = _small_net()
    out = np.empty((X.shape[0], 1))
    K.predict(np.full(theta.size, np.nan), np.array(net.sizes, dtype=np.int64), K.RELU, X, out)
    assert np.all(np.isnan(out))
    bad = theta.copy()
    bad[:12] = np.nan                               # only the first layer: hidden pre-activations are NaN
    K.predict(bad, np.array(net.sizes, dtype=np.int64), K.RELU, X, out)
    assert np.all(np.isnan(out))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("method", ["predict", "loss_value", "loss_and_grad", "per_sample_gradients",
                                    "ggn_diagonal", "ggn_matrix", "ablation_importance", "train"])
def test_network_methods_refuse_non_finite_theta(method, value):
    net, theta, X, y = _small_net()
    theta = theta.copy()
    theta[5] = value
    args = (theta, X) if method in ("predict", "ggn_diagonal", "ggn_matrix") else (theta, X, y)
    kw = dict(steps=2) if method == "train" else {}
    with pytest.raises(ValueError, match=r"^theta\[5\] == .*must be finite"):
        getattr(net, method)(*args, **kw)


@pytest.mark.parametrize("method", ["predict", "loss_value", "loss_and_grad", "per_sample_gradients",
                                    "ggn_diagonal", "ggn_matrix", "ablation_importance"])
def test_network_evaluation_that_overflows_is_an_error_not_inf(method):
    """Finite parameters of scale 1e200 gave loss inf, silently."""
    net, theta, X, y = _small_net()
    big = np.full(theta.size, 1e200)
    args = (big, X) if method in ("predict", "ggn_diagonal", "ggn_matrix") else (big, X, y)
    with pytest.raises(FloatingPointError, match=rf"^{method}.* overflowed float64 from finite inputs"):
        getattr(net, method)(*args)


def test_initialization_scale_that_overflows_is_refused(monkeypatch):
    _no_training(monkeypatch)
    with pytest.raises(ValueError, match=r"^init == 1e\+200, must be <= 1e\+50"):
        network_experiment(**dict(SMALL, init=1e200))


@pytest.mark.parametrize("method", ["loss_value", "loss_and_grad", "ggn_diagonal", "ggn_matrix",
                                    "ablation_importance", "train"])
def test_network_means_over_zero_samples_are_refused(method):
    """A mean over no samples was 0/0 = NaN (loss_value of an empty X)."""
    net, theta, X, y = _small_net()
    args = (theta, X[:0]) if method in ("ggn_diagonal", "ggn_matrix") else (theta, X[:0], y[:0])
    with pytest.raises(ValueError, match=r"^X has 0 rows"):
        getattr(net, method)(*args)


@pytest.mark.parametrize("trained", [dict(optimizer="gd", lr=1.0), dict(optimizer="sgd", lr=30.0)])
def test_diverged_training_is_nan_and_warned(trained):
    """Diverged training was reported as dense = 1.02 (the NaN network predicting 0), no warning."""
    with pytest.warns(RuntimeWarning, match=r"diverged .* in trials 0, 1 of 2 .*lr == " + re.escape(repr(trained["lr"]))):
        res = network_experiment(**dict(SMALL, **trained))
    assert not res.extras["train_finite"].any()
    assert np.all(np.isnan(res.samples["dense"])) and np.isnan(res.mean["dense"])
    assert np.all(np.isnan(res.samples["magnitude"])) and np.all(np.isnan(res.extras["train_loss"]))


def test_training_that_raises_the_loss_is_warned():
    """Adam at lr 30 stays finite but ends far above its initial loss: measured, kept and warned."""
    with pytest.warns(RuntimeWarning, match=r"raised the training loss .* lr == 30.0"):
        res = network_experiment(**dict(SMALL, lr=30.0))
    assert res.extras["train_finite"].all() and np.all(res.extras["train_loss"] > 1)


def test_network_sweep_with_a_diverging_lr_writes_nan_and_names_the_point(tmp_path):
    from simulations.runtime.sweep import export_csv, run_sweep

    cfg = dict(kind="network", d=4, groups=[[4, 1.0, 1.0]], trials=2, keep=[0.5], lr=[0.01, 30.0], width=4,
               steps=40, n_train=60, n_test=60, importance_samples=60, optimizer="sgd", criteria=["magnitude"])
    with pytest.warns(RuntimeWarning, match=r"diverged .*grid point .*lr == 30.0"):
        results = run_sweep(cfg, tmp_path / "store", progress=False)
    path = export_csv(results, cfg, tmp_path / "out.csv")
    import csv
    rows = [r for r in csv.DictReader(open(path)) if r["metric"] == "relative_loss"]
    assert rows and all(np.isnan(float(r["mean"])) == (float(r["lr"]) == 30.0) for r in rows)


@pytest.mark.parametrize("kw,match", [
    (dict(noise=0.0, groups=((4, 1.0, 0.0),)), r"^noise == 0 and every teacher weight in groups is 0"),
    (dict(noise=0.0, groups=((4, 1.0, 0.0),), teacher="shallow"), r"^noise == 0 and every teacher weight"),
    (dict(noise=1e200), r"^noise == 1e\+200: the labels have standard deviation"),
    (dict(groups=((4, 1e100, 1.0),)), r"^groups\[0\] scale == 1e\+100"),
    (dict(groups=((4, 1e30, 1e30),)), r"^groups \(scale x teacher weight\): the labels"),
    (dict(noise=1e-200, groups=((4, 1.0, 0.0),)), r"^noise == 1e-200: .*underflows"),
])
def test_degenerate_data_is_refused_before_training(kw, match, monkeypatch):
    """Zero signal with noise 0 made Var(y_test) = 0 (every value inf); noise 1e200 made every value NaN."""
    _no_training(monkeypatch)
    with pytest.raises(ValueError, match=match):
        network_experiment(**dict(SMALL, **kw))


def _diverged_grid():
    from simulations.regimes import grid as R

    cfg = R.grid_config(quick=True, seeds=2, batches=(16, 8), lengths=(1.0, 0.5), densities=(0.2, 0.5))
    D = len(cfg["densities"])
    keys = ("test_error", "test_error_sd", "train_error", "mc", "barrier", "cka", "pruned_test_error")
    recs = [dict(index=i, knob=k, temperature_index=t, seed_index=j, dense_test_error=float("nan"), diverged="dense",
                 path=[[]] * D, **{key: [float("nan")] * D for key in keys}) for i, (k, t, j) in enumerate(R.cells(cfg))]
    return R, cfg, recs


def test_regimes_grid_whose_cells_all_diverged_cannot_be_assessed():
    """A regimes grid whose every cell diverged concluded "no significant temperature effect ... no flip"."""
    R, cfg, recs = _diverged_grid()
    summary = R.summarize(dict(config=cfg, records=recs))
    for knob in cfg["knobs"]:
        text = R.temperature_sentence(knob, summary[knob])
        assert "cannot be assessed" in text and "no significant" not in text and "no flip" not in text
    # one density still diverged everywhere, the other finite: the verdict is restricted and says so
    for r in recs:                              # no temperature effect at density 0.2
        r["test_error"] = [0.1 + 0.01 * r["seed_index"], float("nan")]
    text = R.temperature_sentence("batch", R.summarize(dict(config=cfg, records=recs))["batch"])
    assert "cannot be assessed at density 0.5" in text and "any assessable density (0.2)" in text


def test_summaries_of_non_finite_inputs_say_cannot_be_assessed():
    from simulations.second_order.loss_modelling import bootstrap_spearman, loss_modelling_summary

    rows = []
    for seed in (0, 1):
        for crit, steps in (("magnitude", 1), ("taylor1", 1), ("taylor2", 1)):
            for metric in ("train_loss_after_pruning", "test_accuracy_after_finetune"):
                rows.append(dict(figure="loss-modelling", data="digits", method=crit, sparsity=0.9, steps=steps,
                                 penalty=0.0, damping="", seed=seed, metric=metric, value=float("nan")))
    md, (rho, lo, hi) = loss_modelling_summary(rows)
    assert "nan" not in md.lower().replace("cannot", "") and md.count("cannot be assessed") >= 4
    assert np.isnan(rho) and np.isnan(lo) and np.isnan(hi)
    with pytest.raises(ValueError, match=r"^a\[1\] == nan, must be finite"):
        bootstrap_spearman([1.0, np.nan, 2.0], [1.0, 2.0, 3.0], np.random.default_rng(0))


def test_scratch_markdown_of_non_finite_values_says_cannot_be_assessed():
    from simulations.regimes.scratch_networks import _pm

    assert _pm((np.nan, np.nan)).startswith("cannot be assessed")
    assert _pm((0.5, np.nan)).startswith("cannot be assessed")
    assert _pm((0.5, 0.01)) == "0.5000 +- 0.0100"


# ------------------------------------------------------------------------------------------------------------
# 4. unbounded allocation instead of an error
# ------------------------------------------------------------------------------------------------------------

def _refused_allocation(exc_info, name):
    exc = exc_info.value
    assert isinstance(exc, MemoryError) and isinstance(exc, ValueError)
    text = str(exc)
    assert "\n" not in text and text.startswith(name) and "GiB" in text and "memory limit" in text
    return text


def test_full_gauss_newton_block_is_refused_before_training(monkeypatch):
    """width 4000 with obs trained first, then failed allocating 47.7 GiB."""
    _no_training(monkeypatch)
    with pytest.raises(MemoryError) as info:
        network_experiment(d=20, width=4000, criteria=("obs",), groups=((20, 1.0, 1.0),))
    text = _refused_allocation(info, "width == 4000 (d == 20)")
    assert "80000 x 80000 Gauss-Newton block" in text and "magnitude" in text


@pytest.mark.parametrize("kw,name", [(dict(n_train=10**10), "n_train == 10000000000"),
                                     (dict(n_test=10**10), "n_test == 10000000000"),
                                     (dict(importance_samples=10**10), "importance_samples == 10000000000"),
                                     (dict(steps=10**11), "steps == 100000000000"),
                                     (dict(record_every=1, steps=10**6, width=1000), "record_every"),
                                     (dict(d=10**5, width=10**5, groups=((10**5, 1.0, 1.0),)), "width == 100000")])
def test_large_linear_allocations_are_refused_before_work(kw, name, monkeypatch):
    _no_training(monkeypatch)
    with pytest.raises(MemoryError) as info:
        network_experiment(**dict(SMALL, **kw))
    _refused_allocation(info, name)


def test_memory_limit_is_a_module_constant(monkeypatch):
    """The limit is read at call time: lowering it refuses a small full-matrix run (nothing is allocated)."""
    _no_training(monkeypatch)
    _set_limit(monkeypatch, 10_000)
    with pytest.raises(MemoryError) as info:
        network_experiment(**dict(SMALL, criteria=("obs",)))
    assert "16 x 16 Gauss-Newton block" in _refused_allocation(info, "width == 4 (d == 4)")


def test_network_quadratic_and_per_sample_allocations_are_refused(monkeypatch):
    net = Network((50, 40, 1), "relu", "squared")
    rng = np.random.default_rng(0)
    theta, X = net.init(1.0, rng), rng.standard_normal((30, 50))
    _set_limit(monkeypatch, 2**20)                              # 1 MiB: a 2040 x 2040 block is 32 MiB
    with pytest.raises(MemoryError) as info:
        net.ggn_matrix(theta, X)
    _refused_allocation(info, "block == None (2040 weights)")
    assert net.ggn_matrix(theta, X, block=1).shape == (40, 40)   # the second layer fits
    with pytest.raises(MemoryError) as info:
        net.per_sample_gradients(theta, np.repeat(X, 100, axis=0), np.zeros(3000))
    _refused_allocation(info, "X with 3000 rows")
    with pytest.raises(MemoryError) as info:
        net.train(theta, X, X[:, 0], steps=10, checkpoints=list(range(11)) * 10)
    _refused_allocation(info, "checkpoints (110 of them)")
    with pytest.raises(MemoryError) as info:
        Network((10**6, 10**4, 1)).init(1.0, 0)                 # 10^10 weights
    _refused_allocation(info, "sizes == (1000000, 10000, 1) (10000010000 weights)")


def test_teacher_data_and_regimes_samples_are_refused_before_drawing():
    from simulations.networks.datasets import teacher
    from simulations.regimes.grid import grid_config

    with pytest.raises(MemoryError) as info:
        teacher(0, n_train=10**10)
    _refused_allocation(info, "n_train == 10000000000")
    with pytest.raises(MemoryError) as info:
        grid_config(quick=True, n_test=10**10)
    _refused_allocation(info, "n_test == 10000000000")
    with pytest.raises(MemoryError) as info:
        teacher(0, hidden=(10**5, 10**5))                       # the teacher's own weights: 74.6 GiB
    _refused_allocation(info, "d == 64, hidden == (100000, 100000)")
    with pytest.raises(MemoryError) as info:
        grid_config(quick=True, width=10**9)
    _refused_allocation(info, "width == 1000000000 (d == 10)")


def test_digits_mlp_fisher_is_refused_before_training(monkeypatch):
    """The full Fisher of a large MLP was attempted (about 5 copies of d^2 doubles) and segfaulted."""
    from simulations.second_order import cbs_table, digits_mlp

    monkeypatch.setattr(digits_mlp, "train_dense", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("trained before refusing the arguments")))
    with pytest.raises(MemoryError) as info:
        task = cbs_table._TableTask("digits", 0, (0.5,), 0.1, ("woodfisher",), 1, sizes=(64, 400, 40, 10))
        cbs_table.table_rows([task])
    assert "42000 x 42000 empirical Fisher" in _refused_allocation(info, "sizes == (64, 400, 40, 10) (42000 weights)")


# ------------------------------------------------------------------------------------------------------------
# 7. one meaning per argument, entry by entry
# ------------------------------------------------------------------------------------------------------------

def test_keep_int_entry_is_a_count_and_float_a_fraction_everywhere():
    from simulations.experiments.network_experiment import experiment_job
    from simulations.runtime.sweep import load_config

    kw = dict(SMALL, noise=0.1, activation="relu", init=0.1, optimizer="adam", lr=1e-2, batch_size=None, momentum=0.0,
              finetune_steps=0, seed=0, teacher="linear", teacher_width=4, prune_layers="first",
              freeze_second_layer=False, damping=1e-3, record_every=None, cbs_max_swaps=50)
    for keep in ([0.5, 1], (0.5, np.int64(1)), [np.float64(0.5), 1]):
        counts = experiment_job(**dict(kw, keep=keep))[3]
        assert counts.tolist() == [8, 1]                      # 16 first-layer weights: half, and one weight
    assert experiment_job(**dict(kw, keep=np.array([0.5, 1])))[3].tolist() == [8, 16]   # a float array: fractions
    cfg = load_config(dict(kind="network", d=4, groups=[[4, 1.0, 1.0]], trials=2, keep=[0.5, 1, 1.0], width=4))
    assert cfg["keep"] == [0.5, 1, 1.0] and [type(k) for k in cfg["keep"]] == [float, int, float]


def test_linear_limit_refuses_integer_keep_entries():
    """scratch_monte_carlo converted keep to floats before checking: [0.5, 1] ran 1 as 100%."""
    from asymptotics import Spectrum
    from simulations.regimes.scratch_linear import scratch_monte_carlo

    spec = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3))
    with pytest.raises(TypeError, match=r"^keep\[1\] == 1 is an integer \(a count\)"):
        scratch_monte_carlo(spec, 20, 0.5, 0.5, [0.5, 1], init=1.0, trials=2)


def _suggested(message):
    m = re.search(r"pass (?:the integer )?(-?[0-9.]+)\b", message)
    return None if m is None else (float(m.group(1)) if "." in m.group(1) else int(m.group(1)))


def test_error_hints_do_not_lead_to_another_error():
    """keep=3 said "pass 3.0", which was then refused as out of range."""
    from asymptotics import Spectrum
    from pruning_checks import check_fraction
    from simulations.experiments.network_experiment import _check_keep_counts
    from simulations.regimes.grid import grid_config
    from simulations.regimes.scratch_linear import scratch_risk
    from simulations.runtime.sweep import load_config

    spec = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3))
    calls = {
        "check_fraction": lambda v: check_fraction(v),
        "network_experiment keep": lambda v: _check_keep_counts(v, 16),
        "sweep keep": lambda v: load_config(dict(kind="network", d=4, groups=[[4, 1.0, 1.0]], trials=2, keep=[v])),
        "regimes densities": lambda v: grid_config(quick=True, densities=(v,)),
        "scratch_risk keep": lambda v: scratch_risk(spec, 0.5, 0.5, v, init=1.0),
    }
    tried = 0
    for name, call in calls.items():
        for bad in (3, 3.0, 0, 1, 17, 16.0, True):
            try:
                call(bad)
            except (TypeError, ValueError) as exc:
                hint = _suggested(str(exc))
                if hint is not None:
                    tried += 1
                    try:
                        call(hint)
                    except (TypeError, ValueError) as again:
                        pytest.fail(f"{name}: {bad!r} -> hint {hint!r} -> {again}")
    assert tried >= 5


def test_random_masks_do_not_depend_on_the_order_of_keep_levels():
    """The random criterion draws the same fresh stream at every level: its masks are nested, and the
    level 0.2 does not depend on whether 0.5 was requested before or after it."""
    from simulations.experiments import network_experiment as ne

    kw = dict(SMALL, criteria=("random",), steps=20)
    a = network_experiment(**dict(kw, keep=(0.2, 0.5)))
    b = network_experiment(**dict(kw, keep=(0.5, 0.2)))
    c = network_experiment(**dict(kw, keep=(0.2,)))
    assert np.array_equal(a.samples["random"][:, 0], b.samples["random"][:, 1])
    assert np.array_equal(a.samples["random"][:, 0], c.samples["random"][:, 0])
    # and the masks themselves: nested, whatever the order
    job = ne.experiment_job(**{**{k: v for k, v in kw.items()}, "noise": 0.1, "activation": "relu", "init": 0.1,
                               "optimizer": "adam", "lr": 1e-2, "batch_size": None, "momentum": 0.0,
                               "finetune_steps": 0, "seed": 0, "teacher": "linear", "teacher_width": 4,
                               "prune_layers": "first", "freeze_second_layer": False, "damping": 1e-3,
                               "record_every": None, "cbs_max_swaps": 50, "keep": (0.2, 0.5)})[0]
    net = Network((4, 4, 1), "relu", "squared")
    X, y, *_ = ne._draw_data(job, 0)
    theta = net.init(1.0, np.random.default_rng(0))
    pr = ne._Pruning(net, theta, X, y, net.layer_block(0), ("random",), 1e-3)
    fresh = lambda: ne._stream(0, 0, ne.STREAM_CRITERIA, 99)          # noqa: E731
    m1 = [r.mask for r in pr.prune_all("random", np.array([3, 8]), None, fresh, 0)]
    m2 = [r.mask for r in pr.prune_all("random", np.array([8, 3]), None, fresh, 0)]
    assert np.array_equal(m1[0], m2[1]) and np.array_equal(m1[1], m2[0]) and not np.any(m1[0] & ~m1[1])


# ------------------------------------------------------------------------------------------------------------
# 8. deep or unclear errors, silently accepted input
# ------------------------------------------------------------------------------------------------------------

def test_fractional_seeds_are_refused():
    """seed=1.5 was silently seed 1."""
    from asymptotics import Spectrum
    from simulations.regimes.scratch_linear import scratch_monte_carlo
    from simulations.second_order import cbs_table, loss_modelling
    from simulations.second_order.digits_mlp import stream_of

    with pytest.raises(TypeError, match=r"^seed == 1.5, must be an integer"):
        stream_of("digits", 1.5, 0)
    with pytest.raises(TypeError, match=r"^seed == 1.5"):
        cbs_table._TableTask("digits", 1.5, (0.5,), 0.1, ("magnitude",), 1)
    with pytest.raises(TypeError, match=r"^seed == 1.5"):
        loss_modelling._LMTask("digits", 1.5, 0.9, (("magnitude", 1, 0.0),), 1)
    spec = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3))
    with pytest.raises(TypeError, match=r"^seed == 1.5"):
        scratch_monte_carlo(spec, 20, 0.5, 0.5, [0.5], init=1.0, trials=2, seed=1.5)


@pytest.mark.parametrize("kw,exc,match", [
    (dict(knobs=()), ValueError, r"^knobs is empty: the grid would have no cells"),
    (dict(batches=(32, 32, 8)), ValueError, r"^batches\[1\] == 32 is listed twice"),
    (dict(densities=(0.5, 0.2, 0.5)), ValueError, r"^densities\[2\] == 0.5 is listed twice"),
    (dict(lengths=(1.0, 1)), ValueError, r"^lengths\[1\] == 1 is listed twice"),
    (dict(knobs=("batch", "batch")), ValueError, r"^knobs\[1\] == 'batch' is listed twice"),
    (dict(densities=0.5), TypeError, r"^densities == 0.5, must be a sequence"),
])
def test_regimes_grid_refuses_empty_and_repeated_values(kw, exc, match):
    """An empty grid ran zero cells; repeated values gave repeated cells and degenerate slopes."""
    from simulations.regimes.grid import grid_config

    with pytest.raises(exc, match=match):
        grid_config(quick=True, **kw)


def test_regimes_cell_and_seed_indices_are_checked():
    from simulations.regimes.grid import compute_cell, grid_config, magnitude_mask, make_problem

    cfg = grid_config(quick=True, seeds=1, batches=(8,), knobs=("batch",), densities=(0.5,))
    with pytest.raises(ValueError, match=r"^i == 1, must be an integer <= 0"):
        compute_cell(cfg, 1)                        # was an IndexError from a list
    with pytest.raises(TypeError, match=r"^j == 0.5"):
        make_problem(cfg, 0.5)
    net, theta, *_ = make_problem(cfg, 0)
    with pytest.raises(TypeError, match=r"^density == 1 is an integer"):
        magnitude_mask(net, theta, 1)               # one meaning: densities are fractions


def test_regimes_config_missing_key_is_named():
    from simulations.regimes.grid import check_config, grid_config

    cfg = dict(grid_config(quick=True))
    del cfg["steps"]
    with pytest.raises(ValueError, match=r"^cfg has no key 'steps'"):
        check_config(cfg)


def test_flags_are_booleans_not_truthy_strings():
    """standardize='no' standardised; progress='no' showed a progress bar."""
    from simulations.networks.datasets import digits
    from simulations.regimes.grid import grid_config, run_grid
    from simulations.regimes.scratch_networks import run_scratch

    with pytest.raises(TypeError, match=r"^standardize == 'no', must be True or False"):
        digits(standardize="no")
    with pytest.raises(TypeError, match=r"^progress == 'no', must be True or False"):
        run_grid(grid_config(quick=True, seeds=1, batches=(8,), knobs=("batch",), densities=(0.5,)), progress="no")
    with pytest.raises(TypeError, match=r"^progress == 'no'"):
        run_scratch(progress="no", quick=True)
    with pytest.raises(TypeError, match=r"^quick == 'no', must be True or False"):
        grid_config(quick="no")                                  # was the quick grid


def _figure_tables_that_must_not_run(monkeypatch):
    """The table figures, with the work each does after its checks replaced by a failure."""
    from simulations.regimes import scratch_linear, scratch_networks
    from simulations.second_order import cbs_table, linear_counterpart, loss_modelling

    monkeypatch.setattr(scratch_networks, "run_scratch", lambda *a, **k: pytest.fail("ran before checking"))
    monkeypatch.setattr(scratch_linear, "scratch_monte_carlo", lambda *a, **k: pytest.fail("ran before checking"))
    monkeypatch.setattr(cbs_table, "table_rows", lambda *a, **k: pytest.fail("ran before checking"))
    monkeypatch.setattr(loss_modelling, "lm_rows", lambda *a, **k: pytest.fail("ran before checking"))
    monkeypatch.setattr(linear_counterpart, "map_ordered", lambda *a, **k: pytest.fail("ran before checking"))
    return (scratch_networks.scratch_table, scratch_linear.linear_scratch_table, cbs_table.cbs_table,
            loss_modelling.loss_modelling, linear_counterpart.linear_counterpart)


def test_figure_functions_refuse_a_truthy_quick_before_work(tmp_path, monkeypatch):
    for fn in _figure_tables_that_must_not_run(monkeypatch):
        with pytest.raises(TypeError, match=r"^quick == 'no', must be True or False"):
            fn(tmp_path, quick="no")
        with pytest.raises(ValueError, match=r"^n_jobs == 0"):
            fn(tmp_path, quick=True, n_jobs=0)


def test_shapes_and_types_are_named_up_front():
    from simulations.networks.datasets import teacher
    from simulations.second_order.loss_modelling import spearman

    net, theta, X, y = _small_net()
    with pytest.raises(ValueError, match=r"^y has shape \(19,\), must be \(20,\)"):
        net.ggn_diagonal(theta, X, y[:-1])              # y is unused there, but a wrong one is not accepted
    with pytest.raises(TypeError, match=r"^checkpoints\[1\] == 1.5, must be an integer"):
        net.train(theta, X, y, steps=3, checkpoints=[0, 1.5])   # was step 1
    with pytest.raises(ValueError, match=r"^theta must be an array of shape \(16,\)"):
        net.views(theta[:-1])
    with pytest.raises(TypeError, match=r"^hidden == 40, must be a sequence"):
        teacher(0, hidden=40)
    with pytest.raises(ValueError, match=r"^a has 3 values and b 2"):
        spearman([1.0, 2.0, 3.0], [1.0, 2.0])
    from simulations.second_order import cbs_table
    with pytest.raises(ValueError, match=r"^sizes == \(32, 10\): the data sets have 64 features"):
        cbs_table._TableTask("digits", 0, (0.5,), 0.1, ("magnitude",), 1, sizes=(32, 10))
    with pytest.raises(ValueError, match=r"^methods\[0\] == 'obd'"):
        cbs_table._TableTask("digits", 0, (0.5,), 0.1, ("obd",), 1)
    with pytest.raises(ValueError, match=r"^sparsities\[0\] == 1.5"):
        cbs_table._TableTask("digits", 0, (1.5,), 0.1, ("magnitude",), 1)


def test_figure_functions_check_their_folder_before_work(tmp_path, monkeypatch):
    target = tmp_path / "file"
    target.write_text("not a folder")
    for fn in _figure_tables_that_must_not_run(monkeypatch):
        for out in (target, target / "sub"):
            with pytest.raises(ValueError, match=r"^out_dir == .*is a file"):
                fn(out, quick=True)


def test_cli_checks_output_paths_before_any_work(tmp_path, monkeypatch, capsys):
    """A CLI --out that is a file was discovered after all the work."""
    from simulations import cli
    from simulations.runtime import sweep

    target = tmp_path / "file"
    target.write_text("not a folder")
    monkeypatch.setattr(sweep, "run_sweep", lambda *a, **k: pytest.fail("ran before checking"))
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(dict(kind="network", d=4, groups=[[4, 1.0, 1.0]], trials=2, keep=[0.5], width=4)))
    called = []
    from simulations import figures
    monkeypatch.setitem(figures.FIGURES, "scratch-table", type("F", (), {
        "__call__": lambda self, *a, **k: called.append(a) or (), "summary": "x"})())
    for argv, flag in ((["figure", "scratch-table", "--out", str(target)], "--out"),
                       (["figure", "scratch-table", "--out", str(target / "sub")], "--out"),
                       (["sweep", str(cfg), "--store", str(target)], "--store"),
                       (["sweep", str(cfg), "--store", str(tmp_path / "s"), "--csv", str(target / "x.csv")], "--csv")):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and f"error: {flag} == " in err and "is a file" in err
    assert not called
