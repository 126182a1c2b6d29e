"""Loss modelling: criteria, steps and locality on the digits MLP (Laurent et al. 2020; docs/references.md).

Criteria ``magnitude`` (MP),
  ``taylor1`` (LM), ``taylor2`` (QM) and ``hessian`` (OBD, exact Gauss-Newton
  diagonal), in 1, 14 or 140 steps, with locality penalties; training loss
  right after pruning and test accuracy after fine-tuning with the mask fixed;
  the rank correlation between the two across configurations with a bootstrap
  interval.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from linear_models import second_order as so
from pruning_checks import check_bool, check_array, check_choice, check_int, check_scalar

from ..plotting import new_figure, plot_points
from ..runtime.paths import check_output_dir
from ..runtime.extras import require
from ..runtime.stats import mean_sem
from ..runtime.workers import map_ordered, n_workers
from .digits_mlp import (BASE_SEED, BOOTSTRAP, FINETUNE_EPOCHS, LM_CRITERIA, LM_PENALTIES, LM_SPARSITY, LM_STEPS,
                         RECIPE, SIZES, STREAM_FINETUNE, accuracy, check_task, color, load_data, network, pm, row,
                         steps_per_epoch, stream_of, summarize, train_dense, write_outputs)

# ----------------------------------------------------------------------------------------------
# Experiment 2: loss modelling
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _LMTask:
    data: str
    seed: int
    sparsity: float
    configs: tuple          # (criterion, steps, penalty)
    finetune_epochs: int
    activation: str = "relu"
    sizes: tuple = SIZES

    def __post_init__(self):
        object.__setattr__(self, "sizes", check_task(self, fisher=False))
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


def fine_tune(net, data, theta, mask, epochs, rng, recipe=RECIPE):
    """Train the masked network ``epochs`` epochs; the epoch with the best validation accuracy is kept."""
    spe = steps_per_epoch(len(data.y_train), recipe["batch_size"])
    res = net.train(theta, data.X_train, data.y_train.astype(float), optimizer=recipe["optimizer"], lr=recipe["lr"],
                    steps=epochs * spe, batch_size=recipe["batch_size"], mask=mask, rng=rng,
                    checkpoints=[e * spe for e in range(epochs + 1)])
    vals = [accuracy(net, th, data.X_val, data.y_val) for th in res.snapshots]
    best = int(np.argmax(vals))                 # first of equals
    return res.snapshots[best], best


def _lm_task(task):
    data = load_data(task.data)
    net = network(task.activation, task.sizes)
    theta = train_dense(net, data, task.seed)
    Xtr, ytr = data.X_train, data.y_train.astype(float)

    def statistics(v):
        _, g = net.loss_and_grad(v, Xtr, ytr)
        return g, net.ggn_diagonal(v, Xtr)

    rows = []
    ft_rng = stream_of(data.name, task.seed, STREAM_FINETUNE)
    for crit, steps, pen in task.configs:
        res = so.prune_in_steps(theta, 1.0 - task.sparsity, crit, steps, statistics, penalty=pen)
        common = dict(seed=task.seed, steps=steps, penalty=pen)
        rows.append(row("loss-modelling", data.name, crit, task.sparsity, "train_loss_after_pruning",
                         net.loss_value(res.weights, Xtr, ytr), **common))
        rows.append(row("loss-modelling", data.name, crit, task.sparsity, "test_accuracy_after_pruning",
                         accuracy(net, res.weights, data.X_test, data.y_test), **common))
        tuned, epoch = fine_tune(net, data, res.weights, res.mask, task.finetune_epochs, ft_rng)
        rows.append(row("loss-modelling", data.name, crit, task.sparsity, "test_accuracy_after_finetune",
                         accuracy(net, tuned, data.X_test, data.y_test), **common))
        rows.append(row("loss-modelling", data.name, crit, task.sparsity, "best_finetune_epoch", float(epoch),
                         **common))
    return rows


def lm_rows(tasks, n_jobs=None):
    """Tidy rows of the loss-modelling tasks (in task order, whatever ``n_jobs``); every task and ``n_jobs``
    are checked before any runs."""
    tasks = list(tasks)
    for i, t in enumerate(tasks):
        if not isinstance(t, _LMTask):
            raise TypeError(f"tasks[{i}] must be an _LMTask, got {type(t).__name__}.")
    n_workers(n_jobs)
    return [r for part in map_ordered(_lm_task, [(t,) for t in tasks], n_jobs) for r in part]


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


def loss_modelling(out_dir, quick=False, n_jobs=None):
    """Experiment 2: loss-modelling criteria, steps and locality penalty; returns the paths."""
    check_output_dir(out_dir, "out_dir")             # before the work, not when writing its results
    check_bool(quick, "quick")
    n_workers(n_jobs)
    require("digits", "loss_modelling")       # before any work: the study runs on scikit-learn's digits
    configs = lm_configs(quick)
    seeds = range(1) if quick else range(5)
    epochs = 3 if quick else FINETUNE_EPOCHS
    tasks = [_LMTask("digits", s, LM_SPARSITY, configs, epochs) for s in seeds]
    rows = lm_rows(tasks, n_jobs)
    md, (rho, lo, hi) = loss_modelling_summary(rows)
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
    return write_outputs(out_dir, "loss-modelling", fig, rows, md)
