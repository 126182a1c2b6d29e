"""Named figures: each computes its curves, writes a tidy CSV and a PNG/PDF figure.

The registry :data:`FIGURES` maps a name to a function ``fn(out_dir, quick)``
returning the written paths. ``python -m simulations list`` shows them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from asymptotics import CRITERIA, Spectrum, dense_risk, pruned_risk

from .plotting import new_figure, plot_curves, save_figure, write_tidy_csv

#: The headline model: half of the features scaled up by 5 (variance 25) with weights 0.3 (importance
#: 25 * 0.09 = 2.25 against 1 for the unscaled half): small weights that matter.
HEADLINE_SPECTRUM = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3))
HEADLINE_NOISE = 0.25
HEADLINE_KAPPAS = (0.6, 2.0)

CSV_COLUMNS = ("figure", "kappa", "ridge", "retrain", "criterion", "keep", "source", "risk", "sem", "trials", "p")


def pruned_risk_figure(out_dir, quick=False):
    """Figure 2: pruned risk vs kept fraction, four criteria, kappa < 1 and kappa > 1 (theory)."""
    keep = np.linspace(0.02, 1.0, 50 if quick else 197)
    fig, axes = new_figure(len(HEADLINE_KAPPAS), sharey=False)
    rows = []
    for ax, kappa in zip(axes, HEADLINE_KAPPAS):
        theory = {c: pruned_risk(HEADLINE_SPECTRUM, kappa, HEADLINE_NOISE, keep, c) for c in CRITERIA}
        dense = dense_risk(HEADLINE_SPECTRUM, kappa, HEADLINE_NOISE)
        plot_curves(ax, keep, theory, title=f"kappa = n/p = {kappa:g}", legend=ax is axes[0])
        ax.axhline(dense, color="k", ls=":", lw=1, label="dense")
        for c, risk in theory.items():
            rows += [dict(figure="pruned-risk", kappa=kappa, ridge=0.0, retrain="none", criterion=c, keep=a,
                          source="theory", risk=r, sem="", trials="", p="") for a, r in zip(keep, risk)]
    fig.suptitle("Pruned min-norm / OLS risk, covariance-scaled two-atom model", fontsize=10)
    out = Path(out_dir)
    paths = save_figure(fig, out / "pruned_risk")
    csv = write_tidy_csv(out / "pruned_risk.csv", rows, CSV_COLUMNS)
    return (*paths, csv)


FIGURES = {
    "pruned-risk": pruned_risk_figure,
}
