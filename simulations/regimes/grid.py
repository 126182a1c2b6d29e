"""Temperature, load and retraining in networks (Zhou et al. 2023, docs/references.md).

**Phase diagram** (Zhou et al. 2023, the three-regime model) on the shallow
teacher-student task: a planted two-layer ReLU teacher ``y = sum_k a_k relu(u_k . x)
+ noise`` and a wider two-layer student ``f(x) = sum_j v_j relu(w_j . x)``
(:class:`simulations.Network`), trained by SGD with momentum on the
squared loss with a step schedule (``lr`` times 0.1 at 50% and 75% of the steps).

* temperature, knob ``"batch"``: the minibatch size at a fixed number of steps and
  a fixed schedule (smaller batch = hotter);
* temperature, knob ``"length"``: the checkpoint of the dense run that is pruned,
  as a fraction of the schedule (earlier = hotter; the lr decays stay where the full
  schedule puts them, so early checkpoints are taken before them);
* load: the density of the first layer after one-shot magnitude pruning (the second
  layer stays dense, like the final layer of the paper's networks).

At every (temperature, density) and dense seed, the pruned network is retrained with
its mask fixed from two SGD seeds (same schedule as dense training, fixed batch),
and we record the test error of both retrainings (mean), the linear mode
connectivity ``mc`` of the pair (training error at 11 points of the straight path,
:func:`simulations.networks.similarity.mode_connectivity`) and the linear CKA of their
outputs on the training inputs (:func:`simulations.networks.similarity.linear_cka`). Errors
are mean squared errors relative to ``Var(y)`` of the same sample (0 perfect, 1 the
constant predictor), so ``mc`` is in the same units.

Second task (``task="digits"``): the 64-40-20-10 ReLU MLP on scikit-learn's digits
(the fixed split of :func:`simulations.networks.datasets.digits`; dense seeds differ in the
initialization and minibatch order), cross-entropy, every layer but the last pruned
at the same density; errors are classification errors and CKA compares softmax
outputs, as in the paper.

What the full runs showed (``regimes_figure``, 8 / 5 dense seeds): on the teacher
task retrainings of one mask are linearly connected except at the highest density
(0.8), where batch sizes 128-16 and most checkpoints give a barrier (mean ``mc``
-0.01 to -0.08 in units of ``Var(y)``) and the hottest batch (8) removes it: raising
temperature moves Regime I to II there, as in the paper, but in the *high*-density
corner rather than the low-density one; smaller batches lower the test error at
densities <= 0.3 and do nothing significant above, so the sign never flips. The
barriers appear only because the fixed retraining (batch 4) is noisy; with batch 8
(the digits setting) the teacher task is connected everywhere too (``mc >= -0.007``,
CKA 0.989-0.998, both knobs) and hotter dense training then lowers the test error at
every density where the effect is significant. On digits no cell is in
Regime I and no temperature effect on test error is significant.

Regimes: a cell is **I** (poorly connected) when its mean ``mc`` is below
``-MC_REL`` times the endpoints' mean training error, below ``-MC_ABS``, and more
than two standard errors below 0; otherwise connected, **II-B** when its mean CKA is at least the
midpoint of the connected cells' CKA range (similar outputs) and **II-A** below
(just **II** when that range is narrower than ``CKA_MIN_SPREAD``).

Reproducibility: the problem instance of dense seed ``j`` (data, teacher,
initialization and the dense run's minibatch order) comes from
``SeedSequence(seed, spawn_key=(DENSE_KEY + j,))``, shared by every temperature, so
temperature effects are paired; everything random inside grid cell ``i`` (the
retrainings) comes from child ``i``, ``SeedSequence(seed, spawn_key=(i,))``. Cells
are computed independently (serially, in ``n_jobs`` processes or on Dask) with
Numba and BLAS single-threaded, so results are bitwise identical for any
``n_jobs``. The store is :mod:`simulations.runtime.sweep`'s (one implementation): each
finished cell is written atomically to ``store/cells/<i>.json`` carrying its index
and the configuration hash; re-running on the same store computes only the
missing cells, an unreadable cell file is recomputed (with a warning), a store or
cell of another configuration is refused, and concurrent runs on one store claim
cells with ``flock`` (``store/locks/<i>.lock``) and finish with the single-run result.

Example
-------
>>> from simulations.regimes.grid import grid_config
>>> cfg = grid_config(quick=True)
>>> cfg["knobs"], len(cfg["densities"]) >= 3
(('batch', 'length'), True)
"""
from __future__ import annotations

import time
import warnings

import numpy as np

from pruning_checks import check_bool, check_int

from ..networks.similarity import PATH_POINTS, linear_cka, mode_connectivity
from ..runtime import store as _store
from ..runtime.seeds import children
from ..runtime.stats import finite_mean_sem
from ..runtime.workers import check_client, map_completed, n_workers
from .config import cells, check_config, config_hash, grid_config
from .task import magnitude_mask, make_problem, outputs, rel_error, train_schedule

#: Relative size of a barrier: mc below -MC_REL x (mean endpoint training error) counts as one.
MC_REL = 0.1
#: ... and below -MC_ABS in absolute terms (error units), so that paths with ~0 error everywhere are not barriers.
MC_ABS = 0.005
#: Connected cells are split into II-A / II-B only if their mean CKA spans at least this much (otherwise "II").
CKA_MIN_SPREAD = 0.02


def _dense_theta(cfg, knob, ti, j):
    net, theta0, (X, y), test, seq = make_problem(cfg, j)
    if knob == "batch":
        batch, stop = cfg["batches"][ti], None
    else:
        batch, stop = cfg["batch"], int(round(cfg["lengths"][ti] * cfg["steps"]))
    theta = train_schedule(net, theta0, X, y, lr=cfg["lr"], steps=cfg["steps"], batch=batch,
                           momentum=cfg["momentum"], seq=seq, stop=stop)
    return net, theta, (X, y), test


def compute_cell(cfg, i):
    """Everything measured in grid cell ``i`` (a JSON-serialisable dict)."""
    from threadpoolctl import threadpool_limits

    grid = cells(cfg)
    i = check_int(i, "i", low=0, high=len(grid) - 1)
    knob, ti, j = grid[i]
    t0 = time.perf_counter()
    keys = ("test_error", "test_error_sd", "train_error", "mc", "barrier", "cka", "pruned_test_error", "path")
    with threadpool_limits(limits=1):
        try:
            net, theta, (X, y), (Xt, yt) = _dense_theta(cfg, knob, ti, j)
        except FloatingPointError:              # the dense run diverged: the whole cell is missing
            D = len(cfg["densities"])
            return dict(index=i, knob=knob, temperature_index=ti, seed_index=j, dense_test_error=float("nan"),
                        seconds=time.perf_counter() - t0, diverged="dense",
                        **{k: [[] if k == "path" else float("nan")] * D for k in keys})
        streams = children(np.random.SeedSequence(cfg["seed"], spawn_key=(i,)), len(cfg["densities"]))
        rows = {k: [] for k in keys}
        diverged = []
        for di, dens in enumerate(cfg["densities"]):
            mask = magnitude_mask(net, theta, dens)
            pruned = np.where(mask, theta, 0.0)
            try:
                ends = [train_schedule(net, pruned, X, y, lr=cfg["lr"], steps=cfg["steps"],
                                       batch=cfg["retrain_batch"], momentum=cfg["momentum"], seq=s, mask=mask)
                        for s in children(streams[di], 2)]
            except FloatingPointError:          # recorded as missing; the summaries count finite seeds only
                for k in rows:
                    rows[k].append(float("nan") if k != "path" else [])
                rows["pruned_test_error"][-1] = rel_error(net, pruned, Xt, yt)
                diverged.append(dens)
                continue
            tests = [rel_error(net, e, Xt, yt) for e in ends]
            mc = mode_connectivity(ends[0], ends[1], lambda th: rel_error(net, th, X, y), points=PATH_POINTS)
            rows["test_error"].append(float(np.mean(tests)))
            rows["test_error_sd"].append(float(abs(tests[0] - tests[1]) / np.sqrt(2)))
            rows["train_error"].append(float(0.5 * (mc.errors[0] + mc.errors[-1])))
            rows["mc"].append(mc.mc)
            rows["barrier"].append(mc.barrier)
            try:
                rows["cka"].append(linear_cka(outputs(net, ends[0], X), outputs(net, ends[1], X)))
            except ValueError:                  # a retraining collapsed to a constant output: CKA undefined
                rows["cka"].append(float("nan"))
            rows["pruned_test_error"].append(rel_error(net, pruned, Xt, yt))
            rows["path"].append(mc.errors.tolist())
        dense_test = rel_error(net, theta, Xt, yt)
    return dict(index=i, knob=knob, temperature_index=ti, seed_index=j, dense_test_error=dense_test,
                seconds=time.perf_counter() - t0, diverged=diverged, **rows)


# ------------------------------------------------------------------ store and execution

_CELL_KEYS = frozenset(("index", "knob", "temperature_index", "seed_index", "dense_test_error", "seconds", "diverged",
                        "test_error", "test_error_sd", "train_error", "mc", "barrier", "cka", "pruned_test_error",
                        "path"))


def _read_cell(store, cfg, i, h, warn=True):
    """Finished cell ``i`` from the store (with ``hash``), ``None`` if missing or unreadable (then recomputed)."""
    data = _store.read_record(store, i, h, records="cells", warn=warn)
    if data is None:
        return None
    rec = {k: v for k, v in data.items() if k not in ("format", "config_hash", "checksum")}
    knob, ti, j = cells(cfg)[i]
    why = None
    if set(rec) != _CELL_KEYS or (rec["knob"], rec["temperature_index"], rec["seed_index"]) != (knob, ti, j):
        why = "not a cell record of this grid"
    else:
        why = _cell_problem(rec, len(cfg["densities"]))
    if why is not None:
        if warn:
            warnings.warn(f"cell file {store / 'cells' / f'{i}.json'} is unreadable ({why}); recomputing it.",
                          _store.StoreWarning, stacklevel=3)
        return None
    return dict(rec, hash=h)


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _cell_problem(rec, n_densities):
    """Why a cell record has the wrong types or shapes, or ``None`` (the schema :func:`compute_cell` writes)."""
    for key in ("dense_test_error", "seconds"):
        if not _is_number(rec[key]):
            return f"{key} == {rec[key]!r} is not a number"
    if rec["diverged"] != "dense" and not (isinstance(rec["diverged"], list)
                                           and all(_is_number(v) for v in rec["diverged"])):
        return f"diverged == {rec['diverged']!r} is neither 'dense' nor a list of densities"
    for key in ("test_error", "test_error_sd", "train_error", "mc", "barrier", "cka", "pruned_test_error", "path"):
        v = rec[key]
        if not isinstance(v, list) or len(v) != n_densities:
            return f"{key} must hold one entry per density ({n_densities}), got {v!r:.60}"
        if key == "path":
            if not all(isinstance(e, list) and len(e) in (0, PATH_POINTS) and all(map(_is_number, e)) for e in v):
                return f"path must hold lists of {PATH_POINTS} numbers (or empty lists)"
        elif not all(map(_is_number, v)):
            return f"{key} holds a value that is not a number"
    return None


def check_run_arguments(n_jobs, client, progress):
    """Refuse a bad ``n_jobs``, ``client`` or ``progress`` up front, whatever the number of cells to run
    (a resumed store with nothing left, or one cell, must not skip the checks)."""
    check_client(client)
    n_workers(n_jobs)
    check_bool(progress, "progress")


def run_grid(cfg=None, store=None, *, quick=False, n_jobs=None, client=None, progress=True):
    """Run (or resume) the phase-diagram grid; returns a :class:`dict` with the per-cell records.

    Parameters
    ----------
    cfg : dict, optional
        From :func:`grid_config` (default: ``grid_config(quick)``).
    store : path, optional
        Folder of finished cells (one JSON file per cell); without one the cells live in memory only.
    n_jobs : int, optional
        None/1 serial, ``k`` worker processes, -1 one per core.
    client : dask.distributed.Client or str, optional
        Compute the cells on a Dask cluster.
    progress : bool
        tqdm progress bar with an ETA.
    """
    check_bool(quick, "quick")
    cfg = grid_config(quick) if cfg is None else check_config(cfg)
    check_run_arguments(n_jobs, client, progress)
    grid = cells(cfg)
    records = {}
    h = config_hash(cfg)
    if store is not None:
        store = _store.open_store(store, cfg, records="cells")
        for i in range(len(grid)):
            rec = _read_cell(store, cfg, i, h)
            if rec is not None:
                records[i] = rec
    todo = [i for i in range(len(grid)) if i not in records]
    claims, mine, others = {}, [], []
    for i in todo:                              # claim what no concurrent run is computing
        fd = None if store is None else _store.try_claim(store, i)
        if store is not None and fd is None:
            others.append(i)
            continue
        if fd is not None:
            claims[i] = fd
            rec = _read_cell(store, cfg, i, h, warn=False)      # finished meanwhile by a concurrent run
            if rec is not None:
                records[i] = rec
                _store.release(claims.pop(i))
                continue
        mine.append(i)
    bar = None
    if progress and todo:
        from tqdm import tqdm
        bar = tqdm(total=len(grid), initial=len(grid) - len(todo), unit="cell", desc="regimes")
    t0 = time.perf_counter()
    computed = []

    def done(rec):
        i = rec["index"]
        rec = dict(rec, hash=h)
        records[i] = rec
        computed.append(i)
        if store is not None:
            _store.write_record(store, i, h, {k: v for k, v in rec.items() if k not in ("index", "hash")},
                                records="cells")
            _store.release(claims.pop(i))
        if bar is not None:
            bar.update(1)

    try:
        for rec in map_completed(compute_cell, [(cfg, i) for i in mine], n_jobs, client):
            done(rec)
        for i in others:                        # claimed by concurrent runs: wait, then finish what a dead run left
            claims[i] = _store.try_claim(store, i, block=True)
            rec = _read_cell(store, cfg, i, h, warn=False)
            if rec is None:
                for rec in map_completed(compute_cell, [(cfg, i)], n_jobs, client):
                    done(rec)
            else:
                records[i] = rec
                _store.release(claims.pop(i))
                if bar is not None:
                    bar.update(1)
    finally:
        for fd in claims.values():
            _store.release(fd)
        if bar is not None:
            bar.close()
    return dict(config=cfg, hash=h, records=[records[i] for i in range(len(grid))],
                seconds=time.perf_counter() - t0, computed=len(computed))


# ------------------------------------------------------------------ summaries

def summarize(result):
    """Per knob: arrays ``(temperatures, densities, seeds)`` of every metric, their means and standard
    errors over dense seeds, the regime labels and the temperature effect on test error per density."""
    cfg = result["config"]
    out = {}
    S, D = cfg["seeds"], len(cfg["densities"])
    for knob in cfg["knobs"]:
        temps = cfg["batches"] if knob == "batch" else cfg["lengths"]
        T = len(temps)
        arr = {k: np.full((T, D, S), np.nan) for k in ("test_error", "train_error", "mc", "barrier", "cka",
                                                        "pruned_test_error")}
        dense = np.full((T, S), np.nan)
        for rec in result["records"]:
            if rec["knob"] != knob:
                continue
            ti, j = rec["temperature_index"], rec["seed_index"]
            for k in arr:
                arr[k][ti, :, j] = rec[k]
            dense[ti, j] = rec["dense_test_error"]
        stats = {k: finite_mean_sem(v) for k, v in arr.items()}
        mc_m, mc_s = stats["mc"]
        barrier = (mc_m < -np.maximum(MC_REL * stats["train_error"][0], MC_ABS)) & (mc_m < -2 * mc_s)
        cka_m = stats["cka"][0]
        conn = cka_m[~barrier & np.isfinite(cka_m)]
        split = 0.5 * (conn.min() + conn.max()) if conn.size and np.ptp(conn) >= CKA_MIN_SPREAD else np.nan
        regime = np.where(barrier, "I", "II" if np.isnan(split) else np.where(cka_m >= split, "II-B", "II-A"))
        regime = regime.astype("<U4")
        regime[~np.isfinite(mc_m) | ~np.isfinite(cka_m)] = "n/a"
        # temperature effect: per dense seed the least-squares slope of test error on the temperature rank
        # (0 = coldest), then mean and standard error over seeds (paired: seeds share data and init)
        x = np.arange(T) - (T - 1) / 2
        slopes = (np.tensordot(x, arr["test_error"], axes=(0, 0)) / np.sum(x**2) if T > 1
                  else np.full(arr["test_error"].shape[1:], np.nan))                   # (D, S)
        sl_m, sl_s = finite_mean_sem(slopes)
        out[knob] = dict(temperatures=np.asarray(temps), densities=np.asarray(cfg["densities"]), arrays=arr,
                         mean={k: v[0] for k, v in stats.items()}, sem={k: v[1] for k, v in stats.items()},
                         dense_test_error=finite_mean_sem(dense), regime=regime, cka_split=split, slope=sl_m,
                         slope_sem=sl_s)
    return out


def temperature_sentence(knob, s):
    """A sentence on whether the sign of the temperature effect on test error flips with load."""
    dens, m, e = s["densities"], np.asarray(s["slope"], dtype=float), np.asarray(s["slope_sem"], dtype=float)
    ok = np.isfinite(m) & np.isfinite(e)          # a slope over fewer than two finite seeds is no evidence
    sig = ok & (np.abs(np.where(ok, m, 0.0)) > 2 * np.where(ok, e, 0.0))
    up, down = dens[sig & (m > 0)], dens[sig & (m < 0)]
    fmt = lambda ds: ", ".join(f"{x:g}" for x in ds)            # noqa: E731
    name = {"batch": "smaller batches", "length": "earlier checkpoints"}[knob]
    slopes = "; ".join(f"{x:g}: {a:+.4f} +- {b:.4f}" for x, a, b in zip(dens, m, e))
    if not ok.any():
        return (f"Knob '{knob}': the temperature effect cannot be assessed: no density has a finite slope over "
                f"at least two dense seeds (diverged or missing cells) (slopes by density: {slopes}).")
    missing = (f"; it cannot be assessed at density {fmt(dens[~ok])} (non-finite inputs: diverged or missing "
               "cells)") if not ok.all() else ""
    if up.size and down.size:
        verdict = (f"the sign flips with load: hotter training ({name}) lowers the test error at density "
                   f"{fmt(down)} and raises it at density {fmt(up)}")
    elif up.size or down.size:
        which = "raises" if up.size else "lowers"
        verdict = (f"no flip: hotter training ({name}) {which} the test error wherever the effect is "
                   f"significant (density {fmt(up if up.size else down)}); elsewhere it is within 2 standard errors")
    else:
        where = "any density" if ok.all() else f"any assessable density ({fmt(dens[ok])})"
        verdict = f"no significant temperature effect at {where} ({name}); no flip"
    if missing:
        verdict = verdict.replace("no flip", "no flip among the assessable densities")
    return f"Knob '{knob}': {verdict}{missing} (slope of test error per temperature step, by density: {slopes})."
