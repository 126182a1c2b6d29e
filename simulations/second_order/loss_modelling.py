"""Loss modelling: criteria, steps and locality on the digits MLP (Laurent et al. 2020; docs/references.md).

Criteria ``magnitude`` (MP),
  ``taylor1`` (LM), ``taylor2`` (QM) and ``hessian`` (OBD, exact Gauss-Newton
  diagonal), in 1, 14 or 140 steps, with locality penalties; training loss
  right after pruning and test accuracy after fine-tuning with the mask fixed;
  the rank correlation between the two across configurations with a bootstrap
  interval.

The same study runs on MNIST-1D's 40-100-100-10 MLP (Greydanus 2020; the optional ``mnist1d``
extra, checked before any work), optionally with biases (as the published MLP baseline, about 68%
test accuracy) and with the pruned weights chosen by ``layers`` and ``scope``
(:func:`~simulations.second_order.digits_mlp.selection`):

    .venv/bin/python -m simulations.second_order.loss_modelling --data mnist1d --bias --quick --out output
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from linear_models import second_order as so
from pruning_checks import check_bool, check_array, check_choice, check_int, check_scalar

from ..plotting import new_figure, plot_points
from ..runtime.paths import check_output_dir
from ..runtime.stats import mean_sem
from ..runtime.workers import n_workers
from .digits_mlp import (ALL_DATA, BASE_SEED, BOOTSTRAP, DATASETS, FINETUNE_EPOCHS, LM_CRITERIA, LM_PENALTIES,
                         LM_SPARSITY, LM_STEPS, PUBLISHED_MNIST1D, STREAM_FINETUNE, accuracy, add_selection_flags,
                         check_task, color, mnist1d_baselines, option_suffix, options_text, pm, prune_groups,
                         recipe_of, require_data, row, steps_per_epoch, stream_of, summarize, task_rows, trained_task,
                         write_outputs)

# ----------------------------------------------------------------------------------------------
# Experiment 2: loss modelling
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _LMTask:
    """One loss-modelling run: a data set and seed, dense training, every configuration, fine-tuning.

    ``bias``, ``layers`` and ``scope`` choose the network and the pruned weights
    (:func:`~simulations.second_order.digits_mlp.selection`); ``sizes`` None is the data set's network
    (:data:`~simulations.second_order.digits_mlp.MNIST1D_SIZES` for ``"mnist1d"``). Every field is checked at
    construction (one line naming it), before any work.
    """

    data: str
    seed: int
    sparsity: float
    configs: tuple          # (criterion, steps, penalty)
    finetune_epochs: int
    activation: str = "relu"
    sizes: tuple | None = None
    bias: bool = False
    layers: tuple | None = None
    scope: str = "global"
    dense: bool = False     # also the dense network's test accuracy and training loss (method "dense")

    def __post_init__(self):
        check_bool(self.dense, "dense")
        sizes, layers = check_task(self, fisher=False)
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "layers", layers)
        sp = self.sparsity
        if isinstance(sp, (bool, np.bool_)) or not isinstance(sp, numbers.Real) or not 0 <= sp < 1:
            raise ValueError(f"sparsity == {sp!r}, must be a pruned fraction in [0, 1) (a float).")
        if isinstance(self.configs, (str, bytes)) or not self.configs:
            raise ValueError(f"configs == {self.configs!r}, must be a non-empty sequence of (criterion, steps, "
                             "penalty).")
        for i, c in enumerate(self.configs):
            if not hasattr(c, "__len__") or len(c) != 3:
                raise ValueError(f"configs[{i}] == {c!r}, must be a triple (criterion, steps, penalty).")
            check_choice(c[0], f"configs[{i}] criterion", LM_CRITERIA)
            check_int(c[1], f"configs[{i}] steps", low=1)
            check_scalar(c[2], f"configs[{i}] penalty", low=0)
        check_int(self.finetune_epochs, "finetune_epochs", low=0)


def lm_configs(quick):
    steps = (1, 14) if quick else LM_STEPS
    pens = (0.0, 1e-2) if quick else LM_PENALTIES
    out = [("magnitude", 1, 0.0)]          # MP: no update between steps, so steps and penalty change nothing
    out += [(c, s, p) for c in LM_CRITERIA if c != "magnitude" for s in steps for p in pens]
    return tuple(out)


def fine_tune(net, data, theta, mask, epochs, rng, recipe=None):
    """Train the masked network ``epochs`` epochs by ``recipe`` (default the data set's); the epoch with the
    best validation accuracy is kept. ``mask`` covers every parameter (biases and unpruned layers True)."""
    recipe = recipe_of(data.name) if recipe is None else recipe
    spe = steps_per_epoch(len(data.y_train), recipe["batch_size"])
    res = net.train(theta, data.X_train, data.y_train.astype(float), optimizer=recipe["optimizer"], lr=recipe["lr"],
                    steps=epochs * spe, batch_size=recipe["batch_size"], mask=mask, rng=rng,
                    checkpoints=[e * spe for e in range(epochs + 1)])
    vals = [accuracy(net, th, data.X_val, data.y_val) for th in res.snapshots]
    best = int(np.argmax(vals))                 # first of equals
    return res.snapshots[best], best


def _lm_task(task):
    data, net, sel, theta, Xtr, ytr = trained_task(task)

    def statistics_of(g):
        """Gradient and Gauss-Newton diagonal at the pruned weights of group ``g`` (None: all groups) set to
        ``v``, the rest of ``theta`` at its trained values."""
        def statistics(v):
            full = v if sel.everything else sel.put(theta, v, g)
            _, grad = net.loss_and_grad(full, Xtr, ytr)
            h = net.ggn_diagonal(full, Xtr)
            if sel.everything:
                return grad, h
            idx = sel.index if g is None else sel.index[slice(*sel.groups[g])]
            return grad[idx], h[idx]
        return statistics

    stats = [statistics_of(None if sel.scope == "global" else g) for g in range(len(sel.groups))]
    rows = []
    if task.dense:
        rows.append(row("loss-modelling", data.name, "dense", 0.0, "test_accuracy",
                         accuracy(net, theta, data.X_test, data.y_test), task.seed))
        rows.append(row("loss-modelling", data.name, "dense", 0.0, "train_loss", net.loss_value(theta, Xtr, ytr),
                         task.seed))
    ft_rng = stream_of(data.name, task.seed, STREAM_FINETUNE)
    for crit, steps, pen in task.configs:
        wts, mask, _ = prune_groups(sel, 1.0 - task.sparsity, lambda g, k: so.prune_in_steps(
            sel.weights(theta, g), k, crit, steps, stats[g], penalty=pen))
        pruned, mask = (wts, mask) if sel.everything else (sel.put(theta, wts), sel.full_mask(mask))
        common = dict(seed=task.seed, steps=steps, penalty=pen)
        rows.append(row("loss-modelling", data.name, crit, task.sparsity, "train_loss_after_pruning",
                         net.loss_value(pruned, Xtr, ytr), **common))
        rows.append(row("loss-modelling", data.name, crit, task.sparsity, "test_accuracy_after_pruning",
                         accuracy(net, pruned, data.X_test, data.y_test), **common))
        tuned, epoch = fine_tune(net, data, pruned, mask, task.finetune_epochs, ft_rng)
        rows.append(row("loss-modelling", data.name, crit, task.sparsity, "test_accuracy_after_finetune",
                         accuracy(net, tuned, data.X_test, data.y_test), **common))
        rows.append(row("loss-modelling", data.name, crit, task.sparsity, "best_finetune_epoch", float(epoch),
                         **common))
    return rows


def lm_rows(tasks, n_jobs=None):
    """Tidy rows of the loss-modelling tasks (in task order, whatever ``n_jobs``); every task and ``n_jobs``
    are checked before any runs."""
    return task_rows(_lm_task, tasks, _LMTask, n_jobs)


def _pair(a, b):
    """Two finite 1-D samples of one length (>= 2), or an error naming ``a`` / ``b``."""
    a = check_array(a, "a", 1)
    b = check_array(b, "b", 1)
    if a.shape != b.shape:
        raise ValueError(f"a has {a.size} values and b {b.size}; a rank correlation needs pairs.")
    if a.size < 2:
        raise ValueError(f"a and b have {a.size} pair(s); a rank correlation needs at least 2.")
    return a, b


def spearman(a, b):
    """Spearman rank correlation (average ranks for ties)."""
    from scipy.stats import rankdata

    a, b = _pair(a, b)
    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = np.sqrt((ra @ ra) * (rb @ rb))
    return float(ra @ rb / den) if den > 0 else float("nan")


def bootstrap_spearman(a, b, rng, n_boot=BOOTSTRAP, level=0.95):
    """Spearman correlation and a percentile bootstrap interval (configurations resampled)."""
    a, b = _pair(a, b)
    n_boot = check_int(n_boot, "n_boot", low=1)
    level = check_scalar(level, "level", low=0, high=1, include_low=False, include_high=False)
    est = spearman(a, b)
    vals = []
    for _ in range(n_boot):
        i = rng.integers(0, a.size, a.size)
        r = spearman(a[i], b[i])
        if np.isfinite(r):
            vals.append(r)
    if not vals:                                # every resample tied: no interval (not a quantile of nothing)
        return est, float("nan"), float("nan")
    lo, hi = np.quantile(vals, [(1 - level) / 2, (1 + level) / 2])
    return est, float(lo), float(hi)


def loss_modelling_summary(rows):
    """Markdown: (a) locality, (b) taylor1 vs taylor2, (c) rank correlation with its interval."""
    by = ("method", "steps", "penalty")
    loss = summarize(rows, "loss-modelling", "train_loss_after_pruning", by=by)
    acc = summarize(rows, "loss-modelling", "test_accuracy_after_finetune", by=by)
    keys = sorted(acc)
    lines = ["### training loss right after pruning / test accuracy (%) after fine-tuning (mean +- s.e.)", "",
             "| criterion | steps | lambda | loss after pruning | accuracy after fine-tuning |", "|---|---|---|---|---|"]
    for k in keys:
        lines.append(f"| {k[0]} | {k[1]} | {k[2]:g} | {pm(loss[k][0], loss[k][1], digits=3)} | "
                     f"{pm(acc[k][0], acc[k][1], 100)} |")
    # (a) locality: more steps (lambda = 0) and a penalty (1 step), per criterion
    lines += ["", "### (a) locality: accuracy after fine-tuning (%), lambda = 0 by steps; best lambda > 0 at 1 step", ""]
    pct = lambda v: f"{100 * v:.1f}" if np.isfinite(v) else "cannot be assessed"      # noqa: E731
    for crit in sorted({k[0] for k in keys} - {"magnitude"}):
        by_steps = ", ".join(f"{k[1]} steps {pct(acc[k][0])}" for k in keys if k[0] == crit and k[2] == 0.0)
        pen = [k for k in keys if k[0] == crit and k[1] == 1 and k[2] > 0 and np.isfinite(acc[k][0])]
        best = max(pen, key=lambda k: acc[k][0]) if pen else None
        extra = f"; lambda = {best[2]:g} at 1 step {pct(acc[best][0])}" if best else ""
        lines.append(f"- {crit}: {by_steps}{extra}")
    # (b) paired taylor1 - taylor2 differences over seeds
    per = {}
    for r in rows:
        if r["figure"] == "loss-modelling" and r["metric"] == "test_accuracy_after_finetune":
            per[(r["method"], r["steps"], r["penalty"], r["seed"])] = r["value"]
    diffs = [per[("taylor1",) + k[1:]] - per[("taylor2",) + k[1:]] for k in per if k[0] == "taylor1"
             and ("taylor2",) + k[1:] in per]
    lines += ["", "### (b) taylor1 - taylor2, accuracy after fine-tuning, paired over seeds and configurations", ""]
    if diffs:
        m, s = mean_sem(diffs)
        lines.append(f"mean difference {pm(m, s, 100, sign='+')} points over {len(diffs)} pairs")
    # (c) rank correlation across configurations (means over seeds)
    a = [loss[k][0] for k in keys]
    b = [acc[k][0] for k in keys]
    lines += ["", "### (c) Spearman correlation, loss after pruning vs accuracy after fine-tuning", ""]
    if len(a) >= 2 and np.all(np.isfinite(a)) and np.all(np.isfinite(b)):
        est, lo, hi = bootstrap_spearman(a, b, np.random.default_rng(BASE_SEED))
    else:
        est = lo = hi = float("nan")
    if np.isfinite(est) and np.isfinite(lo) and np.isfinite(hi):
        lines.append(f"rho = {est:+.3f}, 95% bootstrap interval [{lo:+.3f}, {hi:+.3f}] over {len(keys)} "
                     "configurations (a negative rho means lower loss goes with higher accuracy)")
    else:
        lines.append(f"the rank correlation cannot be assessed: its inputs over {len(keys)} configurations are not "
                     "finite, fewer than 2, or all tied")
    return "\n".join(lines) + "\n", (est, lo, hi)


def loss_modelling(out_dir, quick=False, n_jobs=None, *, data="digits", bias=False, layers=None, scope="global",
                   seeds=None):
    """Experiment 2: loss-modelling criteria, steps and locality penalty; returns the paths.

    Parameters
    ----------
    out_dir : path
        Receives ``<stem>.png``, ``.pdf``, the tidy ``<stem>.csv`` and the summary ``<stem>.md``, with
        ``stem`` ``loss-modelling`` for digits and ``loss-modelling-<data>`` otherwise.
    quick : bool
        One seed, steps (1, 14), penalties (0, 1e-2), 3 fine-tuning epochs.
    n_jobs : int, optional
        Workers (the rows are the same for any number).
    data : {"digits", "teacher", "mnist1d"}
        The data set and its network (:func:`~simulations.second_order.digits_mlp.default_sizes`): the
        64-40-20-10 MLP, or MNIST-1D's 40-100-100-10 (its summary also gives the dense test accuracy beside
        the published MLP and logistic-regression baselines).
    bias, layers, scope :
        The network's biases and the pruned weights (:func:`~simulations.second_order.digits_mlp.selection`).
    seeds : int, optional
        Number of seeds (default 1 with ``quick``, else 5).

    Raises
    ------
    ValueError, TypeError
        Any bad argument (named in one line), before any work.
    ImportError
        The data set's optional package (scikit-learn, ``mnist1d``) is missing, before any work.
    """
    check_output_dir(out_dir, "out_dir")             # before the work, not when writing its results
    check_bool(quick, "quick")
    n_workers(n_jobs)
    require_data(data, "loss_modelling")       # before any work: scikit-learn for digits, mnist1d for MNIST-1D
    n_seeds = (1 if quick else 5) if seeds is None else check_int(seeds, "seeds", low=1)
    configs = lm_configs(quick)
    epochs = 3 if quick else FINETUNE_EPOCHS
    tasks = [_LMTask(data, s, LM_SPARSITY, configs, epochs, bias=bias, layers=layers, scope=scope,
                     dense=data not in DATASETS) for s in range(n_seeds)]
    rows = lm_rows(tasks, n_jobs)
    if data == "mnist1d":          # the published baselines retrained here, beside the dense network of the study
        rows += mnist1d_baselines(3, figure="loss-modelling")
    md, (rho, lo, hi) = loss_modelling_summary(rows)
    if data not in DATASETS:
        md = dense_summary(rows, tasks[0]) + md
    by = ("method", "steps", "penalty")
    loss = summarize(rows, "loss-modelling", "train_loss_after_pruning", by=by)
    acc = summarize(rows, "loss-modelling", "test_accuracy_after_finetune", by=by)
    fig, axes = new_figure(3, width=4.0)
    steps_list = sorted({k[1] for k in acc})
    pens = sorted({k[2] for k in acc})
    for crit in LM_CRITERIA:
        ks = [k for k in acc if k[0] == crit and k[2] == 0.0]
        ks.sort(key=lambda k: k[1])
        if crit != "magnitude":
            plot_points(axes[0], [k[1] for k in ks], [loss[k][0] for k in ks], [loss[k][1] for k in ks], color(crit),
                        crit, fmt="o-")
        kp = sorted((k for k in acc if k[0] == crit and k[1] == 1), key=lambda k: k[2])
        if crit != "magnitude":
            x = [max(k[2], pens[1] / 10 if len(pens) > 1 else 1e-5) for k in kp]
            plot_points(axes[1], x, [loss[k][0] for k in kp], [loss[k][1] for k in kp], color(crit), crit, fmt="o-")
        plot_points(axes[2], [loss[k][0] for k in acc if k[0] == crit], [100 * acc[k][0] for k in acc if k[0] == crit],
                    [100 * acc[k][1] for k in acc if k[0] == crit], color(crit), crit)
    mp = ("magnitude", 1, 0.0)
    if mp in loss:
        for ax in axes[:2]:
            ax.axhline(loss[mp][0], color=color("magnitude"), ls=":", label="magnitude (MP)")
    axes[0].set_xscale("log")
    axes[0].set_xticks(steps_list)
    axes[0].set_xticklabels([str(s) for s in steps_list])
    axes[0].set_xlabel("pruning steps (lambda = 0)")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("locality penalty lambda (1 step; 0 drawn at the left)")
    for ax in axes[:2]:
        ax.set_ylabel(f"training loss after pruning to {LM_SPARSITY}")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, frameon=False)
    axes[2].set_xscale("log")
    axes[2].set_xlabel("training loss after pruning")
    axes[2].set_ylabel("test accuracy after fine-tuning (%)")
    axes[2].set_title(f"Spearman {rho:+.2f} [{lo:+.2f}, {hi:+.2f}]", fontsize=9)
    axes[2].grid(alpha=0.3)
    del steps_list
    stem = "loss-modelling" + ("" if data == "digits" else f"-{data}") + option_suffix(bias, tasks[0].layers, scope)
    return write_outputs(out_dir, stem, fig, rows, md)


def dense_summary(rows, task):
    """Markdown: the dense network's test accuracy over seeds and, for MNIST-1D, its published baselines
    (:data:`~simulations.second_order.digits_mlp.PUBLISHED_MNIST1D`) and their retrained values."""
    acc = summarize(rows, "loss-modelling", "test_accuracy", by=("method",))
    if ("dense",) not in acc:
        return ""
    d = acc[("dense",)]
    net = "-".join(map(str, task.sizes)) + ("" if task.bias else " without biases")
    opts = options_text(task.bias, task.layers, task.scope)
    r = recipe_of(task.data)
    lines = [f"### {task.data}: dense {net}{', ' + opts if opts else ''}: test accuracy (%) {pm(d[0], d[1], 100)} "
             f"over {d[2]} seed(s) (Adam, lr {r['lr']:g}, batch {r['batch_size']}, {r['epochs']} epochs); "
             f"pruned to sparsity {task.sparsity}", ""]
    if task.data == "mnist1d":
        lines += ["| baseline (with biases) | published | retrained here (6,000 steps, 4,000 signals) |", "|---|---|---|"]
        for name, label in (("mlp", "MLP 40-100-100-10"), ("logistic", "logistic regression 40-10")):
            v = acc.get((name,))
            lines.append(f"| {label} | about {PUBLISHED_MNIST1D[name]:.0f} | "
                         f"{'' if v is None else pm(v[0], v[1], 100) + (f' ({v[2]} seeds)' if v[2] > 1 else '')} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv=None):
    """Command line: ``python -m simulations.second_order.loss_modelling --data mnist1d --quick --out DIR``."""
    import argparse
    import sys

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", choices=ALL_DATA, default="digits")
    p.add_argument("--seeds", type=int, help="number of seeds (default 5; 1 with --quick)")
    p.add_argument("--quick", action="store_true", help="one seed, steps 1 and 14, penalties 0 and 1e-2, "
                                                         "3 fine-tuning epochs")
    add_selection_flags(p)
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--out", default="output")
    a = p.parse_args(argv)
    try:                            # every argument checked before any work: a bad one is one line, no traceback
        check_output_dir(a.out, "--out")
        n_workers(a.jobs)
        require_data(a.data, "loss_modelling")
        if a.seeds is not None:
            check_int(a.seeds, "--seeds", low=1)
        _LMTask(a.data, 0, LM_SPARSITY, lm_configs(a.quick), 0, bias=a.bias, layers=a.layers, scope=a.scope)
    except (ValueError, TypeError, ImportError) as exc:
        raise SystemExit(f"{p.prog}: error: {exc}") from None
    paths = loss_modelling(a.out, quick=a.quick, n_jobs=a.jobs, data=a.data, bias=a.bias, layers=a.layers,
                           scope=a.scope, seeds=a.seeds)
    sys.stdout.write(Path(paths[-1]).read_text())
    return paths


if __name__ == "__main__":
    main()
