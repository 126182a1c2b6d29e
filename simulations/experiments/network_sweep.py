"""The ``"network"`` kind of sweep: ``{"kind": "network", ...}`` configurations.

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

"""

from __future__ import annotations

import inspect
import itertools
import warnings

import numpy as np

from ..runtime.sweep import (ConfigError, PointKind, as_list, check_table, choice_field, distinct, integer_field,
                             real_field, register_kind)
from ..networks.model import ACTIVATIONS, OPTIMIZERS
from ..runtime.stats import mean_sem
from linear_models import criterion_names

from .checks import PRUNE_LAYERS, SCOPES, TEACHERS, experiment_job
from .network_experiment import DivergedTrainingWarning, network_experiment

NET_GRID = ("init", "width", "activation", "noise", "lr", "steps", "scale")
NET_REQUIRED = ("d", "groups", "trials", "keep")
_NET_FIXED = ("d", "n_train", "n_test", "optimizer", "batch_size", "momentum", "keep", "criteria", "finetune_steps",
              "trials", "teacher", "teacher_width", "prune_layers", "freeze_second_layer", "damping",
              "importance_samples", "cbs_max_swaps", "bias", "prune_biases", "scope")


def _net_defaults():
    """Defaults of the optional fields: those of :func:`network_experiment` (one source), as JSON data."""
    sig = inspect.signature(network_experiment).parameters
    json_value = lambda v: list(v) if isinstance(v, tuple) else v      # noqa: E731
    out = {k: [sig[k].default] for k in NET_GRID if k != "scale"}
    out.update(scale=[], scale_group=0)
    out.update({k: json_value(sig[k].default) for k in _NET_FIXED if k not in NET_REQUIRED})
    return out


NET_DEFAULTS = _net_defaults()
GROUP_FIELDS = ("count", "scale", "teacher_weight")
NET_CSV_COLUMNS = ("kind",) + NET_GRID + ("criterion", "keep", "keep_count", "metric", "group", "mean", "sem",
                                          "trials")


def _net_groups(groups):
    """Feature groups as ``[[count, scale, teacher_weight], ...]`` from triples or tables with those fields."""
    if not isinstance(groups, (list, tuple)) or not groups:
        raise ConfigError(f"groups == {groups!r}, must be a non-empty list of [count, scale, teacher_weight] "
                                 "triples or tables with fields count, scale, teacher_weight.")
    out = []
    for i, g in enumerate(groups):
        name = f"groups[{i}]"
        if isinstance(g, dict):
            check_table(g, name, GROUP_FIELDS, ())
            g = [g[k] for k in GROUP_FIELDS]
        elif not isinstance(g, (list, tuple)) or len(g) != 3:
            raise ConfigError(f"{name} == {g!r}, must be a triple [count, scale, teacher_weight] or a table "
                                     "with fields count, scale, teacher_weight.")
        out.append([integer_field(g[0], f"{name}.count", 1),
                    real_field(g[1], f"{name}.scale", low=0, include_low=False),
                    real_field(g[2], f"{name}.teacher_weight")])
    return out


def _net_list(raw, name, check):
    return distinct([check(v, f"{name}[{j}]") for j, v in enumerate(as_list(raw, name))], name)


def _net_keep(raw):
    """Kept fractions (floats in (0, 1]) or counts (ints >= 1), entry by entry, in the order given.

    ``[0.5, 1]`` keeps half the weights and one weight, as in :func:`network_experiment`; ``1`` and ``1.0``
    are different levels (one weight, all weights), so both may be listed."""
    def one(v, name):
        if isinstance(v, bool):
            raise ConfigError(f"{name} == {v!r} is a bool; pass a kept fraction in (0, 1] (a float) or a "
                              "count >= 1 (an integer).")
        if isinstance(v, int):
            return integer_field(v, name, 1)
        if isinstance(v, float) and v > 1 and v.is_integer():
            raise ConfigError(f"{name} == {v!r}, a kept fraction must be in (0, 1]; for a count of {int(v)} "
                              f"weights pass the integer {int(v)}.")
        return real_field(v, name, low=0, include_low=False, high=1)
    values = [one(v, f"keep[{j}]") for j, v in enumerate(as_list(raw, "keep"))]
    seen = []
    for j, v in enumerate(values):
        key = (isinstance(v, int), v)              # a count and a fraction of equal value are different levels
        if key in seen:
            raise ConfigError(f"keep[{j}] == {v!r} is listed twice.")
        seen.append(key)
    return values


def _net_normalize(raw):
    cfg = dict(d=integer_field(raw["d"], "d", 1), groups=_net_groups(raw["groups"]))
    cfg["trials"] = integer_field(raw["trials"], "trials", 1)
    if cfg["trials"] < 2:
        raise ConfigError(f"trials == {cfg['trials']}, must be >= 2 for standard errors.")
    cfg["keep"] = _net_keep(raw["keep"])
    cfg["init"] = _net_list(raw["init"], "init", lambda v, n: real_field(v, n, low=0))
    cfg["width"] = _net_list(raw["width"], "width", lambda v, n: integer_field(v, n, 1))
    cfg["activation"] = _net_list(raw["activation"], "activation",
                                  lambda v, n: choice_field(v, n, tuple(ACTIVATIONS)))
    cfg["noise"] = _net_list(raw["noise"], "noise", lambda v, n: real_field(v, n, low=0))
    cfg["lr"] = _net_list(raw["lr"], "lr", lambda v, n: real_field(v, n, low=0, include_low=False))
    cfg["steps"] = _net_list(raw["steps"], "steps", lambda v, n: integer_field(v, n, 0))
    scale = raw["scale"]
    cfg["scale"] = [] if isinstance(scale, (list, tuple)) and not scale else _net_list(
        scale, "scale", lambda v, n: real_field(v, n, low=0, include_low=False))
    cfg["scale_group"] = integer_field(raw["scale_group"], "scale_group", 0)
    if cfg["scale_group"] >= len(cfg["groups"]):
        raise ConfigError(f"scale_group == {cfg['scale_group']}, must index one of the "
                                 f"{len(cfg['groups'])} groups.")
    for k in ("n_train", "teacher_width", "importance_samples"):
        cfg[k] = integer_field(raw[k], k, 1)
    cfg["n_test"] = integer_field(raw["n_test"], "n_test", 2)
    for k in ("finetune_steps", "cbs_max_swaps"):
        cfg[k] = integer_field(raw[k], k, 0)
    cfg["batch_size"] = None if raw["batch_size"] is None else integer_field(raw["batch_size"], "batch_size", 1)
    cfg["optimizer"] = choice_field(raw["optimizer"], "optimizer", OPTIMIZERS)
    cfg["teacher"] = choice_field(raw["teacher"], "teacher", TEACHERS)
    layers = raw["prune_layers"]
    cfg["prune_layers"] = (choice_field(layers, "prune_layers", PRUNE_LAYERS) if isinstance(layers, str) else
                           [integer_field(v, f"prune_layers[{i}]", -2)
                            for i, v in enumerate(as_list(layers, "prune_layers"))])
    cfg["scope"] = choice_field(raw["scope"], "scope", SCOPES)
    cfg["momentum"] = real_field(raw["momentum"], "momentum", low=0, high=1, include_high=False)
    cfg["damping"] = real_field(raw["damping"], "damping", low=0, include_low=False)
    for k in ("freeze_second_layer", "bias", "prune_biases"):
        if not isinstance(raw[k], bool):
            raise ConfigError(f"{k} == {raw[k]!r}, must be true or false.")
        cfg[k] = raw[k]
    cfg["criteria"] = _net_list(raw["criteria"], "criteria", lambda v, n: choice_field(v, n, criterion_names()))
    return cfg


def _net_grid(cfg):
    axes = [(k, cfg[k]) for k in NET_GRID if k != "scale" or cfg["scale"]]
    return [dict(zip([k for k, _ in axes], values)) for values in itertools.product(*[v for _, v in axes])]


def _net_arguments(cfg, point, seed):
    """The keyword arguments of :func:`network_experiment` at one grid point (without n_jobs and client)."""
    groups = [list(g) for g in cfg["groups"]]
    if "scale" in point:
        groups[cfg["scale_group"]][1] = point["scale"]
    args = {k: cfg[k] for k in _NET_FIXED}
    args.update({k: v for k, v in point.items() if k != "scale"})
    args["criteria"] = tuple(cfg["criteria"])
    return dict(args, groups=groups, seed=seed, record_every=None)


def _net_where(point):
    return ", ".join(f"{k} == {v!r}" for k, v in point.items())


def _net_check_point(cfg, point):
    try:
        experiment_job(**_net_arguments(cfg, point, cfg["seed"]))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{exc} (grid point {_net_where(point)})") from None


def _net_simulate(cfg, point, seed, n_jobs, client):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DivergedTrainingWarning)
        res = network_experiment(**_net_arguments(cfg, point, seed), n_jobs=n_jobs, client=client)
    for w in caught:                            # name the grid point: the sweep's warnings must say where
        if issubclass(w.category, DivergedTrainingWarning):
            warnings.warn(f"{w.message} (grid point {_net_where(point)})", DivergedTrainingWarning, stacklevel=2)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    crit = cfg["criteria"]
    ex = res.extras

    def ms(x):
        m, s = mean_sem(x)
        return np.stack([m, s], axis=-1)

    return dict(mean=np.array([res.mean[c] for c in crit]), sem=np.array([res.sem[c] for c in crit]),
                dense=np.array([res.mean["dense"], res.sem["dense"]]),
                keep_counts=np.asarray(res.keep_counts, dtype=float),
                importance_corr=np.array([[res.importance_corr[c], ex["importance_corr_sem"][c]] for c in crit]),
                weight_change=ms(ex["weight_change"]), train_loss=ms(ex["train_loss"]),
                train_finite=ms(np.asarray(ex["train_finite"], dtype=float)),
                group_abs_weight=ms(ex["group_abs_weight"]), group_importance=ms(ex["group_importance"]))


def _net_shapes(cfg):
    ck = (len(cfg["criteria"]), len(cfg["keep"]))
    return dict(mean=ck, sem=ck, dense=(2,), keep_counts=(len(cfg["keep"]),),
                importance_corr=(len(cfg["criteria"]), 2), weight_change=(2,), train_loss=(2,), train_finite=(2,),
                group_abs_weight=(len(cfg["groups"]), 2), group_importance=(len(cfg["groups"]), 2))


def _net_rows(cfg, r):
    base = dict({k: r[k] for k in NET_GRID if k in r}, kind="network", trials=cfg["trials"])
    rows = []
    for ci, c in enumerate(cfg["criteria"]):
        for ki, k in enumerate(cfg["keep"]):
            rows.append(dict(base, criterion=c, keep=k, keep_count=int(r["keep_counts"][ki]), metric="relative_loss",
                             mean=r["mean"][ci, ki], sem=r["sem"][ci, ki]))
    rows.append(dict(base, criterion="dense", keep=1.0, metric="relative_loss", mean=r["dense"][0],
                     sem=r["dense"][1]))
    for ci, c in enumerate(cfg["criteria"]):
        rows.append(dict(base, criterion=c, metric="importance_corr", mean=r["importance_corr"][ci, 0],
                         sem=r["importance_corr"][ci, 1]))
    for metric in ("weight_change", "train_loss", "train_finite"):
        rows.append(dict(base, criterion="dense", metric=metric, mean=r[metric][0], sem=r[metric][1]))
    for metric in ("group_abs_weight", "group_importance"):
        for g, (m, s) in enumerate(r[metric]):
            rows.append(dict(base, criterion="dense", metric=metric, group=g, mean=m, sem=s))
    return rows


NETWORK_KIND = register_kind(PointKind(
    name="network", required=NET_REQUIRED, defaults=NET_DEFAULTS, normalize=_net_normalize, grid=_net_grid,
    check_point=_net_check_point, theory=lambda cfg, point: {}, simulate=_net_simulate, shapes=_net_shapes,
    rows=_net_rows, csv_columns=NET_CSV_COLUMNS, renamed={"batch": "batch_size"}))
