"""Every example sweep configuration in examples/ loads, runs through the command line and exports its CSV."""

import csv
from pathlib import Path

import numpy as np
import pytest

from simulations.cli import main
from simulations.runtime.sweep import load_config

EXAMPLES = sorted(p for p in (Path(__file__).resolve().parent.parent / "examples").iterdir()
                  if p.suffix in (".json", ".toml"))


def test_there_are_linear_and_network_examples_in_both_formats():
    kinds = {(load_config(p)["kind"], p.suffix) for p in EXAMPLES}
    assert kinds == {("linear", ".json"), ("linear", ".toml"), ("network", ".json"), ("network", ".toml")}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path, tmp_path):
    out = tmp_path / "out.csv"
    assert main(["sweep", str(path), "--store", str(tmp_path / "store"), "--csv", str(out), "--n-jobs", "1",
                 "--no-progress"]) == 0
    rows = list(csv.DictReader(open(out)))
    cfg = load_config(path)
    if cfg["kind"] == "linear":
        n_points = len(cfg["kappa"]) * len(cfg["ridge"]) * len(cfg["retrain"]) * len(cfg.get("init", [0]))
        assert len(rows) == n_points * (2 * len(cfg["criteria"]) * len(cfg["keep"]) + 1)
        sim = [float(r["risk"]) for r in rows if r["source"] == "simulation"]
        assert all(np.isfinite(sim)) and min(sim) >= cfg["noise"] ** 2         # sigma^2 + (b - beta)' Sigma (b - beta)
    else:
        losses = [float(r["mean"]) for r in rows if r["metric"] == "relative_loss"]
        assert losses and all(np.isfinite(losses))
