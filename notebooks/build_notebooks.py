"""Write the figure notebooks (run from the repository root).

    python notebooks/build_notebooks.py            # writes notebooks/<name>.ipynb without outputs
    python notebooks/build_notebooks.py --execute  # and executes them in full mode (committed outputs)
    python notebooks/build_notebooks.py --keep-outputs [NAME ...]   # markdown changes only: keeps the outputs

Each notebook shows its computation with the public API (the ``Spectrum``, the
``pruned_risk`` / ``dense_risk`` theory calls, ``monte_carlo`` and the overlay
plot), uses the same seeds and sizes as ``python -m simulations figure NAME``
(so both give the same numbers), says what the figure shows and why, and ends
with a cell that invites a change. ``PRUNING_MECHANICS_QUICK=1`` runs it in
quick mode (the tests do); ``PRUNING_MECHANICS_OUT`` is where PNG and CSV go.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent

SETUP = """\
import os
from pathlib import Path

import numpy as np
from IPython.display import Image, display

from asymptotics import CRITERIA, Spectrum, dense_risk, pruned_risk
from simulations import monte_carlo
from simulations.figures import captions                       # titles computed from the figure's own numbers
from simulations.figures.linear import HEADLINE_NOISE, HEADLINE_SPECTRUM, TidyRows, legend_outside, sizes
from simulations.plotting import color, new_figure, plot_curves, plot_points, save_figure

QUICK = os.environ.get("PRUNING_MECHANICS_QUICK") == "1"      # the tests run every notebook in quick mode
OUT = Path(os.environ.get("PRUNING_MECHANICS_OUT", "output"))
p, trials = sizes(QUICK)                                       # (200, 100) quick, (400, 200) full
rows = TidyRows()                                               # tidy CSV rows with z-scores
print(f"p = {p}, trials = {trials}, output in {OUT}")"""

SHOW = """\
png, pdf = save_figure(fig, OUT / "{stem}")
csv = rows.write(OUT / "{stem}.csv")
display(Image(filename=str(png)))
zs = [r["z"] for r in rows if r["z"] != ""]
print(f"{{len(zs)}} simulated points with a theory value; max |z| = {{max(map(abs, zs)):.2f}}")"""


def md(text):
    return nbformat.v4.new_markdown_cell(text.strip())


def code(text):
    return nbformat.v4.new_code_cell(text.strip())


NOTEBOOKS = {}


def notebook(stem):
    def register(fn):
        NOTEBOOKS[stem] = fn
        return fn
    return register


@notebook("dense_risk")
def _dense():
    return [
        md("""
# Figure 1 — Dense risk vs kappa: double descent

The unpruned estimator first. Minimum-norm interpolation (`ridge = 0`) has a risk that blows up at the
interpolation threshold `kappa = n/p = 1` (docs/theory.md Section 2: `1 - d2 -> 0` in `rho^2 = (sigma^2 + B0)/(1 - d2)`),
and a small ridge removes the peak. The model is the headline two-atom spectrum: half of the features have
variance 25 and weight 0.3 (importance `25 * 0.09 = 2.25`), the other half variance 1 and weight 1.
"""),
        code(SETUP),
        code("""
from simulations.figures.linear import FINITE_P_NOTE, ols_exact_curve

spec, noise = HEADLINE_SPECTRUM, HEADLINE_NOISE
rows.noise, rows.spectrum = noise, spec                # the noise and spectrum columns of the CSV
print(spec)
kappas = np.concatenate([np.linspace(0.15, 0.93, 60), np.linspace(1.07, 3.0, 60)])
theory = {ridge: [dense_risk(spec, k, noise, ridge=ridge) for k in kappas] for ridge in (0.0, 0.1)}
print("theory at kappa = 0.5, 2:", [round(dense_risk(spec, k, noise), 4) for k in (0.5, 2.0)])"""),
        md("""
The simulation draws `trials` problems at finite `p` (`n = round(kappa p)`), fits min-norm/OLS or ridge
exactly and records the exact population risk. The simulated kappas stay away from 1, where the finite-`p`
correction (for OLS: `p/(n - p - 1)` against `1/(kappa - 1)`) exceeds the standard error.
"""),
        code("""
sim_k = [0.3, 0.5, 0.7, 1.4, 2.0, 3.0] if QUICK else [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 1.5, 1.75, 2.0, 2.5, 3.0]
fig, (ax,) = new_figure(1, width=5.0)
for ridge, name in ((0.0, "min-norm / OLS"), (0.1, "ridge 0.1")):
    col = color("dense") if ridge == 0 else color("hessian")
    gap = np.searchsorted(kappas, 1.0)                    # the two branches are drawn apart around kappa = 1
    ax.plot(np.insert(kappas, gap, np.nan), np.insert(theory[ridge], gap, np.nan), color=col, lw=1.8,
            label=f"{name} (theory)")
    mean, sem = [], []
    for i, k in enumerate(sim_k):
        res = monte_carlo(spec, p, k, noise, ridge=ridge, keep=[1.0], criteria=("magnitude",), trials=trials,
                          seed=1000 + i, n_jobs=-1)
        mean.append(res.mean["dense"])
        sem.append(res.sem["dense"])
        rows.add("dense-risk", "kappa", k, k, ridge, None, "dense", 1.0, dense_risk(spec, k, noise, ridge=ridge),
                 mean[-1], sem[-1], trials, p)
    plot_points(ax, sim_k, mean, sem, col, f"{name} (simulation, p={p})")
ax.plot(*ols_exact_curve(p, noise), color=color("dense"), ls="--", lw=1.0, label=f"OLS exact at p={p}")
ax.text(0.02, 0.02, FINITE_P_NOTE, transform=ax.transAxes, fontsize=6)
ax.set_yscale("log"); ax.set_xlabel("kappa = n/p"); ax.set_ylabel("test risk"); ax.axvline(1.0, color="k", lw=0.8, ls=":")
ax.set_title("Dense risk: double descent"); ax.grid(alpha=0.3); ax.legend(fontsize=7, frameon=False)"""),
        code(SHOW.format(stem="dense_risk")),
        md("""
**Your turn.** Change the spectrum (e.g. `Spectrum.power_law(...)` or `Spectrum.isotropic()`) or the noise
and redraw the theory curve; the peak at `kappa = 1` stays for `ridge = 0` whatever the spectrum.
"""),
        code("""
other = Spectrum.isotropic()
print([round(dense_risk(other, k, noise), 3) for k in (0.5, 0.9, 1.1, 2.0)])"""),
    ]


@notebook("pruned_risk")
def _pruned():
    return [
        md("""
# Figure 2 — Pruned risk vs kept fraction (the headline)

Half of the features are scaled up by 5 (variance 25) and carry weights 0.3, the other half weights 1.
Importance (the risk increase of zeroing a weight, docs/theory.md Section 1) is `lam * b^2`: 2.25 for the
small, scaled weights against 1 for the large ones. Magnitude pruning keeps the large weights and drops the
important small ones first; hessian (OBD, covariance-scaled) pruning ranks by `sqrt(lam) |b_hat|`, which puts
the scaled weights first. Whether that ranking gives the lower risk depends on the fit: four criteria, min-norm
(`kappa = 0.6`) and OLS (`kappa = 2`), no retraining (Section 3). The panel titles and the printed caption are
computed from the curves (`simulations.figures.captions`), not written by hand.
"""),
        code(SETUP),
        code("""
spec, noise = HEADLINE_SPECTRUM, HEADLINE_NOISE
rows.noise, rows.spectrum = noise, spec                # the noise and spectrum columns of the CSV
print(spec)
print("importance per atom (lam * b^2):", spec.variances * spec.signal**2)
keep = np.linspace(0.02, 1.0, 99)
sim_keep = [0.1, 0.3, 0.5, 0.7, 0.9] if QUICK else [round(0.1 * i, 1) for i in range(1, 11)]
kappas = (0.6, 2.0)
theory = {kappa: {c: pruned_risk(spec, kappa, noise, keep=keep, criterion=c) for c in CRITERIA} for kappa in kappas}
for kappa in kappas:
    print(f"kappa {kappa}: dense {dense_risk(spec, kappa, noise):.3f};",
          "keep 0.3:", {c: round(float(pruned_risk(spec, kappa, noise, keep=0.3, criterion=c)), 3) for c in CRITERIA})"""),
        md("""
The Monte Carlo draws the signal and the design afresh in every trial, fits, scores, prunes at every kept
fraction and records the exact population risk (`simulations.monte_carlo`; each criterion has its own random
stream, so its numbers do not depend on which other criteria run beside it).
"""),
        code("""
from simulations.figures.linear import set_pruned_risk_titles

fig, axes = new_figure(len(kappas))
for j, (ax, kappa) in enumerate(zip(axes, kappas)):
    res = monte_carlo(spec, p, kappa, noise, keep=sim_keep, criteria=CRITERIA, trials=trials, seed=2000 + j, n_jobs=-1)
    plot_curves(ax, keep, theory[kappa], sim_keep, {c: res.mean[c] for c in CRITERIA}, {c: res.sem[c] for c in CRITERIA},
                legend=False)
    ax.axhline(dense_risk(spec, kappa, noise), color="k", ls=":", lw=1, label="dense (theory)")
    for c in CRITERIA:
        th = pruned_risk(spec, kappa, noise, keep=np.array(sim_keep), criterion=c)
        for a, r in zip(keep, theory[kappa][c]):
            rows.add("pruned-risk", "keep", a, kappa, 0.0, None, c, a, r)
        for a, t, m, s in zip(sim_keep, th, res.mean[c], res.sem[c]):
            rows.add("pruned-risk", "keep", a, kappa, 0.0, None, c, a, t, m, s, trials, p, theory_row=False)
set_pruned_risk_titles(fig, list(zip(axes, kappas)), rows, p, trials)   # worst / best criterion, from the rows
legend_outside(fig, axes[0])
print(captions.pruned_risk_caption(rows))"""),
        code(SHOW.format(stem="pruned_risk")),
        md("""
At `kappa = 2` (OLS) magnitude is the worst criterion at every kept fraction: at keep 0.3 the limit gives
magnitude 1.40 against hessian 1.05 and oracle 1.03 (random 1.22). At `kappa = 0.6` (min-norm) the picture
depends on the kept fraction: at keep 0.3 hessian is still better than magnitude (1.59 against 1.71), but
below keep 0.17 hessian is the *worst* of the four (keep 0.1: magnitude 1.75, hessian 1.84, random 1.65,
oracle 1.65), in theory and in the simulation. The min-norm fit shrinks low-variance directions more
(factor `lam/(lam + tau)`), so both criteria rank a different estimate than OLS does ("Hessian bias",
figure 4).

**Your turn.** Swap the roles (scaled features carrying the large weights) or try `signal_dist="gaussian"`:
"""),
        code("""
other = Spectrum([1.0, 25.0], [0.3, 1.0], [0.5, 0.5], signal_dist="gaussian")
print({c: round(float(pruned_risk(other, 2.0, noise, keep=0.3, criterion=c)), 3) for c in CRITERIA})"""),
    ]


@notebook("covariance_scaling")
def _cov():
    return [
        md("""
# Figure 3 — Covariance scaling: same importance, different magnitudes

Scale the second group of features by `c` (`x -> c x`, variance `c^2`) and its true weights by `1/c`:
the problem is the same (importance unchanged), but magnitudes shrink like `1/c`. Hessian-pruned OLS is
exactly invariant (Section 1), magnitude-pruned OLS is not; for min-norm (`kappa < 1`) neither is, because
min-norm is not equivariant. Keep 0.5.
"""),
        code(SETUP),
        code("""
noise, keep = HEADLINE_NOISE, 0.5
rows.noise = noise                                       # the spectrum column is set per row
base = Spectrum([1.0, 1.0], [1.0, 0.7], [0.5, 0.5])
cs = np.geomspace(0.1, 10, 81)
sim_c = [0.2, 1.0, 5.0] if QUICK else [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
kappas = (0.6, 2.0)
for kappa in kappas:
    print(f"kappa {kappa}:", {c: [round(float(pruned_risk(base.scaled([1.0, s]), kappa, noise, keep=keep, criterion=c)), 3)
                                  for s in (0.1, 1.0, 10.0)] for c in ("magnitude", "hessian")}, "(c = 0.1, 1, 10)")"""),
        code("""
fig, axes = new_figure(len(kappas))
for j, (ax, kappa) in enumerate(zip(axes, kappas)):
    for c in ("magnitude", "hessian"):
        ax.plot(cs, [pruned_risk(base.scaled([1.0, s]), kappa, noise, keep=keep, criterion=c) for s in cs],
                color=color(c), lw=1.8, label=f"{c} (theory)")
        mean, sem = [], []
        for i, s in enumerate(sim_c):
            res = monte_carlo(base.scaled([1.0, s]), p, kappa, noise, keep=[keep], criteria=(c,), trials=trials,
                              seed=3000 + 100 * j + i, n_jobs=-1)
            mean.append(res.mean[c][0]); sem.append(res.sem[c][0])
            rows.add("covariance-scaling", "c", s, kappa, 0.0, None, c, keep,
                     pruned_risk(base.scaled([1.0, s]), kappa, noise, keep=keep, criterion=c), mean[-1], sem[-1], trials, p,
                     spectrum=base.scaled([1.0, s]))
        plot_points(ax, sim_c, mean, sem, color(c), f"{c} (simulation)")
    ax.set_xscale("log"); ax.set_xlabel("scale c of the second group (importance unchanged)")
    ax.set_ylabel(f"test risk, keep {keep:g}"); ax.grid(alpha=0.3)
    ax.set_title(captions.covariance_scaling_sentence(rows, kappa) + " (theory)", fontsize=6, wrap=True)
    if j == 0:
        ax.legend(fontsize=7, frameon=False, loc="best")
print("; ".join(captions.covariance_scaling_sentence(rows, kappa) for kappa in kappas))"""),
        code(SHOW.format(stem="covariance_scaling")),
        md("""
At `kappa = 2` the hessian curve is flat (0.409 for every `c`), while magnitude goes from 0.59 at `c = 0.1`
through 0.409 at `c = 1` to 0.339 at `c = 10`: the scaling alone changes which weights magnitude prunes. Here
the scaled group carries the less important weights (0.7, importance 0.49 against 1), so scaled up (`c > 1`)
its weights look small, are pruned first and magnitude ends up *better* than hessian; scaled down they look
large and magnitude keeps them at a cost. At `kappa = 0.6` both criteria change with `c`, since min-norm itself
depends on the scaling (1.17 and 1.21 at `c = 0.1`, 0.532 at `c = 1`, 1.78 and 2.09 at `c = 10`, magnitude
and hessian).

**Your turn.** Scale the *first* group instead, or compare with `retrain="fresh"`:
"""),
        code("""
print([round(float(pruned_risk(base.scaled([s, 1.0]), 2.0, noise, keep=keep, criterion="magnitude", retrain="fresh")), 3)
       for s in (0.1, 1.0, 10.0)])"""),
    ]


@notebook("hessian_bias")
def _bias():
    return [
        md("""
# Figure 4 — Hessian bias: how much magnitude pruning loses, vs kappa

The gap `risk(magnitude) - risk(hessian)` at keep 0.3 in the headline model. Min-norm and ridge shrink the
coordinate law by `lam/(lam + tau)` (Section 2): low-variance directions shrink more, which moves magnitudes
toward the covariance-scaled (hessian) order. The gap is therefore small when `tau` is large (few samples)
and large with many samples. The simulation is paired: both criteria prune the same fit in every trial.
"""),
        code(SETUP),
        code("""
if not QUICK:
    p = 1000   # the paired difference has a small standard error: p = 400 showed its O(1/p) bias (z = 3.5)
spec, noise, keep = HEADLINE_SPECTRUM, HEADLINE_NOISE, 0.3
rows.noise, rows.spectrum = noise, spec                # the noise and spectrum columns of the CSV
kappas = np.concatenate([np.linspace(0.15, 0.95, 50), np.linspace(1.05, 3.0, 50)])
sim_k = [0.3, 0.6, 2.0] if QUICK else [0.2, 0.4, 0.6, 1.6, 2.0, 3.0]

def gap(kappa, ridge):
    return (pruned_risk(spec, kappa, noise, keep=keep, criterion="magnitude", ridge=ridge)
            - pruned_risk(spec, kappa, noise, keep=keep, criterion="hessian", ridge=ridge))

print({k: round(float(gap(k, 0.0)), 4) for k in (0.3, 0.6, 2.0)})"""),
        code("""
fig, (ax,) = new_figure(1, width=5.0)
for ridge, col in ((0.0, color("dense")), (0.1, color("hessian"))):
    ks = kappas if ridge > 0 else kappas[np.abs(kappas - 1) > 0.04]
    ax.plot(ks, [gap(k, ridge) for k in ks], color=col, lw=1.8, label=f"ridge {ridge:g} (theory)")
    mean, sem = [], []
    for i, k in enumerate(sim_k):
        res = monte_carlo(spec, p, k, noise, ridge=ridge, keep=[keep], criteria=("magnitude", "hessian"),
                          trials=trials, seed=4000 + i + (50 if ridge else 0), n_jobs=-1)
        d = res.samples["magnitude"][:, 0] - res.samples["hessian"][:, 0]      # paired per trial
        mean.append(d.mean()); sem.append(d.std(ddof=1) / np.sqrt(d.size))
        rows.add("hessian-bias", "kappa", k, k, ridge, None, "magnitude-hessian", keep, gap(k, ridge), mean[-1],
                 sem[-1], trials, p)
    plot_points(ax, sim_k, mean, sem, col, f"ridge {ridge:g} (simulation)")
ax.axhline(0, color="k", lw=0.8); ax.set_xlabel("kappa = n/p"); ax.set_ylabel(f"risk(magnitude) - risk(hessian), keep {keep:g}")
ax.set_title("Hessian bias at keep 0.3 (theory at the simulated kappas):\\n" + captions.hessian_bias_sentence(rows),
             fontsize=6); ax.grid(alpha=0.3); ax.legend(fontsize=7, frameon=False, loc="best")
print(captions.hessian_bias_sentence(rows))"""),
        code(SHOW.format(stem="hessian_bias")),
        md("""
The limit gives a gap of 0.003 at `kappa = 0.3`, 0.12 at `kappa = 0.6` and 0.35 at `kappa = 2`: with few
samples the implicit bias of min-norm almost fully corrects magnitude pruning; with many it does not. The gap
is not monotone in between: for min-norm it peaks near `kappa = 0.75` (0.22) and dips to about 0.08 on both
sides of the interpolation threshold, then rises again with OLS (0.22 at `kappa = 1.2`).

**Your turn.** A stronger ridge (larger `tau`) corrects more; try `ridge=1.0`:
"""),
        code("""print({k: round(float(gap(k, 1.0)), 4) for k in (0.3, 0.6, 2.0)})"""),
    ]


@notebook("sparse_double_descent")
def _sdd():
    return [
        md("""
# Figure 5 — Sparse double descent

Fix `n = 400` samples and `k = 80` kept weights and grow the number of features `p`. The dense fit goes
through the interpolation threshold at `p = n`; pruning it to `k` weights inherits the peak, while training on
the oracle support (refit with `k < n`) does not. Theory: `pruned_risk` with `kappa = n/p` and keep `k/p`.
"""),
        code(SETUP),
        code("""
n, k, noise, spec = 400, 80, HEADLINE_NOISE, HEADLINE_SPECTRUM
rows.noise, rows.spectrum = noise, spec                # the noise and spectrum columns of the CSV
ps = [160, 200, 240, 300, 340, 360, 440, 480, 520, 640, 800, 1040, 1360, 1600]
sim_ps = [240, 640, 1600] if QUICK else [160, 240, 320, 520, 800, 1040, 1600]
curves = (("magnitude", "none", "magnitude-pruned"), ("hessian", "none", "hessian-pruned"),
          ("oracle", "fresh", "trained on the oracle support"))
# n = 400: with n = 100 the finite-p bias at p = 60 reached 3.5 standard errors of 100 trials"""),
        code("""
fig, (ax,) = new_figure(1, width=5.0)
for c, retrain, label in curves:
    th = [pruned_risk(spec, n / pp, noise, keep=k / pp, criterion=c, retrain=retrain) for pp in ps]
    ax.plot(ps, th, color=color(c), lw=1.8, label=f"{label} (theory)")
    mean, sem = [], []
    for i, pp in enumerate(sim_ps):
        sim_retrain = "same" if retrain == "fresh" else "none"    # the oracle support does not depend on the data
        res = monte_carlo(spec, pp, n / pp, noise, keep=[k / pp], criteria=(c,), retrain=sim_retrain, trials=trials,
                          seed=5000 + i, n_jobs=-1)
        mean.append(res.mean[c][0]); sem.append(res.sem[c][0])
        rows.add("sparse-double-descent", "p", pp, n / pp, 0.0, sim_retrain, c, k / pp,
                 pruned_risk(spec, n / pp, noise, keep=k / pp, criterion=c, retrain=retrain), mean[-1], sem[-1], trials, pp)
    plot_points(ax, sim_ps, mean, sem, color(c), f"{label} (simulation)")
ax.set_yscale("log"); ax.axvline(n, color="k", lw=0.8, ls=":"); ax.set_xlabel(f"number of features p (n = {n}, {k} kept)")
ax.set_ylabel("test risk"); ax.set_title("Sparse double descent"); ax.grid(alpha=0.3); ax.legend(fontsize=7, frameon=False)"""),
        code(SHOW.format(stem="sparse_double_descent")),
        md("""
**Your turn.** Keep more weights (`k = 200`) and watch the oracle-support curve develop its own peak as `k`
approaches `n`:
"""),
        code("""print([round(float(pruned_risk(spec, n / pp, noise, keep=200 / pp, criterion="oracle", retrain="fresh")), 3) for pp in (400, 800, 1600)])"""),
    ]


@notebook("retraining")
def _retrain():
    return [
        md("""
# Figure 6 — What retraining buys: no refit, fresh-data refit, same-data refit

After pruning, refit the estimator on the kept support. With fresh data the dropped signal acts as extra
noise and the risk has a formula (docs/theory.md Section 4); refitting on the same data has none known, so its
points are compared with the fresh-data formula and their z-score measures the departure. OLS (`kappa = 2`).
"""),
        code(SETUP),
        code("""
spec, noise, kappa = HEADLINE_SPECTRUM, HEADLINE_NOISE, 2.0
rows.noise, rows.spectrum = noise, spec                # the noise and spectrum columns of the CSV
keep = np.linspace(0.02, 1.0, 99)
sim_keep = [0.1, 0.3, 0.6] if QUICK else [0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8]
for c in ("magnitude", "hessian"):
    print(c, {r: round(float(pruned_risk(spec, kappa, noise, keep=0.3, criterion=c, retrain=r)), 3) for r in ("none", "fresh")})"""),
        code("""
fig, axes = new_figure(2)
for j, (ax, c) in enumerate(zip(axes, ("magnitude", "hessian"))):
    for retrain, ls in (("none", "-"), ("fresh", "--")):
        ax.plot(keep, pruned_risk(spec, kappa, noise, keep=keep, criterion=c, retrain=retrain), color=color(c), ls=ls,
                lw=1.6, label=f"{'no refit' if retrain == 'none' else 'fresh-data refit'} (theory)")
    for retrain, fmt in (("none", "o"), ("fresh", "s"), ("same", "^")):
        res = monte_carlo(spec, p, kappa, noise, keep=sim_keep, criteria=(c,), retrain=retrain, trials=trials,
                          seed=6000 + 10 * j, n_jobs=-1)
        plot_points(ax, sim_keep, res.mean[c], res.sem[c], "k" if retrain == "same" else color(c),
                    f"{retrain} refit (simulation)", fmt)
        th = pruned_risk(spec, kappa, noise, keep=np.array(sim_keep), criterion=c,
                         retrain="fresh" if retrain == "same" else retrain)
        for a, t, m, s in zip(sim_keep, th, res.mean[c], res.sem[c]):
            rows.add("retraining", "keep", a, kappa, 0.0, retrain, c, a, t, m, s, trials, p)
    ax.set_xlabel("kept fraction"); ax.set_ylabel("test risk")
    ax.set_title(f"{c} pruning, kappa = {kappa:g}\\n" + captions.retraining_sentence(rows, c).split(": ", 1)[1],
                 fontsize=6, wrap=True)
    ax.grid(alpha=0.3); ax.legend(fontsize=6.5, frameon=False, loc="best")
for c in ("magnitude", "hessian"):
    print(captions.retraining_sentence(rows, c))"""),
        code(SHOW.format(stem="retraining")),
        md("""
Here refitting does not recover what pruning lost: at `kappa = 2` the fresh-data refit has a *higher* risk than
no refit at every kept fraction, in theory and in the simulation (magnitude at keep 0.3: 1.63 against 1.40;
hessian 1.22 against 1.05): the dropped weights' signal is extra noise for the refit (Section 4), while the
unpruned OLS coordinates were already unbiased. The printed lines count, per criterion, where each refit lowers
the risk. The same-data refit has no formula; its points are compared with the fresh-data formula, so the z
column of the CSV measures that departure, not an error.

**Your turn.** Compare the refit gain for a min-norm fit (`kappa = 0.6`):
"""),
        code("""print({r: round(float(pruned_risk(spec, 0.6, noise, keep=0.3, criterion="hessian", retrain=r)), 3) for r in ("none", "fresh")})"""),
    ]


@notebook("initialization")
def _init():
    return [
        md("""
# Figure 7 — Initialization scale and magnitude pruning in the linear limit

Gradient descent on an underdetermined least-squares problem (`kappa = 0.6`, `ridge = 0`) started from
`b0 ~ N(0, s0^2/p I)` converges to the interpolator closest to `b0`: `b_hat = b0 + X^+ (y - X b0)`
(docs/theory.md Section 8). The initialization survives in proportion `tau/(lam + tau)`, most in the low-variance
coordinates, so a large `s0` inflates exactly the weights that matter least and magnitude scores end up
ranking the initialization. Left: no refit, keep 0.3; right: refit on the support with fresh data, keep 0.8 (above
`kappa`, so the refit is underdetermined and starts from `b0` restricted to the support; below `kappa` the refit
is OLS and forgets `b0`).
"""),
        code(SETUP),
        code("""
spec, noise, kappa = HEADLINE_SPECTRUM, HEADLINE_NOISE, 0.6
rows.noise, rows.spectrum = noise, spec                # the noise and spectrum columns of the CSV
KEEP = {"none": 0.3, "fresh": 0.8}   # fresh: above kappa, so the refit is underdetermined and starts from b0
s0s = np.geomspace(1e-2, 1e1, 61)
sim_s0 = [0.1, 1.0, 3.0] if QUICK else [0.01, 0.1, 0.3, 1.0, 3.0, 10.0]
for s in (0.1, 1.0, 10.0):
    print(f"s0 = {s:5}: dense {dense_risk(spec, kappa, noise, init=s):8.3f}",
          {c: round(float(pruned_risk(spec, kappa, noise, keep=KEEP["none"], criterion=c, init=s)), 3) for c in CRITERIA})"""),
        code("""
fig, axes = new_figure(2)
for j, (ax, retrain) in enumerate(zip(axes, ("none", "fresh"))):
    keep = KEEP[retrain]
    theory = {c: [pruned_risk(spec, kappa, noise, keep=keep, criterion=c, retrain=retrain, init=s) for s in s0s]
              for c in CRITERIA}
    mean, sem = {c: [] for c in CRITERIA}, {c: [] for c in CRITERIA}
    for i, s in enumerate(sim_s0):
        res = monte_carlo(spec, p, kappa, noise, keep=[keep], criteria=CRITERIA, retrain=retrain, trials=trials,
                          seed=7000 + 100 * j + i, n_jobs=-1, init=s)
        for c in CRITERIA:
            mean[c].append(res.mean[c][0]); sem[c].append(res.sem[c][0])
            rows.add("initialization", "init", s, kappa, 0.0, retrain, c, keep,
                     pruned_risk(spec, kappa, noise, keep=keep, criterion=c, retrain=retrain, init=s),
                     mean[c][-1], sem[c][-1], trials, p)
    plot_curves(ax, s0s, theory, sim_s0, mean, sem, xlabel="initialization scale s0", logy=True,
                title=f"{'no refit' if retrain == 'none' else 'fresh-data refit'}, keep {keep:g}", legend=False)
    ax.plot(s0s, [dense_risk(spec, kappa, noise, init=s) for s in s0s], color=color("dense"), ls=":", lw=1.2,
            label="dense (theory)")
    ax.set_xscale("log")
legend_outside(fig, axes[0])                 # outside the panels, the dense line included"""),
        code(SHOW.format(stem="initialization")),
        md("""
**Your turn.** With `kappa > 1` or `ridge > 0` the objective is strictly convex and the initialization is
forgotten: the curves are flat (bitwise equal to `init=0`).
"""),
        code("""print([float(pruned_risk(spec, 2.0, noise, keep=0.3, criterion="magnitude", init=s)) for s in (0.0, 1.0, 10.0)])"""),
    ]



FIG_SETUP = """\
import os
from pathlib import Path

from IPython.display import Image, Markdown, display

QUICK = os.environ.get("PRUNING_MECHANICS_QUICK") == "1"      # the tests run every notebook in quick mode
OUT = Path(os.environ.get("PRUNING_MECHANICS_OUT", "output"))"""

FIG_SHOW = """\
paths = {call}
for path in paths:
    path = Path(path)
    if path.suffix == ".png":
        display(Image(filename=str(path)))
    elif path.suffix == ".md":
        display(Markdown(path.read_text()))
    elif path.suffix == ".txt":
        print("caption (computed from the figure's numbers):", path.read_text())
print("\\n".join(map(str, paths)))"""


def _figure_notebook(title, intro, api, call, outro, your_turn):
    """A notebook that shows the public API call behind a figure, then runs the figure exactly as the CLI does."""
    return [md(f"# {title}\n\n{intro.strip()}"), code(FIG_SETUP), code(api), code(FIG_SHOW.format(call=call)),
            md(outro), code(your_turn)]


NET_SETUP = """\
import numpy as np
from simulations import network_experiment
from simulations.figures import captions
from simulations.figures.networks import KEEP, base_config

cfg = base_config(QUICK)       # docs/theory.md Section 6's illustrative configuration (smaller in quick mode)
print({k: v for k, v in cfg.items() if k != "criteria"})
print("criteria:", cfg["criteria"])"""

NET_SHOW = """\
for path in paths:
    path = Path(path)
    if path.suffix == ".png":
        display(Image(filename=str(path)))
    elif path.suffix == ".md":
        display(Markdown(path.read_text()))
    elif path.suffix == ".txt":
        print("caption (computed from the figure's numbers):", path.read_text())
print("\\n".join(map(str, paths)))"""


def _network_notebook(title, intro, compute_md, compute, draw, outro, your_turn):
    """A network notebook: the public calls behind the figure (``network_experiment`` per point, a few printed
    numbers), then the figure drawn from those results by the same function the command line uses."""
    return [md(f"# {title}\n\n{intro.strip()}"), code(FIG_SETUP), code(NET_SETUP), md(compute_md), code(compute),
            code(draw + "\n" + NET_SHOW), md(outro), code(your_turn)]


SCALING_COMPUTE = """\
from simulations.figures.networks import SCALING_CS, scaled_groups

cs = SCALING_CS[QUICK]
results = [network_experiment(**dict(cfg, groups=scaled_groups(c), n_jobs=-1)) for c in cs]   # one run per scale c
ki = results[0].keep.index(KEEP)
for c, r in zip(cs, results):
    w, imp = r.extras["group_abs_weight"][:, 0].mean(), r.extras["group_importance"][:, 0].mean()
    print(f"c = {c:4g}: scaled group mean |W| {w:.4f}, mean importance {imp:.3g}; keep {KEEP}: "
          + ", ".join(f"{k} {r.mean[k][ki]:.3f}" for k in ("magnitude", "hessian", "random")))"""


INIT_COMPUTE = """\
from simulations.figures.networks import INITS

inits = INITS[QUICK]
init_results = [network_experiment(**dict(cfg, init=s, n_jobs=-1)) for s in inits]     # one run per init scale
ki = init_results[0].keep.index(KEEP)
for s, r in zip(inits, init_results):
    print(f"init {s:5g}: movement ||W - W0|| / ||W0|| {r.extras['weight_change'].mean():8.3g}, dense {r.mean['dense']:.3g}; "
          f"keep {KEEP}: " + ", ".join(f"{k} {r.mean[k][ki]:.3g}" for k in ("magnitude", "hessian", "random")))"""


@notebook("network_scaling")
def _net_scaling():
    return _network_notebook(
        "Network figure 1 — Magnitude pruning under covariance scaling",
        """
A shallow ReLU network `f(x) = sum_j v_j relu(w_j . x)` is trained on a linear teacher whose first feature group
is scaled by `c` while its teacher weight is `1/c`: the group's importance (`c^2 w^2 = 1`) does not change. The
covariance-scaling argument of docs/theory.md Section 1 says the learned first-layer weights on that group should then
shrink like `1/c`; what the network does is measured here. Every criterion goes through the same pruning library
as the linear models (`linear_models.prune`), fed with the network's gradient and Gauss-Newton matrix. The panel
titles are computed from the measured numbers (`simulations.figures.captions`).
""",
        """
One `network_experiment` per scale `c` (the same calls, seeds and sizes as `python -m simulations figure
network-scaling`): the mean `|W|` of the scaled group's first-layer weights, their mean ablation importance, and the
test loss after pruning 70% of the weights.
""",
        SCALING_COMPUTE,
        """\
from simulations.figures.networks import plot_network_scaling

paths = plot_network_scaling(cs, results, OUT)     # the drawing of `figure network-scaling`""",
        """
In the full run the weights shrink, but about like `c^-0.5`, not `1/c`, and their ablation importance *grows*
with `c`; magnitude pruning removes them first and is worse than random from `c = 5` on, while the
Gauss-Newton-weighted criteria are not. The CSV holds every number with its standard error over trials.

**Your turn.** Fine-tune after pruning (`finetune_steps`) at the largest scale and compare with the loss before
fine-tuning:
""",
        """res = network_experiment(**dict(cfg, groups=scaled_groups(cs[-1]), criteria=("magnitude", "hessian"),
                              finetune_steps=200, trials=2, n_jobs=-1))
for c in ("magnitude", "hessian"):
    print(c, "after fine-tuning", np.round(res.mean[c], 3), "before", np.round(res.extras["before_finetune"][c].mean(axis=0), 3))""")


@notebook("network_init")
def _net_init():
    return _network_notebook(
        "Network figure 2 — Initialization scale and magnitude pruning",
        """
Sweep the initialization scale `init` (`w_j ~ N(0, init^2/d I)`, `v_j ~ N(0, init^2/m)`) over three decades and
measure how far training moves the first layer (`||W - W0|| / ||W0||`) and the loss after pruning. The right
panel is the exact linear-limit counterpart (docs/theory.md Section 8, min-norm from `b0 ~ N(0, s0^2/p I)`), where the
initialization survives in proportion `tau/(lam+tau)`. The movement panel's title is computed from the numbers.
""",
        """
One `network_experiment` per initialization scale (the same calls as `python -m simulations figure network-init`):
""",
        INIT_COMPUTE,
        """\
from simulations.figures.networks import plot_network_init

paths = plot_network_init(inits, init_results, OUT)     # the drawing of `figure network-init`""",
        """
In the full run the first layer moves by 108 times its initial norm from init 0.01 and by 0.66 at init 10;
magnitude pruning's loss stays near 0.9 up to init 0.3, is lower at init 1 (0.39) and fails at init 3 (7.8,
random 10.8, hessian 0.074). At init 10 the dense network no longer fits (dense loss 4.4 x Var(y)), so that
point says nothing about pruning.

**Your turn.** Train with plain SGD instead of Adam at init 0.3 (with this learning rate SGD diverges from init 1
on: the losses come out NaN):
""",
        """for opt in ("adam", "sgd"):
    res = network_experiment(**dict(cfg, optimizer=opt, lr=0.01, init=0.3, criteria=("magnitude", "hessian", "random"),
                                  trials=2, n_jobs=-1))
    print(opt, {c: np.round(res.mean[c], 3) for c in ("magnitude", "hessian", "random")},
          "movement", np.round(res.extras["weight_change"], 2))""")


@notebook("network_hessian")
def _net_hessian():
    return _network_notebook(
        "Network figure 3 — Hessian structure and the important weights",
        """
For every criterion, the Spearman rank correlation of its per-weight scores with the exact ablation importance
(the test-loss increase of zeroing that weight alone, on a large fresh sample): during training from a small start
(left) and at the end of training over the initialization scale (right). The right panel's title is computed from
the numbers.
""",
        """
One run of the base configuration that records the correlations every 25th of training (`record_every`), and
the init sweep (the same calls as `python -m simulations figure network-hessian`):
""",
        INIT_COMPUTE + """
from simulations.figures.networks import hessian_run

run = hessian_run(QUICK, n_jobs=-1)         # network_experiment(**dict(cfg, record_every=steps // 25))
v = run.extras["corr_over_steps"]
print("checkpoints:", run.extras["checkpoints"][:3], "...", run.extras["checkpoints"][-1])
for c in ("magnitude", "hessian", "taylor2", "obs"):
    print(f"{c:10s} Spearman with importance: at the first checkpoint {v[c][:, 0].mean():.2f}, at the end {v[c][:, -1].mean():.2f}")""",
        """\
from simulations.figures.networks import plot_network_hessian

paths = plot_network_hessian(run, inits, init_results, OUT)     # the drawing of `figure network-hessian`""",
        """
The printed numbers and the right panel's title say how closely each criterion's scores follow the ablation
importance during and at the end of training; in the full run the Gauss-Newton-weighted scores (hessian,
taylor2) and the OBS saliency reach a Spearman correlation near 0.9 and magnitude stays far below.

**Your turn.** Record the correlations every 100 steps of your own run:
""",
        """res = network_experiment(**dict(cfg, criteria=("magnitude", "hessian"), record_every=100, trials=2, n_jobs=-1))
print(res.extras["checkpoints"], np.round(res.extras["corr_over_steps"]["hessian"].mean(axis=0), 2))""")


@notebook("network_claims")
def _net_claims():
    return _network_notebook(
        "Network claims table — docs/theory.md Section 6, measured",
        """
Each seed claim of docs/theory.md Section 6, the configuration it was measured in, the numbers with standard errors
over trials, and whether it held — plus docs/theory.md's illustrative numbers beside ours. The runs are the sweeps of
network figures 1 and 2 (same calls, same seeds), so the table and the figures agree.
""",
        """
The two sweeps: one `network_experiment` per scale `c`, one per initialization scale.
""",
        SCALING_COMPUTE + "\n\n" + INIT_COMPUTE,
        """\
from simulations.figures.networks import claims_table

paths = claims_table(cs, results, inits, init_results, OUT)     # the table of `figure network-claims`""",
        "**Your turn.** Change the activation to tanh and re-run the illustrative configuration:",
        """res = network_experiment(**dict(cfg, activation="tanh", criteria=("magnitude", "hessian", "random"), trials=2, n_jobs=-1))
print({c: np.round(res.mean[c], 3) for c in ("magnitude", "hessian", "random")})""")


SO_API = """\
import numpy as np
from simulations.second_order import digits_mlp as soe
from simulations.second_order import loss_modelling
from linear_models import prune

print("recipe:", soe.RECIPE)
data = soe.load_data("digits")             # scikit-learn's bundled digits, fixed seeded split
net = soe.network()                        # 64-40-20-10 ReLU MLP, no biases, softmax cross-entropy
print(net, net.n_params, "weights;", len(data.y_train), "train /", len(data.y_test), "test images")"""


@notebook("cbs_table")
def _cbs():
    return _figure_notebook(
        "CBS table — one-shot second-order pruning of a digits MLP",
        """
The Combinatorial Brain Surgeon experiment (Yu et al. 2022, docs/references.md) at small scale: the `64-40-20-10` ReLU MLP without
biases (3,560 weights, so the full empirical Fisher is a 3,560 x 3,560 matrix and every method runs exactly) on
scikit-learn's digits, one-shot pruning without fine-tuning by magnitude, magnitude + multi-weight OBS update,
WoodFisher, greedy OBS and CBS, test accuracy over seeds beside the published MNIST numbers. MNIST cannot be
fetched on these machines; digits ships inside scikit-learn (`pip install -e '.[digits]'`).
""",
        SO_API + """

# one seed of the table by hand: dense training, the empirical Fisher, one-shot pruning at sparsity 0.9
from linear_models import second_order as so

theta = soe.train_dense(net, data, seed=0)
acc = lambda w: 100 * soe.accuracy(net, w, data.X_test, data.y_test)
G = net.per_sample_gradients(theta, data.X_train, data.y_train.astype(float))     # (N, 3560)
fisher = so.empirical_fisher(G, relative_damping=soe.DAMPING, inverse=True)
print(f"dense {acc(theta):.2f}%; Fisher mean diagonal {fisher.mean_diagonal:.3g}, damping {fisher.damping:.3g}")
loss = lambda w: net.loss_value(w, data.X_train, data.y_train.astype(float))
pruned = {"magnitude": so.magnitude(theta, 0.1), "magnitude+update": so.magnitude_update(theta, fisher, 0.1),
          "woodfisher": so.woodfisher(theta, fisher, 0.1),
          "cbs": so.cbs(theta, fisher, 0.1, loss=loss, rng=np.random.default_rng(0), n_starts=10)}
for m, r in pruned.items():
    print(f"{m:17s} sparsity 0.9: test accuracy {acc(r.weights):.2f}%")""",
        'FIGURES_CALL',
        "**Your turn.** Change the Fisher damping (relative to its mean diagonal) and re-prune the same seed:",
        """for dmp in (0.01, 1.0):
    f = so.empirical_fisher(G, relative_damping=dmp, inverse=True)
    print(f"relative damping {dmp:g}: woodfisher {acc(so.woodfisher(theta, f, 0.1).weights):.2f}%, "
          f"magnitude+update {acc(so.magnitude_update(theta, f, 0.1).weights):.2f}%")""")


@notebook("loss_modelling")
def _lm():
    return _figure_notebook(
        "Loss modelling — criteria, steps and locality",
        """
The loss-modelling study (Laurent et al. 2020, docs/references.md): magnitude (MP), first-order Taylor (LM, `taylor1`), second-order
Taylor (QM, `taylor2`) and OBD with the exact Gauss-Newton diagonal, in 1, 14 or 140 pruning steps (scores
recomputed, no training between steps) and with a locality penalty `+ 1/2 lambda w^2`. Measured: the training
loss right after pruning, the test accuracy after fine-tuning with the mask fixed, and the rank correlation
between the two across configurations, with a bootstrap interval.
""",
        SO_API + """
from linear_models import second_order as so

# one seed by hand: dense training, then prune to sparsity 0.9 in 1 and 14 steps with the exact statistics
theta = soe.train_dense(net, data, seed=0)
Xtr, ytr = data.X_train, data.y_train.astype(float)
statistics = lambda v: (net.loss_and_grad(v, Xtr, ytr)[1], net.ggn_diagonal(v, Xtr))   # gradient, Gauss-Newton diagonal
print(f"dense: training loss {net.loss_value(theta, Xtr, ytr):.3f}")
for crit in ("magnitude", "taylor1", "taylor2", "hessian"):
    losses = [net.loss_value(so.prune_in_steps(theta, 0.1, crit, steps, statistics).weights, Xtr, ytr) for steps in (1, 14)]
    print(f"{crit:9s} training loss right after pruning: 1 step {losses[0]:.3f}, 14 steps {losses[1]:.3f}")""",
        'FIGURES_CALL',
        "**Your turn.** Multi-step pruning (scores recomputed, no training) on a least-squares problem, where the "
        "gradient and the curvature are exact:",
        """rng = np.random.default_rng(0)
X = rng.standard_normal((400, 50)) * np.r_[np.ones(25), 5 * np.ones(25)]
y = X @ rng.standard_normal(50) + 0.5 * rng.standard_normal(400)
w = np.linalg.lstsq(X, y, rcond=None)[0]
loss = lambda v: float(np.mean((X @ v - y) ** 2))
stats = lambda v: (2 * X.T @ (X @ v - y) / len(y), 2 * np.mean(X**2, axis=0))       # gradient, curvature diagonal
for c in ("magnitude", "taylor2", "hessian"):
    print(c, [round(loss(so.prune_in_steps(w, 0.3, c, steps, stats).weights), 2) for steps in (1, 14)])""")


@notebook("linear_counterpart")
def _lc():
    return _figure_notebook(
        "Linear counterpart of the CBS table — where the quadratic model is exact",
        """
For least squares the OBS/CBS objective `w_S' ([H^-1]_SS)^-1 w_S` *is* the training-loss increase of removing `S`
with the optimal update (docs/theory.md Section 5), so CBS's gain over magnitude and WoodFisher is computed exactly,
on the spectra the asymptotic engine uses.
""",
        """\
import numpy as np
from asymptotics import Spectrum
from linear_models import from_spectrum, fit, prune

prob = from_spectrum(Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3)), p=100, noise=0.5, rng=0)
X, y = prob.sample(400, rng=1)
b, H = fit(X, y), X.T @ X
for c in ("magnitude", "obs", "cbs"):
    r = prune(b, 0.2, c, hessian=H)
    print(f"{c:10s} test risk {prob.risk(r.weights):.4f}")""",
        'FIGURES_CALL',
        "**Your turn.** Try a correlated design (`linear_models.ar1_covariance`), where OBD and OBS differ more:",
        """from linear_models import ar1_covariance

rng = np.random.default_rng(2)
L = np.linalg.cholesky(ar1_covariance(100, 0.8))
Xc = rng.standard_normal((400, 100)) @ L.T
yc = Xc @ rng.standard_normal(100) / 10 + 0.5 * rng.standard_normal(400)
bc, Hc = fit(Xc, yc), Xc.T @ Xc
for c in ("magnitude", "hessian", "obs"):
    r = prune(bc, 0.2, c, hessian=Hc)
    print(f"{c:10s} training loss after pruning {np.mean((Xc @ r.weights - yc) ** 2):.4f}")""")


RG_API = """\
import numpy as np
from simulations.networks.similarity import linear_cka, mode_connectivity

A = np.random.default_rng(0).standard_normal((100, 3))
Q = np.linalg.qr(np.random.default_rng(1).standard_normal((3, 3)))[0]
print("CKA(A, A Q) =", round(linear_cka(A, A @ Q), 12), "(1: invariant to orthogonal transforms)")"""


@notebook("regimes")
def _regimes():
    return _figure_notebook(
        "Three regimes — temperature, load, mode connectivity and output similarity",
        """
The three-regime model (Zhou et al. 2023, docs/references.md) on the shallow teacher-student task: temperature is the minibatch size
at a fixed number of iterations (and, second knob, the training length), load is the density after magnitude
pruning. Each pruned mask is retrained from two SGD seeds; we record the test error, the linear mode connectivity
`mc` of the two retrained networks (train error along the straight path, 11 points) and the linear CKA of their
outputs, over dense seeds. The linear counterpart is figure 8 (phase diagram).
""",
        RG_API + """

# one cell of the grid by hand: dense training at the first temperature, magnitude masks, two retrainings each
from simulations.regimes.grid import compute_cell, grid_config

cfg = grid_config(QUICK)
cell = compute_cell(cfg, 0)
print(f"knob {cell['knob']}, temperature {cfg['batches'][cell['temperature_index']]}, dense test error {cell['dense_test_error']:.3f}")
for d, e, m, k in zip(cfg["densities"], cell["test_error"], cell["mc"], cell["cka"]):
    print(f"density {d:4g}: test error {e:.3f}, mc {m:+.4f}, CKA {k:.3f}")""",
        'FIGURES_CALL',
        "**Your turn.** On a convex loss (least squares) the chord barrier `max_t [E(t) - ((1 - t) E(0) + t E(1))]` "
        "is never positive; `mc`, which compares the worst path point with the mean of the two endpoints' errors, "
        "is negative here all the same, because the endpoints' errors differ (the zero start has error about 1):",
        """X = np.random.default_rng(2).standard_normal((50, 5)); y = X[:, 0]
err = lambda w: float(np.mean((X @ w - y) ** 2))
r = mode_connectivity(np.zeros(5), np.linalg.lstsq(X, y, rcond=None)[0], err)
print(f"chord barrier {r.barrier:.3g}, mc {r.mc:.3f}, endpoint errors {r.errors[0]:.3f} and {r.errors[-1]:.2g}")""")


@notebook("scratch_table")
def _scratch():
    return _figure_notebook(
        "Fine-tuning vs training from scratch on networks",
        """
"Rethinking the value of pruning" (Liu et al. 2019, docs/references.md) at small scale: masks from magnitude pruning at several
densities; fine-tune the surviving weights, Scratch-E (same mask, fresh initialization, same steps as the dense
training) and Scratch-B (steps scaled by the dense/pruned nonzero-weight compute), over seeds, beside the
published numbers.
""",
        """\
# one dense seed by hand: dense training, magnitude masks, then each arm's test error (MSE / Var y)
from simulations.regimes.scratch_networks import compute_scratch_cell, scratch_config

cfg = scratch_config(QUICK)
cell = compute_scratch_cell(cfg, 0)
print(f"dense test error {cell['dense']:.3f}")
for di, d in enumerate(cfg["densities"]):
    print(f"density {d:4g}: " + ", ".join(f"{a} {cell[a][di]:.3f}" for a in ("fine-tune", "scratch-E", "scratch-B")))""",
        'FIGURES_CALL',
        "**Your turn.** The exact linear-limit version of the comparison (the `linear_scratch` notebook), in one call:",
        """from asymptotics import Spectrum
from simulations.regimes.scratch_linear import scratch_risk

spec = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3))
print({arm: round(r, 3) for arm, r in scratch_risk(spec, 0.5, 0.5, 0.8, init=1.0).items()})""")


@notebook("linear_scratch")
def _lscratch():
    return _figure_notebook(
        "Fine-tuning vs training from scratch in the linear limit",
        """
Gradient descent from `b0` on an underdetermined least-squares problem converges to the interpolator closest to
`b0`: fine-tuning starts from the pruned weights, Scratch from a fresh `b0 ~ N(0, s0^2/p)`, rewinding from the
dense model's own initialization, and the zero start gives min-norm. With fresh data the refit risk of each start
follows from docs/theory.md Sections 2-4 and 8; the table compares it with an exact per-trial Monte Carlo (z-scores).
""",
        """\
from simulations.regimes import scratch_linear
print(scratch_linear.__doc__.split("Example")[0][:1500])""",
        'FIGURES_CALL',
        "**Your turn.** Which start wins depends on whether the refit is determined (kept fraction below kappa):",
        """from asymptotics import Spectrum

spec = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3))
for keep in (0.3, 0.8):          # kappa = 0.5: determined refit below, underdetermined above
    r = scratch_linear.scratch_risk(spec, 0.5, 0.5, keep, init=3.0)
    print(f"keep {keep}:", {arm: round(r[arm], 3) for arm in scratch_linear.ARMS})""")


@notebook("phase_diagram")
def _phase():
    return _figure_notebook(
        "Figure 8 — The linear phase diagram of temperature and load",
        """
docs/theory.md Section 9: the mask comes from a ridge fit at `mu` (temperature; `mu -> inf` is marginal screening),
the support is refitted with fresh data at a fixed ridge `mu_r = 0`, and load is kept parameters per sample,
`keep / kappa`. The map is the risk after the refit, the colours the sign of `dR/dmu`, the line where it flips
(root finding), and simulation points on cuts across the boundary.
""",
        """\
import numpy as np
from asymptotics import Spectrum, phase_diagram

spec = Spectrum([25.0, 16.0, 1.0], [0.3, 0.2, 1.0], [1 / 3, 1 / 3, 1 / 3])
pd = phase_diagram(spec, 5.0, 0.5, loads=np.linspace(0.02, 0.19, 18), ridges=np.geomspace(1e-3, 1e3, 25))
print(pd.risk.shape)""",
        'FIGURES_CALL',
        "**Your turn.** Use hessian masks (`criterion=\"hessian\"`) and watch the boundary move.",
        """pd_h = phase_diagram(spec, 5.0, 0.5, loads=np.linspace(0.02, 0.19, 18), ridges=np.geomspace(1e-3, 1e3, 25), criterion="hessian")
print(pd_h.risk.min())""")


FIGURE_NAMES = {"network_scaling": "network-scaling", "network_init": "network-init", "network_hessian": "network-hessian",
                "network_claims": "network-claims", "cbs_table": "cbs-table", "loss_modelling": "loss-modelling",
                "linear_counterpart": "linear-counterpart", "regimes": "regimes", "scratch_table": "scratch-table",
                "linear_scratch": "linear-scratch", "phase_diagram": "phase-diagram"}


def _cells(stem):
    cells = NOTEBOOKS[stem]()
    if stem in FIGURE_NAMES:
        call = (f'FIGURES["{FIGURE_NAMES[stem]}"](OUT, quick=QUICK, n_jobs=-1)   '
                '# exactly what `python -m simulations figure` runs')
        for cell in cells:
            if "FIGURES_CALL" in cell.source:
                cell.source = "from simulations.figures import FIGURES\n\n" + cell.source.replace("'FIGURES_CALL'", call).replace("FIGURES_CALL", call)
    return cells


def keep_outputs(nb, path):
    """Copy the outputs of the committed notebook at ``path`` into ``nb`` when their code cells are identical, so
    that a markdown-only change needs no re-execution; returns False (and copies nothing) if any code differs."""
    if not path.exists():
        return False
    old = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    new = [c for c in nb.cells if c.cell_type == "code"]
    if [c.source for c in old] != [c.source for c in new]:
        return False
    for o, n in zip(old, new):
        n.outputs, n.execution_count, n.metadata = o.outputs, o.execution_count, o.metadata
    return True


def build(execute=False, keep=False):
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    for stem in NOTEBOOKS:
        if only and stem not in only:
            continue
        nb = nbformat.v4.new_notebook(cells=_cells(stem), metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"}})
        path = HERE / f"{stem}.ipynb"
        if keep and not keep_outputs(nb, path):
            print(f"{path}: its code changed; run with --execute to regenerate its outputs (left as it is)")
            continue
        if execute:
            import nbclient

            nbclient.NotebookClient(nb, timeout=1800, kernel_name="python3",
                                    resources={"metadata": {"path": str(HERE.parent)}}).execute()
        nbformat.write(nb, path)
        print(path)


if __name__ == "__main__":
    build(execute="--execute" in sys.argv[1:], keep="--keep-outputs" in sys.argv[1:])
