"""Second-order pruning experiments: the CBS table, loss modelling with locality, the linear counterpart.

Three figure functions with the signature of :mod:`simulations.figures`
(``fn(out_dir, quick=False, n_jobs=None)`` writes ``<name>.png``, ``.pdf``,
a tidy ``<name>.csv`` and a ``<name>.md`` summary, and returns the paths):

* :func:`cbs_table` (NEIGHBOURS.md D): a ``64-40-20-10`` ReLU MLP without
  biases (3,560 weights) trained on scikit-learn's digits (and on a planted-MLP
  teacher) by :data:`RECIPE`, then one-shot pruned without fine-tuning by
  ``magnitude``, ``magnitude+update``, ``woodfisher``, ``obs`` and ``cbs`` with
  the full empirical Fisher of the training set (``F = lambda I + G'G/N``,
  ``lambda`` relative to the mean diagonal, :data:`DAMPING`); test accuracy,
  mean and standard error over seeds, beside the published MNIST numbers.
* :func:`loss_modelling` (NEIGHBOURS.md C): criteria ``magnitude`` (MP),
  ``taylor1`` (LM), ``taylor2`` (QM) and ``hessian`` (OBD, exact Gauss-Newton
  diagonal), in 1, 14 or 140 steps, with locality penalties; training loss
  right after pruning and test accuracy after fine-tuning with the mask fixed;
  the rank correlation between the two across configurations with a bootstrap
  interval.
* :func:`linear_counterpart` (THEORY.md Section 5): least squares on the
  asymptotic engine's spectra, where the quadratic model is exact: the
  training-loss increase and the test risk of each method.

Why the dense network is not trained to zero loss: the empirical Fisher is the
mean of ``g g'`` over training samples; when every sample is fitted, ``g -> 0``,
the Fisher's diagonal collapses (orders of magnitude below any fixed damping)
and every update vanishes (the CBS checkpoint was likewise stopped at 25 epochs,
93.97% test accuracy). :data:`RECIPE` stops at a training loss of about 0.1.

Reproducibility: task ``(data, seed)`` draws its initialization, minibatch
order and randomised starts from ``SeedSequence(BASE_SEED, spawn_key=(data
index, seed, stream))`` and runs single-threaded, so tables are bitwise
identical for any ``n_jobs``.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .datasets import digits, teacher
from .plotting import color as _toolkit_color
from .plotting import new_figure, plot_points, save_figure, write_tidy_csv
from linear_models import second_order as so
from pruning_checks import keep_count

#: Distinct colours for the methods of these figures (the toolkit's palette for the names it knows).
METHOD_COLORS = {"magnitude+update": "#ff7f0e", "woodfisher": "#e377c2", "obs": "#17becf", "cbs": "#9467bd",
                 "cbs-exact": "#8c564b", "taylor1": "#ff7f0e", "taylor2": "#2ca02c"}


def color(name):
    return METHOD_COLORS.get(name) or _toolkit_color(name)


SIZES = (64, 40, 20, 10)
#: Dense training: Adam, lr 1e-3, batch 32, 10 epochs from He initialization (N(0, 2 / fan_in)):
#: training loss about 0.1, test accuracy about 96-97% on digits, before the loss saturates.
RECIPE = dict(optimizer="adam", lr=1e-3, batch_size=32, epochs=10, init=math.sqrt(2.0))
#: Fine-tuning after pruning (loss modelling): the same optimizer for this many epochs, mask fixed,
#: the epoch with the best validation accuracy kept (as in Laurent et al.).
FINETUNE_EPOCHS = 10
#: Relative damping of the empirical Fisher (lambda = DAMPING * mean diagonal of G'G/N).
DAMPING = 0.1
DAMPINGS = (1e-3, 1e-2, 1e-1, 1.0)
SPARSITIES = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)
METHODS = so.METHODS
DATASETS = ("digits", "teacher")
BASE_SEED = 20220708
STREAM_INIT, STREAM_ORDER, STREAM_RMP, STREAM_FINETUNE = 0, 1, 2, 3
CSV_COLUMNS = ("figure", "data", "method", "sparsity", "steps", "penalty", "damping", "seed", "metric", "value")
#: NEIGHBOURS.md D, MNIST MLPNet 784-40-20-10 (d = 32,360), test accuracy in % ([M]: recalled, verify).
PUBLISHED_MNIST = {
    "sparsity": (0.50, 0.60, 0.70, 0.80, 0.90, 0.95, 0.98),
    "magnitude": (93.93, 93.78, 93.62, 92.89, 90.30, 83.64, 32.25),
    "woodfisher": (94.02, 93.82, 93.77, 93.57, 91.69, 85.54, 38.26),
    "cbs": (93.96, 93.96, 93.98, 93.90, 93.14, 88.92, 55.45),
}
# loss modelling
LM_SPARSITY = 0.9
LM_CRITERIA = so.LOSS_CRITERIA
LM_STEPS = (1, 14, 140)
LM_PENALTIES = (0.0, 1e-4, 1e-3, 1e-2, 1e-1)
BOOTSTRAP = 2000


# ----------------------------------------------------------------------------------------------
# shared pieces
# ----------------------------------------------------------------------------------------------

def load_data(name):
    """The fixed data set of the experiments: digits (fixed split) or the planted teacher (seed 0)."""
    if name == "digits":
        return digits()
    if name == "teacher":
        return teacher(0, n_train=1078, n_val=359, n_test=1000, d=SIZES[0], hidden=SIZES[1:-1],
                       n_classes=SIZES[-1])
    raise ValueError(f"data == {name!r}, must be one of {DATASETS}.")


def _stream(data_name, seed, j):
    key = (DATASETS.index(data_name), int(seed), j)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(BASE_SEED, spawn_key=key)))


def network(activation="relu", sizes=SIZES):
    """The experiments' MLP: ``sizes`` (default :data:`SIZES`), no biases, softmax cross-entropy."""
    from .network import Network

    return Network(tuple(sizes), activation=activation, loss="cross_entropy")


def _steps_per_epoch(n, batch):
    return -(-n // batch)


def train_dense(net, data, seed, recipe=RECIPE):
    """Dense training by :data:`RECIPE` from the seed's initialization and minibatch streams."""
    theta0 = net.init(recipe["init"], _stream(data.name, seed, STREAM_INIT))
    spe = _steps_per_epoch(len(data.y_train), recipe["batch_size"])
    res = net.train(theta0, data.X_train, data.y_train.astype(float), optimizer=recipe["optimizer"],
                    lr=recipe["lr"], steps=recipe["epochs"] * spe, batch_size=recipe["batch_size"],
                    rng=_stream(data.name, seed, STREAM_ORDER))
    if not res.finite:
        raise FloatingPointError(f"dense training diverged (data {data.name}, seed {seed}).")
    return res.theta


def accuracy(net, theta, X, y):
    return float(np.mean(net.predict(theta, X).argmax(axis=1) == y))


def _map(fn, tasks, n_jobs):
    """``[fn(t) for t in tasks]`` serially or in ``n_jobs`` processes (results in task order)."""
    if n_jobs is None or n_jobs == 1 or len(tasks) <= 1:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):          # greedy OBS keeps its Numba threads (row-wise: deterministic)
            return [fn(t) for t in tasks]
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs == {n_jobs!r}, must be None, -1 or a positive integer.")
    workers = (os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs)
    # spawn, not fork: the parent may already run Numba's OpenMP threads (greedy OBS), and forking
    # such a process is unsafe
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx) as pool:
        return list(pool.map(_single_threaded, [fn] * len(tasks), tasks))


def _single_threaded(fn, task):
    """Run one task in a worker with one BLAS and one Numba thread (results do not depend on either)."""
    import numba
    from threadpoolctl import threadpool_limits

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            return fn(task)
    finally:
        numba.set_num_threads(before)


def mean_sem(values):
    v = np.asarray(values, dtype=float)
    return float(v.mean()), (float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan"))


def _row(figure, data, method, sparsity, metric, value, seed, steps=1, penalty=0.0, damping=""):
    return dict(figure=figure, data=data, method=method, sparsity=sparsity, steps=steps, penalty=penalty,
                damping=damping, seed=seed, metric=metric, value=value)


# ----------------------------------------------------------------------------------------------
# Experiment 1: the CBS table
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _TableTask:
    data: str
    seed: int
    sparsities: tuple
    damping: float
    methods: tuple
    n_starts: int
    activation: str = "relu"
    figure: str = "cbs-table"
    sizes: tuple = SIZES


def _prune_all(task, net, data, theta, fisher, rows):
    """One Fisher: every method at every sparsity; appends tidy rows."""
    Xtr, ytr = data.X_train, data.y_train.astype(float)
    loss = lambda v: net.loss_value(v, Xtr, ytr)
    d = theta.size
    order = None
    if "obs" in task.methods:
        order = so.obs_order(theta, fisher, d - keep_count(1 - max(task.sparsities), d))
    rmp_rng = _stream(data.name, task.seed, STREAM_RMP)
    for s in task.sparsities:
        keep = 1.0 - s
        res = {}
        for m in task.methods:
            if m == "magnitude":
                res[m] = so.magnitude(theta, keep)
            elif m == "magnitude+update":
                res[m] = so.magnitude_update(theta, fisher, keep)
            elif m == "woodfisher":
                res[m] = so.woodfisher(theta, fisher, keep)
            elif m == "obs":
                res[m] = so.obs(theta, fisher, keep, order=order)
            elif m == "cbs":
                res[m] = so.cbs(theta, fisher, keep, loss=loss, rng=rmp_rng, n_starts=task.n_starts)
        common = dict(seed=task.seed, damping=task.damping)
        for m, r in res.items():
            rows.append(_row(task.figure, data.name, m, s, "test_accuracy",
                             accuracy(net, r.weights, data.X_test, data.y_test), **common))
            rows.append(_row(task.figure, data.name, m, s, "train_loss", loss(r.weights), **common))
            if r.predicted_increase is not None:
                rows.append(_row(task.figure, data.name, m, s, "predicted_increase", r.predicted_increase, **common))
        mag = so.top_mask(np.abs(theta), keep_count(keep, d))
        for m in ("woodfisher", "obs", "cbs"):
            if m in res:
                rows.append(_row(task.figure, data.name, m, s, "mask_overlap_magnitude",
                                 so.mask_overlap(res[m].mask, mag), **common))
        if "cbs" in res:
            sr = res["cbs"].info["search"]
            for metric, value in (("cbs_start_objective", sr.start_objective), ("cbs_objective", sr.objective),
                                  ("cbs_swaps", float(sum(sr.swaps[:sr.best_iteration]))),
                                  ("cbs_iterations", float(len(sr.swaps))), ("cbs_start", float(res["cbs"].info["start"]))):
                rows.append(_row(task.figure, data.name, "cbs", s, metric, value, **common))


def _table_task(task):
    data = load_data(task.data)
    net = network(task.activation, task.sizes)
    theta = train_dense(net, data, task.seed)
    Xtr, ytr = data.X_train, data.y_train.astype(float)
    rows = []
    common = dict(seed=task.seed, damping=task.damping)
    rows.append(_row(task.figure, data.name, "dense", 0.0, "test_accuracy",
                     accuracy(net, theta, data.X_test, data.y_test), **common))
    rows.append(_row(task.figure, data.name, "dense", 0.0, "train_loss", net.loss_value(theta, Xtr, ytr), **common))
    G = net.per_sample_gradients(theta, Xtr, ytr)
    fisher = so.empirical_fisher(G, relative_damping=task.damping, inverse=True)
    rows.append(_row(task.figure, data.name, "fisher", 0.0, "mean_diagonal", fisher.mean_diagonal, **common))
    rows.append(_row(task.figure, data.name, "fisher", 0.0, "absolute_damping", fisher.damping, **common))
    _prune_all(task, net, data, theta, fisher, rows)
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


def summarize(rows, figure, metric, data=None, by=("data", "method", "sparsity")):
    """``{key: (mean, sem, n)}`` of ``metric`` over seeds, keyed by the ``by`` columns."""
    groups = {}
    for r in rows:
        if r["figure"] != figure or r["metric"] != metric or (data is not None and r["data"] != data):
            continue
        groups.setdefault(tuple(r[b] for b in by), []).append(r["value"])
    return {k: (*mean_sem(v), len(v)) for k, v in groups.items()}


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
                     f"{dm[2]} seeds (dense {100 * dm[0]:.2f} +- {100 * dm[1]:.2f})")
        lines.append("")
        lines.append("| sparsity | " + " | ".join(METHODS) + " | WF/mag overlap | MNIST MP | MNIST WF | MNIST CBS |")
        lines.append("|" + "---|" * (len(METHODS) + 5))
        for s in sparsities:
            cells = []
            for m in METHODS:
                v = acc.get((data, m, s))
                cells.append("" if v is None else f"{100 * v[0]:.2f} +- {100 * v[1]:.2f}")
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


def _write(out_dir, stem, fig, rows, markdown):
    out = Path(out_dir)
    paths = save_figure(fig, out / stem)
    csv = write_tidy_csv(out / f"{stem}.csv", rows, CSV_COLUMNS)
    md = out / f"{stem}.md"
    md.write_text(markdown)
    return (*paths, csv, md)


def table_rows(tasks, n_jobs=None):
    """Tidy rows of the CBS-table tasks (in task order, whatever ``n_jobs``)."""
    return [r for part in _map(_table_task, tasks, n_jobs) for r in part]


def cbs_table(out_dir, quick=False, n_jobs=None):
    """Experiment 1: one-shot pruning without fine-tuning (CBS Table 1 at small scale); returns the paths."""
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
    paths = _write(out_dir, "cbs-table", fig, main, cbs_markdown(rows, tasks[0].sparsities))
    if extra:        # the damping study in its own file: cbs-table.csv holds one damping only
        paths += (write_tidy_csv(Path(out_dir) / "cbs-table-damping.csv", extra, CSV_COLUMNS),)
    return paths


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


def lm_configs(quick):
    steps = (1, 14) if quick else LM_STEPS
    pens = (0.0, 1e-2) if quick else LM_PENALTIES
    out = [("magnitude", 1, 0.0)]          # MP: no update between steps, so steps and penalty change nothing
    out += [(c, s, p) for c in LM_CRITERIA if c != "magnitude" for s in steps for p in pens]
    return tuple(out)


def fine_tune(net, data, theta, mask, epochs, rng, recipe=RECIPE):
    """Train the masked network ``epochs`` epochs; the epoch with the best validation accuracy is kept."""
    spe = _steps_per_epoch(len(data.y_train), recipe["batch_size"])
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
    ft_rng = _stream(data.name, task.seed, STREAM_FINETUNE)
    for crit, steps, pen in task.configs:
        res = so.prune_in_steps(theta, 1.0 - task.sparsity, crit, steps, statistics, penalty=pen)
        common = dict(seed=task.seed, steps=steps, penalty=pen)
        rows.append(_row("loss-modelling", data.name, crit, task.sparsity, "train_loss_after_pruning",
                         net.loss_value(res.weights, Xtr, ytr), **common))
        rows.append(_row("loss-modelling", data.name, crit, task.sparsity, "test_accuracy_after_pruning",
                         accuracy(net, res.weights, data.X_test, data.y_test), **common))
        tuned, epoch = fine_tune(net, data, res.weights, res.mask, task.finetune_epochs, ft_rng)
        rows.append(_row("loss-modelling", data.name, crit, task.sparsity, "test_accuracy_after_finetune",
                         accuracy(net, tuned, data.X_test, data.y_test), **common))
        rows.append(_row("loss-modelling", data.name, crit, task.sparsity, "best_finetune_epoch", float(epoch),
                         **common))
    return rows


def lm_rows(tasks, n_jobs=None):
    """Tidy rows of the loss-modelling tasks (in task order, whatever ``n_jobs``)."""
    return [r for part in _map(_lm_task, tasks, n_jobs) for r in part]


def spearman(a, b):
    """Spearman rank correlation (average ranks for ties)."""
    from scipy.stats import rankdata

    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = np.sqrt((ra @ ra) * (rb @ rb))
    return float(ra @ rb / den) if den > 0 else float("nan")


def bootstrap_spearman(a, b, rng, n_boot=BOOTSTRAP, level=0.95):
    """Spearman correlation and a percentile bootstrap interval (configurations resampled)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    est = spearman(a, b)
    vals = []
    for _ in range(n_boot):
        i = rng.integers(0, a.size, a.size)
        r = spearman(a[i], b[i])
        if np.isfinite(r):
            vals.append(r)
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
        lines.append(f"| {k[0]} | {k[1]} | {k[2]:g} | {loss[k][0]:.3f} +- {loss[k][1]:.3f} | "
                     f"{100 * acc[k][0]:.2f} +- {100 * acc[k][1]:.2f} |")
    # (a) locality: more steps (lambda = 0) and a penalty (1 step), per criterion
    lines += ["", "### (a) locality: accuracy after fine-tuning (%), lambda = 0 by steps; best lambda > 0 at 1 step", ""]
    for crit in sorted({k[0] for k in keys} - {"magnitude"}):
        by_steps = ", ".join(f"{k[1]} steps {100 * acc[k][0]:.1f}" for k in keys if k[0] == crit and k[2] == 0.0)
        pen = [k for k in keys if k[0] == crit and k[1] == 1 and k[2] > 0]
        best = max(pen, key=lambda k: acc[k][0]) if pen else None
        extra = f"; lambda = {best[2]:g} at 1 step {100 * acc[best][0]:.1f}" if best else ""
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
        lines.append(f"mean difference {100 * m:+.2f} +- {100 * s:.2f} points over {len(diffs)} pairs")
    # (c) rank correlation across configurations (means over seeds)
    a = [loss[k][0] for k in keys]
    b = [acc[k][0] for k in keys]
    est, lo, hi = bootstrap_spearman(a, b, np.random.default_rng(BASE_SEED))
    lines += ["", "### (c) Spearman correlation, loss after pruning vs accuracy after fine-tuning", "",
              f"rho = {est:+.3f}, 95% bootstrap interval [{lo:+.3f}, {hi:+.3f}] over {len(keys)} configurations "
              "(a negative rho means lower loss goes with higher accuracy)"]
    return "\n".join(lines) + "\n", (est, lo, hi)


def loss_modelling(out_dir, quick=False, n_jobs=None):
    """Experiment 2: loss-modelling criteria, steps and locality penalty; returns the paths."""
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
    return _write(out_dir, "loss-modelling", fig, rows, md)


# ----------------------------------------------------------------------------------------------
# Experiment 3: the linear counterpart
# ----------------------------------------------------------------------------------------------

LINEAR_KEEPS = (0.5, 0.4, 0.3, 0.2, 0.15, 0.1, 0.05)
LINEAR_METHODS = ("magnitude", "magnitude+update", "woodfisher", "obs", "cbs", "cbs-exact")


def _linear_spectra():
    from asymptotics import Spectrum

    return {
        "two-level": Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3)),
        "power-law": Spectrum.power_law(n_atoms=64, exponent=1.0),
    }


def _linear_task(args):
    """Least squares: the OBS objective is the exact training-loss increase (THEORY.md Section 5)."""
    from linear_models import fit, from_spectrum, prune

    name, spectrum, p, kappa, noise, seed, keeps = args
    rng = np.random.default_rng(np.random.SeedSequence(BASE_SEED, spawn_key=(99, seed)))
    prob = from_spectrum(spectrum, p, noise, rng)
    n = int(round(kappa * p))
    X, y = prob.sample(n, rng)
    w = fit(X, y)
    H = X.T @ X / n                                      # the training loss (1/n)||y - Xw||^2 has Hessian 2H
    train = lambda v: float(np.mean((y - X @ v) ** 2))
    base = train(w)
    fisher = so.Fisher(H, so.spd_inverse(H, "X'X/n"), 0.0, 0.0, float(np.mean(np.diag(H))), n)
    order = so.obs_order(w, fisher, p - keep_count(min(keeps), p))
    rows = []
    for keep in keeps:
        res = {
            "magnitude": so.magnitude(w, keep),
            "magnitude+update": so.magnitude_update(w, fisher, keep),
            "woodfisher": so.woodfisher(w, fisher, keep),
            "obs": so.obs(w, fisher, keep, order=order),
            "cbs": so.cbs(w, fisher, keep, loss=train, rng=rng, n_starts=so.RMP_CANDIDATES, epsilon=1e-10),
        }
        ex = prune(w, keep, "cbs", hessian=H)
        res["cbs-exact"] = so.Pruned(ex.weights, ex.mask, "cbs-exact")
        for m, r in res.items():
            rows.append(_row("linear-counterpart", name, m, round(1 - keep, 6), "train_loss_increase",
                             train(r.weights) - base, seed))
            rows.append(_row("linear-counterpart", name, m, round(1 - keep, 6), "test_risk", prob.risk(r.weights), seed))
            if r.predicted_increase is not None:
                # 1/2 dw'(2H)dw: the quadratic model with the true Hessian 2H of the training loss
                rows.append(_row("linear-counterpart", name, m, round(1 - keep, 6), "predicted_increase",
                                 2 * r.predicted_increase, seed))
    return rows


def linear_counterpart(out_dir, quick=False, n_jobs=None):
    """Experiment 3: CBS, WoodFisher, OBS and magnitude on least squares, where the quadratic model is exact."""
    p = 100 if quick else 200
    seeds = range(2) if quick else range(5)
    keeps = (0.5, 0.2, 0.1) if quick else LINEAR_KEEPS
    tasks = [(name, spec, p, 2.0, 0.5, s, keeps) for name, spec in _linear_spectra().items() for s in seeds]
    rows = [r for part in _map(_linear_task, tasks, n_jobs) for r in part]
    fig, axes = new_figure(2, 2, width=4.0)
    inc = summarize(rows, "linear-counterpart", "train_loss_increase")
    risk = summarize(rows, "linear-counterpart", "test_risk")
    lines = []
    for col, name in enumerate(_linear_spectra()):
        for row_, (table, label) in enumerate(((inc, "training-loss increase (exact)"), (risk, "test risk"))):
            ax = axes[2 * row_ + col]
            for m in LINEAR_METHODS:
                pts = sorted((k[2], v) for k, v in table.items() if k[0] == name and k[1] == m)
                plot_points(ax, [q[0] for q in pts], [q[1][0] for q in pts], [q[1][1] for q in pts], color(m), m,
                            fmt="o-")
            ax.set_yscale("log")
            ax.set_xlabel("sparsity")
            ax.set_ylabel(label)
            ax.set_title(f"{name} spectrum, p = {p}, n = 2p", fontsize=9)
            ax.grid(alpha=0.3)
        for table, label in ((inc, "exact training-loss increase"), (risk, "test risk")):
            lines += [f"### {name} spectrum (p = {p}, n = 2p, noise 0.5): {label}, "
                      f"mean +- s.e. over {len(seeds)} seeds", "",
                      "| sparsity | " + " | ".join(LINEAR_METHODS) + " |", "|" + "---|" * (len(LINEAR_METHODS) + 1)]
            for s in sorted({k[2] for k in table if k[0] == name}):
                lines.append(f"| {s} | " + " | ".join(f"{table[(name, m, s)][0]:.4g} +- {table[(name, m, s)][1]:.2g}"
                                                      for m in LINEAR_METHODS) + " |")
            lines.append("")
    axes[0].legend(fontsize=7, frameon=False)
    return _write(out_dir, "linear-counterpart", fig, rows, "\n".join(lines))


FIGURES = {"cbs-table": cbs_table, "loss-modelling": loss_modelling, "linear-counterpart": linear_counterpart}
