"""Pruning both layers of the shallow network: one global selection against the same kept fraction per layer.

:func:`network_allocation_figure` runs :func:`simulations.network_experiment` on the base configuration of
:mod:`simulations.figures.networks` (docs/theory.md Section 6) with biases, pruning both weight matrices
(``prune_layers="all"``, biases kept) once with ``scope="global"`` (one ranking over ``W`` and ``v``, one
Gauss-Newton block for ``obs``) and once with ``scope="layer"`` (every layer keeps the same fraction, each
with its own block), for magnitude, OBD (``hessian``), OBS and random, over a range of kept fractions.
It draws the relative test loss per scope and, for the global scope, the fraction of the second layer
``v`` each criterion keeps (the layer scope keeps exactly the nominal fraction there). The title is
computed from the numbers (:func:`simulations.figures.captions.allocation_sentences`). Nothing is tuned
to favour either allocation.

CSV columns as in :mod:`simulations.figures.networks`: ``x_name`` is ``"scope"``, ``x`` the scope;
metrics ``relative_loss`` (test MSE / Var(y) after pruning) and ``second_layer_kept`` (fraction of the
``m`` second-layer weights kept).
"""

from __future__ import annotations

import textwrap
from functools import lru_cache

import numpy as np

from ..experiments.network_experiment import network_experiment
from ..plotting import LABELS, MARKERS, color, new_figure, plot_points
from . import captions
from .networks import base_config, save_network_figure

CRITERIA = ("magnitude", "hessian", "obs", "random")
SCOPES = ("global", "layer")
KEEPS = {True: (0.05, 0.2, 0.5), False: (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)}
STEM = "network_allocation"


def allocation_config(quick):
    """The base configuration with biases, both layers pruned, the figure's criteria and keeps."""
    return dict(base_config(quick), criteria=CRITERIA, keep=list(KEEPS[quick]), prune_layers="all", bias=True)


@lru_cache(maxsize=4)
def allocation_runs(quick, n_jobs=None):
    """``{scope: NetworkResult}`` for both scopes (the same trained networks: training does not depend on it)."""
    cfg = allocation_config(quick)
    return {s: network_experiment(**cfg, scope=s, n_jobs=n_jobs) for s in SCOPES}


def allocation_rows(results):
    """Tidy rows (columns :data:`simulations.figures.networks.CSV_COLUMNS`) of :func:`allocation_runs`."""
    rows = []
    for scope, res in results.items():
        trials = res.config["trials"]
        width = res.config["width"]
        second = res.extras["pruned_indices"] >= res.config["d"] * width      # v: the last m pruned weights
        for c in res.config["criteria"]:
            kept_v = res.extras["masks"][c][:, :, second].mean(axis=2)          # (trials, keep)
            for k, keep in enumerate(res.keep):
                rows.append(dict(figure="network-allocation", x_name="scope", x=scope, criterion=c, keep=keep,
                                 metric="relative_loss", mean=res.mean[c][k], sem=res.sem[c][k], trials=trials))
                rows.append(dict(figure="network-allocation", x_name="scope", x=scope, criterion=c, keep=keep,
                                 metric="second_layer_kept", mean=float(kept_v[:, k].mean()),
                                 sem=float(kept_v[:, k].std(ddof=1) / np.sqrt(trials)), trials=trials))
        rows.append(dict(figure="network-allocation", x_name="scope", x=scope, criterion="dense", keep=1.0,
                         metric="relative_loss", mean=res.mean["dense"], sem=res.sem["dense"], trials=trials))
    return rows


def _keep_axis(ax, keeps):
    ax.set_xscale("log")
    ax.set_xticks(keeps, [f"{k:g}" for k in keeps])
    ax.minorticks_off()
    ax.set_xlabel("kept fraction of W and v")


def plot_network_allocation(results, out_dir):
    """Draw and write the figure from :func:`allocation_runs`; returns ``(png, pdf, csv, txt)``."""
    rows = allocation_rows(results)
    title = captions.allocation_sentences(rows)
    fig, axes = new_figure(3, width=4.0, height=3.8)
    for ax, scope in zip(axes, SCOPES):
        res = results[scope]
        for c in CRITERIA:
            plot_points(ax, res.keep, res.mean[c], res.sem[c], color(c), LABELS.get(c, c), MARKERS.get(c, "o"))
            ax.plot(res.keep, res.mean[c], color=color(c), lw=0.8, alpha=0.6)
        ax.axhline(res.mean["dense"], color=color("dense"), ls=":", lw=1.2, label="dense")
        _keep_axis(ax, res.keep)
        ax.set_yscale("log")
        ax.set_title(f"scope = {scope!r}" + (" (one selection)" if scope == "global" else " (same fraction per layer)"),
                     fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test MSE / Var(y) after pruning")
    lo = min(a.get_ylim()[0] for a in axes[:2])
    hi = max(a.get_ylim()[1] for a in axes[:2])
    for a in axes[:2]:                       # one scale for both scopes
        a.set_ylim(lo, hi)
    ax = axes[2]
    res = results["global"]
    for c in CRITERIA:
        v = [r for r in rows if r["x"] == "global" and r["criterion"] == c and r["metric"] == "second_layer_kept"]
        plot_points(ax, [r["keep"] for r in v], [r["mean"] for r in v], [r["sem"] for r in v], color(c),
                    LABELS.get(c, c), MARKERS.get(c, "o"))
    ax.plot(res.keep, res.keep, color="grey", ls="--", lw=1, label="layer scope (nominal)")
    _keep_axis(ax, res.keep)
    ax.set_ylabel("fraction of v kept, global scope")
    ax.grid(alpha=0.3)
    handles = [h for a in (axes[0], ax) for h in a.get_legend_handles_labels()[0]]
    labels = [h.get_label() for h in handles]
    uniq = dict(zip(labels, handles))
    fig.legend(list(uniq.values()), list(uniq), loc="outside lower center", ncol=6, fontsize=6.5, frameon=False)
    cfg = res.config
    fig.suptitle("\n".join(textwrap.wrap(
        f"Both layers pruned, with biases (d={cfg['d']}, m={cfg['width']}, {cfg['steps']} Adam steps, "
        f"{cfg['trials']} trials). {title[0].upper() + title[1:]}.", 150)), fontsize=7.5)
    return save_network_figure(fig, rows, out_dir, STEM, title + ".")


def network_allocation_figure(out_dir, quick=False, n_jobs=None):
    """Global against layer-wise sparsity allocation when both layers are pruned (see the module docstring).

    Returns
    -------
    tuple of Path
        ``network_allocation.png``, ``.pdf``, ``.csv`` and ``.txt`` in ``out_dir``.
    """
    return plot_network_allocation(allocation_runs(bool(quick), n_jobs), out_dir)
