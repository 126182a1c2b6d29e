"""Network sweeps: a ``{"kind": "network"}`` config runs through the same store, CSV and CLI as a linear one,
resumes to identical results, gives the same bits for any n_jobs, stores exactly what network_experiment
returns at each point's seed, and a bad field (nested groups tables included) exits 2 with one line naming it."""

import csv
import json
import os

import pytest

from simulations import network_experiment
from simulations.cli import main
from simulations.runtime.sweep import (ConfigError, StoreError, export_csv, grid, load_config, load_results, point_seed,
                               run_sweep)

# tiny and fast: d = 4, width = 4, n_train = 200, 50 steps, 2 trials, 2 grid points
TOML = """\
kind = "network"
seed = 3
d = 4
trials = 2
keep = [0.25, 0.5]
init = [0.1, 1.0]
width = 4
steps = 50
n_train = 200
n_test = 200
importance_samples = 400
criteria = ["magnitude", "hessian", "oracle"]

[[groups]]
count = 2
scale = 3.0
teacher_weight = 0.3

[[groups]]
count = 2
scale = 1.0
teacher_weight = 0.0
"""
CONFIG = dict(kind="network", seed=3, d=4, trials=2, keep=[0.25, 0.5], init=[0.1, 1.0], width=4, steps=50,
              n_train=200, n_test=200, importance_samples=400, criteria=["magnitude", "hessian", "oracle"],
              groups=[[2, 3.0, 0.3], [2, 1.0, 0.0]])


def read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def cli(tmp_path, capsys, *args):
    code = main(["sweep", *map(str, args), "--no-progress"])
    return code, capsys.readouterr()


@pytest.fixture
def toml(tmp_path):
    path = tmp_path / "net.toml"
    path.write_text(TOML)
    return path


def test_toml_tables_and_triples_give_one_configuration(toml):
    cfg = load_config(toml)
    assert cfg == load_config(CONFIG)
    assert load_config(cfg) == cfg                     # normalising is idempotent (the store re-checks it)
    assert cfg["groups"] == [[2, 3.0, 0.3], [2, 1.0, 0.0]]
    assert grid(cfg) == [dict(init=i, width=4, activation="relu", noise=0.1, lr=0.01, steps=50) for i in (0.1, 1.0)]


def test_cli_sweep_end_to_end_stores_what_network_experiment_returns(tmp_path, capsys, toml):
    store, out = tmp_path / "runs" / "n", tmp_path / "runs" / "n.csv"
    code, io = cli(tmp_path, capsys, toml, "--store", store, "--csv", out, "--n-jobs", "1")
    assert code == 0, io.err
    assert io.out.splitlines() == [f"2 points in {store}", str(out)]
    rows = read_csv(out)
    # per point: 3 criteria x 2 keeps + dense + 3 correlations + 3 dense diagnostics + 2 x 2 group diagnostics
    assert len(rows) == 2 * (6 + 1 + 3 + 3 + 4)
    assert {r["kind"] for r in rows} == {"network"} and {r["trials"] for r in rows} == {"2"}
    # an independent run of the public entry point at point 1's seed gives the stored numbers, bit for bit
    ref = network_experiment(4, 4, 200, 200, groups=[(2, 3.0, 0.3), (2, 1.0, 0.0)], noise=0.1, init=1.0, lr=0.01,
                             steps=50, keep=[0.25, 0.5], criteria=("magnitude", "hessian", "oracle"), trials=2,
                             importance_samples=400, seed=point_seed(3, 1))
    at = {(r["criterion"], r["keep"], r["metric"]): r for r in rows if r["init"] == "1.0"}
    for c in ("magnitude", "hessian", "oracle"):
        for k, m, s in zip(("0.25", "0.5"), ref.mean[c], ref.sem[c]):
            row = at[(c, k, "relative_loss")]
            assert (float(row["mean"]), float(row["sem"])) == (m, s)
        assert float(at[(c, "", "importance_corr")]["mean"]) == ref.importance_corr[c]
    assert float(at[("dense", "1.0", "relative_loss")]["mean"]) == ref.mean["dense"]
    assert [at[(c, k, "relative_loss")]["keep_count"] for c in ("magnitude",) for k in ("0.25", "0.5")] == ["4", "8"]


def test_resume_after_deleting_a_point_gives_the_same_csv(tmp_path, capsys, toml):
    store = tmp_path / "s"
    assert cli(tmp_path, capsys, toml, "--store", store, "--csv", tmp_path / "a.csv", "--n-jobs", "1")[0] == 0
    (store / "points" / "0.json").unlink()
    seconds = json.loads((store / "points" / "1.json").read_text())["seconds"]
    code, io = cli(tmp_path, capsys, toml, "--store", store, "--csv", tmp_path / "b.csv", "--n-jobs", "1")
    assert code == 0, io.err
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert json.loads((store / "points" / "1.json").read_text())["seconds"] == seconds   # point 1 not recomputed


def test_n_jobs_two_is_bitwise_serial(tmp_path, capsys, toml):
    for jobs in ("1", "2"):
        code, io = cli(tmp_path, capsys, toml, "--store", tmp_path / jobs, "--csv", tmp_path / f"{jobs}.csv",
                       "--n-jobs", jobs)
        assert code == 0, io.err
    assert (tmp_path / "1.csv").read_bytes() == (tmp_path / "2.csv").read_bytes()
    for i in (0, 1):
        a, b = (json.loads((tmp_path / j / "points" / f"{i}.json").read_text())["result"] for j in ("1", "2"))
        assert a == b


@pytest.mark.parametrize("edit, culprit", [
    (lambda t: t.replace("teacher_weight = 0.0", "teacher_wieght = 0.0"), "'groups[1].teacher_wieght'"),
    (lambda t: t.replace("steps = 50", "stpes = 50"), "'stpes'"),
    (lambda t: t.replace("scale = 1.0", "scale = -1.0"), "groups[1].scale"),
    (lambda t: t.replace("init = [0.1, 1.0]", "init = [0.1, -1.0]"), "init[1]"),
    (lambda t: t.replace("keep = [0.25, 0.5]", "keep = [0.25, 17]"), "keep[1] == 17"),    # a count above d * width
    (lambda t: t.replace("count = 2\nscale = 1.0", "count = 3\nscale = 1.0"), "d == 4"),
    (lambda t: t.replace('"oracle"]', '"oracel"]'), "criteria[2]"),
    (lambda t: 'optimizer = "gd"\nbatch_size = 10\n' + t, "batch_size == 10"),
    (lambda t: "batch = 10\n" + t, "renamed 'batch_size'"),
    (lambda t: t + "optimizer = 'gd'\n", "'groups[1].optimizer'"),      # TOML: a key after [[groups]] is the group's
])
def test_bad_field_is_one_line_exit_2(tmp_path, capsys, edit, culprit):
    path = tmp_path / "bad.toml"
    path.write_text(edit(TOML))
    code, io = cli(tmp_path, capsys, path, "--store", tmp_path / "s")
    assert code == 2
    lines = io.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m simulations: error:") and culprit in lines[0], io.err
    assert not (tmp_path / "s").exists()                 # refused before any work


def test_scale_grid_sets_the_chosen_group(monkeypatch):
    cfg = load_config(dict(CONFIG, init=0.5, scale=[1.0, 10.0], scale_group=1))
    assert [p["scale"] for p in grid(cfg)] == [1.0, 10.0]
    calls = []
    import simulations.experiments.network_sweep as network
    monkeypatch.setattr(network, "network_experiment", lambda **kw: calls.append(kw) or (_ for _ in ()).throw(
        KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        network.NETWORK_KIND.simulate(cfg, grid(cfg)[1], 5, None, None)
    assert calls[0]["groups"] == [[2, 3.0, 0.3], [2, 10.0, 0.0]] and calls[0]["seed"] == 5
    with pytest.raises(ConfigError, match="scale_group == 2"):
        load_config(dict(CONFIG, scale=[1.0], scale_group=2))


def test_store_refuses_another_network_configuration(tmp_path):
    run_sweep(dict(CONFIG, init=[0.1]), tmp_path / "s", n_jobs=1, progress=False)
    with pytest.raises(StoreError, match="different configuration"):
        run_sweep(dict(CONFIG, init=[0.1], seed=4), tmp_path / "s", n_jobs=1, progress=False)


def test_python_m_simulations_sweep_of_a_toml_file(tmp_path, toml):
    """The command of the docs, in a fresh process, relative paths; its CSV equals the in-process serial run's."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root), OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "simulations", "sweep", str(toml), "--store", "runs/n", "--csv", "runs/n.csv",
           "--n-jobs", "2", "--no-progress"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["2 points in runs/n", "runs/n.csv"]
    run_sweep(toml, tmp_path / "serial", n_jobs=1, progress=False)
    export_csv(load_results(tmp_path / "serial"), load_config(toml), tmp_path / "serial.csv")
    assert (tmp_path / "runs" / "n.csv").read_bytes() == (tmp_path / "serial.csv").read_bytes()


def test_the_docstring_toml_example_loads():
    import tomllib

    from simulations.experiments import network_sweep as sweep

    block = sweep.__doc__.split("A TOML example::")[1].split("The store holds")[0]
    cfg = load_config(tomllib.loads("\n".join(line[4:] for line in block.splitlines())))
    assert cfg["kind"] == "network" and len(grid(cfg)) == 3 * 4
    assert [p["scale"] for p in grid(cfg)[:4]] == [1.0, 3.0, 10.0, 30.0]
