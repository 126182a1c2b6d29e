"""The command line: figures are written; bad input and any failure exit with status 2 and one line;
Ctrl-C and SIGTERM are one line and leave no worker processes behind, nor does a SIGKILL."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from numpy.testing import assert_allclose

from asymptotics import pruned_risk
from simulations.runtime import sweep
from simulations.cli import main
from simulations.figures.linear import HEADLINE_NOISE, HEADLINE_SPECTRUM


def test_pruned_risk_figure_writes_png_pdf_and_csv(tmp_path):
    assert main(["figure", "pruned-risk", "--out", str(tmp_path), "--quick"]) == 0
    for name in ("pruned_risk.png", "pruned_risk.pdf", "pruned_risk.csv"):
        assert (tmp_path / name).stat().st_size > 1000
    rows = list(csv.DictReader(open(tmp_path / "pruned_risk.csv")))
    theory = [r for r in rows if r["source"] == "theory" and r["criterion"] == "hessian" and r["kappa"] == "2.0"]
    keep = np.array([float(r["keep"]) for r in theory])
    assert_allclose([float(r["risk"]) for r in theory],
                    pruned_risk(HEADLINE_SPECTRUM, 2.0, HEADLINE_NOISE, keep=keep, criterion="hessian"), rtol=1e-12)


@pytest.mark.parametrize("argv,needle", [
    (["figure", "no-such-figure"], "invalid choice: 'no-such-figure'"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments_exit_2_with_one_line(argv, needle):
    proc = subprocess.run([sys.executable, "-m", "simulations", *argv], capture_output=True, text=True)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_list_names_the_figures(capsys):
    assert main(["list"]) == 0
    assert "pruned-risk" in capsys.readouterr().out


# ------------------------------------------------------------------ sweeps: one line for every failure
SMALL = {"spectrum": {"variances": [1, 25], "signal": [1, 0.3]}, "p": 40, "noise": 0.5, "trials": 4, "seed": 7,
         "kappa": [0.5, 2.0], "keep": [0.1, 0.25, 0.5, 1.0]}


@pytest.fixture
def small_config(tmp_path):
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(SMALL))
    return path


def one_error_line(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize("exc", [ZeroDivisionError("float division by zero"), OverflowError("math range error"),
                                 RuntimeError("no convergence"), MemoryError(), ImportError("no module named x")])
def test_unexpected_errors_are_one_line_exit_2(small_config, tmp_path, monkeypatch, capsys, exc):
    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(sweep, "run_sweep", fail)
    assert main(["sweep", str(small_config), "--store", str(tmp_path / "s")]) == 2
    assert f"error: {type(exc).__name__}" in one_error_line(capsys)


def test_scheduler_without_dask_is_one_line(small_config, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)          # as if the dask extra were not installed
    assert main(["sweep", str(small_config), "--store", str(tmp_path / "s"), "--scheduler", "tcp://nowhere:8786",
                 "--no-progress"]) == 2
    assert "ImportError" in one_error_line(capsys)


@pytest.mark.parametrize("flag", ["--store", "--csv", "--scheduler"])
def test_empty_paths_are_refused(small_config, tmp_path, monkeypatch, capsys, flag):
    monkeypatch.chdir(tmp_path)
    argv = ["sweep", str(small_config), "--no-progress"] + (["--store", ""] if flag == "--store" else
                                                             ["--store", "s", flag, ""])
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert f"{flag} == ''" in one_error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.json"]       # nothing written anywhere


def test_csv_over_an_input_is_refused(small_config, tmp_path, capsys):
    (tmp_path / "other.toml").write_text("p = 1\n")
    (tmp_path / "sub").mkdir()
    before = small_config.read_text()
    for target, needle in ((small_config, "is the config file"),
                           (tmp_path / "sub" / ".." / "sweep.json", "config file"),       # another spelling
                           (tmp_path / "other.toml", "must end in .csv"), (tmp_path / "sub", "is a folder")):
        assert main(["sweep", str(small_config), "--store", str(tmp_path / "s"), "--csv", str(target)]) == 2
        assert needle in one_error_line(capsys)
    assert small_config.read_text() == before and (tmp_path / "other.toml").read_text() == "p = 1\n"
    assert not (tmp_path / "s").exists()                                      # refused before any work


# ------------------------------------------------------------- interrupts: one line, no orphaned workers
def _children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _start_parallel_sweep(tmp_path):
    cfg = dict(SMALL, p=120, trials=60, kappa=[0.5, 0.8, 1.5, 2.0], ridge=[0.0, 0.1], retrain=["none", "fresh"],
               keep=[0.1, 0.25, 0.45, 1.0])   # keep 0.5 at kappa 0.5 would refit at the threshold n
    (tmp_path / "sweep.json").write_text(json.dumps(cfg))
    store = tmp_path / "s"
    proc = subprocess.Popen([sys.executable, "-m", "simulations", "sweep", str(tmp_path / "sweep.json"), "--store",
                             str(store), "--n-jobs", "2", "--no-progress"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None and not [
            f for f in store.glob("points/*") if f.suffix in (".json", ".npz")]:      # a point is done: pool up
        time.sleep(0.05)
    workers = _children(proc.pid)
    assert proc.poll() is None and len(workers) >= 2, "the sweep ended before the test could interrupt it"
    return proc, workers


def _gone(pids, timeout=30):
    """The pids still alive after ``timeout`` seconds (killed then, so that a failing test leaves no orphans)."""
    deadline = time.time() + timeout
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    left = [p for p in pids if _alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    return left


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig,code,word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_interrupt_is_one_line_and_stops_the_workers(tmp_path, sig, code, word):
    proc, workers = _start_parallel_sweep(tmp_path)
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)            # what Ctrl-C does: the whole foreground process group
    else:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and word in err, err
    assert _gone(workers) == []


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and uses PR_SET_PDEATHSIG")
def test_killed_sweep_leaves_no_orphaned_workers(tmp_path):
    proc, workers = _start_parallel_sweep(tmp_path)
    proc.kill()
    proc.wait()
    assert _gone(workers) == []
