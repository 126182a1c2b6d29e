"""Figures of correlated features (docs/theory.md Section 10): theory lines, Monte Carlo markers with
standard errors, and a |z| bound per figure fixed in advance for its number of points.

``block_correlation_figure``: a two-feature block, the second feature scaled by 5 with weight ``+-0.2``
(importance ``25 * 0.04 = 1`` against 1 for the first), OLS at ``kappa = 2``, keep 0.3, as the
within-block correlation ``r`` goes from -0.95 to 0.95:

* panels 1-2 (same-sign and opposite-sign true weights): pruned risk without retraining for magnitude,
  hessian (OBD), obs and joint, without (solid) and with (dashed) the population OBS update;
* panel 3: the fresh-data refit after each mask, against the diagonal model's reading that the dropped
  signal is pure noise (dotted, the refit risk with noise ``sigma^2 + E[b_P' Sigma_PP b_P 1{S}]``), and the
  fraction of the dropped signal the kept features absorb.

The bound: every simulated point of the figure (its number fixed by the grid, not by the outcome) is held to
the Bonferroni bound at 1% family-wise for that number (:func:`figure_bound`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from asymptotics import BlockSpectrum, pruned_risk, solve_pruned

from ..runtime.stats import mean_sem
from ..linear.engine import monte_carlo
from ..plotting import color, new_figure, plot_points
from .linear import TidyRows, finish

CRITERIA = ("magnitude", "hessian", "obs", "joint")
KAPPA, NOISE, KEEP, SCALE = 2.0, 0.5, 0.3, 5.0
SIGNS = {"same-sign weights (1, +0.2)": 0.2, "opposite-sign weights (1, -0.2)": -0.2}
FAMILY_LEVEL = 0.01
SEED = 15000


def figure_sizes(quick):
    """``(p, trials, theory r grid, simulated r)``: fixed before running."""
    if quick:
        return 200, 100, np.linspace(-0.95, 0.95, 21), (-0.9, -0.5, 0.0, 0.5, 0.9)
    return 400, 200, np.linspace(-0.95, 0.95, 77), (-0.9, -0.6, -0.3, 0.0, 0.3, 0.6, 0.9)


def figure_bound(m, level=FAMILY_LEVEL):
    """The |z| bound with Bonferroni family-wise failure probability ``level`` over ``m`` z-values."""
    lo, hi = 0.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if m * math.erfc(mid / math.sqrt(2.0)) > level else (lo, mid)
    return hi


def pair(r, b2):
    """The two-feature block of the figure: ``Sigma = [[1, 5 r], [5 r, 25]]``, weights ``(1, b2)``."""
    return BlockSpectrum.correlated_pair(r, scale=SCALE, signal=(1.0, b2))


def dropped_and_absorbed(spec, res):
    """Per keep level of a fresh-refit result: ``(dropped, left)`` with ``dropped = sum_S P(S) b_P' Sigma_PP b_P``
    (the signal the mask removes, fixed signal) and ``left = sigma_S^2 - sigma^2`` (what the refit still sees
    as noise, ``b_P' Sigma_{P|S} b_P``); the absorbed fraction is ``1 - left / dropped``."""
    b, S = spec.signal[0], spec.covariances[0]
    drop = np.zeros(res.keep.size)
    for s in range(4):
        P = [i for i in range(2) if not (s >> i) & 1]
        if P:
            drop += res.pattern_probability.reshape(-1, 4)[:, s] * float(b[P] @ S[np.ix_(P, P)] @ b[P])
    left = np.array([f.noise_var for f in res.refit]) - NOISE**2
    return drop, left


def block_correlation_figure(out_dir, quick=False, n_jobs=None):
    """Pruned risk against the within-block correlation ``r`` (module docstring); returns the paths."""
    p, trials, r_grid, r_sim = figure_sizes(quick)
    n_points = len(SIGNS) * len(r_sim) * len(CRITERIA) * 3          # two updates + the fresh refit
    bound = figure_bound(n_points)
    fig, axes = new_figure(3, width=4.6, height=3.8)
    rows = TidyRows(noise=NOISE)
    absorbed_text = []
    for panel, (ax, (title, b2)) in enumerate(zip(axes[:2], SIGNS.items())):
        for c in CRITERIA:
            for update, ls in (("none", "-"), ("obs", "--")):
                th = [float(pruned_risk(pair(r, b2), KAPPA, NOISE, keep=KEEP, criterion=c, update=update))
                      for r in r_grid]
                ax.plot(r_grid, th, color=color(c), ls=ls, lw=1.5,
                        label=f"{c}{' + update' if update == 'obs' else ''} (theory)")
        for i, r in enumerate(r_sim):
            for u, update in enumerate(("none", "obs")):
                res = monte_carlo(pair(r, b2), p, KAPPA, NOISE, keep=[KEEP], criteria=CRITERIA, update=update,
                                  trials=trials, seed=SEED + 100 * panel + 10 * i + u, hessian_scores="population",
                                  n_jobs=n_jobs)
                for c in CRITERIA:
                    th = float(pruned_risk(pair(r, b2), KAPPA, NOISE, keep=res.keep_effective, criterion=c,
                                           update=update)[0])
                    m, s = float(res.mean[c][0]), float(res.sem[c][0])
                    rows.add("block-correlation", "r", r, KAPPA, 0.0, None, f"{c}+{update}|b2={b2}", KEEP, th, m, s,
                             trials, p, theory_row=False, spectrum=pair(r, b2))
                    plot_points(ax, [r], [m], [s], color(c), None, "o" if update == "none" else "s")
        ax.set_title(f"{title}, keep {KEEP}, kappa {KAPPA:g}", fontsize=8)
        ax.set_xlabel("within-block correlation r")
        ax.set_ylabel("pruned test risk (no retraining)")
        ax.grid(alpha=0.3)
        if panel == 0:
            ax.legend(fontsize=5.5, frameon=False, loc="upper center", ncol=2)
    ax = axes[2]
    for b2, ls in ((0.2, "-"), (-0.2, "-.")):
        for c in ("magnitude", "hessian", "joint"):
            risk, noise_view, frac = [], [], []
            for r in r_grid:
                spec = pair(r, b2)
                res = solve_pruned(spec, KAPPA, NOISE, keep=np.array([KEEP]), criterion=c, retrain="fresh")
                drop, left = dropped_and_absorbed(spec, res)
                risk.append(float(res.risk[0]))
                noise_view.append(float((NOISE**2 + drop[0]) / (1 - KEEP / KAPPA)))      # OLS refit, tau = 0
                frac.append(float(1 - left[0] / drop[0]) if drop[0] > 0 else np.nan)
            ax.plot(r_grid, risk, color=color(c), ls=ls, lw=1.5, label=f"{c}, b2={b2:+g} (theory)")
            if c == "hessian":
                ax.plot(r_grid, noise_view, color=color(c), ls=":", lw=1.0,
                        label=f"{c}, b2={b2:+g}: dropped signal as noise")
            j = int(np.argmin(np.abs(r_grid - 0.9)))
            absorbed_text.append(f"{c} b2={b2:+g}: {100 * frac[j]:.0f}% absorbed at r={r_grid[j]:.2f}")
    for i, r in enumerate(r_sim):
        for q, b2 in enumerate((0.2, -0.2)):
            res = monte_carlo(pair(r, b2), p, KAPPA, NOISE, keep=[KEEP], criteria=CRITERIA, retrain="fresh",
                              trials=trials, seed=SEED + 1000 + 10 * i + q, hessian_scores="population",
                              n_jobs=n_jobs)
            for c in CRITERIA:
                th = float(pruned_risk(pair(r, b2), KAPPA, NOISE, keep=res.keep_effective, criterion=c,
                                       retrain="fresh")[0])
                m, s = float(res.mean[c][0]), float(res.sem[c][0])
                rows.add("block-correlation", "r", r, KAPPA, 0.0, "fresh", f"{c}|b2={b2}", KEEP, th, m, s, trials, p,
                         theory_row=False, spectrum=pair(r, b2))
                if c != "obs":
                    plot_points(ax, [r], [m], [s], color(c), None, "o" if b2 > 0 else "^")
    ax.text(0.02, 0.98, "\n".join(absorbed_text), transform=ax.transAxes, fontsize=5.5, va="top")
    ax.set_title(f"fresh-data OLS refit after the mask, keep {KEEP}", fontsize=8)
    ax.set_xlabel("within-block correlation r")
    ax.set_ylabel("test risk after the refit")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=5.5, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    zs = [abs(r["z"]) for r in rows if r["z"] != ""]
    assert len(zs) == n_points
    fig.suptitle(f"Correlated pair, second feature scaled by {SCALE:g}; p = {p}, {trials} trials; "
                 f"max |z| = {max(zs):.2f} over {len(zs)} points (bound {bound:.2f}, fixed in advance)", fontsize=8)
    return finish(fig, rows, out_dir, "block_correlation")


# ------------------------------------------------------------------- population vs training Hessian

#: The gap figure's models: two block types (where obs and hessian differ) and a strongly correlated pair.
GAP_SPECTRA = {
    "two types": BlockSpectrum([[[1.0, 0.8], [0.8, 1.0]], [[2.0, -0.5], [-0.5, 0.5]]], [[1.0, 0.5], [0.3, -1.0]],
                               [0.5, 0.5]),
    "pair r=0.9": BlockSpectrum.correlated_pair(0.9, scale=SCALE, signal=(1.0, 0.2)),
}
GAP_KEEP = (0.3, 0.5)
GAP_SEED = 16000


def gap_sizes(quick):
    """``[(p, trials)]`` of the gap figure, fixed before running."""
    return [(200, 100), (400, 50)] if quick else [(200, 200), (400, 100), (1000, 40)]


def hessian_gap_figure(out_dir, quick=False, n_jobs=None):
    """The population-Hessian second-order methods against the finite-sample ones on the same data.

    Population: ``obs`` / ``joint`` selected with ``Sigma`` and the population OBS update (theory lines of
    docs/theory.md Section 10; each simulated point has a z-score). Training: the same criteria with
    ``H = X'X/n`` and the OBS update with ``H = X'X/n``, which for least squares is the same-data refit on the
    kept support (``retrain="same"``; no formula is claimed). Both on the same trials (same seed), so the gap
    is paired. Writes PNG, PDF, CSV and a markdown table of the gaps; returns the paths.
    """
    from ..runtime.files import write_atomic

    sizes = gap_sizes(quick)
    n_points = len(GAP_SPECTRA) * len(sizes) * 2 * len(GAP_KEEP)
    bound = figure_bound(n_points)
    fig, axes = new_figure(len(GAP_SPECTRA), width=4.4)
    rows = TidyRows(noise=NOISE)
    lines = [f"# Population vs training Hessian (same data), OLS at kappa {KAPPA:g}", "",
             "| model | p | criterion | keep | population + update | training + same-data OBS | paired gap |",
             "|---|---|---|---|---|---|---|"]
    for s, (ax, (name, spec)) in enumerate(zip(axes, GAP_SPECTRA.items())):
        for i, (p, trials) in enumerate(sizes):
            kw = dict(keep=GAP_KEEP, criteria=("obs", "joint"), trials=trials, seed=GAP_SEED + 10 * s + i, n_jobs=n_jobs)
            pop = monte_carlo(spec, p, KAPPA, NOISE, update="obs", hessian_scores="population", **kw)
            emp = monte_carlo(spec, p, KAPPA, NOISE, retrain="same", hessian_scores="empirical", **kw)
            for c in ("obs", "joint"):
                th = pruned_risk(spec, KAPPA, NOISE, keep=pop.keep_effective, criterion=c, update="obs")
                gap = emp.samples[c] - pop.samples[c]
                gm, gs = mean_sem(gap, axis=0)
                for j, a in enumerate(GAP_KEEP):
                    rows.add("block-hessian-gap", "p", p, KAPPA, 0.0, None, f"{c}+population|{name}", a, float(th[j]),
                             float(pop.mean[c][j]), float(pop.sem[c][j]), trials, p, theory_row=i == 0, spectrum=spec)
                    rows.add("block-hessian-gap", "p", p, KAPPA, 0.0, "same", f"{c}+training|{name}", a, None,
                             float(emp.mean[c][j]), float(emp.sem[c][j]), trials, p, spectrum=spec)
                    lines.append(f"| {name} | {p} | {c} | {a:g} | {pop.mean[c][j]:.4f} ± {pop.sem[c][j]:.4f} "
                                 f"(theory {th[j]:.4f}) | {emp.mean[c][j]:.4f} ± {emp.sem[c][j]:.4f} | "
                                 f"{gm[j]:+.4f} ± {gs[j]:.4f} |")
                x = np.full(len(GAP_KEEP), float(p)) * (1 + 0.03 * (c == "joint"))
                for j, a in enumerate(GAP_KEEP):
                    mk = "o" if a == GAP_KEEP[0] else "s"
                    plot_points(ax, [x[j]], [pop.mean[c][j]], [pop.sem[c][j]], color(c), None, mk)
                    ax.errorbar([x[j]], [emp.mean[c][j]], yerr=[emp.sem[c][j]], fmt=mk, color=color(c), mfc=color(c),
                                ms=4.5, capsize=2.5, lw=1.0)
        for c in ("obs", "joint"):
            th = pruned_risk(spec, KAPPA, NOISE, keep=np.array(GAP_KEEP), criterion=c, update="obs")
            for j, a in enumerate(GAP_KEEP):
                ax.axhline(th[j], color=color(c), lw=1.0, ls="-" if j == 0 else "--",
                           label=f"{c} population + update, keep {a:g} (theory)")
        ax.set_xscale("log")
        ax.set_xlabel("p")
        ax.set_ylabel("test risk")
        ax.set_title(f"{name} (circles keep {GAP_KEEP[0]:g}, squares keep {GAP_KEEP[1]:g})", fontsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=5.5, frameon=False)
    zs = [abs(r["z"]) for r in rows if r["z"] != ""]
    assert len(zs) == n_points
    lines += ["", f"Population points against the theory: max |z| = {max(zs):.2f} over {len(zs)} "
              f"(Bonferroni 1% bound {bound:.2f}, fixed in advance). The training-Hessian points have no formula."]
    fig.suptitle(f"obs and joint with the population Hessian + OBS update (open) vs the training Hessian + same-data "
                 f"OBS (filled), kappa {KAPPA:g}, OLS\npopulation points vs theory: max |z| = {max(zs):.2f} over "
                 f"{len(zs)} (bound {bound:.2f}, fixed in advance)", fontsize=8)
    paths = finish(fig, rows, out_dir, "block_hessian_gap")
    return (*paths, write_atomic(Path(out_dir) / "block_hessian_gap.md", "\n".join(lines) + "\n"))
