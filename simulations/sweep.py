"""Sweeps over a grid of Monte Carlo points with their theory, resumable from an on-disk store.

A sweep is described by a small configuration (a dict, or a JSON / TOML file):

.. code-block:: json

    {"spectrum": {"variances": [1, 25], "signal": [1, 0.3], "weights": [0.5, 0.5], "signal_dist": "fixed"},
     "p": 400, "noise": 0.5, "trials": 200, "seed": 0,
     "kappa": [0.5, 2.0], "ridge": [0.0], "retrain": ["none", "fresh"],
     "keep": [0.1, 0.25, 0.5, 1.0], "criteria": ["magnitude", "hessian", "oracle", "random"]}

Every grid point (``kappa x ridge x retrain``; keep levels and criteria are
evaluated together inside a point) is written to ``store/points/<i>.npz``
atomically (temporary file, then rename) as soon as it completes. Re-running
the same sweep on the same store computes only the missing points; a store
written by a different configuration is refused. Point ``i`` draws from child
``i`` of ``SeedSequence(seed)``, so an interrupted-and-resumed sweep ends with
exactly the results of an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from pathlib import Path

import numpy as np

from asymptotics import CRITERIA, Spectrum, pruned_risk
from asymptotics.pruning import RETRAIN as THEORY_RETRAIN

from .engine import make_job, monte_carlo
from .plotting import write_tidy_csv

REQUIRED = ("spectrum", "p", "noise", "trials", "kappa", "keep")
DEFAULTS = dict(seed=0, ridge=[0.0], retrain=["none"], criteria=list(CRITERIA), hessian="empirical")
CSV_COLUMNS = ("kappa", "ridge", "retrain", "criterion", "keep", "source", "risk", "sem", "trials", "p")


class ConfigError(ValueError):
    """A sweep configuration value is invalid; the message names the field."""


def _as_list(value, field):
    if isinstance(value, (list, tuple)):
        if not value:
            raise ConfigError(f"{field} is empty.")
        return list(value)
    return [value]


def load_config(source):
    """A validated, normalised configuration dict from a dict or a ``.json`` / ``.toml`` path."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist.")
        try:
            if path.suffix == ".toml":
                import tomllib
                raw = tomllib.loads(path.read_text())
            else:
                raw = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {str(path)!r} is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}")
    else:
        raw = dict(source)
    unknown = sorted(set(raw) - set(REQUIRED) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown field {unknown[0]!r} (fields: {', '.join(REQUIRED + tuple(DEFAULTS))}).")
    for field in REQUIRED:
        if field not in raw:
            raise ConfigError(f"missing field {field!r}.")
    cfg = {**DEFAULTS, **raw}
    sp = cfg["spectrum"]
    if not isinstance(sp, dict):
        raise ConfigError("spectrum must be a table with variances, signal, weights, signal_dist.")
    try:
        spec = Spectrum(sp.get("variances"), sp.get("signal"), sp.get("weights"), sp.get("signal_dist", "fixed"))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"spectrum: {exc}") from None
    out = dict(spectrum=dict(variances=spec.variances.tolist(), signal=spec.signal.tolist(),
                             weights=spec.weights.tolist(), signal_dist=spec.signal_dist))
    for field in ("p", "trials", "seed"):
        v = cfg[field]
        if isinstance(v, bool) or not isinstance(v, int) or v < (0 if field == "seed" else 1):
            raise ConfigError(f"{field} == {v!r}, must be an integer >= {0 if field == 'seed' else 1}.")
        out[field] = v
    out["trials"] = cfg["trials"]
    if out["trials"] < 2:
        raise ConfigError(f"trials == {out['trials']}, must be >= 2 for standard errors.")
    for field in ("noise",):
        v = cfg[field]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"{field} == {v!r}, must be a number.")
        out[field] = float(v)
    out["kappa"] = [float(k) for k in _as_list(cfg["kappa"], "kappa")]
    out["ridge"] = [float(r) for r in _as_list(cfg["ridge"], "ridge")]
    out["retrain"] = [str(r) for r in _as_list(cfg["retrain"], "retrain")]
    for r in out["retrain"]:
        if r not in ("none", "fresh", "same"):
            raise ConfigError(f"retrain == {r!r}, must be one of 'none', 'fresh', 'same'.")
    out["keep"] = sorted(float(k) for k in _as_list(cfg["keep"], "keep"))
    out["criteria"] = [str(c) for c in _as_list(cfg["criteria"], "criteria")]
    out["hessian"] = cfg["hessian"]
    # validate every grid point exactly as monte_carlo would, before any work starts
    for kappa, ridge, retrain in grid(out):
        try:
            make_job(spec, out["p"], kappa, out["noise"], ridge, out["keep"], out["criteria"], retrain,
                     out["seed"], out["hessian"])
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc)) from None
    return out


def grid(cfg):
    """The grid points ``(kappa, ridge, retrain)`` in their fixed order."""
    return [(k, r, None if t == "none" else t) for k, r, t in itertools.product(cfg["kappa"], cfg["ridge"],
                                                                               cfg["retrain"])]


def config_hash(cfg):
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]


def _atomic_save(path, **arrays):
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def open_store(store, cfg):
    """Create the store for ``cfg`` or check that an existing one belongs to it."""
    store = Path(store)
    (store / "points").mkdir(parents=True, exist_ok=True)
    meta = store / "config.json"
    h = config_hash(cfg)
    if meta.exists():
        old = json.loads(meta.read_text())
        if old.get("hash") != h:
            raise ConfigError(f"store {str(store)!r} holds results of a different configuration "
                              f"(hash {old.get('hash')} != {h}); use another --store or delete it.")
    else:
        tmp = meta.with_name("config.json.tmp")
        tmp.write_text(json.dumps({"hash": h, "config": cfg}, indent=1, sort_keys=True))
        os.replace(tmp, meta)
    return store


def point_seed(seed, i):
    """Seed of grid point ``i``: a 63-bit integer from child ``i`` of ``SeedSequence(seed)``."""
    return int(np.random.SeedSequence(seed, spawn_key=(i,)).generate_state(2, np.uint64)[0] >> np.uint64(1))


def run_sweep(config, store, n_jobs=None, client=None, progress=True):
    """Run (or resume) a sweep; returns the list of per-point result dicts in grid order."""
    cfg = load_config(config)
    store = open_store(store, cfg)
    spec = Spectrum(**cfg["spectrum"])
    points = grid(cfg)
    todo = [i for i in range(len(points)) if not (store / "points" / f"{i}.npz").exists()]
    bar = None
    if progress and todo:
        from tqdm import tqdm
        bar = tqdm(total=len(points), initial=len(points) - len(todo), unit="point", desc="sweep")
    for i in todo:
        kappa, ridge, retrain = points[i]
        t0 = time.perf_counter()
        res = monte_carlo(spec, cfg["p"], kappa, cfg["noise"], ridge, cfg["keep"], cfg["criteria"], retrain,
                          cfg["trials"], point_seed(cfg["seed"], i), n_jobs=n_jobs, client=client,
                          hessian=cfg["hessian"])
        theory = np.array([_theory(spec, kappa, cfg["noise"], ridge, cfg["keep"], c, retrain)
                           for c in cfg["criteria"]])
        _atomic_save(store / "points" / f"{i}.npz",
                     mean=np.array([res.mean[c] for c in cfg["criteria"]]),
                     sem=np.array([res.sem[c] for c in cfg["criteria"]]),
                     dense=np.array([res.mean["dense"], res.sem["dense"]]), theory=theory,
                     seconds=np.array(time.perf_counter() - t0))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return load_results(store, cfg)


def _theory(spec, kappa, noise, ridge, keep, criterion, retrain):
    if retrain not in THEORY_RETRAIN:          # same-data refits: no formula is known (THEORY.md Section 4)
        return np.full(len(keep), np.nan)
    return pruned_risk(spec, kappa, noise, np.array(keep), criterion, ridge, retrain)


def load_results(store, cfg=None):
    """Per-point results from a store (only the finished points)."""
    store = Path(store)
    meta = json.loads((store / "config.json").read_text())
    cfg = cfg or meta["config"]
    out = []
    for i, (kappa, ridge, retrain) in enumerate(grid(cfg)):
        f = store / "points" / f"{i}.npz"
        if f.exists():
            with np.load(f) as z:
                out.append(dict(kappa=kappa, ridge=ridge, retrain=retrain or "none",
                                **{k: z[k] for k in ("mean", "sem", "dense", "theory")}))
    return out


def export_csv(results, cfg, path):
    """A tidy CSV: one row per (point, criterion, keep, source)."""
    rows = []
    for r in results:
        base = dict(kappa=r["kappa"], ridge=r["ridge"], retrain=r["retrain"], trials=cfg["trials"], p=cfg["p"])
        for ci, c in enumerate(cfg["criteria"]):
            for ki, k in enumerate(cfg["keep"]):
                rows.append(dict(base, criterion=c, keep=k, source="simulation", risk=r["mean"][ci, ki],
                                 sem=r["sem"][ci, ki]))
                rows.append(dict(base, criterion=c, keep=k, source="theory", risk=r["theory"][ci, ki], sem=""))
        rows.append(dict(base, criterion="dense", keep=1.0, source="simulation", risk=r["dense"][0], sem=r["dense"][1]))
    return write_tidy_csv(path, rows, CSV_COLUMNS)
