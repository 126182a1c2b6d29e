"""Sweeps: the store resumes after a kill with identical results, refuses a foreign store,
exports a tidy CSV, and bad config values exit 2 with one line naming the field."""

import csv
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from simulations.sweep import ConfigError, export_csv, load_config, run_sweep

CONFIG = {
    "spectrum": {"variances": [1, 25], "signal": [1, 0.3], "weights": [0.5, 0.5], "signal_dist": "fixed"},
    "p": 120, "noise": 0.5, "trials": 30, "seed": 7,
    "kappa": [0.5, 0.8, 1.5, 2.0], "ridge": [0.0, 0.1], "retrain": ["none", "fresh"],
    "keep": [0.1, 0.25, 0.5, 1.0],
}


def read_csv(path):
    return list(csv.DictReader(open(path)))


def test_resume_after_kill_is_identical(tmp_path):
    cfg_path = tmp_path / "sweep.json"
    cfg_path.write_text(json.dumps(CONFIG))
    cmd = [sys.executable, "-m", "simulations", "sweep", str(cfg_path), "--n-jobs", "1", "--no-progress"]
    store = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["--store", str(store)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((store / "points").glob("*.npz"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list((store / "points").glob("*.npz")))
    assert 3 <= done < 16, f"kill landed after {done} of 16 points"
    rerun = subprocess.run(cmd + ["--store", str(store), "--csv", str(tmp_path / "resumed.csv")],
                           capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    full = subprocess.run(cmd + ["--store", str(tmp_path / "clean"), "--csv", str(tmp_path / "clean.csv")],
                          capture_output=True, text=True)
    assert full.returncode == 0, full.stderr
    assert read_csv(tmp_path / "resumed.csv") == read_csv(tmp_path / "clean.csv")


def test_foreign_store_is_refused(tmp_path):
    small = dict(CONFIG, kappa=[2.0], ridge=[0.0], retrain=["none"], trials=4)
    run_sweep(small, tmp_path / "s", progress=False)
    with pytest.raises(ConfigError, match="holds results of a different configuration"):
        run_sweep(dict(small, noise=0.4), tmp_path / "s", progress=False)


def test_csv_has_theory_and_simulation(tmp_path):
    small = dict(CONFIG, kappa=[2.0], ridge=[0.0], retrain=["none", "same"], trials=4)
    cfg = load_config(small)
    res = run_sweep(cfg, tmp_path / "s", progress=False)
    rows = read_csv(export_csv(res, cfg, tmp_path / "out.csv"))
    assert {r["source"] for r in rows} == {"theory", "simulation"}
    same_theory = [r for r in rows if r["retrain"] == "same" and r["source"] == "theory"]
    assert same_theory and all(r["risk"] == "nan" for r in same_theory)     # no formula for same-data refits
    assert len(rows) == 2 * (4 * 4 * 2 + 1)


@pytest.mark.parametrize("change,field", [
    (dict(p=0), "p == 0"), (dict(trials=1), "trials == 1"), (dict(kappa=[1.0]), "interpolation threshold"),
    (dict(keep=[0.0, 0.5]), "keep"), (dict(retrain=["maybe"]), "retrain == 'maybe'"), (dict(colour=1), "unknown field 'colour'"),
    (dict(spectrum={"variances": [1, -1], "signal": [1, 1]}), r"spectrum: variances\[1\] == -1.0"),
    (dict(criteria=["l0"]), "criteria == 'l0'"),
])
def test_bad_config_exits_2_with_one_line(tmp_path, change, field):
    cfg_path = tmp_path / "bad.json"
    cfg_path.write_text(json.dumps({**CONFIG, **change}))
    proc = subprocess.run([sys.executable, "-m", "simulations", "sweep", str(cfg_path), "--store", str(tmp_path / "s")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    import re
    assert re.search(field, proc.stderr), proc.stderr
    missing = subprocess.run([sys.executable, "-m", "simulations", "sweep", str(tmp_path / "nope.json"), "--store", "x"],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_missing_required_field():
    cfg = dict(CONFIG)
    del cfg["p"]
    with pytest.raises(ConfigError, match="missing field 'p'"):
        load_config(cfg)
