"""Fine-tuning against training from scratch on networks (Liu et al. 2019; docs/references.md).

**Fine-tuning vs scratch** (Liu et al. 2019, :func:`scratch_table`): for masks from
magnitude pruning of the dense network at several densities, fine-tune the
surviving weights (a quarter of the dense steps at the schedule's final learning
rate, as the paper's 40 epochs at lr 0.001 after 160), Scratch-E (same mask,
fresh initialization with the kept fan-in, the dense schedule) and Scratch-B
(the dense schedule stretched by the ratio of dense to pruned nonzero weights,
decays at 50% / 75%). A fourth arm, ``retrain``, runs the full dense schedule from the
surviving weights (the retraining of the phase diagram): it separates "inherited
weights" from "the small fine-tuning learning rate".

The networks, data, schedule and seeds are those of :mod:`simulations.regimes.grid`: the problem
instance of dense seed ``j`` is shared with the phase diagram, and every arm's randomness comes from
``SeedSequence(seed, spawn_key=(SCRATCH_KEY + j,))``, so tables are bitwise identical for any ``n_jobs``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from pruning_checks import check_bool

from ..runtime.paths import check_output_dir
from ..runtime.seeds import child, children, generator
from ..runtime.stats import finite_mean_sem
from ..runtime.files import write_tidy_csv
from ..runtime.workers import map_completed
from .config import DECAYS, check_config, task_config
from .grid import check_run_arguments
from .task import magnitude_mask, make_problem, rel_error, train_schedule

SCRATCH_KEY = 2 << 32
SCRATCH_DENSITIES = (0.05, 0.1, 0.2, 0.3, 0.5)
SCRATCH_ARMS = ("fine-tune", "scratch-E", "scratch-B")
#: Also measured: the pruned weights retrained with the full dense schedule (Zhou et al.'s retraining).
RETRAIN_ARM = "retrain"
#: Published top-1 accuracies (%) of unstructured (weight-level) pruning on ImageNet, Liu et al. 2019
#: (repository README, Liu et al. 2019, docs/references.md): (model, pruned fraction, fine-tune, Scratch-E, Scratch-B).
PUBLISHED = (("VGG-16", 0.3, 73.68, 72.75, 74.02), ("VGG-16", 0.6, 73.63, 71.50, 73.42),
             ("ResNet-50", 0.3, 76.06, 74.77, 75.60), ("ResNet-50", 0.6, 76.09, 73.69, 74.90))


def scratch_config(quick=False, *, task="teacher", seed=0, **overrides):
    """Configuration of :func:`scratch_table`: the task of :func:`grid_config` (dense training at ``batch``),
    ``densities`` and ``seeds`` (dense seeds)."""
    cfg = task_config(task, quick)
    cfg.update(knobs=("batch",), batches=(cfg["batch"],), lengths=(1.0,),
               densities=(0.1, 0.3) if quick else SCRATCH_DENSITIES, seeds=3 if quick else 5, seed=seed)
    unknown = sorted(set(overrides) - set(cfg))
    if unknown:
        raise ValueError(f"unknown configuration key {unknown[0]!r} (keys: {', '.join(sorted(cfg))}).")
    cfg.update(overrides)
    return check_config(cfg)


def nonzero_weights(net, mask):
    """Nonzero weights of the masked network (the compute measure of Scratch-B)."""
    return int(np.count_nonzero(mask))


def sparse_init(net, mask, init, rng):
    """Fresh weights on the mask, layer ``l`` entries ``N(0, init^2 / kept fan-in)`` (Liu et al.'s
    re-initialization with the fan-in of the surviving weights); zeros off the mask."""
    theta = np.zeros(mask.size)
    for layer in range(len(net.sizes) - 1):
        a, b = net.layer_block(layer)
        fan_in = net.sizes[layer] * np.count_nonzero(mask[a:b]) / (b - a)
        theta[a:b] = init / np.sqrt(max(fan_in, 1.0)) * rng.standard_normal(b - a)
    return np.where(mask, theta, 0.0)


def compute_scratch_cell(cfg, j):
    """Dense seed ``j``: dense training, then per density the three arms' test errors and steps."""
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    with threadpool_limits(limits=1):
        net, theta0, (X, y), (Xt, yt), seq = make_problem(cfg, j)
        T, lr, mom, batch = cfg["steps"], cfg["lr"], cfg["momentum"], cfg["batch"]
        dense = train_schedule(net, theta0, X, y, lr=lr, steps=T, batch=batch, momentum=mom, seq=seq)
        full = np.ones(dense.size, dtype=bool)
        streams = children(np.random.SeedSequence(cfg["seed"], spawn_key=(SCRATCH_KEY + j,)), len(cfg["densities"]))
        out = {a: [] for a in SCRATCH_ARMS + (RETRAIN_ARM,)}
        steps_b, pruned_err = [], []
        for di, dens in enumerate(cfg["densities"]):
            mask = magnitude_mask(net, dense, dens)
            s_ft, s_init, s_e, s_b = children(streams[di], 4)
            # fine-tuning: a quarter of the dense steps at the schedule's final learning rate
            ft = net.train(np.where(mask, dense, 0.0), X, y, optimizer="sgd", lr=lr * 0.1 ** len(DECAYS),
                           steps=max(1, T // 4), batch_size=batch if batch < X.shape[0] else None, momentum=mom,
                           mask=mask, rng=generator(s_ft)).theta
            fresh = sparse_init(net, mask, cfg["init"], generator(s_init))
            nb = int(round(T * nonzero_weights(net, full) / nonzero_weights(net, mask)))
            arms = {"fine-tune": ft,
                    "scratch-E": train_schedule(net, fresh, X, y, lr=lr, steps=T, batch=batch, momentum=mom,
                                                seq=s_e, mask=mask),
                    "scratch-B": train_schedule(net, fresh, X, y, lr=lr, steps=nb, batch=batch, momentum=mom,
                                                seq=s_b, mask=mask),
                    RETRAIN_ARM: train_schedule(net, np.where(mask, dense, 0.0), X, y, lr=lr, steps=T, batch=batch,
                                                momentum=mom, seq=child(streams[di], 4), mask=mask)}
            for a, th in arms.items():
                out[a].append(rel_error(net, th, Xt, yt))
            steps_b.append(nb)
            pruned_err.append(rel_error(net, np.where(mask, dense, 0.0), Xt, yt))
    return dict(index=j, dense=rel_error(net, dense, Xt, yt), pruned=pruned_err, steps_b=steps_b,
                seconds=time.perf_counter() - t0, **out)


def run_scratch(cfg=None, *, quick=False, task="teacher", n_jobs=None, client=None, progress=True):
    """Per dense seed records of :func:`compute_scratch_cell` (in seed order)."""
    check_bool(quick, "quick")
    cfg = scratch_config(quick, task=task) if cfg is None else check_config(cfg)
    check_run_arguments(n_jobs, client, progress)
    records = {}
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=cfg["seeds"], unit="seed", desc="scratch")

    def done(rec):
        records[rec["index"]] = rec
        if bar is not None:
            bar.update(1)

    t0 = time.perf_counter()
    try:
        for rec in map_completed(compute_scratch_cell, [(cfg, j) for j in range(cfg["seeds"])], n_jobs, client):
            done(rec)
    finally:
        if bar is not None:
            bar.close()
    return dict(config=cfg, records=[records[j] for j in range(cfg["seeds"])], seconds=time.perf_counter() - t0)


SCRATCH_COLUMNS = ("source", "model", "density", "arm", "value", "sem", "unit", "seeds", "steps")


def _pm(ms, sign=""):
    """``mean +- sem``, or "cannot be assessed" when either is not finite (never 'nan +- nan')."""
    m, e = float(ms[0]), float(ms[1])
    if not (np.isfinite(m) and np.isfinite(e)):
        return "cannot be assessed (fewer than 2 finite seeds)"
    return f"{m:{sign}.4f} +- {e:.4f}"


def scratch_table(out_dir, quick=False, n_jobs=None, *, task="teacher", client=None, progress=True):
    """Fine-tune vs Scratch-E vs Scratch-B on the shallow teacher-student task, beside the published numbers.

    Writes ``scratch.csv`` (tidy: our test errors with standard errors over dense seeds, the paired
    differences to fine-tuning, the linear limit of :mod:`simulations.regimes.scratch_linear`, and the published
    ImageNet accuracies) and ``scratch.md`` (the same as markdown tables); returns both paths.
    """
    from asymptotics import Spectrum

    from .scratch_linear import ARMS as LIN_ARMS, scratch_risk
    from ..runtime.extras import require

    check_output_dir(out_dir, "out_dir")             # before the work, not when writing its results
    check_bool(quick, "quick")
    check_run_arguments(n_jobs, client, progress)
    if task == "digits":
        require("digits", "scratch_table(task='digits')")      # before any work
    res = run_scratch(quick=quick, task=task, n_jobs=n_jobs, client=client, progress=progress)
    stem = "scratch" if task == "teacher" else f"scratch_{task}"
    model = "shallow net" if task == "teacher" else "digits MLP"
    unit = "test MSE / Var(y)" if task == "teacher" else "test classification error"
    cfg, recs = res["config"], res["records"]
    dens = cfg["densities"]
    S = len(recs)
    arms = SCRATCH_ARMS + (RETRAIN_ARM,)
    arr = {a: np.array([r[a] for r in recs]) for a in arms}                   # (seeds, densities)
    dense_m, dense_s = finite_mean_sem(np.array([r["dense"] for r in recs]), axis=0)
    steps_b = recs[0]["steps_b"]
    rows = [dict(source="ours", model=model, density=1.0, arm="dense", value=dense_m, sem=dense_s,
                 unit=unit, seeds=S, steps=cfg["steps"])]
    md = [f"### {'Shallow teacher-student' if task == 'teacher' else 'Digits, 64-40-20-10 MLP'} ({unit}, "
          f"mean +- s.e. over {S} dense seeds; "
          f"{cfg['steps']} dense steps, fine-tune {max(1, cfg['steps'] // 4)} steps at lr/100; retrain: the pruned "
          f"weights with the full dense schedule)", "",
          "| density | pruned, no retraining | fine-tune | Scratch-E | Scratch-B (steps) | E - FT | B - FT | retrain |",
          "|---|---|---|---|---|---|---|---|"]
    pr_m, pr_s = finite_mean_sem(np.array([r["pruned"] for r in recs]), axis=0)
    for di, x in enumerate(dens):
        ms = {a: finite_mean_sem(arr[a][:, di], axis=0) for a in arms}
        dE = finite_mean_sem(arr["scratch-E"][:, di] - arr["fine-tune"][:, di], axis=0)
        dB = finite_mean_sem(arr["scratch-B"][:, di] - arr["fine-tune"][:, di], axis=0)
        for a in arms:
            rows.append(dict(source="ours", model=model, density=x, arm=a, value=ms[a][0], sem=ms[a][1],
                             unit=unit, seeds=S,
                             steps={"fine-tune": max(1, cfg["steps"] // 4), "scratch-E": cfg["steps"],
                                    "scratch-B": steps_b[di], RETRAIN_ARM: cfg["steps"]}[a]))
        for a, d in (("scratch-E - fine-tune", dE), ("scratch-B - fine-tune", dB)):
            rows.append(dict(source="ours", model=model, density=x, arm=a, value=d[0], sem=d[1],
                             unit=unit, seeds=S, steps=""))
        f = _pm
        md.append(f"| {x:g} | {f((pr_m[di], pr_s[di]))} | {f(ms['fine-tune'])} | {f(ms['scratch-E'])} | "
                  f"{f(ms['scratch-B'])} ({steps_b[di]}) | {_pm(dE, '+')} | {_pm(dB, '+')} | "
                  f"{f(ms[RETRAIN_ARM])} |")
    md += ["", f"Dense: {_pm((dense_m, dense_s))}.", "",
           "### Linear limit (docs/theory.md Section 8; two atoms lam = (1, 25), b = (1, 0.3), kappa = 0.5, noise 0.5, "
           "init s0 = 1, magnitude masks, retraining to convergence on fresh data; test risk)", "",
           "| kept fraction | fine-tune | scratch | rewind | zero |", "|---|---|---|---|---|"]
    spec = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3))
    for keep in (0.3, 0.6, 0.8, 0.95):
        th = scratch_risk(spec, 0.5, 0.5, keep, init=1.0, criterion="magnitude")
        for a in LIN_ARMS:
            rows.append(dict(source="linear limit", model="two-atom linear", density=keep, arm=a, value=th[a], sem="",
                             unit="test risk", seeds="", steps="converged"))
        md.append(f"| {keep:g} | " + " | ".join(f"{th[a]:.4f}" for a in LIN_ARMS) + " |")
    md += ["", "### Published (Liu et al. 2019, ImageNet, weight-level pruning; top-1 accuracy %, higher is better)", "",
           "| model | pruned | fine-tune | Scratch-E | Scratch-B |", "|---|---|---|---|---|"]
    for model, frac, ft, se, sb in PUBLISHED:
        for a, v in zip(SCRATCH_ARMS, (ft, se, sb)):
            rows.append(dict(source="Liu et al. 2019", model=model, density=round(1 - frac, 2), arm=a, value=v, sem="",
                             unit="top-1 %", seeds=1, steps=""))
        md.append(f"| {model} | {frac:.0%} | {ft} | {se} | {sb} |")
    out = Path(out_dir)
    csv = write_tidy_csv(out / f"{stem}.csv", rows, SCRATCH_COLUMNS)
    (out / f"{stem}.md").write_text("\n".join(md) + "\n")
    return csv, out / f"{stem}.md"
