"""Named figures: theory (lines) against Monte Carlo (markers with standard errors).

Each figure function ``fn(out_dir, quick=False, n_jobs=None)`` computes its
curves, writes ``<name>.png``, ``<name>.pdf`` and a tidy ``<name>.csv`` (one
row per point and source, with the z-score of every simulated point that has a
theory value) and returns the paths. ``quick`` uses fewer points and trials.
:data:`FIGURES` is the registry used by the command line and the notebooks.
"""

from __future__ import annotations

import textwrap

import numpy as np

from asymptotics import CRITERIA, Spectrum, dense_risk, pruned_risk

from ..linear.engine import monte_carlo
from ..linear.sweep_kind import spectrum_text
from ..plotting import color, new_figure, plot_curves, plot_points, save_with_csv
from ..runtime.files import write_atomic, write_tidy_csv
from ..runtime.stats import mean_sem
from . import captions

#: The headline model: half of the features scaled up by 5 (variance 25) with weights 0.3 (importance
#: 25 * 0.09 = 2.25 against 1 for the unscaled half): small weights that matter.
HEADLINE_SPECTRUM = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3))
HEADLINE_NOISE = 0.25
HEADLINE_KAPPAS = (0.6, 2.0)

#: Columns of the linear figures' tidy CSVs. Those shared with sweep CSVs (``kappa``, ``ridge``, ``retrain``,
#: ``criterion``, ``keep``, ``source``, ``risk``, ``sem``, ``z``, ``trials``, ``p``, ``noise``, ``spectrum``) mean
#: the same there (see :mod:`simulations.linear.sweep_kind`); ``figure`` names the figure and ``x_name``/``x`` its
#: abscissa. ``z`` is ``(simulation - theory) / sem`` on simulation rows with a finite theory value.
CSV_COLUMNS = ("figure", "x_name", "x", "kappa", "ridge", "retrain", "criterion", "keep", "source", "risk", "sem",
               "z", "trials", "p", "noise", "spectrum")


def sizes(quick):
    """(p, trials) of the simulations: quick mode for tests, full mode for the committed figures."""
    return (200, 100) if quick else (400, 200)   # 100: a standard error from fewer trials is itself too noisy


class TidyRows(list):
    """Tidy rows with z-scores (``(simulation - theory) / sem``), accumulated by figures and notebooks.

    ``noise`` and ``spectrum`` (an :class:`asymptotics.Spectrum`) fill the columns of the same names on every row
    unless :meth:`add` is given others.
    """

    def __init__(self, rows=(), *, noise="", spectrum=None):
        super().__init__(rows)
        self.noise = noise
        self.spectrum = spectrum

    def add(self, figure, x_name, x, kappa, ridge, retrain, criterion, keep, theory, mean=None, sem=None, trials="",
            p="", theory_row=True, *, noise=None, spectrum=None):
        spectrum = self.spectrum if spectrum is None else spectrum
        common = dict(figure=figure, x_name=x_name, x=x, kappa=kappa, ridge=ridge, retrain=retrain or "none",
                      criterion=criterion, keep=keep, trials=trials, p=p,
                      noise=self.noise if noise is None else noise,
                      spectrum="" if spectrum is None else spectrum_text(spectrum))
        if theory is not None and theory_row:
            self.append(dict(common, source="theory", risk=theory, sem="", z=""))
        if mean is not None:
            z = (mean - theory) / sem if theory is not None and np.isfinite(theory) and sem > 0 else ""
            self.append(dict(common, source="simulation", risk=mean, sem=sem, z=z))

    def write(self, path):
        """Write the rows as the figure's tidy CSV; returns the path."""
        return write_tidy_csv(path, self, CSV_COLUMNS)

    def max_abs_z(self):
        zs = [abs(r["z"]) for r in self if r["z"] != ""]
        return max(zs) if zs else float("nan")


def finish(fig, rows, out_dir, stem, caption=None):
    """Save a linear figure and its tidy CSV (columns :data:`CSV_COLUMNS`); returns the paths.

    With ``caption`` (the sentence the figure computed from its own numbers, :mod:`.captions`) it is also
    written to ``<stem>.txt`` and that path is returned last.
    """
    paths = save_with_csv(fig, rows, out_dir, stem, CSV_COLUMNS)
    if caption is not None:
        paths += (write_caption(out_dir, stem, caption),)
    return paths


def write_caption(out_dir, stem, caption):
    """Write a figure's computed caption to ``<stem>.txt`` in ``out_dir`` (atomically); returns the path."""
    from pathlib import Path

    path = Path(out_dir) / f"{stem}.txt"
    write_atomic(path, caption.rstrip("\n") + "\n")
    return path


def legend_outside(fig, ax, fontsize=7):
    """One legend for the whole figure, to the right of the panels (so it covers no data), from ``ax``'s
    labelled artists."""
    handles, labels = ax.get_legend_handles_labels()
    return fig.legend(handles, labels, loc="outside right center", fontsize=fontsize, frameon=False)


#: said on the dense-risk figure: why no point is simulated next to kappa = 1
FINITE_P_NOTE = ("simulated kappas avoid 1: there the finite-p correction exceeds the standard error\n"
                 "(OLS: exact risk sigma^2 (1 + p/(n - p - 1)), dashed; min-norm: no finite-p formula)")


def ols_exact_curve(p, noise, kappa_max=3.0):
    """Exact finite-``p`` OLS risk for a Gaussian design, ``sigma^2 (1 + p/(n - p - 1))`` at ``n = kappa p > p + 1``
    (it does not depend on the spectrum or the signal): ``(kappas, risks)``."""
    n = np.arange(p + 2, int(kappa_max * p) + 1)
    return n / p, noise**2 * (1 + p / (n - p - 1))


def dense_risk_figure(out_dir, quick=False, n_jobs=None):
    """Figure 1: dense risk vs kappa (double descent), min-norm/OLS and ridge, theory vs simulation."""
    p, trials = sizes(quick)
    spec, noise = HEADLINE_SPECTRUM, HEADLINE_NOISE
    kappas = np.concatenate([np.linspace(0.15, 0.93, 60), np.linspace(1.07, 3.0, 60)])
    # simulated kappas stay away from the threshold, where the finite-p correction (e.g. OLS:
    # p/(n - p - 1) against 1/(kappa - 1)) exceeds the standard error of the full run
    sim_k = [0.3, 0.5, 0.7, 1.4, 2.0, 3.0] if quick else [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 1.5, 1.75, 2.0, 2.5, 3.0]
    fig, (ax,) = new_figure(1, width=5.0)
    rows = TidyRows(noise=noise, spectrum=spec)
    for ridge, name in ((0.0, "min-norm / OLS"), (0.1, "ridge 0.1")):
        theory = [dense_risk(spec, k, noise, ridge=ridge) for k in kappas]
        col = color("dense") if ridge == 0 else color("hessian")
        gap = np.searchsorted(kappas, 1.0)                # the two branches are drawn apart around kappa = 1
        ax.plot(np.insert(kappas, gap, np.nan), np.insert(theory, gap, np.nan), color=col, lw=1.8,
                label=f"{name} (theory)")
        mean, sem = [], []
        for i, k in enumerate(sim_k):
            res = monte_carlo(spec, p, k, noise, ridge=ridge, keep=[1.0], criteria=("magnitude",), trials=trials,
                              seed=1000 + i, n_jobs=n_jobs)
            mean.append(res.mean["dense"])
            sem.append(res.sem["dense"])
            rows.add("dense-risk", "kappa", k, k, ridge, None, "dense", 1.0, dense_risk(spec, k, noise, ridge=ridge),
                     res.mean["dense"], res.sem["dense"], trials, p)
        plot_points(ax, sim_k, mean, sem, col, f"{name} (simulation, p={p})")
    ax.plot(*ols_exact_curve(p, noise), color=color("dense"), ls="--", lw=1.0, label=f"OLS exact at p={p}")
    ax.text(0.02, 0.02, FINITE_P_NOTE, transform=ax.transAxes, fontsize=6)
    ax.set_yscale("log")
    ax.set_xlabel("kappa = n/p")
    ax.set_ylabel("test risk")
    ax.set_title("Dense risk: double descent")
    ax.axvline(1.0, color="k", lw=0.8, ls=":")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False, loc="best")
    return finish(fig, rows, out_dir, "dense_risk")


def pruned_risk_figure(out_dir, quick=False, n_jobs=None):
    """Figure 2: pruned risk vs kept fraction, four criteria, kappa < 1 and kappa > 1, theory vs simulation."""
    p, trials = sizes(quick)
    spec, noise = HEADLINE_SPECTRUM, HEADLINE_NOISE
    keep = np.linspace(0.02, 1.0, 99)
    sim_keep = [0.1, 0.3, 0.5, 0.7, 0.9] if quick else [round(0.1 * i, 1) for i in range(1, 11)]
    fig, axes = new_figure(len(HEADLINE_KAPPAS))
    rows = TidyRows(noise=noise, spectrum=spec)
    panels = []
    for j, (ax, kappa) in enumerate(zip(axes, HEADLINE_KAPPAS)):
        theory = {c: pruned_risk(spec, kappa, noise, keep=keep, criterion=c) for c in CRITERIA}
        res = monte_carlo(spec, p, kappa, noise, keep=sim_keep, criteria=CRITERIA, trials=trials, seed=2000 + j,
                          n_jobs=n_jobs)
        plot_curves(ax, keep, theory, sim_keep, {c: res.mean[c] for c in CRITERIA}, {c: res.sem[c] for c in CRITERIA},
                    legend=False)
        ax.axhline(dense_risk(spec, kappa, noise), color="k", ls=":", lw=1, label="dense (theory)")
        panels.append((ax, kappa))
        for c in CRITERIA:
            th = pruned_risk(spec, kappa, noise, keep=np.array(sim_keep), criterion=c)
            for a, r in zip(keep, theory[c]):
                rows.add("pruned-risk", "keep", a, kappa, 0.0, None, c, a, r)
            for a, t, m, s in zip(sim_keep, th, res.mean[c], res.sem[c]):
                rows.add("pruned-risk", "keep", a, kappa, 0.0, None, c, a, t, m, s, trials, p, theory_row=False)
    set_pruned_risk_titles(fig, panels, rows, p, trials)
    legend_outside(fig, axes[0])
    return finish(fig, rows, out_dir, "pruned_risk", captions.pruned_risk_caption(rows))


def set_pruned_risk_titles(fig, panels, rows, p, trials):
    """Titles of the pruned-risk figure computed from its rows: per panel the theory's worst and best
    criterion over the kept fraction (:func:`captions.pruned_risk_extremes`)."""
    extremes = captions.pruned_risk_extremes(rows)
    for ax, kappa in panels:
        worst, best = extremes[kappa]
        text = "\n".join(textwrap.wrap(f"worst: {worst}; best: {best}", 62))
        ax.set_title(f"kappa = n/p = {kappa:g} (theory)\n{text}", fontsize=6.5)
    fig.suptitle(f"Pruned min-norm / OLS risk, covariance-scaled two-atom model (p = {p}, {trials} trials)",
                 fontsize=10)


def covariance_scaling_figure(out_dir, quick=False, n_jobs=None):
    """Figure 3: scale a group of features by c (importance kept): magnitude vs hessian pruned risk vs c."""
    p, trials = sizes(quick)
    noise, keep = HEADLINE_NOISE, 0.5
    cs = np.geomspace(0.1, 10, 81)
    sim_c = [0.2, 1.0, 5.0] if quick else [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
    base = Spectrum([1.0, 1.0], [1.0, 0.7], [0.5, 0.5])
    fig, axes = new_figure(len(HEADLINE_KAPPAS))
    rows = TidyRows(noise=noise)
    for j, (ax, kappa) in enumerate(zip(axes, HEADLINE_KAPPAS)):
        for c in ("magnitude", "hessian"):
            th = [pruned_risk(base.scaled([1.0, s]), kappa, noise, keep=keep, criterion=c) for s in cs]
            ax.plot(cs, th, color=color(c), lw=1.8, label=f"{c} (theory)")
            mean, sem = [], []
            for i, s in enumerate(sim_c):
                res = monte_carlo(base.scaled([1.0, s]), p, kappa, noise, keep=[keep], criteria=(c,), trials=trials,
                                  seed=3000 + 100 * j + i, n_jobs=n_jobs)
                mean.append(res.mean[c][0])
                sem.append(res.sem[c][0])
                rows.add("covariance-scaling", "c", s, kappa, 0.0, None, c, keep,
                         pruned_risk(base.scaled([1.0, s]), kappa, noise, keep=keep, criterion=c), mean[-1], sem[-1], trials, p,
                         spectrum=base.scaled([1.0, s]))
            plot_points(ax, sim_c, mean, sem, color(c), f"{c} (simulation)")
        ax.set_xscale("log")
        ax.set_xlabel("scale c of the second group (importance unchanged)")
        ax.set_ylabel(f"test risk, keep {keep:g}")
        ax.set_title("\n".join(textwrap.wrap(captions.covariance_scaling_sentence(rows, kappa) + " (theory)", 60)),
                     fontsize=7)
        ax.grid(alpha=0.3)
        if j == 0:
            ax.legend(fontsize=7, frameon=False, loc="best")
    caption = "; ".join(captions.covariance_scaling_sentence(rows, kappa) for kappa in HEADLINE_KAPPAS)
    return finish(fig, rows, out_dir, "covariance_scaling", f"Test risk at keep {keep:g}, {caption}.")


def hessian_bias_figure(out_dir, quick=False, n_jobs=None):
    """Figure 4: the magnitude-minus-hessian gap vs kappa for min-norm and for ridge (paired simulation)."""
    p, trials = sizes(quick)
    if not quick:
        p = 1000   # the paired difference has a small standard error: p = 400 showed its O(1/p) bias (z = 3.5)
    spec, noise, keep = HEADLINE_SPECTRUM, HEADLINE_NOISE, 0.3
    kappas = np.concatenate([np.linspace(0.15, 0.95, 50), np.linspace(1.05, 3.0, 50)])
    # away from kappa = 1 (as in figure 1): at kappa = 1.3, p = 1000 the paired gap showed z = 3.07
    sim_k = [0.3, 0.6, 2.0] if quick else [0.2, 0.4, 0.6, 1.6, 2.0, 3.0]
    fig, (ax,) = new_figure(1, width=5.0)
    rows = TidyRows(noise=noise, spectrum=spec)
    for ridge, col in ((0.0, color("dense")), (0.1, color("hessian"))):
        gap = lambda k: pruned_risk(spec, k, noise, keep=keep, criterion="magnitude", ridge=ridge) - pruned_risk(
            spec, k, noise, keep=keep, criterion="hessian", ridge=ridge)
        ks = kappas if ridge > 0 else kappas[np.abs(kappas - 1) > 0.04]
        ax.plot(ks, [gap(k) for k in ks], color=col, lw=1.8, label=f"ridge {ridge:g} (theory)")
        mean, sem = [], []
        for i, k in enumerate(sim_k):
            res = monte_carlo(spec, p, k, noise, ridge=ridge, keep=[keep], criteria=("magnitude", "hessian"),
                              trials=trials, seed=4000 + i + (50 if ridge else 0), n_jobs=n_jobs)
            d = res.samples["magnitude"][:, 0] - res.samples["hessian"][:, 0]       # paired per trial
            m, s = mean_sem(d)
            mean.append(m)
            sem.append(s)
            rows.add("hessian-bias", "kappa", k, k, ridge, None, "magnitude-hessian", keep, gap(k), mean[-1], sem[-1],
                     trials, p)
        plot_points(ax, sim_k, mean, sem, col, f"ridge {ridge:g} (simulation)")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("kappa = n/p")
    ax.set_ylabel(f"risk(magnitude) - risk(hessian), keep {keep:g}")
    sentence = captions.hessian_bias_sentence(rows)
    ax.set_title("Hessian bias at keep 0.3 (theory at the simulated kappas):\n"
                 + "\n".join(textwrap.wrap(sentence, 70)), fontsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False, loc="best")
    return finish(fig, rows, out_dir, "hessian_bias", sentence + ".")


def sparse_double_descent_figure(out_dir, quick=False, n_jobs=None):
    """Figure 5: fixed n and number of kept weights, growing p; pruning vs training on the oracle support."""
    _, trials = sizes(quick)
    # n = 400: with n = 100 the finite-p bias at p = 60 reached 3.5 standard errors of 100 trials
    n, k, noise = 400, 80, HEADLINE_NOISE
    spec = HEADLINE_SPECTRUM
    ps = [160, 200, 240, 300, 340, 360, 440, 480, 520, 640, 800, 1040, 1360, 1600]
    sim_ps = [240, 640, 1600] if quick else [160, 240, 320, 520, 800, 1040, 1600]
    fig, (ax,) = new_figure(1, width=5.0)
    rows = TidyRows(noise=noise, spectrum=spec)
    curves = (("magnitude", None, "magnitude-pruned"), ("hessian", None, "hessian-pruned"),
              ("oracle", "fresh", "trained on the oracle support"))
    for c, retrain, label in curves:
        th = [pruned_risk(spec, n / pp, noise, keep=k / pp, criterion=c, retrain=retrain) for pp in ps]
        ax.plot(ps, th, color=color(c), lw=1.8, label=f"{label} (theory)")
        mean, sem = [], []
        for i, pp in enumerate(sim_ps):
            res = monte_carlo(spec, pp, n / pp, noise, keep=[k / pp], criteria=(c,), retrain="same" if retrain else "none",
                              trials=trials, seed=5000 + i, n_jobs=n_jobs)
            mean.append(res.mean[c][0])
            sem.append(res.sem[c][0])
            rows.add("sparse-double-descent", "p", pp, n / pp, 0.0, "same" if retrain else None, c, k / pp,
                     pruned_risk(spec, n / pp, noise, keep=k / pp, criterion=c, retrain=retrain), mean[-1], sem[-1], trials, pp)
        plot_points(ax, sim_ps, mean, sem, color(c), f"{label} (simulation)")
    ax.set_yscale("log")
    ax.axvline(n, color="k", lw=0.8, ls=":")
    ax.set_xlabel(f"number of features p (n = {n}, {k} kept)")
    ax.set_ylabel("test risk")
    ax.set_title("Sparse double descent")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False, loc="best")
    return finish(fig, rows, out_dir, "sparse_double_descent")


#: Figure 6's setting: the headline spectrum at ``kappa = 2`` (OLS), magnitude and hessian pruning.
RETRAIN_KAPPA = 2.0
RETRAIN_CRITERIA = ("magnitude", "hessian")
RETRAIN_MODES = ("none", "fresh", "same")


def retraining_keeps(quick):
    """The kept fractions simulated in figure 6."""
    return [0.1, 0.3, 0.6] if quick else [0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8]


def retraining_runs(quick, n_jobs=None):
    """Figure 6's Monte Carlo: ``{(criterion, retrain): MonteCarloResult}`` for every criterion of
    :data:`RETRAIN_CRITERIA` and refit of :data:`RETRAIN_MODES` (seed ``6000 + 10 j`` for criterion ``j``)."""
    p, trials = sizes(quick)
    return {(c, r): monte_carlo(HEADLINE_SPECTRUM, p, RETRAIN_KAPPA, HEADLINE_NOISE, keep=retraining_keeps(quick),
                                criteria=(c,), retrain=r, trials=trials, seed=6000 + 10 * j, n_jobs=n_jobs)
            for j, c in enumerate(RETRAIN_CRITERIA) for r in RETRAIN_MODES}


def plot_retraining(runs, out_dir):
    """Draw and write figure 6 from :func:`retraining_runs` (theory lines, simulated points; same-data refits
    are compared with the fresh-data formula, so their z-score measures the departure); returns the paths."""
    spec, noise, kappa = HEADLINE_SPECTRUM, HEADLINE_NOISE, RETRAIN_KAPPA
    keep = np.linspace(0.02, 1.0, 99)
    fig, axes = new_figure(2)
    rows = TidyRows(noise=noise, spectrum=spec)
    for ax, c in zip(axes, RETRAIN_CRITERIA):
        for retrain, ls in (("none", "-"), ("fresh", "--")):
            ax.plot(keep, pruned_risk(spec, kappa, noise, keep=keep, criterion=c, retrain=retrain), color=color(c), ls=ls,
                    lw=1.6, label=f"{'no refit' if retrain == 'none' else 'fresh-data refit'} (theory)")
        for retrain, fmt in zip(RETRAIN_MODES, ("o", "s", "^")):
            res = runs[(c, retrain)]
            sim_keep, trials, p = res.config["keep"], res.config["trials"], res.config["p"]
            plot_points(ax, sim_keep, res.mean[c], res.sem[c], "k" if retrain == "same" else color(c),
                        f"{'no' if retrain == 'none' else retrain} refit (simulation)", fmt)
            th = pruned_risk(spec, kappa, noise, keep=np.array(sim_keep), criterion=c,
                             retrain="fresh" if retrain == "same" else retrain)
            for a, t, m, s in zip(sim_keep, th, res.mean[c], res.sem[c]):
                rows.add("retraining", "keep", a, kappa, 0.0, retrain, c, a, t, m, s, trials, p)
        ax.set_xlabel("kept fraction")
        ax.set_ylabel("test risk")
        ax.set_title(f"{c} pruning, kappa = {kappa:g}\n"
                     + "\n".join(textwrap.wrap(captions.retraining_sentence(rows, c).split(": ", 1)[1], 60)),
                     fontsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5, frameon=False, loc="best")
    caption = "; ".join(captions.retraining_sentence(rows, c) for c in RETRAIN_CRITERIA)
    return finish(fig, rows, out_dir, "retraining", f"kappa = {kappa:g}, {caption}.")


def retraining_figure(out_dir, quick=False, n_jobs=None):
    """Figure 6: no refit, fresh-data refit and same-data refit; where same-data departs from the fresh formula."""
    return plot_retraining(retraining_runs(quick, n_jobs), out_dir)


def initialization_figure(out_dir, quick=False, n_jobs=None):
    """Figure 7: pruned min-norm risk vs initialization scale s0 (gradient descent from b0), four criteria."""
    p, trials = sizes(quick)
    spec, noise, kappa = HEADLINE_SPECTRUM, HEADLINE_NOISE, 0.6
    KEEP = {"none": 0.3, "fresh": 0.8}   # fresh: above kappa, so the refit is underdetermined and starts from b0
    s0s = np.geomspace(1e-2, 1e1, 61)
    sim_s0 = [0.1, 1.0, 3.0] if quick else [0.01, 0.1, 0.3, 1.0, 3.0, 10.0]
    fig, axes = new_figure(2)
    rows = TidyRows(noise=noise, spectrum=spec)
    for j, (ax, retrain) in enumerate(zip(axes, ("none", "fresh"))):
        keep = KEEP[retrain]
        theory = {c: [pruned_risk(spec, kappa, noise, keep=keep, criterion=c, retrain=retrain, init=s)
                      for s in s0s] for c in CRITERIA}
        dense = [dense_risk(spec, kappa, noise, init=s) for s in s0s]
        mean = {c: [] for c in CRITERIA}
        sem = {c: [] for c in CRITERIA}
        for i, s in enumerate(sim_s0):
            res = monte_carlo(spec, p, kappa, noise, keep=[keep], criteria=CRITERIA, retrain=retrain, trials=trials,
                              seed=7000 + 100 * j + i, n_jobs=n_jobs, init=s)
            for c in CRITERIA:
                th = pruned_risk(spec, kappa, noise, keep=keep, criterion=c, retrain=retrain, init=s)
                mean[c].append(res.mean[c][0])
                sem[c].append(res.sem[c][0])
                rows.add("initialization", "init", s, kappa, 0.0, retrain, c, keep, th, mean[c][-1], sem[c][-1],
                         trials, p)
        plot_curves(ax, s0s, theory, sim_s0, mean, sem, xlabel="initialization scale s0", logy=True,
                    title=f"{'no refit' if retrain == 'none' else 'fresh-data refit'}, keep {keep:g}",
                    legend=False)
        ax.plot(s0s, dense, color=color("dense"), ls=":", lw=1.2, label="dense (theory)")
        ax.set_xscale("log")
    legend_outside(fig, axes[0])
    fig.suptitle(f"Min-norm from a random start b0 ~ N(0, s0^2/p I), kappa = {kappa:g} (p = {p}, {trials} trials)",
                 fontsize=10)
    return finish(fig, rows, out_dir, "initialization")
