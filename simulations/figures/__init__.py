"""Named figures and tables: theory (lines) against simulation (markers with standard errors).

Each entry of :data:`FIGURES` is called as ``FIGURES[name](out_dir, quick=False, n_jobs=None)``: it
computes its curves, writes ``<stem>.png``, ``<stem>.pdf`` and a tidy ``<stem>.csv`` (plus a
markdown or text summary for the tables, and ``<stem>.txt`` with the titles' comparison sentences
computed from the figure's own numbers by :mod:`.captions`) into ``out_dir`` and returns the paths of
every file it writes. ``quick`` uses fewer
points and trials (what the tests and notebooks run). This is the one registry: the command line
(``python -m simulations list``) and the notebooks read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..second_order.cbs_table import cbs_table
from ..second_order.linear_counterpart import linear_counterpart
from ..second_order.loss_modelling import loss_modelling
from ..regimes.scratch_linear import linear_scratch_table
from ..regimes.scratch_networks import scratch_table
from .allocation import network_allocation_figure
from .blocks import block_correlation_figure, hessian_gap_figure
from ..runtime.extras import require
from .linear import (covariance_scaling_figure, dense_risk_figure, hessian_bias_figure, initialization_figure,
                     pruned_risk_figure, retraining_figure, sparse_double_descent_figure)
from .networks import network_claims, network_hessian_figure, network_init_figure, network_scaling_figure
from .phase import phase_diagram_figure
from .regimes import regimes_figure


@dataclass(frozen=True)
class Figure:
    """A named figure: ``fn(out_dir, quick=False, n_jobs=None)``, a one-line summary and the optional extras
    it needs (checked before any work: a missing one is one :class:`ImportError` line naming it)."""

    name: str
    fn: Callable
    summary: str
    extras: tuple = ()

    def __call__(self, out_dir, quick=False, n_jobs=None):
        for extra in self.extras:
            require(extra, f"figure {self.name}")
        return self.fn(out_dir, quick=quick, n_jobs=n_jobs)


_ENTRIES = (
    ("dense-risk", dense_risk_figure, "Figure 1: dense risk vs kappa (double descent), min-norm/OLS and ridge, "
     "theory vs simulation."),
    ("pruned-risk", pruned_risk_figure, "Figure 2: pruned risk vs kept fraction, four criteria, kappa < 1 and "
     "kappa > 1, theory vs simulation."),
    ("covariance-scaling", covariance_scaling_figure, "Figure 3: scale a group of features by c (importance kept): "
     "magnitude vs hessian pruned risk vs c."),
    ("hessian-bias", hessian_bias_figure, "Figure 4: the magnitude-minus-hessian gap vs kappa for min-norm and for "
     "ridge (paired simulation)."),
    ("sparse-double-descent", sparse_double_descent_figure, "Figure 5: fixed n and number of kept weights, growing "
     "p; pruning vs training on the oracle support."),
    ("retraining", retraining_figure, "Figure 6: no refit, fresh-data refit and same-data refit; where same-data "
     "departs from the fresh formula."),
    ("initialization", initialization_figure, "Figure 7: pruned min-norm risk vs initialization scale s0 (gradient "
     "descent from b0), four criteria."),
    ("phase-diagram", phase_diagram_figure, "Figure 8: the linear phase diagram of temperature (mask ridge) and "
     "load, with cuts."),
    ("network-scaling", network_scaling_figure, "Network 1: magnitude failure vs covariance scaling of the "
     "important features."),
    ("network-init", network_init_figure, "Network 2: pruned loss and weight movement vs initialization scale."),
    ("network-hessian", network_hessian_figure, "Network 3: rank correlation of scores with ablation importance."),
    ("network-allocation", network_allocation_figure, "Network 4: both layers pruned, with biases: one global "
     "selection against the same kept fraction per layer."),
    ("network-claims", network_claims, "Network claims table: the shallow-network claims of docs/theory.md "
     "Section 6, measured."),
    ("cbs-table", cbs_table, "CBS table: one-shot second-order pruning of the digits MLP (Yu et al. 2022)."),
    ("loss-modelling", loss_modelling, "Loss modelling: criteria, steps and locality on the digits MLP "
     "(Laurent et al. 2020)."),
    ("linear-counterpart", linear_counterpart, "Linear counterpart of the CBS table: least squares, where the "
     "model is exact."),
    ("regimes", regimes_figure, "Three-regime maps (test error, mc, CKA) over temperature and density "
     "(Zhou et al. 2023)."),
    ("scratch-table", scratch_table, "Fine-tune vs Scratch-E vs Scratch-B on networks (Liu et al. 2019)."),
    ("linear-scratch", linear_scratch_table, "Fine-tune vs scratch in the linear limit: theory against exact "
     "Monte Carlo."),
    ("block-correlation", block_correlation_figure, "Correlated pair: pruned and refit risk vs within-block r, OBD vs OBS vs joint, with and without the OBS update (docs/theory.md Section 10)."),
    ("block-hessian-gap", hessian_gap_figure, "Correlated blocks: obs and joint with the population Hessian vs the training Hessian on the same data, p = 200-1000 (measured, no formula claimed)."),
)

#: Optional extras a figure needs (its data): checked before any work.
NEEDS = {"cbs-table": ("digits",), "loss-modelling": ("digits",)}

#: The registry of named figures, by name.
FIGURES = {name: Figure(name, fn, summary, NEEDS.get(name, ())) for name, fn, summary in _ENTRIES}

__all__ = ["FIGURES", "Figure"]
