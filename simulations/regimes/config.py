"""The configuration of the three-regime grid (:mod:`simulations.regimes.grid`): the tasks, the grid of
temperatures, densities and dense seeds, the checks of a configuration and the fixed order of its cells."""

from __future__ import annotations

import numbers

import numpy as np

from pruning_checks import check_bool, check_int, check_scalar

from ..networks.memory import check_allocation, matrix_bytes
from ..runtime import store as _store

KNOBS = ("batch", "length")
#: Spawn-key offset of the per-dense-seed problem streams (cells use keys 0, 1, 2, ...).
DENSE_KEY = 1 << 32
#: Largest label noise accepted (larger scales overflow the squared errors).
SCALE_LIMIT = 1e50
#: Learning-rate decays (factor 0.1 each) at these fractions of a schedule.
DECAYS = (0.5, 0.75)

TASKS = ("teacher", "digits")
TASK = dict(task="teacher", d=20, teacher_width=4, width=32, n_train=400, n_test=2000, noise=0.3, init=1.0,
            lr=0.015, momentum=0.9, steps=2000, batch=32, retrain_batch=4)
QUICK_TASK = dict(TASK, d=10, width=12, n_train=160, n_test=500, steps=200)
#: The 64-40-20-10 ReLU MLP on scikit-learn's digits (fixed split of :func:`simulations.networks.datasets.digits`).
DIGITS_TASK = dict(task="digits", hidden=(40, 20), init=1.0, lr=0.02, momentum=0.9, steps=3000, batch=32,
                   retrain_batch=8)
QUICK_DIGITS_TASK = dict(DIGITS_TASK, steps=300)
_TEACHER_KEYS = ("d", "teacher_width", "width", "n_train", "n_test", "noise")


def task_config(task, quick):
    check_bool(quick, "quick")
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
    cfg = task_config(task, quick)
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
    return check_config(cfg)


def _posint(v, name, low=1):
    return check_int(v, name, low=low)


def _posfloat(v, name, low=0.0, high=None, open_low=True):
    return check_scalar(v, name, low=low, high=high, include_low=not open_low)


def _sequence(cfg, k):
    v = cfg[k]
    if isinstance(v, (str, bytes)) or not hasattr(v, "__len__"):
        raise TypeError(f"{k} == {v!r}, must be a sequence.")
    v = tuple(v)
    if not v:
        raise ValueError(f"{k} is empty: the grid would have no cells.")
    for j, x in enumerate(v):
        if x in v[:j]:
            raise ValueError(f"{k}[{j}] == {x!r} is listed twice (a repeated grid value; the temperature slope "
                             "needs distinct values).")
    return v


def check_density(x, name):
    """A kept fraction in ``(0, 1]``, given as a float."""
    if isinstance(x, (bool, np.bool_)) or isinstance(x, numbers.Integral):
        hint = " pass 1.0 to keep every weight" if x == 1 and not isinstance(x, (bool, np.bool_)) else ""
        raise TypeError(f"{name} == {x!r} is {'a bool' if isinstance(x, (bool, np.bool_)) else 'an integer'}; "
                        f"densities are kept fractions in (0, 1] (floats);{hint or ' e.g. 0.5'}.")
    return _posfloat(x, name, high=1.0)


def _check_sizes(out):
    """Memory of the largest arrays, from the configuration, before any cell runs."""
    steps = out["steps"]
    check_allocation(matrix_bytes(steps, 1), f"steps == {steps}", "the loss record of every training step",
                     "use fewer steps")
    if out["task"] == "teacher":
        P = out["d"] * out["width"] + out["width"]
        check_allocation(matrix_bytes(P, 1, 8), f"width == {out['width']} (d == {out['d']})",
                         f"the {P} weights of the student and their training state", "use a smaller d * width")
        big = "n_train" if out["n_train"] >= out["n_test"] else "n_test"
        check_allocation(matrix_bytes(out["n_train"] + out["n_test"], out["d"] + 2), f"{big} == {out[big]}",
                         f"{out['n_train'] + out['n_test']} samples of {out['d']} features", "use fewer samples")


def check_config(cfg):
    if not isinstance(cfg, dict):
        raise TypeError(f"cfg must be a dict from grid_config, got {type(cfg).__name__}.")
    out = dict(cfg)
    if cfg.get("task") not in TASKS:
        raise ValueError(f"task == {cfg.get('task')!r}, must be one of {', '.join(map(repr, TASKS))}.")
    need = tuple(task_config(cfg["task"], False)) + ("knobs", "batches", "lengths", "densities", "seeds", "seed")
    missing = [k for k in need if k not in cfg]
    if missing:
        raise ValueError(f"cfg has no key {missing[0]!r} (build configurations with grid_config).")
    ints = ("steps", "batch", "retrain_batch", "seeds")
    if cfg["task"] == "teacher":
        ints += ("d", "teacher_width", "width", "n_train", "n_test")
        out["noise"] = _posfloat(cfg["noise"], "noise", open_low=False, high=SCALE_LIMIT)
    else:
        out["hidden"] = tuple(_posint(h, f"hidden[{i}]") for i, h in enumerate(_sequence(cfg, "hidden")))
    for k in ints:
        out[k] = _posint(cfg[k], k, low=2 if k in ("n_train", "n_test", "steps") else 1)
    out["seed"] = _posint(cfg["seed"], "seed", low=0)
    out["init"] = _posfloat(cfg["init"], "init", open_low=False)
    out["lr"] = _posfloat(cfg["lr"], "lr")
    out["momentum"] = _posfloat(cfg["momentum"], "momentum", open_low=False, high=0.999)
    knobs = (cfg["knobs"],) if isinstance(cfg["knobs"], str) else _sequence(cfg, "knobs")
    for k in knobs:
        if k not in KNOBS:
            raise ValueError(f"knobs contains {k!r}, must be among {', '.join(map(repr, KNOBS))}.")
    out["knobs"] = knobs
    out["batches"] = tuple(_posint(b, f"batches[{i}]") for i, b in enumerate(_sequence(cfg, "batches")))
    out["lengths"] = tuple(_posfloat(f, f"lengths[{i}]", high=1.0) for i, f in enumerate(_sequence(cfg, "lengths")))
    out["densities"] = tuple(check_density(x, f"densities[{i}]") for i, x in enumerate(_sequence(cfg, "densities")))
    for k in ("batches", "lengths", "densities"):       # 32 and 32.0 as batches: the same value after the checks
        _sequence(out, k)
    _check_sizes(out)
    return out


#: First 16 hex digits of the SHA-256 of the canonical JSON of a configuration (the sweep store's hash).
config_hash = _store.config_hash


def cells(cfg):
    """Grid cells in their fixed order: ``(knob, temperature index, dense seed index)``."""
    out = []
    for knob in cfg["knobs"]:
        temps = cfg["batches"] if knob == "batch" else cfg["lengths"]
        for ti in range(len(temps)):
            for j in range(cfg["seeds"]):
                out.append((knob, ti, j))
    return out
