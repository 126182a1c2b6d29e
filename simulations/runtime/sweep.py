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
import of its module (``simulations`` imports the linear and the network kind). The kind's simulator receives the sweep's ``n_jobs`` and
open Dask ``client`` and must keep the reproducibility contract (everything
drawn from ``seed``). Nothing else changes.

Example
-------
>>> cfg = load_config({"spectrum": {"variances": [1.0], "signal": [1.0]}, "p": 40, "noise": 0.5,
...                    "trials": 4, "kappa": [2.0], "keep": [0.5, 1.0]})
>>> cfg["kind"], grid(cfg)
('linear', [{'kappa': 2.0, 'ridge': 0.0, 'retrain': 'none'}])
"""

from __future__ import annotations

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from pruning_checks import check_int, check_scalar

from .files import write_tidy_csv
from .seeds import point_seed
from .store import (ConfigError, StoreError, StoreWarning, claim, config_hash, open_store, read_record, record_file,
                    store_path, unreadable, write_record)
from .workers import check_client, open_client

__all__ = ["ConfigError", "KINDS", "PointKind", "StoreError", "StoreWarning", "export_csv", "grid", "load_config",
           "load_results", "point_seed", "read_point", "register_kind", "run_sweep"]

GENERIC_FIELDS = ("kind", "seed")

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


def get_kind(name):
    """The registered kind ``name`` (a :class:`PointKind`); :class:`ConfigError` naming the known ones otherwise."""
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
def integer_field(value, name, low):
    try:
        return check_int(value, name, low=low)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


def real_field(value, name, **bounds):
    try:
        return check_scalar(value, name, **bounds)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


def choice_field(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{name} == {value!r}, must be one of {', '.join(map(repr, choices))}.")
    return value


def as_list(value, name):
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise ConfigError(f"{name} is empty.")
    return values


def distinct(values, name):
    for j, v in enumerate(values):
        if v in values[:j]:
            raise ConfigError(f"{name}[{j}] == {v!r} is listed twice.")
    return values


def check_table(table, name, required, optional, renamed=None):
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




# ------------------------------------------------------------- configuration
def read_config_file(path):
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
    raw = read_config_file(source) if isinstance(source, (str, Path)) else source
    if not isinstance(raw, dict):
        raise ConfigError(f"a sweep configuration must be a table (a JSON object), got {type(raw).__name__}.")
    name = raw.get("kind", "linear")
    kind = get_kind(name)
    check_table(raw, "", tuple(kind.required), GENERIC_FIELDS + tuple(kind.defaults), kind.renamed)
    cfg = kind.normalize({**kind.defaults, **raw})
    cfg["kind"] = name
    cfg["seed"] = integer_field(raw.get("seed", 0), "seed", 0)
    for point in kind.grid(cfg):
        kind.check_point(cfg, point)
    return cfg


def grid(cfg):
    """The grid points of a (normalised) configuration, as dicts in their fixed order."""
    return get_kind(cfg["kind"]).grid(cfg)



def read_point(store, cfg, i, warn=True):
    """The finished grid point ``i`` (its point dict merged with its arrays), or ``None`` if it is missing
    or unreadable (a :class:`StoreWarning` names an unreadable file; it will be recomputed).

    Raises :class:`StoreError` if the file belongs to another configuration or another grid index.
    """
    kind = get_kind(cfg["kind"])
    h = config_hash(cfg)
    data = read_record(store, i, h, warn=warn)
    if data is None:
        return None
    path = record_file(store, i)
    if data.get("kind") != cfg["kind"]:
        raise StoreError(f"point file {path} belongs to grid point {data.get('index')!r} of a "
                         f"{data.get('kind')!r} configuration, not to point {i} of {h}; delete it or use another "
                         "store.")
    if not isinstance(data.get("result"), dict):
        return unreadable(path, "not a point file of this store format", warn)
    out = dict(grid(cfg)[i])
    for name, shape in kind.shapes(cfg).items():
        try:
            arr = np.array(data["result"][name], dtype=float)
        except (KeyError, TypeError, ValueError):
            return unreadable(path, f"array {name!r} missing or not numeric", warn)
        if arr.shape != tuple(shape):
            return unreadable(path, f"array {name!r} has shape {arr.shape}, expected {tuple(shape)}", warn)
        out[name] = arr
    return out


def write_point(store, cfg, i, result, seconds):
    write_record(store, i, config_hash(cfg), {
        "kind": cfg["kind"], "point": grid(cfg)[i], "seed": point_seed(cfg["seed"], i), "seconds": seconds,
        "result": {k: np.asarray(v, dtype=float).tolist() for k, v in result.items()}})



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
    kind = get_kind(cfg["kind"])
    if isinstance(client, str) and not client.strip():
        raise ConfigError("client == '', must be a Dask scheduler address, a Client or None.")
    store = open_store(store, cfg)
    points = kind.grid(cfg)
    todo = [i for i in range(len(points)) if read_point(store, cfg, i) is None]
    theory = {i: kind.theory(cfg, points[i]) for i in todo}     # every pending point, before any simulation
    own_client = None
    check_client(client)
    if isinstance(client, str):           # an address: one client for the whole sweep, closed at the end
        client = own_client = open_client(client) if todo else None
    bar = None
    if progress and todo:
        from tqdm import tqdm
        bar = tqdm(total=len(points), initial=len(points) - len(todo), unit="point", desc="sweep")

    def compute(i):
        if read_point(store, cfg, i, warn=False) is not None:       # finished meanwhile by a concurrent run
            return
        t0 = time.perf_counter()
        sim = kind.simulate(cfg, points[i], point_seed(cfg["seed"], i), n_jobs, client)
        write_point(store, cfg, i, {**theory[i], **sim}, round(time.perf_counter() - t0, 3))

    try:
        waiting = []
        for i in todo:
            with claim(store, i, block=False) as mine:
                if mine:
                    compute(i)
                else:
                    waiting.append(i)
            if mine and bar is not None:
                bar.update(1)
        for i in waiting:                 # claimed by other runs: wait for them, finish what a dead run left
            with claim(store, i, block=True):
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
    store = store_path(store)
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
    """A tidy CSV of finished points (written atomically: through a unique temporary file, then renamed)."""
    cfg = load_config(cfg)
    kind = get_kind(cfg["kind"])
    return write_tidy_csv(path, [row for r in results for row in kind.rows(cfg, r)], kind.csv_columns)
