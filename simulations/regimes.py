"""Temperature, load and retraining in networks (issue 9, parts B and C; shared/NEIGHBOURS.md A and B).

**Phase diagram** (Zhou et al. 2023, the three-regime model) on the shallow
teacher-student task: a planted two-layer ReLU teacher ``y = sum_k a_k relu(u_k . x)
+ noise`` and a wider two-layer student ``f(x) = sum_j v_j relu(w_j . x)``
(:class:`simulations.network.Network`), trained by SGD with momentum on the
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
:func:`simulations.similarity.mode_connectivity`) and the linear CKA of their
outputs on the training inputs (:func:`simulations.similarity.linear_cka`). Errors
are mean squared errors relative to ``Var(y)`` of the same sample (0 perfect, 1 the
constant predictor), so ``mc`` is in the same units.

Second task (``task="digits"``): the 64-40-20-10 ReLU MLP on scikit-learn's digits
(the fixed split of :func:`simulations.datasets.digits`; dense seeds differ in the
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

**Fine-tuning vs scratch** (Liu et al. 2019, :func:`scratch_table`): for masks from
magnitude pruning of the dense network at several densities, fine-tune the
surviving weights (a quarter of the dense steps at the schedule's final learning
rate, as the paper's 40 epochs at lr 0.001 after 160), Scratch-E (same mask,
fresh initialization with the kept fan-in, the dense schedule) and Scratch-B
(the dense schedule stretched by the ratio of dense to pruned nonzero weights,
decays at 50% / 75%). A fourth arm, ``retrain``, runs the full dense schedule from the
surviving weights (the retraining of the phase diagram): it separates "inherited
weights" from "the small fine-tuning learning rate".

Reproducibility: the problem instance of dense seed ``j`` (data, teacher,
initialization and the dense run's minibatch order) comes from
``SeedSequence(seed, spawn_key=(DENSE_KEY + j,))``, shared by every temperature, so
temperature effects are paired; everything random inside grid cell ``i`` (the
retrainings) comes from child ``i``, ``SeedSequence(seed, spawn_key=(i,))``. Cells
are computed independently (serially, in ``n_jobs`` processes or on Dask) with
Numba and BLAS single-threaded, so results are bitwise identical for any
``n_jobs``. The store is :mod:`simulations.sweep`'s (one implementation): each
finished cell is written atomically to ``store/cells/<i>.json`` carrying its index
and the configuration hash; re-running on the same store computes only the
missing cells, an unreadable cell file is recomputed (with a warning), a store or
cell of another configuration is refused, and concurrent runs on one store claim
cells with ``flock`` (``store/locks/<i>.lock``) and finish with the single-run result.

Example
-------
>>> from simulations.regimes import grid_config
>>> cfg = grid_config(quick=True)
>>> cfg["knobs"], len(cfg["densities"]) >= 3
(('batch', 'length'), True)
"""

from __future__ import annotations

import numbers
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from pruning_checks import check_int, check_scalar

from . import sweep as _sweep
from .engine import _workers
from .network import Network
from .plotting import new_figure, save_figure, write_tidy_csv
from .similarity import PATH_POINTS, linear_cka, mode_connectivity

KNOBS = ("batch", "length")
#: Spawn-key offset of the per-dense-seed problem streams (cells use keys 0, 1, 2, ...).
DENSE_KEY = 1 << 32
#: Relative size of a barrier: mc below -MC_REL x (mean endpoint training error) counts as one.
MC_REL = 0.1
#: ... and below -MC_ABS in absolute terms (error units), so that paths with ~0 error everywhere are not barriers.
MC_ABS = 0.005
#: Connected cells are split into II-A / II-B only if their mean CKA spans at least this much (otherwise "II").
CKA_MIN_SPREAD = 0.02
#: Learning-rate decays (factor 0.1 each) at these fractions of a schedule.
DECAYS = (0.5, 0.75)

TASKS = ("teacher", "digits")
TASK = dict(task="teacher", d=20, teacher_width=4, width=32, n_train=400, n_test=2000, noise=0.3, init=1.0,
            lr=0.015, momentum=0.9, steps=2000, batch=32, retrain_batch=4)
QUICK_TASK = dict(TASK, d=10, width=12, n_train=160, n_test=500, steps=200)
#: The 64-40-20-10 ReLU MLP on scikit-learn's digits (fixed split of :func:`simulations.datasets.digits`).
DIGITS_TASK = dict(task="digits", hidden=(40, 20), init=1.0, lr=0.02, momentum=0.9, steps=3000, batch=32,
                   retrain_batch=8)
QUICK_DIGITS_TASK = dict(DIGITS_TASK, steps=300)
_TEACHER_KEYS = ("d", "teacher_width", "width", "n_train", "n_test", "noise")


def _task(task, quick):
    if task not in TASKS:
        raise ValueError(f"task == {task!r}, must be one of {', '.join(map(repr, TASKS))}.")
    if task == "teacher":
        return dict(QUICK_TASK if quick else TASK)
    return dict(QUICK_DIGITS_TASK if quick else DIGITS_TASK)


def grid_config(quick=False, *, task="teacher", seed=0, **overrides):
    """The phase-diagram configuration (a plain, JSON-serialisable dict).

    Keys: the task (``task``; for ``"teacher"`` ``d``, ``teacher_width``, ``width``, ``n_train``,
    ``n_test``, ``noise``; for ``"digits"`` the ``hidden`` widths; both ``init``, ``lr``, ``momentum``,
    ``steps``, ``batch``, ``retrain_batch``), ``knobs``, ``batches`` (temperatures of the batch knob,
    coldest first), ``lengths`` (checkpoint fractions, coldest first), ``densities``, ``seeds`` (dense
    seeds) and ``seed``.
    """
    cfg = _task(task, quick)
    cfg.update(knobs=KNOBS, batches=(128, 64, 32, 16, 8), lengths=(1.0, 0.75, 0.5, 0.25, 0.1),
               densities=(0.05, 0.1, 0.2, 0.3, 0.5, 0.8), seeds=8, seed=seed)
    if task == "digits":
        cfg.update(batches=(256, 128, 64, 32, 8), seeds=5)
    if quick:
        cfg.update(batches=(64, 32, 16, 8, 4), seeds=3)
    unknown = sorted(set(overrides) - set(cfg))
    if unknown:
        raise ValueError(f"unknown configuration key {unknown[0]!r} (keys: {', '.join(sorted(cfg))}).")
    cfg.update(overrides)
    return _check_config(cfg)


def _posint(v, name, low=1):
    return check_int(v, name, low=low)


def _posfloat(v, name, low=0.0, high=None, open_low=True):
    return check_scalar(v, name, low=low, high=high, include_low=not open_low)


def _check_config(cfg):
    out = dict(cfg)
    if cfg.get("task") not in TASKS:
        raise ValueError(f"task == {cfg.get('task')!r}, must be one of {', '.join(map(repr, TASKS))}.")
    ints = ("steps", "batch", "retrain_batch", "seeds")
    if cfg["task"] == "teacher":
        ints += ("d", "teacher_width", "width", "n_train", "n_test")
        out["noise"] = _posfloat(cfg["noise"], "noise", open_low=False)
    else:
        out["hidden"] = tuple(_posint(h, f"hidden[{i}]") for i, h in enumerate(cfg["hidden"]))
    for k in ints:
        out[k] = _posint(cfg[k], k, low=2 if k in ("n_train", "n_test", "steps") else 1)
    out["seed"] = _posint(cfg["seed"], "seed", low=0)
    out["init"] = _posfloat(cfg["init"], "init", open_low=False)
    out["lr"] = _posfloat(cfg["lr"], "lr")
    out["momentum"] = _posfloat(cfg["momentum"], "momentum", open_low=False, high=0.999)
    knobs = (cfg["knobs"],) if isinstance(cfg["knobs"], str) else tuple(cfg["knobs"])
    for k in knobs:
        if k not in KNOBS:
            raise ValueError(f"knobs contains {k!r}, must be among {', '.join(map(repr, KNOBS))}.")
    out["knobs"] = knobs
    out["batches"] = tuple(_posint(b, f"batches[{i}]") for i, b in enumerate(cfg["batches"]))
    out["lengths"] = tuple(_posfloat(f, f"lengths[{i}]", high=1.0) for i, f in enumerate(cfg["lengths"]))
    dens = tuple(cfg["densities"])
    for x in dens:
        if isinstance(x, (bool, numbers.Integral)):
            raise TypeError(f"densities contains {x!r}, an integer (a count); pass kept fractions as floats.")
    out["densities"] = tuple(_posfloat(x, f"densities[{i}]", high=1.0) for i, x in enumerate(dens))
    for k in ("batches", "lengths", "densities"):
        if len(out[k]) < 1:
            raise ValueError(f"{k} is empty.")
    return out


#: First 16 hex digits of the SHA-256 of the canonical JSON of a configuration (the sweep store's hash).
config_hash = _sweep.config_hash


def cells(cfg):
    """Grid cells in their fixed order: ``(knob, temperature index, dense seed index)``."""
    out = []
    for knob in cfg["knobs"]:
        temps = cfg["batches"] if knob == "batch" else cfg["lengths"]
        for ti in range(len(temps)):
            for j in range(cfg["seeds"]):
                out.append((knob, ti, j))
    return out


# ------------------------------------------------------------------ the task

def _gen(seq):
    return np.random.Generator(np.random.PCG64(seq))


def child(seq, k):
    """Child ``k`` of ``seq`` (what the ``k``-th ``seq.spawn`` would give), without mutating ``seq``:
    the same stream however often it is asked for."""
    return np.random.SeedSequence(seq.entropy, spawn_key=tuple(seq.spawn_key) + (int(k),), pool_size=seq.pool_size)


def children(seq, n):
    return [child(seq, k) for k in range(n)]


def make_problem(cfg, j):
    """Data, student network and dense initialization of dense seed ``j``.

    Returns ``(net, theta0, (X, y), (Xt, yt), dense_seq)`` with ``dense_seq`` the SeedSequence of the
    dense run's minibatch order.
    """
    root = np.random.SeedSequence(cfg["seed"], spawn_key=(DENSE_KEY + j,))
    s_teacher, s_data, s_init, s_dense = children(root, 4)
    if cfg["task"] == "digits":                 # the split is fixed; seeds differ in init and minibatch order
        from .datasets import digits

        data = digits()
        net = Network((data.n_features, *cfg["hidden"], data.n_classes), "relu", "cross_entropy")
        y_tr, y_te = data.y_train.astype(float), data.y_test.astype(float)
        return (net, net.init(cfg["init"], _gen(s_init)), (np.ascontiguousarray(data.X_train), y_tr),
                (np.ascontiguousarray(data.X_test), y_te), s_dense)
    d, k = cfg["d"], cfg["teacher_width"]
    r = _gen(s_teacher)
    teacher = Network((d, k, 1), "relu", "squared")
    t_theta = np.concatenate([r.standard_normal((d, k)).ravel() / np.sqrt(d),
                              np.where(r.random(k) < 0.5, -1.0, 1.0) * np.sqrt(2.0 / k)])
    r = _gen(s_data)

    def sample(n):
        X = np.ascontiguousarray(r.standard_normal((n, d)))
        return X, teacher.predict(t_theta, X) + cfg["noise"] * r.standard_normal(n)

    train, test = sample(cfg["n_train"]), sample(cfg["n_test"])
    net = Network((d, cfg["width"], 1), "relu", "squared")
    theta0 = net.init(cfg["init"], _gen(s_init))
    return net, theta0, train, test, s_dense


def train_schedule(net, theta, X, y, *, lr, steps, batch, momentum, seq, mask=None, stop=None):
    """SGD with momentum for ``steps`` steps, lr times 0.1 at each of :data:`DECAYS` (fractions of ``steps``).

    Each constant-lr segment draws its minibatch order from its own child of ``seq`` (so a run stopped
    early, ``stop < steps``, is exactly the prefix of the full run); momentum restarts at each decay.
    """
    stop = steps if stop is None else int(stop)
    edges = [0] + [int(round(f * steps)) for f in DECAYS] + [steps]
    segs = children(seq, len(edges) - 1)
    theta = np.array(theta, dtype=float)
    if mask is not None:
        theta[~mask] = 0.0
    for s, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        n_steps = min(b, stop) - a
        if n_steps <= 0:
            break
        res = net.train(theta, X, y, optimizer="sgd", lr=lr * 0.1**s, steps=n_steps,
                        batch_size=batch if batch < X.shape[0] else None, momentum=momentum, mask=mask,
                        rng=_gen(segs[s]))
        theta = res.theta
        if not res.finite:
            raise FloatingPointError(f"training diverged at lr {lr * 0.1**s:g}, batch {batch}; lower lr.")
    return theta


def rel_error(net, theta, X, y):
    """The task's error: squared loss, mean squared error relative to ``Var(y)`` of the same sample;
    cross-entropy, the classification error (fraction misclassified)."""
    out = net.predict(theta, X)
    if net.loss == "cross_entropy":
        return float(np.mean(np.argmax(out, axis=1) != y))
    return float(np.mean((out - y) ** 2) / np.var(y))


def outputs(net, theta, X):
    """What CKA compares: regression outputs, or softmax probabilities (as Zhou et al.)."""
    out = net.predict(theta, X)
    if net.loss == "cross_entropy":
        e = np.exp(out - out.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return out


def magnitude_mask(net, theta, density):
    """One-shot magnitude pruning, the same density in every layer but the last (which stays dense, like the
    final layer in Zhou et al.): in each, keep the ``round(density * size)`` largest ``|w|``."""
    mask = np.ones(theta.size, dtype=bool)
    for layer in range(len(net.sizes) - 2):
        a, b = net.layer_block(layer)
        k = max(1, int(round(density * (b - a))))
        order = np.argsort(-np.abs(theta[a:b]), kind="stable")
        mask[a:b] = False
        mask[a + order[:k]] = True
    return mask


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

    knob, ti, j = cells(cfg)[i]
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
    data = _sweep.read_record(store, i, h, records="cells", warn=warn)
    if data is None:
        return None
    rec = {k: v for k, v in data.items() if k not in ("format", "config_hash")}
    knob, ti, j = cells(cfg)[i]
    if set(rec) != _CELL_KEYS or (rec["knob"], rec["temperature_index"], rec["seed_index"]) != (knob, ti, j):
        if warn:
            warnings.warn(f"cell file {store / 'cells' / f'{i}.json'} is unreadable (not a cell record); "
                          "recomputing it.", _sweep.StoreWarning, stacklevel=3)
        return None
    return dict(rec, hash=h)


def _run(fn, cfg, todo, n_jobs, client, done):
    """Compute ``fn(cfg, i)`` for ``i`` in ``todo``, calling ``done(record)`` as each finishes."""
    if client is not None:
        from distributed import as_completed as dask_completed

        if isinstance(client, str):
            from distributed import Client
            client = Client(client)
        futures = [client.submit(fn, cfg, i, pure=False) for i in todo]
        for fut in dask_completed(futures):
            done(fut.result())
        return
    workers = _workers(n_jobs)
    if workers == 1 or len(todo) <= 1:
        for i in todo:
            done(fn(cfg, i))
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(fn, cfg, i) for i in todo]
        for fut in as_completed(futures):
            done(fut.result())


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
    cfg = grid_config(quick) if cfg is None else _check_config(cfg)
    grid = cells(cfg)
    records = {}
    h = config_hash(cfg)
    if store is not None:
        store = _sweep.open_store(store, cfg, records="cells")
        for i in range(len(grid)):
            rec = _read_cell(store, cfg, i, h)
            if rec is not None:
                records[i] = rec
    todo = [i for i in range(len(grid)) if i not in records]
    claims, mine, others = {}, [], []
    for i in todo:                              # claim what no concurrent run is computing
        fd = None if store is None else _sweep.try_claim(store, i)
        if store is not None and fd is None:
            others.append(i)
            continue
        if fd is not None:
            claims[i] = fd
            rec = _read_cell(store, cfg, i, h, warn=False)      # finished meanwhile by a concurrent run
            if rec is not None:
                records[i] = rec
                _sweep.release(claims.pop(i))
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
            _sweep.write_record(store, i, h, {k: v for k, v in rec.items() if k not in ("index", "hash")},
                                records="cells")
            _sweep.release(claims.pop(i))
        if bar is not None:
            bar.update(1)

    try:
        _run(compute_cell, cfg, mine, n_jobs, client, done)
        for i in others:                        # claimed by concurrent runs: wait, then finish what a dead run left
            claims[i] = _sweep.try_claim(store, i, block=True)
            rec = _read_cell(store, cfg, i, h, warn=False)
            if rec is None:
                _run(compute_cell, cfg, [i], n_jobs, client, done)
            else:
                records[i] = rec
                _sweep.release(claims.pop(i))
                if bar is not None:
                    bar.update(1)
    finally:
        for fd in claims.values():
            _sweep.release(fd)
        if bar is not None:
            bar.close()
    return dict(config=cfg, hash=h, records=[records[i] for i in range(len(grid))],
                seconds=time.perf_counter() - t0, computed=len(computed))


# ------------------------------------------------------------------ summaries

def _mean_sem(x, axis=-1):
    """Mean and standard error over the finite entries along ``axis`` (NaN where fewer than 2)."""
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(x)
    n = ok.sum(axis=axis)
    xs = np.where(ok, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = xs.sum(axis=axis) / n
        var = (np.where(ok, x - np.expand_dims(mean, axis), 0.0) ** 2).sum(axis=axis) / (n - 1)
        sem = np.where(n > 1, np.sqrt(var / n), np.nan)
    return np.where(n > 0, mean, np.nan), sem


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
        stats = {k: _mean_sem(v) for k, v in arr.items()}
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
        sl_m, sl_s = _mean_sem(slopes)
        out[knob] = dict(temperatures=np.asarray(temps), densities=np.asarray(cfg["densities"]), arrays=arr,
                         mean={k: v[0] for k, v in stats.items()}, sem={k: v[1] for k, v in stats.items()},
                         dense_test_error=_mean_sem(dense), regime=regime, cka_split=split, slope=sl_m,
                         slope_sem=sl_s)
    return out


KNOB_LABEL = {"batch": "batch size (smaller = hotter)", "length": "fraction of the schedule trained (earlier = hotter)"}


def temperature_sentence(knob, s):
    """A sentence on whether the sign of the temperature effect on test error flips with load."""
    dens, m, e = s["densities"], s["slope"], s["slope_sem"]
    sig = np.abs(m) > 2 * e
    up, down = dens[sig & (m > 0)], dens[sig & (m < 0)]
    fmt = lambda ds: ", ".join(f"{x:g}" for x in ds)            # noqa: E731
    name = {"batch": "smaller batches", "length": "earlier checkpoints"}[knob]
    if up.size and down.size:
        verdict = (f"the sign flips with load: hotter training ({name}) lowers the test error at density "
                   f"{fmt(down)} and raises it at density {fmt(up)}")
    elif up.size or down.size:
        which = "raises" if up.size else "lowers"
        verdict = (f"no flip: hotter training ({name}) {which} the test error wherever the effect is "
                   f"significant (density {fmt(up if up.size else down)}); elsewhere it is within 2 standard errors")
    else:
        verdict = f"no significant temperature effect at any density ({name}); no flip"
    slopes = "; ".join(f"{x:g}: {a:+.4f} +- {b:.4f}" for x, a, b in zip(dens, m, e))
    return f"Knob '{knob}': {verdict} (slope of test error per temperature step, by density: {slopes})."


CSV_COLUMNS = ("knob", "temperature", "temperature_rank", "density", "metric", "mean", "sem", "seeds", "regime")


def _tidy_rows(summary):
    rows = []
    for knob, s in summary.items():
        S = s["arrays"]["mc"].shape[-1]
        for ti, temp in enumerate(s["temperatures"]):
            for di, dens in enumerate(s["densities"]):
                for metric in s["mean"]:
                    rows.append(dict(knob=knob, temperature=temp, temperature_rank=ti, density=dens, metric=metric,
                                     mean=s["mean"][metric][ti, di], sem=s["sem"][metric][ti, di], seeds=S,
                                     regime=s["regime"][ti, di]))
        for di, dens in enumerate(s["densities"]):
            rows.append(dict(knob=knob, temperature="", temperature_rank="", density=dens,
                             metric="temperature_slope", mean=s["slope"][di], sem=s["slope_sem"][di], seeds=S,
                             regime=""))
    return rows


def _draw_boundaries(ax, regime):
    """Lines along the cell edges where the regime label changes."""
    T, D = regime.shape
    for ti in range(T):
        for di in range(D):
            if di + 1 < D and regime[ti, di] != regime[ti, di + 1]:
                ax.plot([di + 0.5, di + 0.5], [ti - 0.5, ti + 0.5], color="k", lw=2.2)
            if ti + 1 < T and regime[ti, di] != regime[ti + 1, di]:
                ax.plot([di - 0.5, di + 0.5], [ti + 0.5, ti + 0.5], color="k", lw=2.2)


def regimes_figure(out_dir, quick=False, n_jobs=None, *, task="teacher", store=None, client=None, progress=True):
    """Three maps (test error, mc, CKA) per temperature knob with the regime boundaries.

    Writes ``regimes.png``, ``regimes.pdf``, ``regimes.csv`` (tidy: one row per knob, temperature,
    density and metric, with the standard error over dense seeds and the regime) and
    ``regimes.txt`` (the computed sentences on the temperature effect); returns the PNG, PDF and CSV
    paths. ``task="digits"`` writes ``regimes_digits.*`` (the 64-40-20-10 MLP). ``store`` defaults to
    ``out_dir/<stem>_store[_quick]`` so an interrupted run resumes.
    """
    out = Path(out_dir)
    stem = "regimes" if task == "teacher" else f"regimes_{task}"
    store = out / (f"{stem}_store_quick" if quick else f"{stem}_store") if store is None else store
    result = run_grid(grid_config(quick, task=task), store, n_jobs=n_jobs, client=client, progress=progress)
    err_name = "test error (MSE / Var y)" if task == "teacher" else "test error (classification)"
    title = "Shallow teacher-student" if task == "teacher" else "Digits, 64-40-20-10 MLP"
    summary = summarize(result)
    knobs = list(summary)
    fig, axes = new_figure(3, len(knobs), width=4.3, height=3.3)
    sentences = []
    for r, knob in enumerate(knobs):
        s = summary[knob]
        for c, (metric, cmap, panel) in enumerate((("test_error", "viridis", err_name),
                                                   ("mc", "RdBu", "mode connectivity mc (train, 11 points)"),
                                                   ("cka", "cividis", "CKA of the two retrainings"))):
            ax = axes[3 * r + c]
            val = s["mean"][metric]
            lim = {}
            if metric == "mc":                   # diverging, centred at 0: red = barrier
                top = float(np.nanmax(np.abs(val))) if np.isfinite(val).any() else 1.0
                lim = dict(vmin=-top, vmax=top)
            im = ax.imshow(val, origin="lower", aspect="auto", cmap=cmap, **lim)
            fig.colorbar(im, ax=ax, shrink=0.85)
            for ti in range(val.shape[0]):
                for di in range(val.shape[1]):
                    ax.text(di, ti, s["regime"][ti, di], ha="center", va="center", fontsize=6,
                            bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.7))
            _draw_boundaries(ax, s["regime"])
            ax.set_xticks(range(len(s["densities"])), [f"{x:g}" for x in s["densities"]], fontsize=7)
            ax.set_yticks(range(len(s["temperatures"])), [f"{x:g}" for x in s["temperatures"]], fontsize=7)
            ax.set_xlabel("density after pruning (load)")
            ax.set_ylabel(KNOB_LABEL[knob], fontsize=7)
            ax.set_title(panel, fontsize=9)
        sentences.append(temperature_sentence(knob, s))
    cfg = result["config"]
    fig.suptitle(f"{title}, means over {cfg['seeds']} dense seeds. Black lines: regime boundaries.\n"
                 f"I: mean mc below -max({MC_REL:g} x mean train error, {MC_ABS:g}) and 2 s.e. below 0; connected cells "
                 f"split at the midpoint of their CKA range into II-A (lower CKA) and II-B (II if the range < "
                 f"{CKA_MIN_SPREAD:g})", fontsize=8)
    out.mkdir(parents=True, exist_ok=True)
    png, pdf = save_figure(fig, out / stem)
    csv = write_tidy_csv(out / f"{stem}.csv", _tidy_rows(summary), CSV_COLUMNS)
    (out / f"{stem}.txt").write_text("\n".join(sentences) + "\n")
    return png, pdf, csv


# ------------------------------------------------------------------ fine-tuning vs training from scratch

#: Spawn-key offset of the scratch-table streams of dense seed j.
SCRATCH_KEY = 2 << 32
SCRATCH_DENSITIES = (0.05, 0.1, 0.2, 0.3, 0.5)
SCRATCH_ARMS = ("fine-tune", "scratch-E", "scratch-B")
#: Also measured: the pruned weights retrained with the full dense schedule (Zhou et al.'s retraining).
RETRAIN_ARM = "retrain"
#: Published top-1 accuracies (%) of unstructured (weight-level) pruning on ImageNet, Liu et al. 2019
#: (repository README, shared/NEIGHBOURS.md B): (model, pruned fraction, fine-tune, Scratch-E, Scratch-B).
PUBLISHED = (("VGG-16", 0.3, 73.68, 72.75, 74.02), ("VGG-16", 0.6, 73.63, 71.50, 73.42),
             ("ResNet-50", 0.3, 76.06, 74.77, 75.60), ("ResNet-50", 0.6, 76.09, 73.69, 74.90))


def scratch_config(quick=False, *, task="teacher", seed=0, **overrides):
    """Configuration of :func:`scratch_table`: the task of :func:`grid_config` (dense training at ``batch``),
    ``densities`` and ``seeds`` (dense seeds)."""
    cfg = _task(task, quick)
    cfg.update(knobs=("batch",), batches=(cfg["batch"],), lengths=(1.0,),
               densities=(0.1, 0.3) if quick else SCRATCH_DENSITIES, seeds=3 if quick else 5, seed=seed)
    unknown = sorted(set(overrides) - set(cfg))
    if unknown:
        raise ValueError(f"unknown configuration key {unknown[0]!r} (keys: {', '.join(sorted(cfg))}).")
    cfg.update(overrides)
    return _check_config(cfg)


def nonzero_weights(net, mask):
    """Nonzero weights of the masked network (the compute measure of Scratch-B)."""
    return int(np.count_nonzero(mask))


def sparse_init(net, mask, init, rng):
    """Fresh weights on the mask, layer ``l`` entries ``N(0, init^2 / kept fan-in)`` (Liu et al.'s
    re-initialization with the fan-in of the surviving weights); zeros off the mask."""
    theta = np.zeros(mask.size)
    for layer in range(len(net.sizes) - 1):
        a, b = net.layer_block(layer)
        fan_in = net.sizes[layer] * np.count_nonzero(mask[a:b]) / (b - a)
        theta[a:b] = init / np.sqrt(max(fan_in, 1.0)) * rng.standard_normal(b - a)
    return np.where(mask, theta, 0.0)


def compute_scratch_cell(cfg, j):
    """Dense seed ``j``: dense training, then per density the three arms' test errors and steps."""
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    with threadpool_limits(limits=1):
        net, theta0, (X, y), (Xt, yt), seq = make_problem(cfg, j)
        T, lr, mom, batch = cfg["steps"], cfg["lr"], cfg["momentum"], cfg["batch"]
        dense = train_schedule(net, theta0, X, y, lr=lr, steps=T, batch=batch, momentum=mom, seq=seq)
        full = np.ones(dense.size, dtype=bool)
        streams = children(np.random.SeedSequence(cfg["seed"], spawn_key=(SCRATCH_KEY + j,)), len(cfg["densities"]))
        out = {a: [] for a in SCRATCH_ARMS + (RETRAIN_ARM,)}
        steps_b, pruned_err = [], []
        for di, dens in enumerate(cfg["densities"]):
            mask = magnitude_mask(net, dense, dens)
            s_ft, s_init, s_e, s_b = children(streams[di], 4)
            # fine-tuning: a quarter of the dense steps at the schedule's final learning rate
            ft = net.train(np.where(mask, dense, 0.0), X, y, optimizer="sgd", lr=lr * 0.1 ** len(DECAYS),
                           steps=max(1, T // 4), batch_size=batch if batch < X.shape[0] else None, momentum=mom,
                           mask=mask, rng=_gen(s_ft)).theta
            fresh = sparse_init(net, mask, cfg["init"], _gen(s_init))
            nb = int(round(T * nonzero_weights(net, full) / nonzero_weights(net, mask)))
            arms = {"fine-tune": ft,
                    "scratch-E": train_schedule(net, fresh, X, y, lr=lr, steps=T, batch=batch, momentum=mom,
                                                seq=s_e, mask=mask),
                    "scratch-B": train_schedule(net, fresh, X, y, lr=lr, steps=nb, batch=batch, momentum=mom,
                                                seq=s_b, mask=mask),
                    RETRAIN_ARM: train_schedule(net, np.where(mask, dense, 0.0), X, y, lr=lr, steps=T, batch=batch,
                                                momentum=mom, seq=child(streams[di], 4), mask=mask)}
            for a, th in arms.items():
                out[a].append(rel_error(net, th, Xt, yt))
            steps_b.append(nb)
            pruned_err.append(rel_error(net, np.where(mask, dense, 0.0), Xt, yt))
    return dict(index=j, dense=rel_error(net, dense, Xt, yt), pruned=pruned_err, steps_b=steps_b,
                seconds=time.perf_counter() - t0, **out)


def run_scratch(cfg=None, *, quick=False, task="teacher", n_jobs=None, client=None, progress=True):
    """Per dense seed records of :func:`compute_scratch_cell` (in seed order)."""
    cfg = scratch_config(quick, task=task) if cfg is None else _check_config(cfg)
    records = {}
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=cfg["seeds"], unit="seed", desc="scratch")

    def done(rec):
        records[rec["index"]] = rec
        if bar is not None:
            bar.update(1)

    t0 = time.perf_counter()
    try:
        _run(compute_scratch_cell, cfg, list(range(cfg["seeds"])), n_jobs, client, done)
    finally:
        if bar is not None:
            bar.close()
    return dict(config=cfg, records=[records[j] for j in range(cfg["seeds"])], seconds=time.perf_counter() - t0)


SCRATCH_COLUMNS = ("source", "model", "density", "arm", "value", "sem", "unit", "seeds", "steps")


def scratch_table(out_dir, quick=False, n_jobs=None, *, task="teacher", client=None, progress=True):
    """Fine-tune vs Scratch-E vs Scratch-B on the shallow teacher-student task, beside the published numbers.

    Writes ``scratch.csv`` (tidy: our test errors with standard errors over dense seeds, the paired
    differences to fine-tuning, the linear limit of :mod:`simulations.scratch_linear`, and the published
    ImageNet accuracies) and ``scratch.md`` (the same as markdown tables); returns both paths.
    """
    from asymptotics import Spectrum

    from .scratch_linear import ARMS as LIN_ARMS, scratch_risk

    res = run_scratch(quick=quick, task=task, n_jobs=n_jobs, client=client, progress=progress)
    stem = "scratch" if task == "teacher" else f"scratch_{task}"
    model = "shallow net" if task == "teacher" else "digits MLP"
    unit = "test MSE / Var(y)" if task == "teacher" else "test classification error"
    cfg, recs = res["config"], res["records"]
    dens = cfg["densities"]
    S = len(recs)
    arms = SCRATCH_ARMS + (RETRAIN_ARM,)
    arr = {a: np.array([r[a] for r in recs]) for a in arms}                   # (seeds, densities)
    dense_m, dense_s = _mean_sem(np.array([r["dense"] for r in recs]), axis=0)
    steps_b = recs[0]["steps_b"]
    rows = [dict(source="ours", model=model, density=1.0, arm="dense", value=dense_m, sem=dense_s,
                 unit=unit, seeds=S, steps=cfg["steps"])]
    md = [f"### {'Shallow teacher-student' if task == 'teacher' else 'Digits, 64-40-20-10 MLP'} ({unit}, "
          f"mean +- s.e. over {S} dense seeds; "
          f"{cfg['steps']} dense steps, fine-tune {max(1, cfg['steps'] // 4)} steps at lr/100; retrain: the pruned "
          f"weights with the full dense schedule)", "",
          "| density | pruned, no retraining | fine-tune | Scratch-E | Scratch-B (steps) | E - FT | B - FT | retrain |",
          "|---|---|---|---|---|---|---|---|"]
    pr_m, pr_s = _mean_sem(np.array([r["pruned"] for r in recs]), axis=0)
    for di, x in enumerate(dens):
        ms = {a: _mean_sem(arr[a][:, di], axis=0) for a in arms}
        dE = _mean_sem(arr["scratch-E"][:, di] - arr["fine-tune"][:, di], axis=0)
        dB = _mean_sem(arr["scratch-B"][:, di] - arr["fine-tune"][:, di], axis=0)
        for a in arms:
            rows.append(dict(source="ours", model=model, density=x, arm=a, value=ms[a][0], sem=ms[a][1],
                             unit=unit, seeds=S,
                             steps={"fine-tune": max(1, cfg["steps"] // 4), "scratch-E": cfg["steps"],
                                    "scratch-B": steps_b[di], RETRAIN_ARM: cfg["steps"]}[a]))
        for a, d in (("scratch-E - fine-tune", dE), ("scratch-B - fine-tune", dB)):
            rows.append(dict(source="ours", model=model, density=x, arm=a, value=d[0], sem=d[1],
                             unit=unit, seeds=S, steps=""))
        f = lambda m: f"{m[0]:.4f} +- {m[1]:.4f}"                     # noqa: E731
        md.append(f"| {x:g} | {f((pr_m[di], pr_s[di]))} | {f(ms['fine-tune'])} | {f(ms['scratch-E'])} | "
                  f"{f(ms['scratch-B'])} ({steps_b[di]}) | {dE[0]:+.4f} +- {dE[1]:.4f} | {dB[0]:+.4f} +- {dB[1]:.4f} | "
                  f"{f(ms[RETRAIN_ARM])} |")
    md += ["", f"Dense: {dense_m:.4f} +- {dense_s:.4f}.", "",
           "### Linear limit (THEORY.md Section 8; two atoms lam = (1, 25), b = (1, 0.3), kappa = 0.5, noise 0.5, "
           "init s0 = 1, magnitude masks, retraining to convergence on fresh data; test risk)", "",
           "| kept fraction | fine-tune | scratch | rewind | zero |", "|---|---|---|---|---|"]
    spec = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3))
    for keep in (0.3, 0.6, 0.8, 0.95):
        th = scratch_risk(spec, 0.5, 0.5, keep, init=1.0, criterion="magnitude")
        for a in LIN_ARMS:
            rows.append(dict(source="linear limit", model="two-atom linear", density=keep, arm=a, value=th[a], sem="",
                             unit="test risk", seeds="", steps="converged"))
        md.append(f"| {keep:g} | " + " | ".join(f"{th[a]:.4f}" for a in LIN_ARMS) + " |")
    md += ["", "### Published (Liu et al. 2019, ImageNet, weight-level pruning; top-1 accuracy %, higher is better)", "",
           "| model | pruned | fine-tune | Scratch-E | Scratch-B |", "|---|---|---|---|---|"]
    for model, frac, ft, se, sb in PUBLISHED:
        for a, v in zip(SCRATCH_ARMS, (ft, se, sb)):
            rows.append(dict(source="Liu et al. 2019", model=model, density=round(1 - frac, 2), arm=a, value=v, sem="",
                             unit="top-1 %", seeds=1, steps=""))
        md.append(f"| {model} | {frac:.0%} | {ft} | {se} | {sb} |")
    out = Path(out_dir)
    csv = write_tidy_csv(out / f"{stem}.csv", rows, SCRATCH_COLUMNS)
    (out / f"{stem}.md").write_text("\n".join(md) + "\n")
    return csv, out / f"{stem}.md"
