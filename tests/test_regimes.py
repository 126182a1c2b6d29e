"""Network phase diagram and fine-tune vs scratch (simulations/regimes.py): seed contract, resumable store,
masks, initialization, regime logic and the temperature sentence."""

import json
import time

import numpy as np
import pytest

from simulations.regimes import grid as R  # noqa: E402
from simulations.runtime.seeds import child  # noqa: E402
from simulations.regimes import scratch_networks as S  # noqa: E402
from simulations.figures import regimes as RF  # noqa: E402
from simulations.runtime.store import StoreError, StoreWarning  # noqa: E402

TINY = dict(d=5, teacher_width=2, width=6, n_train=40, n_test=60, steps=40, batch=8, retrain_batch=4,
            batches=(16, 4), lengths=(1.0, 0.5), densities=(0.3, 0.8), seeds=2)


def tiny(**kw):
    return R.grid_config(quick=True, **{**TINY, **kw})


def test_config_validation():
    with pytest.raises(ValueError, match="unknown configuration key 'lr_decay'"):
        R.grid_config(lr_decay=0.1)
    with pytest.raises(TypeError, match=r"densities\[1\] == 1 is an integer; .*pass 1.0"):
        R.grid_config(densities=(0.5, 1))
    with pytest.raises(ValueError, match="knobs contains 'sam'"):
        R.grid_config(knobs=("batch", "sam"))
    with pytest.raises(ValueError, match="lengths"):
        R.grid_config(lengths=(1.5,))
    cfg = R.grid_config()
    assert len(cfg["batches"]) >= 5 and len(cfg["lengths"]) >= 5 and len(cfg["densities"]) >= 6 and cfg["seeds"] >= 3
    assert list(cfg["batches"]) == sorted(cfg["batches"], reverse=True)        # coldest (largest batch) first


def test_cells_order():
    cfg = tiny()
    assert R.cells(cfg) == [("batch", 0, 0), ("batch", 0, 1), ("batch", 1, 0), ("batch", 1, 1),
                            ("length", 0, 0), ("length", 0, 1), ("length", 1, 0), ("length", 1, 1)]


def test_magnitude_mask_keeps_largest_first_layer_weights():
    cfg = tiny()
    net, theta, *_ = R.make_problem(cfg, 0)
    a, b = net.layer_block(0)
    mask = R.magnitude_mask(net, theta, 0.3)
    k = round(0.3 * (b - a))
    assert mask[a:b].sum() == k and mask[b:].all()
    kept, dropped = np.abs(theta[a:b][mask[a:b]]), np.abs(theta[a:b][~mask[a:b]])
    assert kept.min() >= dropped.max()


def test_problem_is_shared_by_temperatures_and_length_one_is_the_base_batch():
    """Dense seed j's data and initialization do not depend on the cell; the full-length checkpoint of the
    'length' knob is the dense run of the 'batch' knob at the base batch size (same streams)."""
    cfg = tiny(batches=(16, 8))
    p1, p2 = R.make_problem(cfg, 1), R.make_problem(cfg, 1)
    assert np.array_equal(p1[1], p2[1]) and np.array_equal(p1[2][0], p2[2][0])
    assert not np.array_equal(p1[1], R.make_problem(cfg, 0)[1])
    th_len = R._dense_theta(cfg, "length", 0, 1)[1]
    th_batch = R._dense_theta(cfg, "batch", 1, 1)[1]
    assert np.array_equal(th_len, th_batch)


def test_early_stop_is_a_prefix_of_the_full_run():
    cfg = tiny()
    net, theta0, (X, y), _, seq = R.make_problem(cfg, 0)
    kw = dict(lr=cfg["lr"], steps=40, batch=8, momentum=cfg["momentum"])
    full = R.train_schedule(net, theta0, X, y, seq=seq, **kw)
    again = R.train_schedule(net, theta0, X, y, seq=seq, **kw)
    half = R.train_schedule(net, theta0, X, y, seq=seq, stop=20, **kw)
    first = net.train(theta0, X, y, optimizer="sgd", lr=cfg["lr"], steps=20, batch_size=8, momentum=cfg["momentum"],
                      rng=np.random.Generator(np.random.PCG64(child(seq, 0))))   # the first segment by hand
    assert np.array_equal(full, again)
    assert np.array_equal(half, first.theta)
    assert not np.array_equal(half, full)


def test_resumable_store_and_n_jobs(tmp_path):
    cfg = tiny()
    store = tmp_path / "store"
    first = R.run_grid(cfg, store, progress=False)
    n = len(R.cells(cfg))
    assert first["computed"] == n and len(list((store / "cells").glob("*.json"))) == n
    rec = json.loads((store / "cells" / "3.json").read_text())
    assert rec["config_hash"] == R.config_hash(cfg) and rec["index"] == 3
    (store / "cells" / "3.json").unlink()
    (store / "cells" / "5.json").write_text("{truncated")           # a torn file is recomputed
    bad = dict(json.loads((store / "cells" / "6.json").read_text()), knob="batch", temperature_index=0)
    (store / "cells" / "6.json").write_text(json.dumps(bad))        # right hash and index, not cell 6's record
    with pytest.warns(StoreWarning) as caught:
        second = R.run_grid(cfg, store, progress=False)
    assert sorted(str(w.message).split()[2].rsplit("/", 1)[1] for w in caught) == ["5.json", "6.json"]
    assert second["computed"] == 3
    strip = lambda recs: [{k: v for k, v in r.items() if k != "seconds"} for r in recs]   # noqa: E731
    assert strip(second["records"]) == strip(first["records"])
    parallel = R.run_grid(cfg, None, n_jobs=2, progress=False)
    assert strip(parallel["records"]) == strip(first["records"])
    parallel_store = R.run_grid(cfg, tmp_path / "par", n_jobs=2, progress=False)
    assert strip(parallel_store["records"]) == strip(first["records"])
    assert strip(R.run_grid(cfg, tmp_path / "par", progress=False)["records"]) == strip(first["records"])
    with pytest.raises(StoreError, match="different configuration"):
        R.run_grid(tiny(seed=1), store, progress=False)
    (store / "cells" / "2.json").write_bytes((store / "cells" / "1.json").read_bytes())
    with pytest.raises(StoreError, match="belongs to grid point 1"):         # a file copied over another
        R.run_grid(cfg, store, progress=False)


def test_a_cell_claimed_by_another_run_is_waited_for(tmp_path):
    """A concurrent run holding a cell's claim: this run computes the rest, waits, and takes its result."""
    import threading

    from simulations.runtime.store import release, try_claim

    cfg = tiny(knobs=("batch",), seeds=1)
    ref = R.run_grid(cfg, tmp_path / "ref", progress=False)
    store = tmp_path / "s"
    R.run_grid(dict(cfg), store, progress=False)
    (store / "cells" / "1.json").unlink()
    (store / "cells" / "0.json").unlink()
    fd = try_claim(store, 1)                   # "another run" computing cell 1
    out = {}
    worker = threading.Thread(target=lambda: out.update(res=R.run_grid(cfg, store, progress=False)))
    worker.start()
    for _ in range(2400):                      # until it has computed cell 0 (at most 2 minutes)
        if (store / "cells" / "0.json").exists():
            break
        time.sleep(0.05)
    worker.join(timeout=0.5)
    assert (store / "cells" / "0.json").exists() and worker.is_alive()     # computed cell 0, waits for cell 1
    assert not (store / "cells" / "1.json").exists()
    (store / "cells" / "1.json").write_bytes((tmp_path / "ref" / "cells" / "1.json").read_bytes())
    release(fd)                                # the other run finished cell 1
    worker.join(timeout=60)
    assert not worker.is_alive() and out["res"]["computed"] == 1
    strip = lambda recs: [{k: v for k, v in r.items() if k != "seconds"} for r in recs]   # noqa: E731
    assert strip(out["res"]["records"]) == strip(ref["records"])


def test_cell_metrics_are_consistent():
    cfg = tiny()
    rec = R.compute_cell(cfg, 0)
    D = len(cfg["densities"])
    for k in ("test_error", "train_error", "mc", "barrier", "cka", "pruned_test_error"):
        assert len(rec[k]) == D and np.all(np.isfinite(rec[k]))
    for d in range(D):
        path = np.array(rec["path"][d])
        assert path.size == 11
        assert rec["train_error"][d] == pytest.approx(0.5 * (path[0] + path[-1]))
        dev = 0.5 * (path[0] + path[-1]) - path
        assert rec["mc"][d] == pytest.approx(dev[np.argmax(np.abs(dev))])
        assert 0.0 <= rec["cka"][d] <= 1.0


def _synthetic(slopes_by_density, S=4, T=3, noise=0.001, mc=None):
    """A grid result whose test error changes by `slope` per temperature step at each density."""
    rng = np.random.default_rng(0)
    D = len(slopes_by_density)
    cfg = R.check_config(dict(R.grid_config(), knobs=("batch",), batches=(64, 16, 4)[:T],
                               densities=tuple(np.linspace(0.1, 0.8, D)), seeds=S))
    recs = []
    for ti in range(T):
        for j in range(S):
            te = [0.3 + s * ti + noise * rng.standard_normal() for s in slopes_by_density]
            m = [-0.2 if (mc is not None and mc[ti][d]) else 0.0 for d in range(D)]
            recs.append(dict(knob="batch", temperature_index=ti, seed_index=j, dense_test_error=0.2, test_error=te,
                             train_error=[0.1] * D, mc=[x + 1e-3 * rng.standard_normal() for x in m],
                             barrier=[0.0] * D, cka=list(np.linspace(0.9, 0.99, D)), pruned_test_error=te))
    return R.summarize(dict(config=cfg, records=recs))["batch"]


def test_temperature_sentence_flip_and_no_flip():
    s = _synthetic([-0.05, -0.01, 0.0, 0.02, 0.05])
    np.testing.assert_allclose(s["slope"], [-0.05, -0.01, 0.0, 0.02, 0.05], atol=0.003)
    text = R.temperature_sentence("batch", s)
    assert "the sign flips with load" in text and "lowers the test error at density 0.1, 0.275" in text
    text = R.temperature_sentence("batch", _synthetic([-0.05, -0.02, -0.03]))
    assert text.startswith("Knob 'batch': no flip") and "lowers" in text
    assert "no significant temperature effect" in R.temperature_sentence("batch", _synthetic([0.0, 0.0]))


def test_regime_labels():
    barrier = [[True, False, False], [False, False, False], [False, False, False]]
    s = _synthetic([0.0, 0.0, 0.0], mc=barrier)
    assert s["regime"][0, 0] == "I" and (s["regime"] != "I").sum() == 8
    # CKA rises with density 0.9 .. 0.99: the connected cells split at the midpoint of their range
    assert s["cka_split"] == pytest.approx(0.5 * (0.9 + 0.99))
    assert list(s["regime"][1]) == ["II-A", "II-B", "II-B"]


def test_no_cka_split_when_the_range_is_narrow(monkeypatch):
    monkeypatch.setattr(R, "CKA_MIN_SPREAD", 0.2)         # the synthetic CKA spans 0.09 < 0.2
    s = _synthetic([0.0, 0.0, 0.0])
    assert np.isnan(s["cka_split"]) and set(s["regime"].ravel()) == {"II"}


def test_sparse_init_scale_and_zeros():
    from simulations import Network

    net = Network((400, 100, 1))
    mask = np.random.default_rng(1).random(net.n_params) < 0.25
    theta = S.sparse_init(net, mask, 1.0, np.random.default_rng(2))
    a, b = net.layer_block(0)
    assert np.all(theta[~mask] == 0)
    kept = theta[a:b][mask[a:b]]
    fan_in = 400 * mask[a:b].mean()
    assert kept.std() * np.sqrt(fan_in) == pytest.approx(1.0, rel=0.05)        # 10^4 entries: s.e. ~ 0.7%


def test_scratch_cell_budgets_and_n_jobs():
    cfg = S.scratch_config(quick=True, **{k: v for k, v in TINY.items() if k not in ("batches", "lengths")})
    res = S.run_scratch(cfg, progress=False)
    net = R.make_problem(cfg, 0)[0]
    a, b = net.layer_block(0)
    for di, x in enumerate(cfg["densities"]):
        kept = round(x * (b - a)) + (net.n_params - (b - a))
        assert res["records"][0]["steps_b"][di] == round(cfg["steps"] * net.n_params / kept)
    par = S.run_scratch(cfg, n_jobs=2, progress=False)
    for r1, r2 in zip(res["records"], par["records"]):
        assert all(r1[k] == r2[k] for k in ("dense", "fine-tune", "scratch-E", "scratch-B", "retrain"))


@pytest.mark.slow
def test_quick_figure_and_table(tmp_path):
    png, pdf, csv = RF.regimes_figure(tmp_path, quick=True, n_jobs=2, progress=False)
    assert png.exists() and pdf.exists() and csv.exists()
    text = (tmp_path / "regimes.txt").read_text()
    assert text.count("Knob") == 2
    csv2, md = S.scratch_table(tmp_path, quick=True, n_jobs=2, progress=False)
    assert "Liu et al. 2019" in csv2.read_text() and "Scratch-B" in md.read_text()


def test_digits_task_pieces():
    """The digits MLP: classification error, softmax outputs, the same density in every layer but the last."""
    pytest.importorskip("sklearn")
    cfg = R.grid_config(quick=True, task="digits")
    net, theta, (X, y), (Xt, yt), _ = R.make_problem(cfg, 0)
    assert net.sizes == (64, 40, 20, 10) and net.loss == "cross_entropy"
    logits = net.predict(theta, Xt)
    assert R.rel_error(net, theta, Xt, yt) == pytest.approx(np.mean(np.argmax(logits, 1) != yt))
    p = R.outputs(net, theta, Xt)
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.log(p[:, 3] / p[:, 7]), logits[:, 3] - logits[:, 7], rtol=1e-9, atol=1e-9)
    mask = R.magnitude_mask(net, theta, 0.2)
    for layer, want in ((0, round(0.2 * 64 * 40)), (1, round(0.2 * 40 * 20)), (2, 20 * 10)):
        a, b = net.layer_block(layer)
        assert mask[a:b].sum() == want
    with pytest.raises(ValueError, match="task == 'cifar'"):
        R.grid_config(task="cifar")


def test_dask_client_gives_the_serial_results():
    distributed = pytest.importorskip("distributed")
    cfg = tiny(knobs=("batch",), seeds=1)
    serial = R.run_grid(cfg, None, progress=False)["records"]
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        on_dask = R.run_grid(cfg, None, client=client, progress=False)["records"]
    strip = lambda recs: [{k: v for k, v in r.items() if k != "seconds"} for r in recs]   # noqa: E731
    assert strip(on_dask) == strip(serial)


def test_diverged_training_is_recorded_as_missing():
    cfg = tiny(lr=50.0, knobs=("batch",), batches=(4,))
    rec = R.compute_cell(cfg, 0)
    assert rec["diverged"] == "dense" and np.isnan(rec["dense_test_error"]) and np.all(np.isnan(rec["mc"]))
    s = R.summarize(R.run_grid(cfg, None, progress=False))["batch"]
    assert set(s["regime"].ravel()) == {"n/a"}
