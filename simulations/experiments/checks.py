"""Argument checks of :func:`simulations.experiments.network_experiment.network_experiment`: every argument
is validated (raising as the experiment does) and turned into the picklable job before any work
(:func:`experiment_job`; the network sweep validates grid points with it)."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from linear_models import get_criterion
from linear_models.pruning import SCOPES, scope_counts  # noqa: F401  (SCOPES: one selection, or the same fraction per layer)
from pruning_checks import check_choice, check_int, check_scalar

from ..networks.memory import check_allocation, matrix_bytes
from ..networks.model import ACTIVATIONS, OPTIMIZERS

#: The criteria of the seed paper's comparison (any registered criterion runs: :mod:`linear_models.criteria`).
CRITERIA = ("magnitude", "hessian", "taylor1", "taylor2", "random", "oracle", "obs", "cbs")
TEACHERS = ("linear", "shallow")
PRUNE_LAYERS = ("first", "all")
#: Largest label / feature standard deviation accepted: squares, gradients and Gauss-Newton entries of
#: larger scales overflow float64 (``noise = 1e200`` made every value NaN); the smallest label scale too.
SCALE_LIMIT = 1e50
#: Copies of the ``b x b`` Gauss-Newton block alive at the peak of the full-matrix criteria (the block, the
#: damped copy, its Cholesky factor and inverse, and a symmetrised copy inside the pruning call).
FULL_MATRIX_COPIES = 5


def _int(value, name, low=1):
    return check_int(value, name, low=low)


@dataclass(frozen=True)
class NetJob:
    """Everything a worker needs (picklable)."""

    d: int
    width: int
    n_train: int
    n_test: int
    counts: tuple
    scales: np.ndarray
    teacher_weights: np.ndarray
    noise: float
    activation: str
    init: float
    optimizer: str
    lr: float
    momentum: float
    steps: int
    batch_size: object
    keep_counts: np.ndarray
    criteria: tuple
    finetune_steps: int
    seed: int
    teacher: str
    teacher_width: int
    prune_layers: tuple
    freeze_second_layer: bool
    damping: float
    importance_samples: int
    checkpoints: np.ndarray
    cbs_max_swaps: int
    extra_criteria: tuple = ()
    bias: bool = False
    prune_biases: bool = False
    scope: str = "global"
    #: kept counts per keep level and pruned group, ``(len(keep), groups)``: one group for the global scope,
    #: one per pruned layer for the layer scope (None: the single column ``keep_counts``)
    group_counts: np.ndarray = None


def check_groups(groups, d):
    if isinstance(groups, (str, bytes)) or not hasattr(groups, "__len__") or len(groups) == 0:
        raise ValueError(f"groups == {groups!r}, must be a non-empty sequence of (count, scale, teacher weight).")
    counts, scales, weights = [], [], []
    for i, g in enumerate(groups):
        if not hasattr(g, "__len__") or len(g) != 3:
            raise ValueError(f"groups[{i}] == {g!r}, must be a triple (count, feature scale c, teacher weight).")
        counts.append(_int(g[0], f"groups[{i}] count"))
        scales.append(check_scalar(g[1], f"groups[{i}] scale", low=0, include_low=False))
        weights.append(check_scalar(g[2], f"groups[{i}] teacher weight"))
    if sum(counts) != d:
        raise ValueError(f"the group counts sum to {sum(counts)}, must equal d == {d}.")
    return tuple(counts), np.array(scales), np.array(weights)


def check_keep_counts(keep, p):
    """Counts from fractions in (0, 1] (floats) or counts in [1, p] (ints), scalar or sequence."""
    values = [keep] if np.ndim(keep) == 0 else list(np.asarray(keep, dtype=object).ravel())
    if not values:
        raise ValueError("keep is empty, must hold at least one kept fraction in (0, 1] or count.")
    counts = []
    for i, v in enumerate(values):
        where = "" if np.ndim(keep) == 0 else f"[{i}]"
        if isinstance(v, (bool, np.bool_)):
            raise TypeError(f"keep{where} == {v!r} is a bool; pass kept fractions as floats, e.g. 1.0.")
        if isinstance(v, numbers.Integral):
            if not 1 <= v <= p:
                raise ValueError(f"keep{where} == {v} is an integer (a count) and must be in [1, {p}]; "
                                 "pass kept fractions as floats in (0, 1], e.g. 1.0 for every weight.")
            counts.append(int(v))
        elif isinstance(v, numbers.Real):
            v = float(v)
            if not (np.isfinite(v) and 0 < v <= 1):
                hint = (f"; for a count of {int(v)} weights pass the integer {int(v)}"
                        if np.isfinite(v) and v.is_integer() and 1 <= v <= p else "")
                raise ValueError(f"keep{where} == {v}, a kept fraction must be in (0, 1]{hint}.")
            counts.append(max(1, int(round(v * p))))
        else:
            raise TypeError(f"keep{where} == {v!r}, must be a fraction in (0, 1] or an integer count.")
    return [v.item() if isinstance(v, np.generic) else v for v in values], np.array(counts, dtype=np.int64)


def check_prune_layers(prune_layers, n_layers=2):
    """The pruned weight matrices of the two-layer net as a sorted tuple of indices: ``"first"`` (0), ``"all"``
    (0, 1), a layer index or a sequence of them (``-1`` the last)."""
    if isinstance(prune_layers, str):
        check_choice(prune_layers, "prune_layers", PRUNE_LAYERS)
        return (0,) if prune_layers == "first" else tuple(range(n_layers))
    items = [prune_layers] if np.ndim(prune_layers) == 0 else list(np.asarray(prune_layers, dtype=object).ravel())
    if not items:
        raise ValueError(f"prune_layers == {prune_layers!r}, must be 'first', 'all', a layer index or a non-empty "
                         "sequence of them.")
    out = set()
    for i, v in enumerate(items):
        where = "" if np.ndim(prune_layers) == 0 else f"[{i}]"
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            raise TypeError(f"prune_layers{where} == {v!r}, must be 'first', 'all' or layer indices (integers).")
        if not -n_layers <= v < n_layers:
            raise ValueError(f"prune_layers{where} == {v}, the network has {n_layers} weight matrices "
                             f"(layers 0..{n_layers - 1}, or -1 for the last).")
        out.add(int(v) % n_layers)
    return tuple(sorted(out))


def group_sizes(d, width, layers, bias, prune_biases, scope):
    """Pruned parameters per group: one group (global scope) or one per layer, biases included when pruned."""
    weights = {0: d * width, 1: width}
    biases = {0: width, 1: 1}
    sizes = [weights[l] + (biases[l] if bias and prune_biases else 0) for l in layers]
    return [sum(sizes)] if scope == "global" else sizes


def check_group_counts(keep_list, sizes):
    """Kept count per keep level and group ``(len(keep), groups)``: a fraction rounds in each group (at least
    one kept); an integer count is split over the groups in proportion to their sizes."""
    return np.array([scope_counts(v, sizes, "layer") for v in keep_list], dtype=np.int64).reshape(-1, len(sizes))


def check_label_scale(counts, scales, weights, noise):
    """Refuse data whose labels are identically 0 or whose scale overflows float64, before any draw."""
    if noise == 0 and not np.any(weights):
        raise ValueError("noise == 0 and every teacher weight in groups is 0: the labels are identically 0, "
                         "Var(y_test) == 0 and every relative loss is undefined; give a group a nonzero teacher "
                         "weight or set noise > 0.")
    for i, sc in enumerate(scales):
        if sc > SCALE_LIMIT:
            raise ValueError(f"groups[{i}] scale == {sc:g} overflows squares and Gauss-Newton entries; "
                             f"feature scales must be at most {SCALE_LIMIT:g} (rescale the inputs).")
    # label standard deviation sqrt(sum count (scale w)^2 + noise^2), in logs (no overflow)
    logs = [math.log(noise)] if noise > 0 else []
    logs += [0.5 * math.log(c) + math.log(sc) + math.log(abs(w)) for c, sc, w in zip(counts, scales, weights) if w]
    top = max(logs)
    log_s = top + 0.5 * math.log(sum(math.exp(2 * (v - top)) for v in logs))
    name = "noise" if noise > 0 and logs[0] == top else "groups (scale x teacher weight)"
    value = f" == {noise:g}" if name == "noise" else ""
    if log_s > math.log(SCALE_LIMIT):
        raise ValueError(f"{name}{value}: the labels have standard deviation about {math.exp(min(log_s, 700)):.3g}, "
                         f"whose squares overflow float64; it must be at most {SCALE_LIMIT:g} (rescale the labels).")
    if log_s < -math.log(SCALE_LIMIT):
        raise ValueError(f"{name}{value}: the labels have standard deviation about {math.exp(log_s):.3g}; "
                         f"Var(y_test) underflows; it must be at least {1 / SCALE_LIMIT:g} (rescale the labels).")


def check_memory(d, width, n_train, n_test, importance_samples, steps, finetune_steps, n_ckpt, criteria, extra,
                  sizes, bias=False):
    """Estimate the largest allocations of one trial from the arguments and refuse before any work
    (``sizes``: parameters of each group pruned with its own Gauss-Newton block, :func:`group_sizes`)."""
    P = d * width + width + (width + 1 if bias else 0)
    b = max(sizes)
    crits = [get_criterion(c, carried=extra) for c in criteria]
    full = [c.name for c in crits if {"hessian", "hessian_inverse"} & set(c.needs)]
    if full:
        others = ", ".join(c for c in CRITERIA if c not in ("obs", "cbs"))
        check_allocation(matrix_bytes(b, b, FULL_MATRIX_COPIES), f"width == {width} (d == {d})",
                         f"criteria {tuple(full)!r} need the full {b} x {b} Gauss-Newton block "
                         f"({FULL_MATRIX_COPIES} copies at peak)",
                         f"drop them (criteria without the full matrix: {others}) or use a smaller d * width")
    check_allocation(matrix_bytes(P, 1, 12), f"width == {width} (d == {d})",
                     f"the {P} weights, their initialization, gradient, optimizer state, Gauss-Newton diagonal and "
                     "scores (about 12 vectors)", "use a smaller d * width")
    samples = {"n_train": n_train, "n_test": n_test, "importance_samples": importance_samples}
    big = max(samples, key=samples.get)
    check_allocation(matrix_bytes(sum(samples.values()), d + 2, 2), f"{big} == {samples[big]}",
                     f"{sum(samples.values())} samples of {d} features", "use fewer samples")
    check_allocation(matrix_bytes(max(steps, finetune_steps), 1), f"steps == {max(steps, finetune_steps)}",
                     "the loss record of every training step", "use fewer steps")
    check_allocation(matrix_bytes(n_ckpt, P), f"record_every ({n_ckpt} checkpoints)",
                     f"{n_ckpt} snapshots of the {P} parameters", "record less often (a larger record_every)")


def experiment_job(d, width, n_train, n_test, *, groups, noise, activation, init, optimizer, lr, steps, batch_size,
                    momentum, keep, criteria, finetune_steps, trials, seed, teacher, teacher_width, prune_layers,
                    freeze_second_layer, damping, importance_samples, record_every, cbs_max_swaps, bias=False,
                    prune_biases=False, scope="global"):
    """Check the arguments of :func:`network_experiment` (raising as it does) without running anything:
    ``(job, config, keep_list, keep_counts, checkpoints)``. The sweep kind validates grid points with it."""
    d = _int(d, "d")
    width = _int(width, "width")
    n_train = _int(n_train, "n_train")
    n_test = _int(n_test, "n_test", low=2)
    counts, scales, tweights = check_groups(groups, d)
    noise = check_scalar(noise, "noise", low=0)
    check_choice(activation, "activation", tuple(ACTIVATIONS))
    init = check_scalar(init, "init", low=0, high=SCALE_LIMIT)
    check_choice(optimizer, "optimizer", OPTIMIZERS)
    lr = check_scalar(lr, "lr", low=0, include_low=False)
    steps = _int(steps, "steps", low=0)
    if batch_size is not None:
        batch_size = _int(batch_size, "batch_size")
        if optimizer == "gd" and batch_size < n_train:
            raise ValueError(f"optimizer == 'gd' is full-batch; batch_size == {batch_size} < n_train needs 'sgd'.")
    momentum = check_scalar(momentum, "momentum", low=0, high=1, include_high=False)
    if optimizer == "adam" and momentum:
        raise ValueError(f"momentum == {momentum} applies to 'sgd' and 'gd'; Adam uses its own moments.")
    layers = check_prune_layers(prune_layers)
    for name, flag in (("bias", bias), ("prune_biases", prune_biases)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool, got {flag!r}.")
    bias, prune_biases = bool(bias), bool(prune_biases)
    if prune_biases and not bias:
        raise ValueError("prune_biases == True needs bias == True (the network has no biases to prune).")
    check_choice(scope, "scope", SCOPES)
    sizes = group_sizes(d, width, layers, bias, prune_biases, scope)
    keep_list, keep_counts = check_keep_counts(keep, sum(sizes))
    group_counts = check_group_counts(keep_list, sizes) if scope == "layer" else keep_counts[:, None]
    keep_counts = group_counts.sum(axis=1)
    if isinstance(criteria, str):
        criteria = (criteria,)
    criteria = tuple(criteria)
    if not criteria:
        raise ValueError("criteria is empty, must name at least one of " + ", ".join(CRITERIA) + ".")
    extra = tuple(get_criterion(c, "criteria") for c in criteria if not get_criterion(c, "criteria").builtin)
    if len(set(criteria)) != len(criteria):
        raise ValueError(f"criteria == {criteria!r} names a criterion twice.")
    finetune_steps = _int(finetune_steps, "finetune_steps", low=0)
    trials = _int(trials, "trials")
    seed = _int(seed, "seed", low=0)
    check_choice(teacher, "teacher", TEACHERS)
    teacher_width = _int(teacher_width, "teacher_width")
    if not isinstance(freeze_second_layer, (bool, np.bool_)):
        raise TypeError(f"freeze_second_layer must be a bool, got {freeze_second_layer!r}.")
    damping = check_scalar(damping, "damping", low=0, include_low=False)
    importance_samples = _int(importance_samples, "importance_samples")
    if record_every is None:
        ckpt = np.zeros(0, dtype=np.int64)
    else:
        record_every = _int(record_every, "record_every")
        ckpt = np.unique(np.append(np.arange(0, steps + 1, record_every), steps)).astype(np.int64)
    cbs_max_swaps = _int(cbs_max_swaps, "cbs_max_swaps", low=0)
    check_label_scale(counts, scales, tweights, noise)
    check_memory(d, width, n_train, n_test, importance_samples, steps, finetune_steps, ckpt.size, criteria, extra,
                  sizes, bias)
    job = NetJob(d, width, n_train, n_test, counts, scales, tweights, noise, activation, init, optimizer, lr,
                  momentum, steps, batch_size, keep_counts, criteria, finetune_steps, seed, teacher, teacher_width,
                  layers, bool(freeze_second_layer), damping, importance_samples, ckpt, cbs_max_swaps, extra,
                  bias, prune_biases, scope, group_counts)
    config = dict(d=d, width=width, n_train=n_train, n_test=n_test,
                  groups=[list(g) for g in zip(counts, scales.tolist(), tweights.tolist())], noise=noise,
                  activation=activation, init=init, optimizer=optimizer, lr=lr, steps=steps, batch_size=batch_size,
                  momentum=momentum, keep=keep_list, criteria=list(criteria), finetune_steps=finetune_steps,
                  trials=trials, seed=seed, teacher=teacher, teacher_width=teacher_width,
                  prune_layers=prune_layers if isinstance(prune_layers, str) else list(layers),
                  freeze_second_layer=bool(freeze_second_layer), damping=damping,
                  importance_samples=importance_samples, record_every=record_every, cbs_max_swaps=cbs_max_swaps,
                  bias=bias, prune_biases=prune_biases, scope=scope)
    return job, config, keep_list, keep_counts, ckpt
