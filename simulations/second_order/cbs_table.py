"""CBS table: one-shot second-order pruning of the digits MLP (Yu et al. 2022; docs/references.md).

A ``64-40-20-10`` ReLU MLP without
  biases (3,560 weights) trained on scikit-learn's digits (and on a planted-MLP
  teacher) by :data:`RECIPE`, then one-shot pruned without fine-tuning by
  ``magnitude``, ``magnitude+update``, ``woodfisher``, ``obs`` and ``cbs`` with
  the full empirical Fisher of the training set (``F = lambda I + G'G/N``,
  ``lambda`` relative to the mean diagonal, :data:`DAMPING`); test accuracy,
  mean and standard error over seeds, beside the published MNIST numbers.

A task's ``bias``, ``layers`` and ``scope`` (:class:`_TableTask`) add biases (never pruned), prune only
the weight matrices named, or keep the same fraction of each layer with each layer's own Fisher
(``scope="layer"``; the damping is resolved once on all pruned weights); the defaults are the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from linear_models import second_order as so
from pruning_checks import check_bool, check_int, check_scalar

from ..plotting import new_figure, plot_points
from ..runtime.paths import check_output_dir
from ..runtime.extras import require
from ..runtime.files import write_tidy_csv
from ..runtime.workers import n_workers
from .digits_mlp import (CSV_COLUMNS, DAMPING, DAMPINGS, DATASETS, METHODS, PUBLISHED_MNIST, SPARSITIES, STREAM_RMP,
                         accuracy, check_methods, check_sparsities, check_task, color, pm, prune_groups, row, stream_of,
                         summarize, task_rows, trained_task, write_outputs)

# ----------------------------------------------------------------------------------------------
# Experiment 1: the CBS table
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _TableTask:
    """One CBS-table run: a data set and seed, dense training, one empirical Fisher, every method.

    ``bias``, ``layers`` and ``scope`` choose the network and the pruned weights
    (:func:`~simulations.second_order.digits_mlp.selection`); ``sizes`` None is the data set's network.
    Every field is checked at construction (one line naming it), before any work.
    """

    data: str
    seed: int
    sparsities: tuple
    damping: float
    methods: tuple
    n_starts: int
    activation: str = "relu"
    figure: str = "cbs-table"
    sizes: tuple | None = None
    bias: bool = False
    layers: tuple | None = None
    scope: str = "global"

    def __post_init__(self):
        sizes, layers = check_task(self, fisher=True)
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "layers", layers)
        check_sparsities(self.sparsities)
        check_scalar(self.damping, "damping", low=0, include_low=False)
        check_methods(self.methods)
        check_int(self.n_starts, "n_starts", low=1)


def _fishers(sel, G, damping):
    """The damped empirical Fisher of each group of ``sel`` from the per-sample gradients ``G`` (``(N, n_params)``):
    one over every pruned weight (``scope="global"``), or each layer's own with the damping resolved once
    on all the pruned weights (``"layer"``). Returns the Fishers and ``(mean diagonal, absolute damping)``."""
    Gs = sel.columns(G)
    if sel.scope == "global":
        fisher = so.empirical_fisher(Gs, relative_damping=damping, inverse=True)
        return [fisher], (fisher.mean_diagonal, fisher.damping)
    mean_diag = float(np.mean(np.einsum("ij,ij->j", Gs, Gs))) / Gs.shape[0]
    lam = so.resolve_damping(mean_diag, relative_damping=damping)
    return [so.empirical_fisher(Gs[:, a:b], damping=lam, inverse=True) for a, b in sel.groups], (mean_diag, lam)


def _prune_all(task, net, data, theta, sel, fishers, rows):
    """Every method at every sparsity on the weights of ``sel`` (each group with its own Fisher of
    ``fishers``); appends tidy rows. The CBS loss is the training loss of the full parameter vector."""
    Xtr, ytr = data.X_train, data.y_train.astype(float)
    full_loss = lambda v: net.loss_value(v, Xtr, ytr)        # noqa: E731
    parts = [sel.weights(theta, g) for g in range(len(sel.groups))]
    losses = [full_loss] if sel.everything else [(lambda v, g=g: full_loss(sel.put(theta, v, g)))
                                                   for g in range(len(sel.groups))]
    orders = [None] * len(parts)
    if "obs" in task.methods:
        orders = [so.obs_order(wg, f, wg.size - k) for wg, f, k in
                  zip(parts, fishers, sel.counts(1 - max(task.sparsities)))]
    rmp_rng = stream_of(data.name, task.seed, STREAM_RMP)

    def method(m):
        def one(g, k):
            wg, f = parts[g], fishers[g]
            if m == "magnitude":
                return so.magnitude(wg, k)
            if m == "magnitude+update":
                return so.magnitude_update(wg, f, k)
            if m == "woodfisher":
                return so.woodfisher(wg, f, k)
            if m == "obs":
                return so.obs(wg, f, k, order=orders[g])
            return so.cbs(wg, f, k, loss=losses[g], rng=rmp_rng, n_starts=task.n_starts)
        return one

    for s in task.sparsities:
        keep = 1.0 - s
        res = {m: prune_groups(sel, keep, method(m)) for m in task.methods}
        common = dict(seed=task.seed, damping=task.damping)
        for m, (wts, _, parts_res) in res.items():
            full = wts if sel.everything else sel.put(theta, wts)
            rows.append(row(task.figure, data.name, m, s, "test_accuracy",
                             accuracy(net, full, data.X_test, data.y_test), **common))
            rows.append(row(task.figure, data.name, m, s, "train_loss", full_loss(full), **common))
            incs = [r.loss_increase for r in parts_res]
            if all(i is not None for i in incs):
                rows.append(row(task.figure, data.name, m, s, "predicted_increase",
                                 incs[0] if len(incs) == 1 else float(sum(incs)), **common))
        mag = prune_groups(sel, keep, lambda g, k: so.magnitude(parts[g], k))[1]
        for m in ("woodfisher", "obs", "cbs"):
            if m in res:
                rows.append(row(task.figure, data.name, m, s, "mask_overlap_magnitude",
                                 so.mask_overlap(res[m][1], mag), **common))
        if "cbs" in res:
            srs = [r.info["search"] for r in res["cbs"][2]]
            metrics = [("cbs_start_objective", sum(sr.start_objective for sr in srs)),       # summed over layers
                       ("cbs_objective", sum(sr.objective for sr in srs)),
                       ("cbs_swaps", float(sum(sum(sr.swaps[:sr.best_iteration]) for sr in srs))),
                       ("cbs_iterations", float(sum(len(sr.swaps) for sr in srs)))]
            if len(srs) == 1:                  # the start chosen (one per layer with scope "layer")
                metrics.append(("cbs_start", float(res["cbs"][2][0].info["start"])))
            for metric, value in metrics:
                rows.append(row(task.figure, data.name, "cbs", s, metric, value, **common))


def _table_task(task):
    data, net, sel, theta, Xtr, ytr = trained_task(task)
    rows = []
    common = dict(seed=task.seed, damping=task.damping)
    rows.append(row(task.figure, data.name, "dense", 0.0, "test_accuracy",
                     accuracy(net, theta, data.X_test, data.y_test), **common))
    rows.append(row(task.figure, data.name, "dense", 0.0, "train_loss", net.loss_value(theta, Xtr, ytr), **common))
    G = net.per_sample_gradients(theta, Xtr, ytr)
    fishers, (mean_diag, lam) = _fishers(sel, G, task.damping)
    del G
    rows.append(row(task.figure, data.name, "fisher", 0.0, "mean_diagonal", mean_diag, **common))
    rows.append(row(task.figure, data.name, "fisher", 0.0, "absolute_damping", lam, **common))
    _prune_all(task, net, data, theta, sel, fishers, rows)
    return rows


def _table_tasks(quick):
    if quick:
        return [_TableTask("digits", s, (0.5, 0.7, 0.9), DAMPING, METHODS, 10) for s in range(2)]
    tasks = [_TableTask(name, s, SPARSITIES, DAMPING, METHODS, so.RMP_CANDIDATES)
             for name in DATASETS for s in range(5)]
    # the damping's effect: digits, two seeds, the methods that use the Fisher's inverse or its updates
    tasks += [_TableTask("digits", s, SPARSITIES, dmp, ("magnitude+update", "woodfisher", "cbs"), so.RMP_CANDIDATES,
                         figure="cbs-table-damping")
              for dmp in DAMPINGS if dmp != DAMPING for s in range(2)]
    return tasks


def cbs_markdown(rows, sparsities=SPARSITIES):
    """The measured table (%, mean +- s.e.) beside the published MNIST numbers."""
    lines = []
    acc = summarize(rows, "cbs-table", "test_accuracy")
    dense = summarize(rows, "cbs-table", "test_accuracy", by=("data",))
    ovl = summarize(rows, "cbs-table", "mask_overlap_magnitude")
    for data in DATASETS:
        if not any(k[0] == data for k in acc):
            continue
        dm = summarize(rows, "cbs-table", "test_accuracy", data=data, by=("method",)).get(("dense",))
        lines.append(f"### {data}: test accuracy (%) without fine-tuning, mean +- s.e. over "
                     f"{dm[2]} seeds (dense {pm(dm[0], dm[1], 100)})")
        lines.append("")
        lines.append("| sparsity | " + " | ".join(METHODS) + " | WF/mag overlap | MNIST MP | MNIST WF | MNIST CBS |")
        lines.append("|" + "---|" * (len(METHODS) + 5))
        for s in sparsities:
            cells = []
            for m in METHODS:
                v = acc.get((data, m, s))
                cells.append("" if v is None else pm(v[0], v[1], 100))
            o = ovl.get((data, "woodfisher", s))
            cells.append("" if o is None else f"{o[0]:.4f}")
            if s in PUBLISHED_MNIST["sparsity"]:
                i = PUBLISHED_MNIST["sparsity"].index(s)
                cells += [f"{PUBLISHED_MNIST[m][i]:.2f}" for m in ("magnitude", "woodfisher", "cbs")]
            else:
                cells += ["", "", ""]
            lines.append(f"| {s} | " + " | ".join(cells) + " |")
        lines.append("")
    del dense
    damp = summarize(rows, "cbs-table-damping", "test_accuracy", by=("damping", "method", "sparsity"))
    if damp:
        base = {(DAMPING, m, s): v for (d, m, s), v in acc.items() if d == "digits"}
        both = {**damp, **base}
        lines.append("### digits: effect of the relative damping (test accuracy %, mean over the seeds run)")
        lines.append("")
        lines.append("| damping | method | " + " | ".join(str(s) for s in sparsities) + " |")
        lines.append("|" + "---|" * (len(sparsities) + 2))
        for dmp in sorted({k[0] for k in both}):
            for m in ("magnitude+update", "woodfisher", "cbs"):
                cells = [f"{100 * both[(dmp, m, s)][0]:.1f}" if (dmp, m, s) in both else "" for s in sparsities]
                lines.append(f"| {dmp:g} | {m} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def table_rows(tasks, n_jobs=None):
    """Tidy rows of the CBS-table tasks (in task order, whatever ``n_jobs``); every task and ``n_jobs`` are
    checked before any runs."""
    return task_rows(_table_task, tasks, _TableTask, n_jobs)


def cbs_table(out_dir, quick=False, n_jobs=None):
    """Experiment 1: one-shot pruning without fine-tuning (CBS Table 1 at small scale); returns the paths."""
    check_output_dir(out_dir, "out_dir")             # before the work, not when writing its results
    check_bool(quick, "quick")
    n_workers(n_jobs)
    require("digits", "cbs_table")            # before any work: the table's data set is scikit-learn's digits
    tasks = _table_tasks(quick)
    rows = table_rows(tasks, n_jobs)
    present = [d for d in DATASETS if any(r["data"] == d for r in rows)]
    fig, axes = new_figure(len(present) + 1, width=4.0, sharey=True)
    acc = summarize(rows, "cbs-table", "test_accuracy")
    for ax, data in zip(axes, present):
        for i, m in enumerate(METHODS):
            pts = sorted((k[2], v) for k, v in acc.items() if k[0] == data and k[1] == m)
            if pts:
                x = np.array([p[0] for p in pts]) + 0.003 * (i - 2)
                plot_points(ax, x, [100 * p[1][0] for p in pts], [100 * p[1][1] for p in pts], color(m), m,
                            fmt="o-")
        ax.set_title(f"{data} (64-40-20-10, d = 3,560)")
        ax.set_xlabel("sparsity")
        ax.grid(alpha=0.3)
    ax = axes[-1]
    for m in ("magnitude", "woodfisher", "cbs"):
        ax.plot(PUBLISHED_MNIST["sparsity"], PUBLISHED_MNIST[m], "s--", color=color(m), label=f"{m} (published)")
    ax.set_title("MNIST 784-40-20-10, published")
    ax.set_xlabel("sparsity")
    ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%), no fine-tuning")
    axes[0].legend(fontsize=7, frameon=False)
    axes[-1].legend(fontsize=7, frameon=False)
    main = [r for r in rows if r["figure"] == "cbs-table"]
    extra = [r for r in rows if r["figure"] != "cbs-table"]
    paths = write_outputs(out_dir, "cbs-table", fig, main, cbs_markdown(rows, tasks[0].sparsities))
    if extra:        # the damping study in its own file: cbs-table.csv holds one damping only
        paths += (write_tidy_csv(Path(out_dir) / "cbs-table-damping.csv", extra, CSV_COLUMNS),)
    return paths
