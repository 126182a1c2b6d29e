"""The ``"linear"`` kind of sweep: a grid of :func:`simulations.monte_carlo` points with the limit of
:func:`asymptotics.pruned_risk` beside them (the default kind; see :mod:`simulations.runtime.sweep`).

Every argument of :func:`simulations.monte_carlo` that describes the experiment is a config field:
``spectrum``, ``p``, ``noise``, ``trials``, ``seed``, the grids ``kappa``, ``ridge``, ``retrain``,
``init`` (initialization scales ``s0``, default ``[0.0]``) and ``refit_ridge`` (ridges of the refit on the
support; absent or ``null``: the refit uses the point's ``ridge``, as in ``monte_carlo``), ``keep`` and
``criteria`` (evaluated together inside a point), ``hessian_scores``, ``sampler`` and ``update`` (the
population OBS update after the mask; it moves nothing with a diagonal covariance). ``n_jobs`` and the
Dask ``client`` are how to run, not what: they are command-line options. Grid points are
``kappa x ridge x refit_ridge x init x retrain``.

CSV columns
-----------
One row per grid point, criterion, keep level and source (plus one ``dense`` simulation row per point).
The columns shared with the linear figures' CSVs (:data:`simulations.figures.linear.CSV_COLUMNS`) mean
the same there:

==============  ==================================================================================
``kappa``       ``n/p``
``ridge``       ridge ``mu`` of the dense fit the mask is chosen from
``refit_ridge`` ridge of the refit on the support (equal to ``ridge`` unless set; empty without refit)
``init``        initialization scale ``s0`` of gradient descent (``0``: from zero)
``retrain``     ``none``, ``fresh`` or ``same``
``criterion``   pruning criterion, or ``dense`` (the unpruned fit)
``keep``        kept fraction asked for
``keep_effective``  kept fraction realised at this ``p`` (the theory is evaluated there)
``source``      ``theory`` (the limit) or ``simulation`` (Monte Carlo mean)
``risk``        test risk ``E(y - x.b)^2`` (label noise included)
``sem``         standard error of the simulated mean (empty for theory)
``z``           ``(simulation - theory) / sem`` on simulation rows with a finite theory value, else empty
``trials``      Monte Carlo trials
``p``           number of features
``noise``       label-noise standard deviation ``sigma``
``spectrum``    the spectrum, as :func:`spectrum_text` writes it
==============  ==================================================================================
"""

from __future__ import annotations

import itertools

import numpy as np

from asymptotics import CRITERIA, Spectrum, pruned_risk
from linear_models import criterion_names

from ..runtime.sweep import (ConfigError, PointKind, as_list, check_table, choice_field, distinct, integer_field,
                             real_field, register_kind)
from .engine import make_job, monte_carlo

LINEAR_REQUIRED = ("spectrum", "p", "noise", "trials", "kappa", "keep")
LINEAR_DEFAULTS = dict(ridge=[0.0], retrain=["none"], criteria=list(CRITERIA), hessian_scores="empirical", init=[0.0],
                       refit_ridge=None, sampler="auto", update="none")
SPECTRUM_REQUIRED = ("variances", "signal")
SPECTRUM_OPTIONAL = ("weights", "signal_dist")
RETRAIN_CHOICES = ("none", "fresh", "same")
HESSIAN_SCORES = ("empirical", "population")
SAMPLERS = ("auto", "design", "bartlett")
LINEAR_CSV_COLUMNS = ("kappa", "ridge", "refit_ridge", "init", "retrain", "criterion", "keep", "keep_effective", "source",
                      "risk", "sem", "z", "trials", "p", "noise", "spectrum")
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
    # the fields below enter the normalised config (hence the store's hash) only when they differ from their
    # default, so the stores of configs written before they existed stay valid
    init = distinct([real_field(v, f"init[{j}]", low=0) for j, v in enumerate(as_list(raw["init"], "init"))], "init")
    if init != [0.0]:
        cfg["init"] = init
    if raw["refit_ridge"] is not None:
        cfg["refit_ridge"] = distinct([real_field(v, f"refit_ridge[{j}]", low=0)
                                       for j, v in enumerate(as_list(raw["refit_ridge"], "refit_ridge"))], "refit_ridge")
    sampler = choice_field(raw["sampler"], "sampler", SAMPLERS)
    if sampler != "auto":
        cfg["sampler"] = sampler
    update = choice_field(raw["update"], "update", ("none", "obs"))
    if update != "none":                      # stored only when set: older configs keep their store hash
        cfg["update"] = update
    return cfg


def spectrum_text(spectrum):
    """The spectrum as one CSV cell, e.g. ``"variances=[1.0, 25.0] signal=[1.0, 0.3] weights=[0.5, 0.5] fixed"``
    (the same text in sweep and figure CSVs); a block spectrum lists its ``B x B`` covariances."""
    if hasattr(spectrum, "covariances"):
        return (f"covariances={np.asarray(spectrum.covariances).tolist()} signal={np.asarray(spectrum.signal).tolist()} "
                f"weights={np.asarray(spectrum.weights).tolist()} {spectrum.signal_dist}")
    return (f"variances={np.asarray(spectrum.variances).tolist()} signal={np.asarray(spectrum.signal).tolist()} "
            f"weights={np.asarray(spectrum.weights).tolist()} {spectrum.signal_dist}")


def _linear_grid(cfg):
    """Points ``kappa x ridge x refit_ridge x init x retrain``; ``refit_ridge`` and ``init`` appear in a point only
    when the config sets them (older stores keep their point dicts)."""
    out = []
    for k, r, rr, s0, t in itertools.product(cfg["kappa"], cfg["ridge"], cfg.get("refit_ridge", [None]),
                                             cfg.get("init", [None]), cfg["retrain"]):
        point = dict(kappa=k, ridge=r, retrain=t)
        if rr is not None:
            point["refit_ridge"] = rr
        if s0 is not None:
            point["init"] = s0
        out.append(point)
    return out


def _extra(cfg, point):
    """The ``monte_carlo`` arguments of a point beyond kappa, ridge and retrain."""
    return dict(init=point.get("init", 0.0), refit_ridge=point.get("refit_ridge"), sampler=cfg.get("sampler", "auto"),
                update=cfg.get("update", "none"))


def _linear_check_point(cfg, point):
    try:
        make_job(Spectrum(**cfg["spectrum"]), cfg["p"], point["kappa"], cfg["noise"],
                 ridge=point["ridge"], keep=cfg["keep"], criteria=tuple(cfg["criteria"]),
                 retrain=point["retrain"], seed=cfg["seed"], hessian_scores=cfg["hessian_scores"],
                 **{k: v for k, v in _extra(cfg, point).items() if k != "update"})   # update: checked when loaded
    except (TypeError, ValueError) as exc:
        where = ", ".join(f"{k} == {v!r}" for k, v in point.items())
        raise ConfigError(f"{exc} (grid point {where})") from None


def keep_effective(keep, p):
    """The kept fractions realised at ``p`` features: ``max(1, round(keep * p)) / p`` (what the engine keeps)."""
    return np.maximum(1, np.round(np.asarray(keep, dtype=float) * p)) / p


def _linear_theory_at(cfg, point, keep_eff):
    if point["retrain"] == "same":            # same-data refits: no formula is known (docs/theory.md Section 4)
        return np.full((len(cfg["criteria"]), len(keep_eff)), np.nan)
    spec = Spectrum(**cfg["spectrum"])
    ex = _extra(cfg, point)
    refit_ridge = ex["refit_ridge"] if point["retrain"] == "fresh" else None     # no refit: no refit ridge
    nan = np.full(len(keep_eff), np.nan)            # a criterion without a formula in the limit (user-registered)
    return np.array([np.asarray(pruned_risk(spec, point["kappa"], cfg["noise"], keep=np.asarray(keep_eff), criterion=c,
                                            ridge=point["ridge"], retrain=point["retrain"], init=ex["init"],
                                            refit_ridge=refit_ridge, update=ex["update"]), dtype=float)
                     if c in CRITERIA else nan for c in cfg["criteria"]]).reshape(len(cfg["criteria"]), len(keep_eff))


def _linear_theory(cfg, point):
    return dict(theory=_linear_theory_at(cfg, point, keep_effective(cfg["keep"], cfg["p"])))


def _linear_simulate(cfg, point, seed, n_jobs, client):
    crit = cfg["criteria"]
    res = monte_carlo(Spectrum(**cfg["spectrum"]), cfg["p"], point["kappa"], cfg["noise"],
                             ridge=point["ridge"], keep=cfg["keep"], criteria=tuple(crit), retrain=point["retrain"],
                             trials=cfg["trials"], seed=seed, n_jobs=n_jobs, client=client,
                             hessian_scores=cfg["hessian_scores"], **_extra(cfg, point))
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
    ex = _extra(cfg, r)
    refit_ridge = "" if r["retrain"] == "none" else r["ridge"] if ex["refit_ridge"] is None else ex["refit_ridge"]
    base = dict(kappa=r["kappa"], ridge=r["ridge"], refit_ridge=refit_ridge, init=ex["init"], retrain=r["retrain"], trials=cfg["trials"], p=cfg["p"],
                noise=cfg["noise"], spectrum=spectrum_text(Spectrum(**cfg["spectrum"])))
    for ci, c in enumerate(cfg["criteria"]):
        for ki, k in enumerate(cfg["keep"]):
            at = dict(base, criterion=c, keep=k, keep_effective=r["keep_effective"][ki])
            mean, sem, theory = r["mean"][ci, ki], r["sem"][ci, ki], r["theory"][ci, ki]
            z = (mean - theory) / sem if np.isfinite(theory) and sem > 0 else ""
            rows.append(dict(at, source="simulation", risk=mean, sem=sem, z=z))
            rows.append(dict(at, source="theory", risk=theory, sem="", z=""))
    rows.append(dict(base, criterion="dense", keep=1.0, keep_effective=1.0, source="simulation", risk=r["dense"][0],
                     sem=r["dense"][1], z=""))
    return rows


LINEAR = register_kind(PointKind(
    name="linear", required=LINEAR_REQUIRED, defaults=LINEAR_DEFAULTS, normalize=_linear_normalize,
    grid=_linear_grid, check_point=_linear_check_point, theory=_linear_theory, simulate=_linear_simulate,
    shapes=_linear_shapes, rows=_linear_rows, csv_columns=LINEAR_CSV_COLUMNS,
    renamed={"hessian": "hessian_scores"}))

