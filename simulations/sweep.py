"""Sweeps over a grid of experiment points with their theory, resumable from an on-disk store.

A sweep is described by a small configuration (a dict, or a JSON / TOML file).
The default kind of experiment, ``"linear"``, is a grid of :func:`simulations.monte_carlo`
points with the limit of :func:`asymptotics.pruned_risk` beside them:

.. code-block:: json

    {"spectrum": {"variances": [1, 25], "signal": [1, 0.3], "weights": [0.5, 0.5], "signal_dist": "fixed"},
     "p": 400, "noise": 0.5, "trials": 200, "seed": 0,
     "kappa": [0.5, 2.0], "ridge": [0.0], "retrain": ["none", "fresh"],
     "keep": [0.1, 0.25, 0.5, 1.0], "criteria": ["magnitude", "hessian", "oracle", "random"],
     "hessian_scores": "empirical"}

Every field is checked, nested tables (``spectrum``) included: an unknown or
misspelt key is an error naming it, never silently ignored. Grid points are
``kappa x ridge x retrain``; keep levels and criteria are evaluated together
inside a point. ``keep`` holds kept fractions as floats (an integer would be a
count). The theory of a point is compared at the kept fraction actually
realised at finite ``p``, ``keep_effective = max(1, round(keep * p)) / p``.

The store
---------
::

    store/config.json        {"format": 2, "hash": ..., "config": <the normalised configuration>}
    store/points/<i>.json    grid point i: {"format", "kind", "index": i, "config_hash", "point", "seed", "result"}
    store/locks/<i>.lock     advisory lock (fcntl.flock) held by the run computing point i

What a store guarantees:

* **Finished points are never lost and never half-written.** A point is written
  to a unique temporary file in ``points/`` (``tempfile``, named with the host
  and pid of its writer), flushed, fsynced and renamed over ``<i>.json`` as soon
  as it completes. Killing a sweep loses at most the points in progress (the
  next run removes temporary files of writers that no longer run); re-running
  the same sweep computes only what is missing. Point ``i`` draws from child ``i`` of ``SeedSequence(seed)``, so an
  interrupted-and-resumed sweep ends with exactly the results of an
  uninterrupted one.
* **A store cannot serve another configuration's results.** Every point file
  carries its grid index and the configuration's hash and both are checked on
  read; ``config.json`` is checked too. A point file of another configuration
  or another grid index (a deleted ``config.json``, a file copied over another)
  stops the sweep with one line naming the file.
* **Unreadable points are recomputed.** A truncated, corrupted or malformed
  point file (wrong format, wrong array shapes) is treated as missing: a
  :class:`StoreWarning` names it and the point is computed again. Point files
  are JSON (floats written with ``repr``, which round-trips exactly); nothing
  in a store is ever unpickled.
* **Any number of concurrent runs on one store finish with the single-run
  result.** A run claims a point with a non-blocking ``flock`` on its lock file
  (released by the kernel when the process ends, however it ends, so a killed
  run never leaves a stale claim), skips points claimed by others, and at the
  end waits for those and computes whatever a dead run left undone.
* **A point is validated and its theory computed before any Monte Carlo is
  spent on it**: :func:`load_config` checks every grid point as the simulator
  would, and :func:`run_sweep` computes the theory of every pending point first.

Kinds of experiment (the seam for other simulators)
---------------------------------------------------
A config's ``"kind"`` (default ``"linear"``) selects a :class:`PointKind` from
:data:`KINDS`. The store, the claims, the resume logic, the progress bar, the
Dask client and the CSV writer are generic; a kind supplies only what is
specific to its experiment:

``required``, ``defaults``, ``renamed``
    top-level fields (``kind`` and ``seed`` are generic) and old names with
    their replacement (for a message saying the new name);
``normalize(raw) -> cfg``
    validate and normalise the fields (raise :class:`ConfigError` naming the
    field); the result must be JSON data, it is what the store hashes;
``grid(cfg) -> [point, ...]``
    the grid points as JSON dicts, in a fixed order (point ``i`` gets seed ``i``);
``check_point(cfg, point)``
    validate one point as the simulator would (called for every point by
    :func:`load_config`, before any work);
``theory(cfg, point) -> {name: array}``
    the theory of a point (``{}`` if there is none), computed before its simulation;
``simulate(cfg, point, seed, n_jobs, client) -> {name: array}``
    the simulation of a point (``client`` is an open Dask client or ``None``);
``shapes(cfg) -> {name: shape}``
    the shape of every stored array (theory and simulation), checked on read;
``rows(cfg, result) -> [row, ...]`` and ``csv_columns``
    the tidy CSV rows of one finished point (``result`` is the point dict
    merged with its arrays).

Another kind plugs in with ``register_kind(PointKind(name, ...))`` at the
import of its module; the module is imported on first use if it is listed in
:data:`KIND_MODULES`. The kind's simulator receives the sweep's ``n_jobs`` and
open Dask ``client`` and must keep the reproducibility contract (everything
drawn from ``seed``). Nothing else changes.

Network sweeps (``"kind": "network"``, registered by :mod:`simulations.network`)
---------------------------------------------------------------------------------
A point is one :func:`simulations.network_experiment` (seed: the point's seed).
Grid fields take a value or a list, the grid is their product in this order:
``init``, ``width``, ``activation``, ``noise``, ``lr``, ``steps`` and, if given,
``scale`` (the feature scale ``c`` of group ``scale_group``, default 0). Every
other argument of ``network_experiment`` is a fixed field (``d``, ``groups``,
``trials`` and ``keep`` required; the rest default as in the function).
``groups`` are ``[count, scale, teacher_weight]`` triples or tables with those
fields (an unknown key is named as ``groups[1].key``); ``keep`` holds fractions
(floats) or counts (ints). A TOML example::

    kind = "network"
    seed = 0
    d = 20
    trials = 5
    keep = [0.1, 0.3, 0.5]
    init = [0.01, 0.1, 1.0]
    width = 64
    steps = 2500
    criteria = ["magnitude", "hessian", "taylor1", "taylor2", "random", "oracle", "obs"]
    scale = [1.0, 3.0, 10.0, 30.0]        # optional: sweep c of groups[scale_group]
    scale_group = 0

    [[groups]]                            # after a table header, keys belong to the table
    count = 5
    scale = 10.0
    teacher_weight = 0.1

    [[groups]]
    count = 15
    scale = 1.0
    teacher_weight = 0.0

The store holds per point ``mean``/``sem`` (criteria x keep, test MSE / Var(y_test)),
``dense``, ``keep_counts``, ``importance_corr`` (criteria x [mean, sem]) and the
diagnostics ``weight_change``, ``train_loss``, ``train_finite``,
``group_abs_weight`` and ``group_importance`` ([mean, sem], per group). CSV
columns: ``kind, init, width, activation, noise, lr, steps, scale, criterion,
keep, keep_count, metric, group, mean, sem, trials`` with ``metric`` one of
``relative_loss`` (criteria and ``dense``), ``importance_corr`` and the diagnostics.

Example
-------
>>> cfg = load_config({"spectrum": {"variances": [1.0], "signal": [1.0]}, "p": 40, "noise": 0.5,
...                    "trials": 4, "kappa": [2.0], "keep": [0.5, 1.0]})
>>> cfg["kind"], grid(cfg)
('linear', [{'kappa': 2.0, 'ridge': 0.0, 'retrain': 'none'}])
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import itertools
import json
import os
import socket
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from asymptotics import CRITERIA, Spectrum, pruned_risk
from pruning_checks import check_int, check_scalar

from . import engine

#: Version of the store layout; stores of another format are refused.
STORE_FORMAT = 2
GENERIC_FIELDS = ("kind", "seed")
_HOST = socket.gethostname().replace(".", "_")


class ConfigError(ValueError):
    """A sweep configuration value is invalid; the message names the field."""


class StoreError(ConfigError):
    """A store holds something that does not belong to this sweep; the message names the file."""


class StoreWarning(UserWarning):
    """An unreadable point file was found; it is recomputed."""


@dataclass(frozen=True)
class PointKind:
    """One kind of experiment a sweep can run (see the module docstring for each field)."""

    name: str
    required: tuple
    defaults: dict
    normalize: Callable
    grid: Callable
    check_point: Callable
    theory: Callable
    simulate: Callable
    shapes: Callable
    rows: Callable
    csv_columns: tuple
    renamed: dict = field(default_factory=dict)


#: The registered kinds of experiment, by name.
KINDS = {}
#: Kinds defined in other modules of this package, imported on first use (the module calls register_kind).
KIND_MODULES = {"network": ".network"}


def _kind(name):
    """The registered kind ``name``, importing its module first if it is one of :data:`KIND_MODULES`."""
    if isinstance(name, str) and name not in KINDS and name in KIND_MODULES:
        module = KIND_MODULES[name]
        try:
            importlib.import_module(module, __package__)
        except ModuleNotFoundError as exc:           # the module itself is absent (not one it imports)
            if exc.name != __package__ + module:
                raise
    if not isinstance(name, str) or name not in KINDS:
        raise ConfigError(f"kind == {name!r}, must be one of {', '.join(map(repr, sorted(KINDS)))}.")
    return KINDS[name]


def register_kind(kind):
    """Make ``kind`` (a :class:`PointKind`) available to configs as ``{"kind": kind.name}``."""
    if not isinstance(kind, PointKind):
        raise TypeError(f"kind must be a PointKind, got {type(kind).__name__}.")
    KINDS[kind.name] = kind
    return kind


# ---------------------------------------------------------------- field checks
def _integer(value, name, low):
    try:
        return check_int(value, name, low=low)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


def _real(value, name, **bounds):
    try:
        return check_scalar(value, name, **bounds)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


def _choice(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{name} == {value!r}, must be one of {', '.join(map(repr, choices))}.")
    return value


def _as_list(value, name):
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise ConfigError(f"{name} is empty.")
    return values


def _distinct(values, name):
    for j, v in enumerate(values):
        if v in values[:j]:
            raise ConfigError(f"{name}[{j}] == {v!r} is listed twice.")
    return values


def _check_table(table, name, required, optional, renamed=None):
    """Unknown, renamed and missing keys of one (possibly nested) table: one line naming the key."""
    prefix = f"{name}." if name else ""
    if not isinstance(table, dict):
        what = f"{name} must be a table" if name else "a sweep configuration must be a table (a JSON object)"
        raise ConfigError(f"{what} with fields {', '.join(required + optional)}; got {type(table).__name__}.")
    for key in table:
        if not isinstance(key, str) or key not in required + optional:
            if renamed and key in renamed:
                raise ConfigError(f"field {prefix + key!r} was renamed {prefix + renamed[key]!r}; use the new name.")
            raise ConfigError(f"unknown field {prefix + str(key)!r} (fields{' of ' + name if name else ''}: "
                              f"{', '.join(required + optional)}).")
    for key in required:
        if key not in table:
            raise ConfigError(f"missing field {prefix + key!r}.")


# ------------------------------------------------------------- the linear kind
LINEAR_REQUIRED = ("spectrum", "p", "noise", "trials", "kappa", "keep")
LINEAR_DEFAULTS = dict(ridge=[0.0], retrain=["none"], criteria=list(CRITERIA), hessian_scores="empirical")
SPECTRUM_REQUIRED = ("variances", "signal")
SPECTRUM_OPTIONAL = ("weights", "signal_dist")
RETRAIN_CHOICES = ("none", "fresh", "same")
HESSIAN_SCORES = ("empirical", "population")
LINEAR_CSV_COLUMNS = ("kappa", "ridge", "retrain", "criterion", "keep", "keep_effective", "source", "risk", "sem",
                      "trials", "p")
CSV_COLUMNS = LINEAR_CSV_COLUMNS


def _number_list(values, name):
    """Entries of a spectrum vector: real numbers (booleans and strings refused, not converted)."""
    if not isinstance(values, (list, tuple)):
        values = [values]
    for j, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConfigError(f"spectrum.{name}[{j}] == {v!r}, must be a real number.")
    return list(values)


def _spectrum(table):
    _check_table(table, "spectrum", SPECTRUM_REQUIRED, SPECTRUM_OPTIONAL)
    args = {k: _number_list(table[k], k) for k in ("variances", "signal", "weights") if k in table}
    try:
        return Spectrum(**args, signal_dist=table.get("signal_dist", "fixed"))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"spectrum: {exc}") from None


def _keep_grid(values):
    out = []
    for j, v in enumerate(_as_list(values, "keep")):
        if isinstance(v, (bool, int)):
            raise ConfigError(f"keep[{j}] == {v!r} is an integer (a count); pass kept fractions as floats, "
                              f"e.g. {float(v)!r}.")
        out.append(_real(v, f"keep[{j}]", low=0, include_low=False, high=1))
    return sorted(_distinct(out, "keep"))


def _linear_normalize(raw):
    spec = _spectrum(raw["spectrum"])
    cfg = dict(spectrum=dict(variances=spec.variances.tolist(), signal=spec.signal.tolist(),
                             weights=spec.weights.tolist(), signal_dist=spec.signal_dist))
    cfg["p"] = _integer(raw["p"], "p", 1)
    cfg["trials"] = _integer(raw["trials"], "trials", 1)
    if cfg["trials"] < 2:
        raise ConfigError(f"trials == {cfg['trials']}, must be >= 2 for standard errors.")
    cfg["noise"] = _real(raw["noise"], "noise", low=0)
    cfg["kappa"] = _distinct([_real(v, f"kappa[{j}]", low=0, include_low=False)
                              for j, v in enumerate(_as_list(raw["kappa"], "kappa"))], "kappa")
    cfg["ridge"] = _distinct([_real(v, f"ridge[{j}]", low=0) for j, v in enumerate(_as_list(raw["ridge"], "ridge"))],
                             "ridge")
    cfg["retrain"] = _distinct([_choice(v, f"retrain[{j}]", RETRAIN_CHOICES)
                                for j, v in enumerate(_as_list(raw["retrain"], "retrain"))], "retrain")
    cfg["keep"] = _keep_grid(raw["keep"])
    cfg["criteria"] = _distinct([_choice(v, f"criteria[{j}]", CRITERIA)
                                 for j, v in enumerate(_as_list(raw["criteria"], "criteria"))], "criteria")
    cfg["hessian_scores"] = _choice(raw["hessian_scores"], "hessian_scores", HESSIAN_SCORES)
    return cfg


def _linear_grid(cfg):
    return [dict(kappa=k, ridge=r, retrain=t) for k, r, t in itertools.product(cfg["kappa"], cfg["ridge"],
                                                                               cfg["retrain"])]


def _linear_check_point(cfg, point):
    try:
        engine.make_job(Spectrum(**cfg["spectrum"]), cfg["p"], point["kappa"], cfg["noise"],
                        ridge=point["ridge"], keep=cfg["keep"], criteria=tuple(cfg["criteria"]),
                        retrain=point["retrain"], seed=cfg["seed"], hessian_scores=cfg["hessian_scores"])
    except (TypeError, ValueError) as exc:
        where = f"kappa == {point['kappa']}, ridge == {point['ridge']}, retrain == {point['retrain']!r}"
        raise ConfigError(f"{exc} (grid point {where})") from None


def keep_effective(keep, p):
    """The kept fractions realised at ``p`` features: ``max(1, round(keep * p)) / p`` (what the engine keeps)."""
    return np.maximum(1, np.round(np.asarray(keep, dtype=float) * p)) / p


def _linear_theory_at(cfg, point, keep_eff):
    if point["retrain"] == "same":            # same-data refits: no formula is known (THEORY.md Section 4)
        return np.full((len(cfg["criteria"]), len(keep_eff)), np.nan)
    spec = Spectrum(**cfg["spectrum"])
    return np.array([np.asarray(pruned_risk(spec, point["kappa"], cfg["noise"], keep=np.asarray(keep_eff), criterion=c,
                                            ridge=point["ridge"], retrain=point["retrain"]), dtype=float)
                     for c in cfg["criteria"]]).reshape(len(cfg["criteria"]), len(keep_eff))


def _linear_theory(cfg, point):
    return dict(theory=_linear_theory_at(cfg, point, keep_effective(cfg["keep"], cfg["p"])))


def _linear_simulate(cfg, point, seed, n_jobs, client):
    crit = cfg["criteria"]
    res = engine.monte_carlo(Spectrum(**cfg["spectrum"]), cfg["p"], point["kappa"], cfg["noise"],
                             ridge=point["ridge"], keep=cfg["keep"], criteria=tuple(crit), retrain=point["retrain"],
                             trials=cfg["trials"], seed=seed, n_jobs=n_jobs, client=client,
                             hessian_scores=cfg["hessian_scores"])
    keep_eff = np.asarray(res.keep_effective, dtype=float)
    out = dict(mean=np.array([res.mean[c] for c in crit]), sem=np.array([res.sem[c] for c in crit]),
               dense=np.array([res.mean["dense"], res.sem["dense"]]), keep_effective=keep_eff)
    if not np.array_equal(keep_eff, keep_effective(cfg["keep"], cfg["p"])):
        out["theory"] = _linear_theory_at(cfg, point, keep_eff)     # the engine kept other counts: follow it
    return out


def _linear_shapes(cfg):
    ck = (len(cfg["criteria"]), len(cfg["keep"]))
    return dict(theory=ck, mean=ck, sem=ck, dense=(2,), keep_effective=(len(cfg["keep"]),))


def _linear_rows(cfg, r):
    rows = []
    base = dict(kappa=r["kappa"], ridge=r["ridge"], retrain=r["retrain"], trials=cfg["trials"], p=cfg["p"])
    for ci, c in enumerate(cfg["criteria"]):
        for ki, k in enumerate(cfg["keep"]):
            at = dict(base, criterion=c, keep=k, keep_effective=r["keep_effective"][ki])
            rows.append(dict(at, source="simulation", risk=r["mean"][ci, ki], sem=r["sem"][ci, ki]))
            rows.append(dict(at, source="theory", risk=r["theory"][ci, ki], sem=""))
    rows.append(dict(base, criterion="dense", keep=1.0, keep_effective=1.0, source="simulation", risk=r["dense"][0],
                     sem=r["dense"][1]))
    return rows


LINEAR = register_kind(PointKind(
    name="linear", required=LINEAR_REQUIRED, defaults=LINEAR_DEFAULTS, normalize=_linear_normalize,
    grid=_linear_grid, check_point=_linear_check_point, theory=_linear_theory, simulate=_linear_simulate,
    shapes=_linear_shapes, rows=_linear_rows, csv_columns=LINEAR_CSV_COLUMNS,
    renamed={"hessian": "hessian_scores"}))


# ------------------------------------------------------------- configuration
def _read_config_file(path):
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist.")
    try:
        text = path.read_text()
        if path.suffix == ".toml":
            import tomllib
            return tomllib.loads(text)
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        fmt = path.suffix.lstrip(".") or "JSON"
        raise ConfigError(f"config file {str(path)!r} is not valid {fmt}: {exc}") from None


def load_config(source):
    """A validated, normalised configuration dict from a dict or a ``.json`` / ``.toml`` path.

    Every field (nested tables included) is checked and every grid point is validated as its
    simulator would validate it, so a bad value fails here, before any work.
    """
    raw = _read_config_file(source) if isinstance(source, (str, Path)) else source
    if not isinstance(raw, dict):
        raise ConfigError(f"a sweep configuration must be a table (a JSON object), got {type(raw).__name__}.")
    name = raw.get("kind", "linear")
    kind = _kind(name)
    _check_table(raw, "", tuple(kind.required), GENERIC_FIELDS + tuple(kind.defaults), kind.renamed)
    cfg = kind.normalize({**kind.defaults, **raw})
    cfg["kind"] = name
    cfg["seed"] = _integer(raw.get("seed", 0), "seed", 0)
    for point in kind.grid(cfg):
        kind.check_point(cfg, point)
    return cfg


def grid(cfg):
    """The grid points of a (normalised) configuration, as dicts in their fixed order."""
    return _kind(cfg["kind"]).grid(cfg)


def config_hash(cfg):
    """A short hash of a normalised configuration (what identifies a store and its points)."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]


def point_seed(seed, i):
    """Seed of grid point ``i``: a 63-bit integer from child ``i`` of ``SeedSequence(seed)``."""
    return int(np.random.SeedSequence(seed, spawn_key=(i,)).generate_state(2, np.uint64)[0] >> np.uint64(1))


# ----------------------------------------------------------------- the store
def _temporary(folder, name, suffix=".tmp"):
    """A unique temporary file ``.<name>.<host>-<pid>.<random><suffix>`` in ``folder``: ``(fd, path)``."""
    return tempfile.mkstemp(dir=folder, prefix=f".{name}.{_HOST}-{os.getpid()}.", suffix=suffix)


def _remove_dead_temporaries(folder):
    """Remove temporary files left in ``folder`` by processes of this host that no longer run (killed runs)."""
    for path in Path(folder).glob(".*.tmp"):
        owner = path.name.split(".")[-3]
        host, _, pid = owner.rpartition("-")
        if host != _HOST or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        except PermissionError:             # alive, another user's
            pass


def _write_atomic(path, text):
    """Write ``text`` to ``path`` through a unique temporary file in the same folder, then rename."""
    fd, tmp = _temporary(path.parent, path.name)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _store_path(store):
    if isinstance(store, str) and not store.strip():
        raise ConfigError("store == '', must name a folder (an empty path would write into the current folder).")
    if not isinstance(store, (str, os.PathLike)):
        raise ConfigError(f"store must be a path, got {type(store).__name__}.")
    store = Path(store)
    if store.exists() and not store.is_dir():
        raise ConfigError(f"store {str(store)!r} is a file, must be a folder.")
    return store


def open_store(store, cfg, records="points"):
    """Create the store for ``cfg`` or check that an existing one belongs to it; returns its path.

    ``cfg`` is any JSON-serialisable configuration (compared after a JSON round trip, so tuples equal
    lists); ``records`` names the folder of the record files (``"points"`` for sweeps). Also creates
    ``locks/`` and removes temporary files left by killed writers of this host.
    """
    store = _store_path(store)
    for sub in (records, "locks"):
        (store / sub).mkdir(parents=True, exist_ok=True)
    for folder in (store, store / records):
        _remove_dead_temporaries(folder)
    meta = store / "config.json"
    h = config_hash(cfg)
    if not meta.exists():               # create it exactly once, even with concurrent runs (link fails if it exists)
        fd, tmp = _temporary(store, "config.json")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps({"format": STORE_FORMAT, "hash": h, "config": cfg}, indent=1, sort_keys=True))
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, meta)
        finally:
            os.unlink(tmp)
    try:
        old = json.loads(meta.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise StoreError(f"{meta} is unreadable ({type(exc).__name__}); use another store or delete it.") from None
    if not isinstance(old, dict) or old.get("format") != STORE_FORMAT:
        raise StoreError(f"store {str(store)!r} was written in another store format "
                         f"({old.get('format', 1) if isinstance(old, dict) else '?'}, this is {STORE_FORMAT}); "
                         "use another store or delete it.")
    if old.get("hash") != h or old.get("config") != json.loads(json.dumps(cfg)):
        raise StoreError(f"store {str(store)!r} holds results of a different configuration "
                         f"(hash {old.get('hash')} != {h}); use another store or delete it.")
    return store


def _point_file(store, i, records="points"):
    return Path(store) / records / f"{i}.json"


def write_record(store, i, cfg_hash, payload, records="points"):
    """Write record ``i`` atomically: ``{"format", "index": i, "config_hash", **payload}`` as JSON
    (floats written with ``repr``, NaN as ``NaN``) through a unique temporary file, fsynced, renamed."""
    data = {"format": STORE_FORMAT, "index": i, "config_hash": cfg_hash, **payload}
    _write_atomic(_point_file(store, i, records), json.dumps(data))


def read_record(store, i, cfg_hash, records="points", warn=True):
    """Record ``i`` as written by :func:`write_record`, or ``None`` if it is missing or unreadable (a
    :class:`StoreWarning` names an unreadable file; the caller recomputes it).

    Raises :class:`StoreError` if the file belongs to another configuration or another index.
    """
    path = _point_file(store, i, records)
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return _unreadable(path, f"{type(exc).__name__}: {exc}", warn)
    if not isinstance(data, dict) or data.get("format") != STORE_FORMAT:
        return _unreadable(path, "not a record of this store format", warn)
    if data.get("config_hash") != cfg_hash or data.get("index") != i:
        raise StoreError(f"point file {path} belongs to grid point {data.get('index')!r} of configuration "
                         f"{data.get('config_hash')!r}, not to point {i} of {cfg_hash}; delete it or use another "
                         "store.")
    return data


def _unreadable(path, why, warn):
    if warn:
        warnings.warn(f"point file {path} is unreadable ({why}); recomputing it.", StoreWarning, stacklevel=4)


def read_point(store, cfg, i, warn=True):
    """The finished grid point ``i`` (its point dict merged with its arrays), or ``None`` if it is missing
    or unreadable (a :class:`StoreWarning` names an unreadable file; it will be recomputed).

    Raises :class:`StoreError` if the file belongs to another configuration or another grid index.
    """
    kind = _kind(cfg["kind"])
    h = config_hash(cfg)
    data = read_record(store, i, h, warn=warn)
    if data is None:
        return None
    path = _point_file(store, i)
    if data.get("kind") != cfg["kind"]:
        raise StoreError(f"point file {path} belongs to grid point {data.get('index')!r} of a "
                         f"{data.get('kind')!r} configuration, not to point {i} of {h}; delete it or use another "
                         "store.")
    if not isinstance(data.get("result"), dict):
        return _unreadable(path, "not a point file of this store format", warn)
    out = dict(grid(cfg)[i])
    for name, shape in kind.shapes(cfg).items():
        try:
            arr = np.array(data["result"][name], dtype=float)
        except (KeyError, TypeError, ValueError):
            return _unreadable(path, f"array {name!r} missing or not numeric", warn)
        if arr.shape != tuple(shape):
            return _unreadable(path, f"array {name!r} has shape {arr.shape}, expected {tuple(shape)}", warn)
        out[name] = arr
    return out


def _write_point(store, cfg, i, result, seconds):
    write_record(store, i, config_hash(cfg), {
        "kind": cfg["kind"], "point": grid(cfg)[i], "seed": point_seed(cfg["seed"], i), "seconds": seconds,
        "result": {k: np.asarray(v, dtype=float).tolist() for k, v in result.items()}})


def try_claim(store, i, block=False):
    """Claim record ``i`` with an ``flock`` on ``locks/<i>.lock``: an open file descriptor (release it with
    :func:`release`), or ``None`` if another process holds the claim and ``block`` is false.

    ``flock`` locks belong to the open file and are dropped by the kernel when the process ends, so a
    killed run never leaves a stale claim behind.
    """
    fd = os.open(Path(store) / "locks" / f"{i}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())      # who holds it, for a human looking at the store
    return fd


def release(fd):
    """Release a claim of :func:`try_claim`."""
    os.close(fd)


@contextlib.contextmanager
def _claim(store, i, block):
    """Hold the lock of point ``i`` (``True``), or ``False`` if another process holds it and ``block`` is false."""
    fd = try_claim(store, i, block)
    try:
        yield fd is not None
    finally:
        if fd is not None:
            release(fd)


def _open_client(address):
    try:
        from distributed import Client
    except ImportError:
        raise ImportError("a Dask scheduler address needs the optional 'dask' extra "
                          "(pip install -e '.[dask]').") from None
    return Client(address)


def run_sweep(config, store, n_jobs=None, client=None, progress=True):
    """Run (or resume, or join) a sweep; returns the list of per-point results in grid order.

    Parameters
    ----------
    config : dict, str or Path
        A configuration or the path of a JSON / TOML file (see the module docstring).
    store : str or Path
        Folder of finished points; created if absent, resumed if it holds this configuration.
    n_jobs : int, optional
        Local worker processes of the simulator (``None``/1 serial, -1 one per core).
    client : str or dask.distributed.Client, optional
        A Dask scheduler address (one client is opened for the whole sweep and closed at the end)
        or an open client (used as is and left open).
    progress : bool
        Show a progress bar (tqdm).
    """
    cfg = load_config(config)
    kind = _kind(cfg["kind"])
    if isinstance(client, str) and not client.strip():
        raise ConfigError("client == '', must be a Dask scheduler address, a Client or None.")
    store = open_store(store, cfg)
    points = kind.grid(cfg)
    todo = [i for i in range(len(points)) if read_point(store, cfg, i) is None]
    theory = {i: kind.theory(cfg, points[i]) for i in todo}     # every pending point, before any simulation
    own_client = None
    if isinstance(client, str):           # an address: one client for the whole sweep, closed at the end
        client = own_client = _open_client(client) if todo else None
    bar = None
    if progress and todo:
        from tqdm import tqdm
        bar = tqdm(total=len(points), initial=len(points) - len(todo), unit="point", desc="sweep")

    def compute(i):
        if read_point(store, cfg, i, warn=False) is not None:       # finished meanwhile by a concurrent run
            return
        t0 = time.perf_counter()
        sim = kind.simulate(cfg, points[i], point_seed(cfg["seed"], i), n_jobs, client)
        _write_point(store, cfg, i, {**theory[i], **sim}, round(time.perf_counter() - t0, 3))

    try:
        waiting = []
        for i in todo:
            with _claim(store, i, block=False) as mine:
                if mine:
                    compute(i)
                else:
                    waiting.append(i)
            if mine and bar is not None:
                bar.update(1)
        for i in waiting:                 # claimed by other runs: wait for them, finish what a dead run left
            with _claim(store, i, block=True):
                compute(i)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if own_client is not None:
            own_client.close()
    return load_results(store, cfg)


def load_results(store, cfg=None):
    """Per-point results from a store (the finished points, in grid order)."""
    store = _store_path(store)
    if cfg is None:
        try:
            cfg = json.loads((store / "config.json").read_text())["config"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"{store / 'config.json'} is missing or unreadable ({type(exc).__name__}).") from None
    cfg = load_config(cfg)                  # normalised: the hash of a raw configuration would not match
    out = []
    for i in range(len(grid(cfg))):
        r = read_point(store, cfg, i)
        if r is not None:
            out.append(r)
    return out


def export_csv(results, cfg, path):
    """A tidy CSV of finished points (written through a unique temporary file, then renamed)."""
    from .plotting import write_tidy_csv          # matplotlib is imported only when a CSV is written

    cfg = load_config(cfg)
    kind = _kind(cfg["kind"])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temporary(path.parent, path.name, ".part")
    os.close(fd)
    try:
        write_tidy_csv(tmp, [row for r in results for row in kind.rows(cfg, r)], kind.csv_columns)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
