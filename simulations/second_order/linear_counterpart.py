"""The linear counterpart of the CBS table: least squares, where the quadratic model is exact.

Least squares on the
  asymptotic engine's spectra, where the quadratic model is exact: the
  training-loss increase and the test risk of each method. (docs/theory.md Section 5)
"""

from __future__ import annotations


import numpy as np

from linear_models import second_order as so
from pruning_checks import check_bool, keep_count

from ..plotting import new_figure, plot_points
from ..runtime.paths import check_output_dir
from ..runtime.workers import map_ordered, n_workers
from .digits_mlp import BASE_SEED, color, row, summarize, write_outputs

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
    """Least squares: the OBS objective is the exact training-loss increase (docs/theory.md Section 5)."""
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
        res["cbs-exact"] = so.PruneResult(ex.weights, ex.mask, "cbs-exact")
        for m, r in res.items():
            rows.append(row("linear-counterpart", name, m, round(1 - keep, 6), "train_loss_increase",
                             train(r.weights) - base, seed))
            rows.append(row("linear-counterpart", name, m, round(1 - keep, 6), "test_risk", prob.risk(r.weights), seed))
            if r.loss_increase is not None:
                # 1/2 dw'(2H)dw: the quadratic model with the true Hessian 2H of the training loss
                rows.append(row("linear-counterpart", name, m, round(1 - keep, 6), "predicted_increase",
                                 2 * r.loss_increase, seed))
    return rows


def linear_counterpart(out_dir, quick=False, n_jobs=None):
    """Experiment 3: CBS, WoodFisher, OBS and magnitude on least squares, where the quadratic model is exact."""
    check_output_dir(out_dir, "out_dir")             # before the work, not when writing its results
    check_bool(quick, "quick")
    n_workers(n_jobs)
    p = 100 if quick else 200
    seeds = range(2) if quick else range(5)
    keeps = (0.5, 0.2, 0.1) if quick else LINEAR_KEEPS
    tasks = [(name, spec, p, 2.0, 0.5, s, keeps) for name, spec in _linear_spectra().items() for s in seeds]
    rows = [r for part in map_ordered(_linear_task, [(t,) for t in tasks], n_jobs) for r in part]
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
    return write_outputs(out_dir, "linear-counterpart", fig, rows, "\n".join(lines))
