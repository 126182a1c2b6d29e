"""The linear phase diagram of docs/theory.md Section 9 (issue 9 A): figure, simulation cuts and findings.

Temperature is the ridge ``mu`` of the dense fit the magnitude mask is chosen from, load is
``keep / kappa``, the outcome is the risk after a fresh-data OLS refit on the support
(``refit_ridge = 0``). :func:`phase_diagram_figure` draws, for two spectra,

- the sign of ``dR/dlog mu`` over (load, log mu) as a two-colour map with contours of the risk,
  the zeros of the slope located by :func:`asymptotics.phase.phase_diagram` (points), the load
  where the screening mask (``mu -> inf``) stops beating the OLS mask (``mu = 0``) (dashed line),
  and the best ``mu`` per load;
- cuts at two fixed loads: theory ``R(mu)`` (lines) against Monte Carlo (markers) at a few ``mu`` on
  both sides of the slope's zero, compared at the kept fraction actually simulated.

:func:`phase_findings` recomputes the answer to Section 9's open question with the engine (where the
sign of the temperature effect flips with load, how the flip moves with ``kappa``, noise and the
criterion) and :func:`findings_markdown` writes it as ``phase_diagram.md`` beside the CSV.

Pre-registered simulation design (fixed before any z was seen): the cut kept fractions
:data:`CUT_KEEPS`, ridges :data:`CUT_RIDGES`, sizes :func:`phase_sizes` and seeds
``PHASE_SEED + 100 * spectrum index + ridge index``. Known finite-``p`` effect: the OLS refit on
``|S|`` coordinates with ``n`` samples has variance factor ``|S| / (n - |S| - 1)`` at finite size
against ``|S| / (n - |S|)`` in the limit, a relative excess of about ``1 / (n - |S|)`` of the
variance term (< 0.2 % here), below the standard errors; it is documented, not corrected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.optimize import brentq

from asymptotics import Spectrum, pruned_risk
from asymptotics.phase import SCREENING_FACTOR, phase_diagram

from ..linear.engine import monte_carlo
from ..plotting import new_figure, plot_points
from ..runtime.files import write_atomic, write_tidy_csv
from .linear import TidyRows, finish

FIGURE_NAME = "phase-diagram"
STEM = "phase_diagram"
NOISE = 0.5
REFIT_RIDGE = 0.0
#: (label, spectrum, kappa): three atoms (a flip with load) and two atoms (no flip with load, a control)
SPECTRA = (
    ("three atoms lam=(25,16,1), b=(0.3,0.2,1), kappa=5",
     Spectrum(variances=(25.0, 16.0, 1.0), signal=(0.3, 0.2, 1.0)), 5.0),
    ("two atoms lam=(25,1), b=(0.3,1), kappa=2",
     Spectrum.two_level(variances=(25.0, 1.0), signal=(0.3, 1.0)), 2.0),
)
#: kept fractions of the simulation cuts per spectrum (fixed before running)
CUT_KEEPS = ((0.5, 0.8), (0.3, 0.6))
#: mask ridges of the cuts: quick, full (both sides of the slope's zero at each cut)
CUT_RIDGES = {True: (0.1, 3.0, 100.0), False: (0.01, 0.1, 0.5, 3.0, 10.0, 100.0)}
PHASE_SEED = 9000
FAMILY_ALPHA = 0.01     # family-wise level of the z bound (Bonferroni over the cut points)
MAP_FLAT_RTOL = 1e-6    # |dR/dlog mu| below this times R is drawn as flat on the map
BARRIER_RTOL = 1e-4     # a local minimum of R(mu) counts if a barrier > this times min R separates it


def phase_sizes(quick):
    """(p, trials): p divisible by 2 and 3 so both spectra's atoms are exact at finite p."""
    return (204, 100) if quick else (402, 400)


def grid_sizes(quick):
    """(n_mu, n_load) of the theory map."""
    return (30, 30) if quick else (100, 100)


def _loads(kappa, n_load):
    return np.linspace(0.02, 0.98, n_load) / kappa


def _risk(spec, kappa, noise, keep, mu, criterion="magnitude"):
    return pruned_risk(spec, kappa, noise, keep=keep, criterion=criterion, ridge=mu, retrain="fresh",
                       refit_ridge=REFIT_RIDGE)


def screening_gap(spec, kappa, noise, keep, criterion="magnitude"):
    """``R(mu -> inf) - R(mu = 0)``: negative where the hottest (screening) mask beats the OLS mask."""
    mu_inf = SCREENING_FACTOR * float(spec.variances.max()) * max(1.0, 1.0 / kappa)
    with np.errstate(invalid="ignore"):     # inf - inf at the refit's interpolation threshold: no sign there
        return (np.asarray(_risk(spec, kappa, noise, keep, mu_inf, criterion))
                - np.asarray(_risk(spec, kappa, noise, keep, 0.0, criterion)))


def load_flips(spec, kappa, noise, criterion="magnitude", n_scan=197):
    """Kept fractions where the screening-vs-OLS gap changes sign (brentq on a scan of keep in (0.01, 0.99))."""
    keeps = np.linspace(0.01, 0.99, n_scan)
    gap = screening_gap(spec, kappa, noise, keeps, criterion)
    out = []
    for i in np.flatnonzero(np.sign(gap[:-1]) * np.sign(gap[1:]) < 0):
        f = lambda a: float(screening_gap(spec, kappa, noise, np.array([a]), criterion)[0])
        out.append(float(brentq(f, keeps[i], keeps[i + 1], xtol=1e-8)))
    return out


def _extended(pd):
    """Risk over ``[0, ridges..., inf]`` (the OLS and screening limits added) at every load."""
    return np.concatenate([[0.0], pd.ridges, [np.inf]]), np.vstack([pd.risk_zero, pd.risk, pd.risk_screening])


def best_ridge_jumps(pd, factor=10.0):
    """Sharp flips: adjacent loads whose best ``mu`` (0 and inf included) differ by more than ``factor``
    AND sit in two different local minima of ``R(mu)`` (a barrier > BARRIER_RTOL between them at both
    loads), i.e. a jump between competing minima, not a drift along a flat plateau.
    Returns ``(keep midpoint, best mu before, best mu after)``.
    """
    mus, risk = _extended(pd)
    best = np.argmin(risk, axis=0)
    out = []
    for j in range(pd.loads.size - 1):
        i1, i2 = sorted((best[j], best[j + 1]))
        if i1 == i2 or (mus[i1] > 0 and mus[i2] / mus[i1] <= factor):
            continue
        barrier = all(risk[i1:i2 + 1, jj].max() - max(risk[i1, jj], risk[i2, jj]) > BARRIER_RTOL * risk[:, jj].min()
                      for jj in (j, j + 1))
        if barrier:
            out.append((float((pd.keep[j] + pd.keep[j + 1]) / 2), float(mus[best[j]]), float(mus[best[j + 1]])))
    return out


def _two_minima_keeps(pd):
    """Kept fractions at which ``R(mu)`` (0 and inf included) has two local minima with a barrier between."""
    mus, risk = _extended(pd)
    out = []
    for j in range(pd.loads.size):
        r = risk[:, j]
        if not np.all(np.isfinite(r)):
            continue
        if _count_minima(r) >= 2:
            out.append(float(pd.keep[j]))
    return out


def _count_minima(r):
    """1 + the number of sides of the global minimum of ``r`` on which ``r`` rises by more than
    BARRIER_RTOL * min(r) and then falls back by more than that: a second (third) local minimum
    behind a real barrier. Flat plateaus with rounding-level ripples count once."""
    tol = BARRIER_RTOL * float(np.min(r))
    g = int(np.argmin(r))
    count = 1
    for side in (r[g:], r[g::-1]):
        peak = np.maximum.accumulate(side)
        if np.any((peak > side[0] + tol) & (side < peak - tol)):
            count += 1
    return count


def phase_findings(quick=False):
    """Recompute the Section 9 answers with the engine; a dict of cases -> numbers.

    For every case: the loads (as kept fractions) where screening stops/starts beating the OLS mask
    (``load_flips``), whether screening wins at every load, the kept fractions where the best ``mu``
    jumps by more than a factor 10 (a sharp flip), and the keep range with two local minima in ``mu``.
    """
    n_mu, n_load = (30, 40) if quick else (60, 100)
    ridges = np.geomspace(1e-3, 1e3, n_mu)
    (_, spec_c, k_c), (_, spec_2, k_2) = SPECTRA
    cases = [
        ("C: three atoms, kappa 5, sigma 0.5, magnitude", spec_c, k_c, NOISE, "magnitude"),
        ("C, kappa 2", spec_c, 2.0, NOISE, "magnitude"),
        ("C, kappa 10", spec_c, 10.0, NOISE, "magnitude"),
        ("C, sigma 0.1", spec_c, k_c, 0.1, "magnitude"),
        ("C, sigma 1", spec_c, k_c, 1.0, "magnitude"),
        ("C, hessian masks", spec_c, k_c, NOISE, "hessian"),
        ("two atoms b=(0.3,1), kappa 2", spec_2, 2.0, NOISE, "magnitude"),
        ("two atoms b=(0.3,1), kappa 0.5", spec_2, 0.5, NOISE, "magnitude"),
        ("two atoms b=(0.15,1), kappa 2", Spectrum.two_level(variances=(25.0, 1.0), signal=(0.15, 1.0)), 2.0, NOISE,
         "magnitude"),
        ("two atoms b=(0.15,1), kappa 0.5", Spectrum.two_level(variances=(25.0, 1.0), signal=(0.15, 1.0)), 0.5,
         NOISE, "magnitude"),
    ]
    out = {}
    for name, spec, kappa, noise, crit in cases:
        pd = phase_diagram(spec, kappa, noise, loads=_loads(kappa, n_load), ridges=ridges, criterion=crit,
                           refit_ridge=REFIT_RIDGE)
        flips = load_flips(spec, kappa, noise, crit)
        helps = pd.temperature_helps
        out[name] = dict(kappa=kappa, noise=noise, criterion=crit, load_flips_keep=flips,
                         screening_wins_everywhere=bool(helps.all()), screening_loses_everywhere=bool((~helps).all()),
                         best_ridge_jumps=best_ridge_jumps(pd), two_minima_keeps=_two_minima_keeps(pd),
                         n_slope_zeros=len(pd.boundary))
    return out


def findings_markdown(findings, timing=None):
    """Markdown text of :func:`phase_findings` (numbers from the engine, nothing hard-coded)."""
    lines = ["# Linear phase diagram: where the sign of the temperature effect flips with load", "",
             "Mask: magnitude (or hessian) at ridge mu (temperature); outcome: risk after a fresh OLS refit on the "
             "support (refit ridge 0); load = keep/kappa. `screening flip` is the kept fraction where "
             "R(mu -> inf) - R(mu = 0) changes sign (root finding); `best-mu jump` is where the risk-optimal "
             "mu on the grid (1e-3..1e3, plus 0 and inf) jumps by more than a factor 10 between adjacent loads "
             "(a sharp, first-order-like flip between two local minima).", "",
             "| case | screening flip at keep | screening better at every load | best-mu jump (keep: mu before -> after) "
             "| keep range with two local minima in mu |", "|---|---|---|---|---|"]
    for name, f in findings.items():
        flips = ", ".join(f"{a:.3f}" for a in f["load_flips_keep"]) or "none"
        every = "yes" if f["screening_wins_everywhere"] else ("no, worse everywhere" if f["screening_loses_everywhere"]
                                                               else "no")
        jumps = "; ".join(f"{a:.3f}: {b:.3g} -> {c:.3g}" for a, b, c in f["best_ridge_jumps"]) or "none"
        tm = f["two_minima_keeps"]
        tm = f"{min(tm):.3f}-{max(tm):.3f}" if tm else "none"
        lines.append(f"| {name} | {flips} | {every} | {jumps} | {tm} |")
    lines += ["", "## Summary (generated from the table)", ""]
    for name, f in findings.items():
        flips, jumps = f["load_flips_keep"], f["best_ridge_jumps"]
        if not flips:
            verdict = ("no flip: the screening mask beats the OLS mask at every load" if f["screening_wins_everywhere"]
                       else "no flip: the OLS mask beats the screening mask at every load"
                       if f["screening_loses_everywhere"] else "no sign change of R(inf) - R(0) on the scan")
        else:
            verdict = "the sign of R(inf) - R(0) flips at keep " + ", ".join(f"{a:.3f}" for a in flips)
            verdict += ("; sharp: the best mu jumps " + "; ".join(f"from {b:.3g} to {c:.3g} at keep {a:.3f}"
                                                                  for a, b, c in jumps)
                        if jumps else "; smooth: the best mu moves continuously (no jump between minima)")
        lines.append(f"- {name}: {verdict}.")
    if timing:
        lines += ["", timing]
    return "\n".join(lines) + "\n"


def _draw_map(ax, pd, label, flips):
    loads, logm = pd.loads, np.log10(pd.ridges)
    # slopes below MAP_FLAT_RTOL * R are rounding on the flat ends of R(mu): drawn as "flat" (white)
    sign = np.where(np.abs(pd.slope) > MAP_FLAT_RTOL * pd.risk, np.sign(pd.slope), 0.0)
    from matplotlib.colors import ListedColormap
    ax.pcolormesh(loads, logm, sign, cmap=ListedColormap(["#9ecae1", "#f7f7f7", "#fcae91"]), vmin=-1.5, vmax=1.5,
                  shading="nearest", rasterized=True)
    cs = ax.contour(loads, logm, np.log10(pd.risk), levels=8, colors="k", linewidths=0.5, alpha=0.6)
    ax.clabel(cs, fontsize=5, fmt=lambda v: f"{10 ** v:.2g}")
    if pd.boundary:
        bl, bm = np.array(pd.boundary).T
        ax.plot(bl, np.log10(bm), ".", color="k", ms=2.5, label="dR/dmu = 0 (root finding)")
    best = np.clip(pd.best_ridge, pd.ridges[0], pd.ridges[-1])
    ax.plot(loads, np.log10(best), "-", color="#2ca02c", lw=1.2, label="best mu (0 / inf clipped)")
    for a in flips:
        ax.axvline(a / pd.kappa, color="k", ls="--", lw=1.0)
    ax.set_xlabel("load = keep / kappa")
    ax.set_ylabel("log10 mask ridge mu (temperature)")
    msg = (f"screening (mu->inf) beats OLS mask for load < {flips[0] / pd.kappa:.3f}" if flips and pd.temperature_helps[0]
           else "screening beats OLS mask at every load" if pd.temperature_helps.all()
           else "screening vs OLS: see flips")
    ax.set_title(f"{label}\nblue: dR/dmu<0 (hotter helps), red: >0 (hurts), white: flat\n{msg}", fontsize=7)


def phase_diagram_figure(out_dir, quick=False, n_jobs=None):
    """The linear phase diagram for two spectra, with Monte Carlo cuts.

    Writes and returns the paths of ``phase_diagram.png``, ``.pdf``, ``.csv`` (the cuts, tidy, with
    z-scores), ``phase_diagram_map.csv`` (the theory map) and ``phase_diagram.md`` (the findings).
    """
    import time
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    p, trials = phase_sizes(quick)
    n_mu, n_load = grid_sizes(quick)
    ridges = np.geomspace(1e-3, 1e3, n_mu)
    cut_ridges = CUT_RIDGES[bool(quick)]
    fig, axes = new_figure(2, nrows=2, width=4.6, height=3.8)
    rows, map_rows = TidyRows(noise=NOISE), []
    t_map = 0.0
    for s, ((label, spec, kappa), keeps) in enumerate(zip(SPECTRA, CUT_KEEPS)):
        t0 = time.perf_counter()
        pd = phase_diagram(spec, kappa, NOISE, loads=_loads(kappa, n_load), ridges=ridges, refit_ridge=REFIT_RIDGE)
        t_map += time.perf_counter() - t0
        flips = load_flips(spec, kappa, NOISE)
        for i, mu in enumerate(pd.ridges):
            for j, load in enumerate(pd.loads):
                map_rows.append(dict(spectrum=s, kappa=kappa, load=load, keep=pd.keep[j], ridge=mu,
                                     risk=pd.risk[i, j], slope=pd.slope[i, j]))
        for bl, bm in pd.boundary:
            map_rows.append(dict(spectrum=s, kappa=kappa, load=bl, keep=bl * kappa, ridge=bm, risk="", slope=0.0))
        ax_map, ax_cut = axes[2 * s], axes[2 * s + 1]
        _draw_map(ax_map, pd, label, flips)
        mu_line = np.geomspace(cut_ridges[0] / 3, cut_ridges[-1] * 3, 60)
        means = {a: [] for a in keeps}
        sems = {a: [] for a in keeps}
        eff = None
        for i, mu in enumerate(cut_ridges):
            res = monte_carlo(spec, p, kappa, NOISE, ridge=mu, keep=list(keeps), criteria=("magnitude",),
                              retrain="fresh", refit_ridge=REFIT_RIDGE, trials=trials, seed=PHASE_SEED + 100 * s + i,
                              n_jobs=n_jobs)
            eff = res.keep_effective
            th = _risk(spec, kappa, NOISE, np.asarray(eff, float), mu)
            for j, a in enumerate(keeps):
                m, se = float(res.mean["magnitude"][j]), float(res.sem["magnitude"][j])
                means[a].append(m)
                sems[a].append(se)
                rows.add(FIGURE_NAME, "ridge", mu, kappa, mu, "fresh", "magnitude", float(eff[j]), float(th[j]), m, se,
                         trials, p, spectrum=spec)
        for j, a in enumerate(keeps):
            col = ["#1f77b4", "#d62728"][j]
            theory = [float(_risk(spec, kappa, NOISE, float(eff[j]), mu)) for mu in mu_line]
            ax_cut.plot(mu_line, theory, color=col, lw=1.5, label=f"theory, keep {eff[j]:.3f} (load {eff[j] / kappa:.3f})")
            for mu, r in zip(mu_line, theory):
                rows.add(FIGURE_NAME, "ridge", float(mu), kappa, float(mu), "fresh", "magnitude", float(eff[j]), r,
                         spectrum=spec)
            plot_points(ax_cut, cut_ridges, means[a], sems[a], col, f"simulation p={p}, {trials} trials")
            ax_map.axvline(eff[j] / kappa, color=col, lw=0.8, ls=":")
        ax_cut.set_xscale("log")
        ax_cut.set_xlabel("mask ridge mu (temperature)")
        ax_cut.set_ylabel("risk after fresh OLS refit")
        ax_cut.set_title("cuts at fixed load (dotted lines on the map)", fontsize=8)
        ax_cut.grid(alpha=0.3)
        ax_cut.legend(fontsize=6, frameon=False, loc="best")
    fig.suptitle(f"Linear phase diagram: magnitude masks at ridge mu, fresh OLS refit, sigma = {NOISE} "
                 f"({n_mu} x {n_load} grid)", fontsize=9)
    # the map legend below the panels: inside a map it covers data wherever it sits
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=2, fontsize=6, frameon=False)
    paths = finish(fig, rows, out, STEM)
    map_csv = write_tidy_csv(out / f"{STEM}_map.csv", map_rows,
                             ("spectrum", "kappa", "load", "keep", "ridge", "risk", "slope"))
    findings = phase_findings(quick=quick)
    timing = f"Theory maps ({n_mu} x {n_load} grid, both spectra, root finding included): {t_map:.2f} s."
    md = write_atomic(out / f"{STEM}.md", findings_markdown(findings, timing))
    return (*paths, map_csv, md)
