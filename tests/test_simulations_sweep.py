"""Sweeps: the store resumes after a kill with identical results, cannot serve another configuration's
or another point's results, recomputes unreadable points, survives concurrent runs, exports a tidy CSV,
and bad config values (nested tables included) exit 2 with one line naming the field."""

import csv
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

from simulations.linear import sweep_kind
from simulations.runtime import files, sweep
from simulations.runtime import store as store_mod
from simulations.cli import main
from simulations.runtime.sweep import (ConfigError, PointKind, StoreError, StoreWarning, export_csv, load_config,
                               load_results, register_kind, run_sweep)

CONFIG = {
    "spectrum": {"variances": [1, 25], "signal": [1, 0.3], "weights": [0.5, 0.5], "signal_dist": "fixed"},
    "p": 120, "noise": 0.5, "trials": 30, "seed": 7,
    "kappa": [0.5, 0.8, 1.5, 2.0], "ridge": [0.0, 0.1], "retrain": ["none", "fresh"],
    "keep": [0.1, 0.25, 0.45, 1.0],   # not 0.5: a fresh refit of n weights at kappa 0.5 is at the threshold
}
# a small, fast configuration (a few milliseconds per point once the kernels are compiled)
SMALL = dict(CONFIG, p=40, trials=4, kappa=[0.5, 2.0], ridge=[0.0], retrain=["none"])
CLI = [sys.executable, "-m", "simulations", "sweep"]


def read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


def point_files(store):
    return sorted((store / "points").glob("*.json"))


def same_results(a, b):
    assert [r.keys() for r in a] == [r.keys() for r in b]
    for ra, rb in zip(a, b):
        for k in ra:
            if isinstance(ra[k], np.ndarray):
                np.testing.assert_array_equal(ra[k], rb[k])     # bitwise, NaN == NaN
            else:
                assert ra[k] == rb[k]


def test_resume_in_process_is_identical(tmp_path):
    store = tmp_path / "s"
    clean = run_sweep(SMALL, tmp_path / "clean", progress=False)
    run_sweep(SMALL, store, progress=False)
    (store / "points" / "1.json").unlink()                 # as if the run had died before finishing point 1
    same_results(run_sweep(SMALL, store, progress=False), clean)


@pytest.mark.slow
def test_resume_after_kill_is_identical(tmp_path):
    cfg_path = tmp_path / "sweep.json"
    cfg_path.write_text(json.dumps(CONFIG))
    cmd = CLI + [str(cfg_path), "--n-jobs", "1", "--no-progress"]
    store = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["--store", str(store)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and (not (store / "points").is_dir() or len(point_files(store)) < 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(point_files(store))
    assert 3 <= done < 16, f"kill landed after {done} of 16 points"
    rerun = subprocess.run(cmd + ["--store", str(store), "--csv", str(tmp_path / "resumed.csv")],
                           capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    full = subprocess.run(cmd + ["--store", str(tmp_path / "clean"), "--csv", str(tmp_path / "clean.csv")],
                          capture_output=True, text=True)
    assert full.returncode == 0, full.stderr
    assert read_csv(tmp_path / "resumed.csv") == read_csv(tmp_path / "clean.csv")
    assert not list((store / "points").glob(".*"))     # a temporary file of the killed run (if any) is gone


def test_foreign_store_is_refused(tmp_path):
    small = dict(SMALL, kappa=[2.0])
    run_sweep(small, tmp_path / "s", progress=False)
    with pytest.raises(ConfigError, match="holds results of a different configuration"):
        run_sweep(dict(small, noise=0.4), tmp_path / "s", progress=False)
    meta = tmp_path / "s" / "config.json"
    meta.write_text(json.dumps({k: v for k, v in json.loads(meta.read_text()).items() if k != "format"}))
    with pytest.raises(StoreError, match="written in another store format"):     # a store of the npz era
        run_sweep(small, tmp_path / "s", progress=False)
    meta.write_text('{"format": 2, "hash"')
    with pytest.raises(StoreError, match=r"config\.json is unreadable"):
        run_sweep(small, tmp_path / "s", progress=False)


# ---------------------------------------------------------------- stale results (defect class: store lies)
def test_deleted_config_json_does_not_serve_old_points(tmp_path):
    store = tmp_path / "s"
    run_sweep(SMALL, store, progress=False)
    (store / "config.json").unlink()
    with pytest.raises(StoreError, match=r"point file .*0\.json belongs to grid point 0 of configuration"):
        run_sweep(dict(SMALL, noise=0.4), store, progress=False)
    # the same configuration, on the other hand, may rebuild its config.json and reuse its own points
    (store / "config.json").unlink()
    same_results(run_sweep(SMALL, store, progress=False), run_sweep(SMALL, tmp_path / "clean", progress=False))


def test_point_file_copied_over_another_is_refused(tmp_path):
    store = tmp_path / "s"
    run_sweep(SMALL, store, progress=False)
    (store / "points" / "1.json").write_bytes((store / "points" / "0.json").read_bytes())
    with pytest.raises(StoreError, match=r"1\.json belongs to grid point 0 .* not to point 1"):
        run_sweep(SMALL, store, progress=False)
    with pytest.raises(StoreError, match=r"1\.json"):
        load_results(store)


# ------------------------------------------------------------ unreadable points (defect class: crashes)
class _Bomb:
    def __reduce__(self):                # unpickling this would create a file: it must never happen
        return (open, (os.environ["PRUNING_TEST_BOMB"], "w"))


CORRUPTIONS = {
    "truncated": lambda b: b[: len(b) // 2],
    "empty": lambda b: b"",
    "garbage": lambda b: bytes(range(256)) * 4,
    "npz": None,          # a NumPy archive holding an object array (the old store format, pickled)
    "pickle": None,       # a pickle whose loading has a side effect
    "wrong shape": lambda b: json.dumps(dict(json.loads(b), result=dict(json.loads(b)["result"], mean=[1.0]))).encode(),
    "not a point": lambda b: b"[1, 2, 3]",
}


@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
def test_unreadable_point_files_are_recomputed(tmp_path, how, monkeypatch):
    bomb = tmp_path / "bomb-went-off"
    monkeypatch.setenv("PRUNING_TEST_BOMB", str(bomb))
    store = tmp_path / "s"
    clean = run_sweep(SMALL, store, progress=False)
    target = store / "points" / "1.json"
    if how == "npz":
        with open(target, "wb") as fh:
            np.savez(fh, mean=np.array([_Bomb()], dtype=object))
    elif how == "pickle":
        target.write_bytes(pickle.dumps(_Bomb()))
    else:
        target.write_bytes(CORRUPTIONS[how](target.read_bytes()))
    with pytest.warns(StoreWarning, match=r"point file .*1\.json is unreadable"):
        again = run_sweep(SMALL, store, progress=False)
    same_results(again, clean)
    assert not bomb.exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")                       # the recomputed file is healthy again
        same_results(load_results(store), clean)


def test_bad_point_file_in_the_cli_is_one_warning_line(tmp_path, capsys):
    cfg_path = tmp_path / "small.json"
    cfg_path.write_text(json.dumps(SMALL))
    store = tmp_path / "s"
    run_sweep(SMALL, store, progress=False)
    (store / "points" / "0.json").write_bytes(b"PK\x03\x04 truncated")
    assert main(["sweep", str(cfg_path), "--store", str(store), "--n-jobs", "1", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "warning: point file" in err and "0.json is unreadable" in err, err


# ------------------------------------------------------------------ concurrency (defect class: races)
def test_claims_exclude_each_other(tmp_path):
    store = store_mod.open_store(tmp_path / "s", load_config(SMALL))
    with store_mod.claim(store, 0, block=False) as first:
        with store_mod.claim(store, 0, block=False) as second, store_mod.claim(store, 1, block=False) as other:
            assert first and not second and other
    with store_mod.claim(store, 0, block=False) as again:      # released when its holder let go
        assert again


def test_temporary_files_of_dead_writers_are_removed(tmp_path):
    store = store_mod.open_store(tmp_path / "s", load_config(SMALL))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    leftovers = {pid: files.temporary(store / "points", "0.json") for pid in (dead_pid, os.getpid())}
    for fd, _ in leftovers.values():
        os.close(fd)
    renamed = leftovers[dead_pid][1].replace(f"-{os.getpid()}.", f"-{dead_pid}.")
    os.rename(leftovers[dead_pid][1], renamed)
    store_mod.open_store(store, load_config(SMALL))
    assert not os.path.exists(renamed) and os.path.exists(leftovers[os.getpid()][1])   # a live writer's file stays


def test_concurrent_sweeps_in_threads_match_a_single_run(tmp_path):
    import threading

    cfg = dict(SMALL, kappa=[0.5, 1.5, 2.0], ridge=[0.0, 0.1])              # 6 points, 4 runs at once
    results, errors = {}, []

    def run(j):
        try:
            results[j] = run_sweep(cfg, tmp_path / "shared", progress=False)
        except BaseException as exc:          # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(j,)) for j in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    single = run_sweep(cfg, tmp_path / "single", progress=False)
    for j in range(4):
        same_results(results[j], single)
    assert len(point_files(tmp_path / "shared")) == 6
    assert not list((tmp_path / "shared" / "points").glob(".*"))            # no temporary files left behind


@pytest.mark.slow
def test_concurrent_sweeps_on_one_store_match_a_single_run(tmp_path):
    cfg = dict(SMALL, kappa=[0.4, 1.5, 2.0], ridge=[0.0, 0.1], retrain=["none", "fresh"])     # 12 points
    # (kappa 0.4, not 0.5: keep 0.5 of p = 40 would be the fresh refit's interpolation threshold, refused)
    cfg_path = tmp_path / "sweep.json"
    cfg_path.write_text(json.dumps(cfg))
    cmd = CLI + [str(cfg_path), "--n-jobs", "1", "--no-progress"]
    procs = [subprocess.Popen(cmd + ["--store", str(tmp_path / "shared"), "--csv", str(tmp_path / f"run{j}.csv")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for j in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
    reference = read_csv(export_csv(run_sweep(cfg, tmp_path / "single", progress=False), load_config(cfg),
                                    tmp_path / "single.csv"))
    assert len(reference) == 12 * (2 * 4 * 4 + 1)
    for j in range(3):
        assert read_csv(tmp_path / f"run{j}.csv") == reference
    assert len(point_files(tmp_path / "shared")) == 12
    assert not list((tmp_path / "shared" / "points").glob(".*"))            # no temporary files left behind


# ------------------------------------------------------------------------------- CSV and theory
def test_csv_has_theory_and_simulation(tmp_path):
    small = dict(CONFIG, kappa=[2.0], ridge=[0.0], retrain=["none", "same"], trials=4)
    cfg = load_config(small)
    res = run_sweep(cfg, tmp_path / "s", progress=False)
    rows = read_csv(export_csv(res, cfg, tmp_path / "out.csv"))
    assert {r["source"] for r in rows} == {"theory", "simulation"}
    same_theory = [r for r in rows if r["retrain"] == "same" and r["source"] == "theory"]
    assert same_theory and all(r["risk"] == "nan" for r in same_theory)     # no formula for same-data refits
    assert len(rows) == 2 * (4 * 4 * 2 + 1)


def test_theory_is_at_the_kept_fraction_realised_at_finite_p(tmp_path):
    from asymptotics import Spectrum, pruned_risk

    cfg = load_config(dict(SMALL, kappa=[2.0], keep=[0.11, 1.0], criteria=["magnitude"]))   # 0.11 * 40 = 4.4 -> 4
    (r,) = run_sweep(cfg, tmp_path / "s", progress=False)
    np.testing.assert_array_equal(r["keep_effective"], [0.1, 1.0])
    spec = Spectrum(**cfg["spectrum"])
    np.testing.assert_allclose(r["theory"][0], [pruned_risk(spec, 2.0, 0.5, keep=0.1, criterion="magnitude"),
                                                pruned_risk(spec, 2.0, 0.5, keep=1.0, criterion="magnitude")],
                               rtol=1e-12)


def test_theory_is_computed_before_any_monte_carlo(tmp_path, monkeypatch):
    from asymptotics.fixed_point import ConvergenceError

    calls = []
    monkeypatch.setattr(sweep_kind, "monte_carlo", lambda *a, **k: calls.append(a))

    def broken(*args, **kwargs):
        raise ConvergenceError("theory failed")

    monkeypatch.setattr(sweep_kind, "pruned_risk", broken)
    with pytest.raises(ConvergenceError):
        run_sweep(SMALL, tmp_path / "s", progress=False)
    assert calls == [] and not point_files(tmp_path / "s")


# ------------------------------------------------------------------- config validation (nested tables)
@pytest.mark.parametrize("change,field", [
    (dict(p=0), "p == 0"), (dict(p=True), "p == True"), (dict(trials=1), "trials == 1"),
    (dict(kappa=[1.0]), "interpolation threshold"), (dict(kappa=["2"]), r"kappa\[0\] must be a real number"),
    (dict(keep=[0.0, 0.5]), "keep"), (dict(keep=[0.5, 1]), r"keep\[1\] == 1 is an integer \(a count\)"),
    (dict(retrain=["maybe"]), r"retrain\[0\] == 'maybe'"), (dict(colour=1), "unknown field 'colour'"),
    (dict(hessian="population"), "field 'hessian' was renamed 'hessian_scores'"),
    (dict(hessian_scores="exact"), "hessian_scores == 'exact'"),
    (dict(spectrum={"variances": [1, -1], "signal": [1, 1]}), r"spectrum: variances\[1\] == -1.0"),
    (dict(spectrum={"variances": [1, 25], "signal": [1, 0.3], "signaldist": "gaussian"}),
     r"unknown field 'spectrum.signaldist' \(fields of spectrum: variances, signal, weights, signal_dist\)"),
    (dict(spectrum={"variances": [1, 25]}), "missing field 'spectrum.signal'"),
    (dict(spectrum={"variances": [1, True], "signal": [1, 1]}), r"spectrum.variances\[1\] == True"),
    (dict(spectrum=[1, 25]), "spectrum must be a table"),
    (dict(criteria=["l0"]), r"criteria\[0\] == 'l0'"), (dict(criteria=["hessian", "hessian"]), "listed twice"),
    (dict(kind="graph"), "kind == 'graph', must be one of 'linear'"),
    (None, "config file .*nope.json' does not exist"),
])
def test_bad_config_exits_2_with_one_line(tmp_path, change, field, capsys):
    cfg_path = tmp_path / ("bad.json" if change is not None else "nope.json")
    if change is not None:
        cfg_path.write_text(json.dumps({**SMALL, **change}))
    assert main(["sweep", str(cfg_path), "--store", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert re.search(field, err), err
    assert not (tmp_path / "s").exists()                      # refused before anything was written


def test_bad_config_in_a_real_process_exits_2_with_one_line(tmp_path):
    cfg_path = tmp_path / "bad.json"
    cfg_path.write_text(json.dumps({**SMALL, "spectrum": {"variances": [1], "signal": [1], "signaldist": "gaussian"}}))
    for path, needle in ((cfg_path, "unknown field 'spectrum.signaldist'"),):
        proc = subprocess.run(CLI + [str(path), "--store", str(tmp_path / "s")], capture_output=True, text=True)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert needle in proc.stderr, proc.stderr


def test_config_errors_in_python(tmp_path):
    cfg = dict(CONFIG)
    del cfg["p"]
    with pytest.raises(ConfigError, match="missing field 'p'"):
        load_config(cfg)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must be a table"):
        load_config(tmp_path / "list.json")
    (tmp_path / "typo.toml").write_text('p = 40\nnoise = 0.5\ntrials = 4\nkappa = [2.0]\nkeep = [0.5, 1.0]\n'
                                        '[spectrum]\nvariances = [1.0]\nsignal = [1.0]\nsignal_dis = "fixed"\n')
    with pytest.raises(ConfigError, match="unknown field 'spectrum.signal_dis'"):
        load_config(tmp_path / "typo.toml")
    assert load_config(load_config(SMALL)) == load_config(SMALL)            # normalising is idempotent


def test_empty_store_path_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="store == ''"):
        run_sweep(SMALL, "", progress=False)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------ Dask
class FakeClient:
    """Runs submitted work at once; records how it is used."""
    instances = []

    def __init__(self, address):
        self.address, self.submitted, self.closed = address, 0, 0
        FakeClient.instances.append(self)

    def scheduler_info(self):
        return {"workers": {"w0": {}, "w1": {}}}

    def submit(self, fn, *args, pure=True, **kwargs):
        self.submitted += 1
        return fn(*args, **kwargs)

    def map(self, fn, *iterables, pure=True, **kwargs):
        return [self.submit(fn, *a, **kwargs) for a in zip(*iterables)]

    def gather(self, futures):
        return list(futures)

    def scatter(self, data, **kwargs):
        return data

    def close(self):
        self.closed += 1


def test_one_dask_client_per_sweep_closed_at_the_end(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    monkeypatch.setattr(distributed, "Client", FakeClient)
    monkeypatch.setattr(FakeClient, "instances", [])
    seen = []
    real = sweep_kind.monte_carlo

    def spy(*args, **kwargs):
        seen.append(kwargs["client"])
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_kind, "monte_carlo", spy)
    res = run_sweep(SMALL, tmp_path / "dask", client="tcp://scheduler:8786", progress=False)
    (client,) = FakeClient.instances
    assert client.address == "tcp://scheduler:8786" and client.closed == 1 and client.submitted >= 2
    assert len(seen) == 2 and all(c is client for c in seen)          # the object, not the address, per point
    same_results(res, run_sweep(SMALL, tmp_path / "serial", progress=False))
    mine = FakeClient("mine")
    run_sweep(SMALL, tmp_path / "dask2", client=mine, progress=False)
    assert mine.closed == 0 and mine.submitted >= 2                     # a client passed in stays open


# ---------------------------------------------------------------------------- other kinds of experiment
def _toy_kind():
    def normalize(raw):
        return dict(x=[float(v) for v in raw["x"]], trials=int(raw["trials"]))

    def simulate(cfg, point, seed, n_jobs, client):
        draws = np.random.default_rng(seed).normal(point["x"], 1.0, cfg["trials"])
        return dict(mean=np.array([draws.mean()]))

    return PointKind(name="toy", required=("x",), defaults=dict(trials=3), normalize=normalize,
                     grid=lambda cfg: [dict(x=x) for x in cfg["x"]], check_point=lambda cfg, point: None,
                     theory=lambda cfg, point: dict(theory=np.array([point["x"]])), simulate=simulate,
                     shapes=lambda cfg: dict(mean=(1,), theory=(1,)),
                     rows=lambda cfg, r: [dict(x=r["x"], source="theory", value=r["theory"][0]),
                                          dict(x=r["x"], source="simulation", value=r["mean"][0])],
                     csv_columns=("x", "source", "value"))


def test_a_second_kind_of_experiment_plugs_into_the_store(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "KINDS", dict(sweep.KINDS))
    register_kind(_toy_kind())
    toy = {"kind": "toy", "x": [0.0, 1.0, 2.0], "seed": 3}
    res = run_sweep(toy, tmp_path / "toy", progress=False)
    assert [r["x"] for r in res] == [0.0, 1.0, 2.0]
    assert [r["mean"][0] for r in res] == [np.random.default_rng(sweep.point_seed(3, i)).normal(x, 1.0, 3).mean()
                                           for i, x in enumerate([0.0, 1.0, 2.0])]
    rows = read_csv(export_csv(res, load_config(toy), tmp_path / "toy.csv"))
    assert [r["source"] for r in rows] == ["theory", "simulation"] * 3
    with pytest.raises(ConfigError, match="unknown field 'p'"):
        load_config(dict(toy, p=3))
    with pytest.raises(ConfigError, match="holds results of a different configuration"):
        run_sweep(dict(toy, seed=4), tmp_path / "toy", progress=False)


@pytest.mark.slow
def test_sweep_on_a_real_dask_cluster_is_identical(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cl:
        on_dask = run_sweep(SMALL, tmp_path / "dask", client=cl.scheduler_address, progress=False)
        with distributed.Client(cl) as client:               # a client passed in is used and left open
            run_sweep(SMALL, tmp_path / "dask2", client=client, progress=False)
            assert client.status == "running"
    same_results(on_dask, run_sweep(SMALL, tmp_path / "serial", progress=False))
