"""Figures of the shallow-network claims (docs/theory.md Section 6), each measured over a range.

Every function ``fn(out_dir, quick=False, n_jobs=None)`` runs
:func:`simulations.network_experiment`, writes ``<name>.png``, ``<name>.pdf``, a
tidy ``<name>.csv`` (columns :data:`CSV_COLUMNS`, one row per measured quantity,
mean and standard error over trials) and ``<name>.txt`` (the titles' sentences, computed
from the numbers by :mod:`simulations.figures.captions`) and returns the paths.
``plot_network_scaling``, ``plot_network_init``, ``plot_network_hessian`` and
``claims_table`` draw from results a notebook computed itself with the same calls.

CSV columns: ``figure``, ``x_name`` and ``x`` (the swept knob: ``c``, ``init`` or ``step``),
``criterion``, ``keep``, ``metric``, ``mean``, ``sem``, ``trials``. The columns ``criterion``,
``keep``, ``metric``, ``mean``, ``sem`` and ``trials`` and the metrics ``relative_loss`` (test MSE /
Var(y) after pruning), ``importance_corr`` and ``weight_change`` mean the same as in network sweep
CSVs (:mod:`simulations.experiments.network_sweep`); ``scaled_group_*`` and ``unscaled_group_*`` are
the sweep's ``group_*`` metrics of group 0 and 1.

The base configuration is docs/theory.md Section 6's illustrative one (``d = 20``,
``m = 64``, 4000 train and test points, 5 features scaled by ``c = 10`` with
teacher weight ``0.1``, 5 unscaled with weight ``0.3``, 10 null features, linear
teacher, noise ``0.1``, ReLU, Adam ``lr = 1e-2`` for 2500 full-batch steps, five
trials). Figures vary one knob around it; nothing is tuned to make a claim hold.
Quick mode (tests, notebooks with ``PRUNING_MECHANICS_QUICK=1``) shrinks the
samples, steps and grids.
"""

from __future__ import annotations

import textwrap
from functools import lru_cache
from pathlib import Path

import numpy as np

from asymptotics import CRITERIA as LINEAR_CRITERIA
from asymptotics import Spectrum, pruned_risk

from ..experiments.network_experiment import network_experiment
from ..plotting import LABELS, MARKERS, color, new_figure, plot_points, save_with_csv
from ..runtime.files import write_tidy_csv
from ..runtime.stats import mean_sem
from . import captions
from .linear import write_caption

CSV_COLUMNS = ("figure", "x_name", "x", "criterion", "keep", "metric", "mean", "sem", "trials")
CRITERIA = ("magnitude", "hessian", "taylor1", "taylor2", "random", "oracle", "obs")
KEEP = 0.3
#: the teacher weight of the scaled group is ``IMPORTANT_WEIGHT / c``: its importance ``c^2 w^2`` stays 1
IMPORTANT_WEIGHT = 1.0


def base_config(quick):
    """docs/theory.md Section 6's illustrative configuration (smaller in quick mode)."""
    cfg = dict(d=20, width=64, n_train=4000, n_test=4000, groups=[(5, 10.0, 0.1), (5, 1.0, 0.3), (10, 1.0, 0.0)],
               noise=0.1, activation="relu", init=0.1, optimizer="adam", lr=1e-2, steps=2500, batch_size=None,
               keep=[0.1, KEEP, 0.5], criteria=CRITERIA, finetune_steps=0, trials=5, seed=0)
    if quick:
        cfg.update(n_train=1000, n_test=1000, steps=400, trials=3, importance_samples=4000)
    return cfg


def scaled_groups(c):
    """Feature groups with the first group scaled by ``c`` at constant importance (teacher weight ``1/c``)."""
    return [(5, float(c), IMPORTANT_WEIGHT / c), (5, 1.0, 0.3), (10, 1.0, 0.0)]


def _rows_of(figure, x_name, x, res, rows):
    trials = res.config["trials"]
    ki = res.keep.index(KEEP)
    for c in res.config["criteria"]:
        rows.append(dict(figure=figure, x_name=x_name, x=x, criterion=c, keep=KEEP, metric="relative_loss",
                         mean=res.mean[c][ki], sem=res.sem[c][ki], trials=trials))
        rows.append(dict(figure=figure, x_name=x_name, x=x, criterion=c, keep="", metric="importance_corr",
                         mean=res.importance_corr[c], sem=res.extras["importance_corr_sem"][c], trials=trials))
    rows.append(dict(figure=figure, x_name=x_name, x=x, criterion="dense", keep=1.0, metric="relative_loss",
                     mean=res.mean["dense"], sem=res.sem["dense"], trials=trials))
    for name, values in (("weight_change", res.extras["weight_change"]),
                         ("scaled_group_abs_weight", res.extras["group_abs_weight"][:, 0]),
                         ("scaled_group_importance", res.extras["group_importance"][:, 0]),
                         ("unscaled_group_abs_weight", res.extras["group_abs_weight"][:, 1])):
        rows.append(dict(figure=figure, x_name=x_name, x=x, criterion="", keep="", metric=name,
                         mean=float(np.mean(values)), sem=float(np.std(values, ddof=1) / np.sqrt(len(values))),
                         trials=trials))


def save_network_figure(fig, rows, out_dir, stem, caption):
    """Save a network figure, its tidy CSV (:data:`CSV_COLUMNS`) and its computed caption; returns the paths."""
    return save_with_csv(fig, rows, out_dir, stem, CSV_COLUMNS) + (write_caption(out_dir, stem, caption),)


def _pruned_panel(ax, xs, results, xlabel):
    ki = results[0].keep.index(KEEP)
    for c in CRITERIA:
        plot_points(ax, xs, [r.mean[c][ki] for r in results], [r.sem[c][ki] for r in results], color(c),
                    LABELS.get(c, c), MARKERS.get(c, "o"))
        ax.plot(xs, [r.mean[c][ki] for r in results], color=color(c), lw=0.8, alpha=0.6)
    ax.plot(xs, [r.mean["dense"] for r in results], color=color("dense"), ls=":", lw=1.2, label="dense")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"test MSE / Var(y) after pruning, keep {KEEP:g}")
    ax.grid(alpha=0.3)


#: the scales ``c`` of the scaling sweep and the initialization scales of the init sweep: quick, full
SCALING_CS = {True: (1.0, 10.0, 30.0), False: (1.0, 2.0, 5.0, 10.0, 20.0, 30.0)}
INITS = {True: (0.03, 0.3, 3.0), False: (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)}


@lru_cache(maxsize=4)
def _scaling_sweep(quick, n_jobs):
    cs = SCALING_CS[quick]
    base = base_config(quick)
    return cs, tuple(network_experiment(**dict(base, groups=scaled_groups(c), n_jobs=n_jobs)) for c in cs)


@lru_cache(maxsize=4)
def _init_sweep(quick, n_jobs):
    inits = INITS[quick]
    base = base_config(quick)
    return inits, tuple(network_experiment(**dict(base, init=s, n_jobs=n_jobs)) for s in inits)


def scaling_rows(cs, results):
    """The tidy rows (columns :data:`CSV_COLUMNS`) of the scaling sweep: one result per scale ``c``."""
    rows = []
    for c, res in zip(cs, results):
        _rows_of("network-scaling", "c", c, res, rows)
    return rows


def network_scaling_figure(out_dir, quick=False, n_jobs=None):
    """Network figure 1: magnitude failure vs covariance scaling c of the important group (keep 30%).

    Runs :func:`simulations.network_experiment` at every ``c`` of :data:`SCALING_CS` (groups
    :func:`scaled_groups`) and draws them with :func:`plot_network_scaling`; returns its paths.
    """
    cs, results = _scaling_sweep(bool(quick), n_jobs)
    return plot_network_scaling(cs, results, out_dir)


def plot_network_scaling(cs, results, out_dir):
    """Draw and write network figure 1 from one :func:`simulations.network_experiment` result per scale ``c``.

    The panel titles are computed from the rows (:func:`captions.network_scaling_sentences`) and written to
    ``network_scaling.txt``. Returns ``(png, pdf, csv, txt)``.
    """
    rows = scaling_rows(cs, results)
    pruned_title, weights_title = captions.network_scaling_sentences(rows)
    fig, (ax, ax2) = new_figure(2, width=4.6, height=3.8)
    _pruned_panel(ax, cs, results, "scale c of the important group (importance fixed)")
    ax.set_title("\n".join(textwrap.wrap(pruned_title, 55)), fontsize=7)
    w = np.array([r.extras["group_abs_weight"][:, 0] for r in results])
    imp = np.array([r.extras["group_importance"][:, 0] for r in results])
    sem = lambda a: a.std(axis=1, ddof=1) / np.sqrt(a.shape[1])
    plot_points(ax2, cs, w.mean(axis=1), sem(w), color("magnitude"), "mean |W| of the scaled group")
    ax2.plot(cs, w.mean(axis=1)[0] / np.asarray(cs), color=color("magnitude"), ls="--", lw=1, label="1/c reference")
    ax3 = ax2.twinx()
    plot_points(ax3, cs, imp.mean(axis=1), sem(imp), color("hessian"), "mean ablation importance (right axis)", "s")
    for a in (ax2, ax3):
        a.set_xscale("log")
        a.set_yscale("log")
    ax2.set_xlabel("scale c of the important group")
    ax2.set_ylabel("mean |W| of the scaled group")
    ax3.set_ylabel("mean importance of its weights")
    ax2.set_title("\n".join(textwrap.wrap(weights_title, 55)), fontsize=7)
    # one legend below both panels: inside, it covered the points of one axis or the other
    handles = [h for a in (ax, ax2, ax3) for h in a.get_legend_handles_labels()[0]]
    fig.legend(handles, [h.get_label() for h in handles], loc="outside lower center", ncol=6, fontsize=6.5,
               frameon=False)
    ax2.grid(alpha=0.3)
    cfg = results[0].config
    fig.suptitle(f"Shallow ReLU net, d={cfg['d']}, m={cfg['width']}, n={cfg['n_train']}, {cfg['steps']} Adam steps, "
                 f"init {cfg['init']:g}, {cfg['trials']} trials", fontsize=9)
    return save_network_figure(fig, rows, out_dir, "network_scaling", f"{pruned_title}. {weights_title}.")


def linear_limit_init_curve(s0s, keep=KEEP):
    """Part A's linear-limit curve beside the network: the headline model, min-norm at kappa = 0.6, relative to
    ``Var(y)`` (docs/theory.md Section 8); per criterion an array over ``s0s``."""
    spec, noise, kappa = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3)), 0.25, 0.6
    var_y = noise**2 + float(np.sum(spec.weights * spec.variances * spec.signal**2))
    return {c: np.array([pruned_risk(spec, kappa, noise, keep=keep, criterion=c, init=s) for s in s0s]) / var_y
            for c in LINEAR_CRITERIA}


def network_init_figure(out_dir, quick=False, n_jobs=None):
    """Network figure 2: pruned loss and weight movement vs initialization scale, beside the linear limit.

    Runs :func:`simulations.network_experiment` at every scale of :data:`INITS` and draws them with
    :func:`plot_network_init`; returns its paths.
    """
    inits, results = _init_sweep(bool(quick), n_jobs)
    return plot_network_init(inits, results, out_dir)


def init_rows(inits, results):
    """The tidy rows (columns :data:`CSV_COLUMNS`) of the init sweep: one result per initialization scale."""
    rows = []
    for s, res in zip(inits, results):
        _rows_of("network-init", "init", s, res, rows)
    return rows


def plot_network_init(inits, results, out_dir):
    """Draw and write network figure 2 from one :func:`simulations.network_experiment` result per initialization
    scale; the movement panel's title is computed from the rows (:func:`captions.network_init_sentence`).
    Returns ``(png, pdf, csv, txt)``."""
    rows = init_rows(inits, results)
    fig, (ax, ax2, ax3) = new_figure(3, width=4.2, height=3.8)
    _pruned_panel(ax, inits, results, "initialization scale")
    ax.set_title("Network: pruned loss per criterion")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=8, fontsize=6.5, frameon=False)
    wc = np.array([r.extras["weight_change"] for r in results])
    plot_points(ax2, inits, wc.mean(axis=1), wc.std(axis=1, ddof=1) / np.sqrt(wc.shape[1]), "k",
                "||W - W0|| / ||W0||")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("initialization scale")
    ax2.set_ylabel("relative movement of the first layer")
    movement = captions.network_init_sentence(rows)
    ax2.set_title("\n".join(textwrap.wrap(movement, 45)), fontsize=7)
    ax2.grid(alpha=0.3)
    s0s = np.geomspace(1e-2, 1e1, 61)
    for c, y in linear_limit_init_curve(s0s).items():
        ax3.plot(s0s, y, color=color(c), lw=1.8, label=f"{LABELS.get(c, c)} (theory)")
        rows += [dict(figure="network-init", x_name="linear-limit s0", x=s, criterion=c, keep=KEEP,
                      metric="linear_limit_relative_risk", mean=v, sem="", trials="") for s, v in zip(s0s, y)]
    ax3.set_xscale("log")
    ax3.set_yscale("log")
    ax3.set_xlabel("initialization scale s0")
    ax3.set_ylabel("test risk / Var(y), keep 0.3")
    ax3.set_title("Linear limit (min-norm, kappa 0.6)")
    ax3.grid(alpha=0.3)
    ax3.legend(fontsize=6.5, frameon=False, loc="best")
    return save_network_figure(fig, rows, out_dir, "network_init", f"First layer: {movement}.")


def hessian_run(quick, n_jobs=None):
    """The base configuration trained once with the rank correlations recorded over training
    (``record_every`` a 25th of the steps): the left panel of network figure 3."""
    base = base_config(quick)
    return network_experiment(**dict(base, record_every=max(1, base["steps"] // 25), n_jobs=n_jobs))


def network_hessian_figure(out_dir, quick=False, n_jobs=None):
    """Network figure 3: rank correlation of each criterion's scores with ablation importance, over training steps
    (from a small start, :func:`hessian_run`) and, at the end of training, over the initialization scale (the
    init sweep); drawn by :func:`plot_network_hessian`."""
    res = hessian_run(quick, n_jobs)
    inits, results = _init_sweep(bool(quick), n_jobs)
    return plot_network_hessian(res, inits, results, out_dir)


def plot_network_hessian(res, inits, results, out_dir):
    """Draw and write network figure 3 from :func:`hessian_run`'s result and the init sweep's results; the right
    panel's title is computed from the rows (:func:`captions.network_hessian_sentence`). Returns
    ``(png, pdf, csv, txt)``."""
    rows = []
    steps = res.extras["checkpoints"]
    crits = [c for c in CRITERIA if c not in ("oracle", "random")]
    fig, (ax, ax2) = new_figure(2, width=4.6, height=3.8)
    for c in crits:
        v = res.extras["corr_over_steps"][c]
        m, s = mean_sem(v, axis=0)
        ax.plot(steps, m, color=color(c), lw=1.6, label=LABELS.get(c, c))
        ax.fill_between(steps, m - s, m + s, color=color(c), alpha=0.2, lw=0)
        for st, mm, ss in zip(steps, m, s):
            rows.append(dict(figure="network-hessian", x_name="step", x=int(st), criterion=c, keep="",
                             metric="importance_corr", mean=mm, sem=ss, trials=v.shape[0]))
        plot_points(ax2, inits, [r.importance_corr[c] for r in results],
                    [r.extras["importance_corr_sem"][c] for r in results], color(c), LABELS.get(c, c),
                    MARKERS.get(c, "o"))
        for s0, r in zip(inits, results):
            rows.append(dict(figure="network-hessian", x_name="init", x=s0, criterion=c, keep="",
                             metric="importance_corr", mean=r.importance_corr[c],
                             sem=r.extras["importance_corr_sem"][c], trials=r.config["trials"]))
    ax.set_xlabel(f"training step (init {res.config['init']:g}, Adam)")
    ax.set_ylabel("Spearman correlation with ablation importance")
    ax.set_title("During training from a small start")
    ax.axhline(0, color="k", lw=0.6)
    ax.grid(alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=len(crits), fontsize=6.5,
               frameon=False)
    ax2.set_xscale("log")
    ax2.set_xlabel("initialization scale")
    ax2.set_ylabel("Spearman correlation at the end of training")
    sentence = captions.network_hessian_sentence(rows)
    ax2.set_title("\n".join(textwrap.wrap(sentence, 55)), fontsize=7)
    ax2.axhline(0, color="k", lw=0.6)
    ax2.grid(alpha=0.3)
    return save_network_figure(fig, rows, out_dir, "network_hessian", sentence + ".")


#: docs/theory.md Section 6's illustrative numbers (test loss / Var(y), keep 30%, no fine-tuning)
THEORY_NUMBERS = {0.1: {"magnitude": 0.93, "hessian": 0.05, "random": 0.51},
                  3.0: {"magnitude": 23.0, "hessian": 0.25, "random": 7.0}}


def network_claims(out_dir, quick=False, n_jobs=None):
    """The claims table: each seed claim of docs/theory.md Section 6, its configuration, the measured numbers with
    standard errors, and whether it held (markdown + tidy CSV)."""
    scal_c, scal = _scaling_sweep(bool(quick), n_jobs)
    inits, ini = _init_sweep(bool(quick), n_jobs)
    return claims_table(scal_c, scal, inits, ini, out_dir)


def claims_table(scal_c, scal, inits, ini, out_dir):
    """Write the claims table (``network_claims.md`` and ``.csv``) from the scaling sweep's results (one per
    ``c`` of ``scal_c``) and the init sweep's (one per scale of ``inits``); returns the two paths."""
    ki = scal[0].keep.index(KEEP)
    fmt = lambda m, s: f"{m:.3g} ± {s:.2g}"
    lines = ["| claim | configuration | measured | held |", "|---|---|---|---|"]
    rows = []

    def record(name, value, sem, x=""):
        rows.append(dict(figure="network-claims", x_name=name, x=x, criterion="", keep=KEEP, metric=name,
                         mean=value, sem=sem, trials=scal[0].config["trials"]))

    # 1. smaller but more important
    w = np.array([r.extras["group_abs_weight"][:, 0] for r in scal])
    imp = np.array([r.extras["group_importance"][:, 0] for r in scal])
    ratio_w = w[-1] / w[0]
    ratio_i = imp[-1] / imp[0]
    mag, rnd = scal[-1].mean["magnitude"][ki], scal[-1].mean["random"][ki]
    mag_s, rnd_s = scal[-1].sem["magnitude"][ki], scal[-1].sem["random"][ki]
    expo = np.log(ratio_w) / np.log(scal_c[-1] / scal_c[0])            # |W| ~ c^expo per trial
    held1a = ratio_w.mean() < 2.0 * scal_c[0] / scal_c[-1]               # within a factor 2 of 1/c
    lines.append(f"| trained weights on a scaled group shrink about like 1/c | c from {scal_c[0]:g} to {scal_c[-1]:g}, "
                 f"teacher weight 1/c (importance fixed) | mean \\|W\\| ratio {fmt(ratio_w.mean(), _sem(ratio_w))} against "
                 f"1/c = {scal_c[0] / scal_c[-1]:.3g}: \\|W\\| ~ c^{expo.mean():.2f} ± {_sem(expo):.2f} | "
                 f"{'yes' if held1a else 'no: they shrink, more slowly'} |")
    lines.append(f"| ... while their importance does not shrink | same | mean ablation importance ratio "
                 f"{fmt(ratio_i.mean(), _sem(ratio_i))} | {'yes' if ratio_i.mean() > 0.5 else 'no'} |")
    lines.append(f"| ... so magnitude pruning removes them first (worse than random) | c = {scal_c[-1]:g}, keep {KEEP:g} | "
                 f"magnitude {fmt(mag, mag_s)} vs random {fmt(rnd, rnd_s)}, hessian "
                 f"{fmt(scal[-1].mean['hessian'][ki], scal[-1].sem['hessian'][ki])} | {'yes' if mag > rnd else 'no'} |")
    record("abs_weight_ratio", ratio_w.mean(), _sem(ratio_w))
    record("importance_ratio", ratio_i.mean(), _sem(ratio_i))
    # 2. initialization
    small, large = ini[0], ini[-1]
    m_small, m_large = small.mean["magnitude"][ki], large.mean["magnitude"][ki]
    h_large, r_large = large.mean["hessian"][ki], large.mean["random"][ki]
    wc_small, wc_large = small.extras["weight_change"], large.extras["weight_change"]
    held2 = m_large > 2 * m_small and wc_large.mean() < wc_small.mean()
    lines.append(f"| proper initialization is critical for magnitude pruning | init {inits[0]:g} vs {inits[-1]:g} | "
                 f"magnitude {fmt(m_small, small.sem['magnitude'][ki])} vs {fmt(m_large, large.sem['magnitude'][ki])};"
                 f" at init {inits[-1]:g} hessian {fmt(h_large, large.sem['hessian'][ki])}, random "
                 f"{fmt(r_large, large.sem['random'][ki])}; movement ‖W - W0‖ / ‖W0‖ {fmt(wc_small.mean(), _sem(wc_small))}"
                 f" vs {fmt(wc_large.mean(), _sem(wc_large))}; dense {fmt(small.mean['dense'], small.sem['dense'])} vs "
                 f"{fmt(large.mean['dense'], large.sem['dense'])} | {'yes' if held2 else 'no'} |")
    # 3. Hessian structure
    base = scal[scal_c.index(10.0)] if 10.0 in scal_c else scal[-1]
    ch, cm = base.extras["importance_corr"]["hessian"], base.extras["importance_corr"]["magnitude"]
    held3 = ch.mean() - _sem(ch) * 2 > cm.mean() + _sem(cm) * 2
    lines.append(f"| Gauss-Newton-weighted scores track importance, magnitudes do not | c = 10 (the theory's configuration) | "
                 f"Spearman with ablation importance: hessian {fmt(ch.mean(), _sem(ch))}, magnitude "
                 f"{fmt(cm.mean(), _sem(cm))} | {'yes' if held3 else 'no'} |")
    record("corr_hessian", ch.mean(), _sem(ch))
    record("corr_magnitude", cm.mean(), _sem(cm))
    # the theory's illustrative numbers (docs/theory.md Section 6)
    lines += ["", "docs/theory.md Section 6's illustrative numbers against ours (test loss / Var(y), keep 0.3):", "",
              "| init | criterion | docs/theory.md | measured |", "|---|---|---|---|"]
    for s0, numbers in THEORY_NUMBERS.items():
        if s0 not in inits:
            continue
        r = ini[inits.index(s0)]
        for c, v in numbers.items():
            lines.append(f"| {s0:g} | {c} | {v:g} | {fmt(r.mean[c][ki], r.sem[c][ki])} |")
            record(f"illustrative_{c}", r.mean[c][ki], r.sem[c][ki], s0)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = out / "network_claims.md"
    md.write_text("\n".join(lines) + "\n")
    return md, write_tidy_csv(out / "network_claims.csv", rows, CSV_COLUMNS)


def _sem(x):
    return mean_sem(x)[1]
