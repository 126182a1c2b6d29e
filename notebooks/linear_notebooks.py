"""The notebooks of the linear figures 1-7: the theory calls and the Monte Carlo behind each figure, written
out with the public API (the same seeds and sizes as ``python -m simulations figure NAME``)."""

from __future__ import annotations

from notebook_cells import code, md, notebook

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
from simulations.figures.linear import RETRAIN_CRITERIA, RETRAIN_KAPPA, retraining_keeps

spec, noise, kappa = HEADLINE_SPECTRUM, HEADLINE_NOISE, RETRAIN_KAPPA
sim_keep = retraining_keeps(QUICK)
for c in RETRAIN_CRITERIA:
    print(c, {r: round(float(pruned_risk(spec, kappa, noise, keep=0.3, criterion=c, retrain=r)), 3) for r in ("none", "fresh")})"""),
        md("""
The simulation: for each criterion and each refit (none, on fresh data, on the same data), `monte_carlo` at the
kept fractions `sim_keep`, with the seeds of `python -m simulations figure retraining`:
"""),
        code("""
runs = {(c, r): monte_carlo(spec, p, kappa, noise, keep=sim_keep, criteria=(c,), retrain=r, trials=trials,
                            seed=6000 + 10 * j, n_jobs=-1)
        for j, c in enumerate(RETRAIN_CRITERIA) for r in ("none", "fresh", "same")}
for (c, r), res in runs.items():
    theory = pruned_risk(spec, kappa, noise, keep=np.array(sim_keep), criterion=c, retrain="fresh" if r == "same" else r)
    print(f"{c:9s} {r:5s} refit: simulated", np.round(res.mean[c], 3), " theory (fresh for same)", np.round(theory, 3))"""),
        code("""
from simulations.figures.linear import plot_retraining

paths = plot_retraining(runs, OUT)      # the drawing of `figure retraining`: theory lines, points, z-scores in the CSV
display(Image(filename=str(paths[0])))
print("caption (computed from the figure's numbers):", Path(paths[-1]).read_text())"""),
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
