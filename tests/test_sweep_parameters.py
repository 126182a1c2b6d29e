"""Linear sweeps accept every experiment argument of ``monte_carlo`` and give its numbers; sweep CSVs and
figure CSVs share their columns where they mean the same."""

import csv
import inspect

import numpy as np
import pytest
from numpy.testing import assert_allclose

from asymptotics import Spectrum, pruned_risk
from simulations import monte_carlo
from simulations.figures import linear as L
from simulations.linear import sweep_kind
from simulations.runtime.store import config_hash
from simulations.runtime.sweep import ConfigError, export_csv, load_config, run_sweep
from simulations.runtime.sweep import point_seed

BASE = {"spectrum": {"variances": [1.0, 25.0], "signal": [1.0, 0.3]}, "p": 40, "noise": 0.5, "trials": 4,
        "seed": 3, "kappa": [0.5], "keep": [0.4, 0.9]}
#: how to run, not what: command-line options, not config fields
RUNTIME = {"n_jobs", "client"}


def test_every_monte_carlo_argument_is_a_config_field():
    params = set(inspect.signature(monte_carlo).parameters) - RUNTIME
    fields = set(sweep_kind.LINEAR_REQUIRED) | set(sweep_kind.LINEAR_DEFAULTS) | {"seed"}
    assert params - fields == set(), params - fields


def test_init_refit_ridge_and_sampler_reach_monte_carlo_and_the_theory(tmp_path):
    cfg = dict(BASE, retrain=["fresh"], refit_ridge=[0.1], init=[0.0, 2.0], sampler="design")
    results = run_sweep(cfg, tmp_path / "s", progress=False)
    rows = list(csv.DictReader(open(export_csv(results, cfg, tmp_path / "a.csv"))))
    spec = Spectrum(variances=[1.0, 25.0], signal=[1.0, 0.3])
    for i, s0 in enumerate((0.0, 2.0)):
        direct = monte_carlo(spec, 40, 0.5, 0.5, keep=[0.4, 0.9], retrain="fresh", refit_ridge=0.1, init=s0,
                             sampler="design", trials=4, seed=point_seed(3, i))
        mine = [r for r in rows if float(r["init"]) == s0 and r["criterion"] == "magnitude"]
        sim = [float(r["risk"]) for r in mine if r["source"] == "simulation"]
        assert sim == direct.mean["magnitude"].tolist()              # bitwise: the same trials
        th = [float(r["risk"]) for r in mine if r["source"] == "theory"]
        assert_allclose(th, pruned_risk(spec, 0.5, 0.5, keep=np.array([0.4, 0.9]), criterion="magnitude",
                                        retrain="fresh", refit_ridge=0.1, init=s0), rtol=1e-12)
        assert {r["refit_ridge"] for r in mine} == {"0.1"}
    # init changes a min-norm fit (kappa 0.5, ridge 0): the two points differ
    risks = {float(r["init"]): float(r["risk"]) for r in rows
             if r["criterion"] == "dense" and r["source"] == "simulation"}
    assert risks[0.0] != risks[2.0]


def test_the_refit_ridge_the_error_message_recommends_is_accepted():
    bad = dict(BASE, kappa=[0.5], keep=[0.5], retrain=["fresh"], refit_ridge=[0.0])
    with pytest.raises(ConfigError, match="refit_ridge > 0"):
        load_config(bad)
    load_config(dict(bad, refit_ridge=[0.1]))                       # what the message says to do


@pytest.mark.parametrize("field,value,needle", [
    ("init", [-1.0], "init[0]"), ("refit_ridge", [0.1, 0.1], "refit_ridge[1]"), ("sampler", "fast", "sampler"),
])
def test_new_fields_are_checked_with_one_line_naming_them(field, value, needle):
    with pytest.raises(ConfigError) as err:
        load_config(dict(BASE, **{field: value}))
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_defaults_keep_old_store_hashes():
    """A config without the new fields normalises (and hashes) as before they existed: its stores resume."""
    cfg = load_config(BASE)
    assert not {"init", "refit_ridge", "sampler"} & set(cfg)
    same = load_config(dict(BASE, init=[0.0], refit_ridge=None, sampler="auto"))
    assert config_hash(same) == config_hash(cfg)


def test_sweep_and_figure_csvs_share_columns_and_their_text(tmp_path):
    shared = set(sweep_kind.LINEAR_CSV_COLUMNS) & set(L.CSV_COLUMNS)
    assert {"kappa", "ridge", "retrain", "criterion", "keep", "source", "risk", "sem", "z", "trials", "p", "noise",
            "spectrum"} <= shared
    # the headline configuration through a sweep and through the figure: the same cells for the same things
    spec = L.HEADLINE_SPECTRUM
    cfg = {"spectrum": {"variances": spec.variances.tolist(), "signal": spec.signal.tolist()}, "p": 40,
           "noise": L.HEADLINE_NOISE, "trials": 4, "kappa": [2.0], "keep": [0.5]}
    rows = list(csv.DictReader(open(export_csv(run_sweep(cfg, tmp_path / "s", progress=False), cfg,
                                               tmp_path / "s.csv"))))
    fig_rows = list(csv.DictReader(open(L.pruned_risk_figure(tmp_path / "f", quick=True, n_jobs=2)[2])))
    for col in ("noise", "spectrum"):
        assert {r[col] for r in rows} == {r[col] for r in fig_rows}
    for r in rows:                                                 # z is (simulation - theory) / sem, in both
        if r["z"]:
            theory = next(float(t["risk"]) for t in rows if t["source"] == "theory" and t["criterion"] == r["criterion"])
            assert_allclose(float(r["z"]), (float(r["risk"]) - theory) / float(r["sem"]), rtol=1e-12)
    assert any(r["z"] for r in rows) and any(r["z"] for r in fig_rows)


def test_refit_ridge_beside_no_refit_points_runs_and_leaves_its_column_empty(tmp_path):
    cfg = dict(BASE, retrain=["none", "fresh"], refit_ridge=[0.1])
    rows = list(csv.DictReader(open(export_csv(run_sweep(cfg, tmp_path / "s", progress=False), cfg,
                                               tmp_path / "a.csv"))))
    assert {r["refit_ridge"] for r in rows if r["retrain"] == "none"} == {""}
    assert {r["refit_ridge"] for r in rows if r["retrain"] == "fresh"} == {"0.1"}
    assert all(np.isfinite(float(r["risk"])) for r in rows if r["source"] == "theory")
