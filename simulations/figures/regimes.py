"""The three-regime maps: test error, mode connectivity and CKA over temperature and density
(the grid of :mod:`simulations.regimes.grid`; Zhou et al. 2023; docs/references.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..regimes.grid import (CKA_MIN_SPREAD, MC_ABS, MC_REL, grid_config, run_grid, summarize,
                                   temperature_sentence)
from ..plotting import new_figure, save_with_csv
from ..runtime.extras import require
from ..runtime.files import write_atomic

KNOB_LABEL = {"batch": "batch size (smaller = hotter)", "length": "fraction of the schedule trained (earlier = hotter)"}


CSV_COLUMNS = ("knob", "temperature", "temperature_rank", "density", "metric", "mean", "sem", "seeds", "regime")


def _tidy_rows(summary):
    rows = []
    for knob, s in summary.items():
        S = s["arrays"]["mc"].shape[-1]
        for ti, temp in enumerate(s["temperatures"]):
            for di, dens in enumerate(s["densities"]):
                for metric in s["mean"]:
                    rows.append(dict(knob=knob, temperature=temp, temperature_rank=ti, density=dens, metric=metric,
                                     mean=s["mean"][metric][ti, di], sem=s["sem"][metric][ti, di], seeds=S,
                                     regime=s["regime"][ti, di]))
        for di, dens in enumerate(s["densities"]):
            rows.append(dict(knob=knob, temperature="", temperature_rank="", density=dens,
                             metric="temperature_slope", mean=s["slope"][di], sem=s["slope_sem"][di], seeds=S,
                             regime=""))
    return rows


def _draw_boundaries(ax, regime):
    """Lines along the cell edges where the regime label changes."""
    T, D = regime.shape
    for ti in range(T):
        for di in range(D):
            if di + 1 < D and regime[ti, di] != regime[ti, di + 1]:
                ax.plot([di + 0.5, di + 0.5], [ti - 0.5, ti + 0.5], color="k", lw=2.2)
            if ti + 1 < T and regime[ti, di] != regime[ti + 1, di]:
                ax.plot([di - 0.5, di + 0.5], [ti + 0.5, ti + 0.5], color="k", lw=2.2)


def regimes_figure(out_dir, quick=False, n_jobs=None, *, task="teacher", store=None, client=None, progress=True):
    """Three maps (test error, mc, CKA) per temperature knob with the regime boundaries.

    Writes ``regimes.png``, ``regimes.pdf``, ``regimes.csv`` (tidy: one row per knob, temperature,
    density and metric, with the standard error over dense seeds and the regime) and
    ``regimes.txt`` (the computed sentences on the temperature effect); returns the PNG, PDF and CSV
    paths. ``task="digits"`` writes ``regimes_digits.*`` (the 64-40-20-10 MLP). ``store`` defaults to
    ``out_dir/<stem>_store[_quick]`` so an interrupted run resumes.
    """
    if task == "digits":
        require("digits", "regimes_figure(task='digits')")      # before any work
    out = Path(out_dir)
    stem = "regimes" if task == "teacher" else f"regimes_{task}"
    store = out / (f"{stem}_store_quick" if quick else f"{stem}_store") if store is None else store
    result = run_grid(grid_config(quick, task=task), store, n_jobs=n_jobs, client=client, progress=progress)
    err_name = "test error (MSE / Var y)" if task == "teacher" else "test error (classification)"
    title = "Shallow teacher-student" if task == "teacher" else "Digits, 64-40-20-10 MLP"
    summary = summarize(result)
    knobs = list(summary)
    fig, axes = new_figure(3, len(knobs), width=4.3, height=3.3)
    sentences = []
    for r, knob in enumerate(knobs):
        s = summary[knob]
        for c, (metric, cmap, panel) in enumerate((("test_error", "viridis", err_name),
                                                   ("mc", "RdBu", "mode connectivity mc (train, 11 points)"),
                                                   ("cka", "cividis", "CKA of the two retrainings"))):
            ax = axes[3 * r + c]
            val = s["mean"][metric]
            lim = {}
            if metric == "mc":                   # diverging, centred at 0: red = barrier
                top = float(np.nanmax(np.abs(val))) if np.isfinite(val).any() else 1.0
                lim = dict(vmin=-top, vmax=top)
            im = ax.imshow(val, origin="lower", aspect="auto", cmap=cmap, **lim)
            fig.colorbar(im, ax=ax, shrink=0.85)
            for ti in range(val.shape[0]):
                for di in range(val.shape[1]):
                    ax.text(di, ti, s["regime"][ti, di], ha="center", va="center", fontsize=6,
                            bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.7))
            _draw_boundaries(ax, s["regime"])
            ax.set_xticks(range(len(s["densities"])), [f"{x:g}" for x in s["densities"]], fontsize=7)
            ax.set_yticks(range(len(s["temperatures"])), [f"{x:g}" for x in s["temperatures"]], fontsize=7)
            ax.set_xlabel("density after pruning (load)")
            ax.set_ylabel(KNOB_LABEL[knob], fontsize=7)
            ax.set_title(panel, fontsize=9)
        sentences.append(temperature_sentence(knob, s))
    cfg = result["config"]
    fig.suptitle(f"{title}, means over {cfg['seeds']} dense seeds. Black lines: regime boundaries.\n"
                 f"I: mean mc below -max({MC_REL:g} x mean train error, {MC_ABS:g}) and 2 s.e. below 0; connected cells "
                 f"split at the midpoint of their CKA range into II-A (lower CKA) and II-B (II if the range < "
                 f"{CKA_MIN_SPREAD:g})", fontsize=8)
    out.mkdir(parents=True, exist_ok=True)
    png, pdf, csv = save_with_csv(fig, _tidy_rows(summary), out, stem, CSV_COLUMNS)
    write_atomic(out / f"{stem}.txt", "\n".join(sentences) + "\n")
    return png, pdf, csv
