"""Records that cannot be edited or truncated unnoticed, CSVs that concurrent writers cannot corrupt, and
Dask clients that are closed by whoever opened them."""

import json
import multiprocessing
import warnings

import numpy as np
import pytest

from simulations.regimes import grid as R
from simulations.runtime import workers
from simulations.runtime.files import write_tidy_csv
from simulations.runtime.store import StoreWarning
from simulations.runtime.sweep import run_sweep

CONFIG = dict(spectrum=dict(variances=[1.0, 25.0], signal=[1.0, 0.3]), p=40, noise=0.5, trials=4, kappa=[2.0],
              keep=[0.25, 1.0])
TINY = dict(d=4, teacher_width=2, width=5, n_train=40, n_test=60, steps=30, retrain_batch=8, batch=8,
            batches=(4, 8), lengths=(0.5, 1.0), densities=(0.3, 0.6), seeds=1, knobs=("batch",))


def _edit(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_a_sweep_point_with_one_number_edited_is_recomputed(tmp_path):
    first = run_sweep(CONFIG, tmp_path / "s", progress=False)[0]
    point = tmp_path / "s" / "points" / "0.json"
    _edit(point, lambda d: d["result"]["mean"][0].__setitem__(0, 123.0))      # valid JSON, same shape
    with pytest.warns(StoreWarning, match="0.json is unreadable .*checksum does not match"):
        again = run_sweep(CONFIG, tmp_path / "s", progress=False)[0]
    np.testing.assert_array_equal(again["mean"], first["mean"])
    assert again["mean"][0, 0] != 123.0


@pytest.mark.parametrize("change,why", [
    (lambda d: d["test_error"].__setitem__(0, 0.5), "checksum"),                       # an edited number
    (lambda d: d.__setitem__("mc", d["mc"][:1]), "checksum"),                          # a list cut short
    (lambda d: d.__setitem__("dense_test_error", "0.1"), "checksum"),                  # a string
])
def test_an_edited_regimes_cell_is_recomputed(tmp_path, change, why):
    cfg = R.grid_config(quick=True, **TINY)
    first = R.run_grid(cfg, tmp_path / "g", progress=False)
    cell = tmp_path / "g" / "cells" / "0.json"
    _edit(cell, change)
    with pytest.warns(StoreWarning, match=f"0.json is unreadable .*{why}"):
        again = R.run_grid(cfg, tmp_path / "g", progress=False)
    assert again["records"][0]["test_error"] == first["records"][0]["test_error"]


@pytest.mark.parametrize("change,why", [
    (lambda d: d.__setitem__("mc", d["mc"][:1]), "mc must hold one entry per density"),
    (lambda d: d.__setitem__("dense_test_error", "0.1"), "dense_test_error == '0.1' is not a number"),
    (lambda d: d["cka"].__setitem__(0, "x"), "cka holds a value that is not a number"),
])
def test_a_cell_of_the_wrong_shape_is_refused_even_with_a_valid_checksum(tmp_path, change, why):
    from simulations.runtime.store import checksum

    cfg = R.grid_config(quick=True, **TINY)
    R.run_grid(cfg, tmp_path / "g", progress=False)
    cell = tmp_path / "g" / "cells" / "0.json"

    def forge(d):
        change(d)
        d["checksum"] = checksum(d)

    _edit(cell, forge)
    with pytest.warns(StoreWarning, match=why):
        again = R.run_grid(cfg, tmp_path / "g", progress=False)
    assert len(again["records"][0]["mc"]) == len(cfg["densities"])


def _writer(path, rows, n):
    for _ in range(n):
        write_tidy_csv(path, rows, ("a", "b"))


def test_concurrent_csv_writers_never_leave_a_partial_file(tmp_path):
    path = tmp_path / "out.csv"
    rows = [dict(a=i, b=float(i) / 3) for i in range(2000)]
    write_tidy_csv(path, rows, ("a", "b"))
    whole = path.read_text()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, rows, 30)) for _ in range(2)]
    [p.start() for p in procs]
    reads = 0
    while any(p.is_alive() for p in procs):
        assert path.read_text() == whole                       # never a partial or interleaved file
        reads += 1
    [p.join() for p in procs]
    assert all(p.exitcode == 0 for p in procs) and reads > 0
    assert not list(tmp_path.glob(".*tmp"))                    # no temporary left behind


def test_a_regimes_grid_closes_the_dask_client_it_opened(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    opened = []
    real = workers.open_client

    def spy(address):
        client = real(address)
        opened.append(client)
        return client

    monkeypatch.setattr(workers, "open_client", spy)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        cfg = R.grid_config(quick=True, **TINY)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = R.run_grid(cfg, tmp_path / "g", client=cluster.scheduler_address, progress=False)
        assert len(res["records"]) == len(R.cells(cfg))
        assert opened and all(c.status == "closed" for c in opened)
