"""The ``"linear"`` kind of sweep: a grid of :func:`simulations.monte_carlo` points with the limit of
:func:`asymptotics.pruned_risk` beside them (the default kind; see :mod:`simulations.runtime.sweep`)."""

from __future__ import annotations

import itertools

import numpy as np

from asymptotics import CRITERIA, Spectrum, pruned_risk
from linear_models import criterion_names

from ..runtime.sweep import (ConfigError, PointKind, as_list, check_table, choice_field, distinct, integer_field,
                             real_field, register_kind)
from .engine import make_job, monte_carlo

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
    check_table(table, "spectrum", SPECTRUM_REQUIRED, SPECTRUM_OPTIONAL)
    args = {k: _number_list(table[k], k) for k in ("variances", "signal", "weights") if k in table}
    try:
        return Spectrum(**args, signal_dist=table.get("signal_dist", "fixed"))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"spectrum: {exc}") from None


def _keep_grid(values):
    out = []
    for j, v in enumerate(as_list(values, "keep")):
        if isinstance(v, (bool, int)):
            raise ConfigError(f"keep[{j}] == {v!r} is an integer (a count); pass kept fractions as floats, "
                              f"e.g. {float(v)!r}.")
        out.append(real_field(v, f"keep[{j}]", low=0, include_low=False, high=1))
    return sorted(distinct(out, "keep"))


def _linear_normalize(raw):
    spec = _spectrum(raw["spectrum"])
    cfg = dict(spectrum=dict(variances=spec.variances.tolist(), signal=spec.signal.tolist(),
                             weights=spec.weights.tolist(), signal_dist=spec.signal_dist))
    cfg["p"] = integer_field(raw["p"], "p", 1)
    cfg["trials"] = integer_field(raw["trials"], "trials", 1)
    if cfg["trials"] < 2:
        raise ConfigError(f"trials == {cfg['trials']}, must be >= 2 for standard errors.")
    cfg["noise"] = real_field(raw["noise"], "noise", low=0)
    cfg["kappa"] = distinct([real_field(v, f"kappa[{j}]", low=0, include_low=False)
                              for j, v in enumerate(as_list(raw["kappa"], "kappa"))], "kappa")
    cfg["ridge"] = distinct([real_field(v, f"ridge[{j}]", low=0) for j, v in enumerate(as_list(raw["ridge"], "ridge"))],
                             "ridge")
    cfg["retrain"] = distinct([choice_field(v, f"retrain[{j}]", RETRAIN_CHOICES)
                                for j, v in enumerate(as_list(raw["retrain"], "retrain"))], "retrain")
    cfg["keep"] = _keep_grid(raw["keep"])
    cfg["criteria"] = distinct([choice_field(v, f"criteria[{j}]", criterion_names())
                                 for j, v in enumerate(as_list(raw["criteria"], "criteria"))], "criteria")
    cfg["hessian_scores"] = choice_field(raw["hessian_scores"], "hessian_scores", HESSIAN_SCORES)
    return cfg


def _linear_grid(cfg):
    return [dict(kappa=k, ridge=r, retrain=t) for k, r, t in itertools.product(cfg["kappa"], cfg["ridge"],
                                                                               cfg["retrain"])]


def _linear_check_point(cfg, point):
    try:
        make_job(Spectrum(**cfg["spectrum"]), cfg["p"], point["kappa"], cfg["noise"],
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
    nan = np.full(len(keep_eff), np.nan)            # a criterion without a formula in the limit (user-registered)
    return np.array([np.asarray(pruned_risk(spec, point["kappa"], cfg["noise"], keep=np.asarray(keep_eff), criterion=c,
                                            ridge=point["ridge"], retrain=point["retrain"]), dtype=float)
                     if c in CRITERIA else nan for c in cfg["criteria"]]).reshape(len(cfg["criteria"]), len(keep_eff))


def _linear_theory(cfg, point):
    return dict(theory=_linear_theory_at(cfg, point, keep_effective(cfg["keep"], cfg["p"])))


def _linear_simulate(cfg, point, seed, n_jobs, client):
    crit = cfg["criteria"]
    res = monte_carlo(Spectrum(**cfg["spectrum"]), cfg["p"], point["kappa"], cfg["noise"],
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

