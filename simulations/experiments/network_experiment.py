"""The shallow-network pruning experiment (docs/theory.md Section 6): covariance-scaled feature groups,
trained two-layer nets, every pruning criterion, importance correlations.

Two-layer net of docs/theory.md Section 6: ``sizes = (d, m, 1)``; first-layer weight
``W[l, j]`` (input ``l`` to hidden unit ``j``) is ``theta[l * m + j]`` and the second
layer ``v`` is ``theta[d * m:]``.

:func:`network_experiment` trains such nets on inputs in feature groups
(covariance scaling: a group has a count, a feature scale ``c`` and a teacher
weight), prunes the first layer (or both layers, optionally with biases, with
one global selection or layer by layer) with :func:`linear_models.prune` fed
with the network's gradient and Gauss-Newton matrix (one pruning library for
linear models and networks), and reports test loss relative to ``Var(y_test)``,
rank correlations of every criterion's scores with the exact ablation
importance, and diagnostics (per-group mean ``|W|``, ``||W - W0|| / ||W0||``).

Reproducibility: trial ``t`` draws everything from children of the ``t``-th
child of ``SeedSequence(seed)`` (spawn keys ``(t, j)``: data, initialization,
minibatch order, importance sample, then one stream per criterion), and runs in
one process with BLAS and Numba single-threaded, so results are bitwise
identical for any ``n_jobs`` (and on Dask).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import lapack
from scipy.stats import spearmanr

from linear_models import PruneResult, get_criterion, prune

from ..networks.model import Network
from ..runtime import workers
from ..runtime.seeds import stream as _stream
from ..runtime.stats import KeepSummary, mean_sem
from .checks import (CRITERIA, FULL_MATRIX_COPIES, PRUNE_LAYERS, SCALE_LIMIT, TEACHERS, NetJob,  # noqa: F401
                     check_keep_counts, experiment_job)

#: Former private names, still importable from here.
_NetJob, _check_keep_counts = NetJob, check_keep_counts

# spawn keys (t, j) of the per-trial streams; criterion c draws its scores from (t, STREAM_CRITERIA, key) and
# fine-tunes from (t, STREAM_FINETUNE, key), key = the registry's stream key of its name (never its position)
STREAM_DATA, STREAM_INIT, STREAM_ORDER, STREAM_IMPORTANCE, STREAM_CHECKPOINT, STREAM_CRITERIA = 0, 1, 2, 3, 4, 5
STREAM_FINETUNE = 6


class DivergedTrainingWarning(RuntimeWarning):
    """Training of some trials diverged (non-finite loss or parameters): their values are NaN."""


@dataclass(frozen=True)
class NetworkResult(KeepSummary):
    """Result of :func:`network_experiment`.

    Attributes
    ----------
    mean, sem : dict
        Per criterion an array over ``keep`` of the test MSE / Var(y_test) after pruning (after fine-tuning
        when ``finetune_steps > 0``), mean and standard error over trials; ``"dense"``: floats.
    keep : list
        The keep values as given; ``keep_counts`` the number of weights kept (of ``pruned_params``).
    samples : dict
        Per-trial values: arrays ``(trials, len(keep))``, ``(trials,)`` for ``"dense"``.
    importance_corr : dict
        Per criterion the mean over trials of the Spearman correlation between its per-weight scores and
        the ablation importance at the trained weights (``obs``: the OBS saliency ``w_i^2 / [H^-1]_ii``;
        ``cbs`` has no per-weight score: nan).
    config : dict
        Every argument that determines the result.
    extras : dict
        Per-trial diagnostics (leading axis: trials): ``importance_corr`` (criterion -> (trials,)),
        ``importance_corr_sem``, ``group_abs_weight`` (trials, groups): mean ``|W|`` over the first-layer
        weights leaving each feature group, ``group_importance`` (same, mean ablation importance),
        ``weight_change`` ``||W - W0|| / ||W0||`` of the first layer, ``train_loss`` (final full-batch; NaN
        when training diverged), ``initial_train_loss`` (at the initialization), ``train_finite``,
        ``pruned_indices`` (the pruned parameters' indices into the flat vector, :class:`Network` layout) and
        ``masks`` (criterion -> bool (trials, keep, len(pruned_indices)): kept after pruning; all False for a
        diverged trial); with ``finetune_steps > 0`` also ``before_finetune`` (criterion -> (trials, keep));
        with ``record_every``: ``checkpoints`` (steps), ``corr_over_steps`` (criterion -> (trials, checkpoints)),
        ``dense_over_steps`` and ``group_abs_weight_over_steps`` (trials, checkpoints, groups).
    """

    samples: dict = field(repr=False)
    importance_corr: dict = field(repr=False)
    config: dict = field(repr=False)
    extras: dict = field(repr=False)


def _draw_data(job, t):
    """``(X, y, Xt, yt, Xi, yi)``: train, test and importance samples of trial ``t``."""
    rng = _stream(job.seed, t, STREAM_DATA)
    d = job.d
    group = np.repeat(np.arange(len(job.counts)), job.counts)
    scale = job.scales[group]
    beta = job.teacher_weights[group]
    if job.teacher == "shallow":
        # planted teacher f*(x) = sum_k a_k act(x . u_k), u_lk = beta_l g_lk, a_k = +-1/sqrt(K)
        U = beta[:, None] * rng.standard_normal((d, job.teacher_width))
        a = np.where(rng.random(job.teacher_width) < 0.5, -1.0, 1.0) / np.sqrt(job.teacher_width)
        tnet = Network((d, job.teacher_width, 1), job.activation, "squared")
        ttheta = np.concatenate([U.ravel(), a])
        f = lambda X: tnet.predict(ttheta, X)                               # noqa: E731
    else:
        f = lambda X: X @ beta                                               # noqa: E731

    def sample(n, r):
        X = r.standard_normal((n, d)) * scale
        return np.ascontiguousarray(X), f(X) + job.noise * r.standard_normal(n)

    X, y = sample(job.n_train, rng)
    Xt, yt = sample(job.n_test, rng)
    Xi, yi = sample(job.importance_samples, _stream(job.seed, t, STREAM_IMPORTANCE))
    return X, y, Xt, yt, Xi, yi, group


def _spearman(a, b):
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


class _Pruning:
    """The pruning inputs of one trained network on one pruned group of parameters (``block``: a
    ``(start, stop)`` pair or sorted parameter indices), computed once and shared. ``full`` (a dict) holds the
    whole-network gradient and Gauss-Newton diagonal for the other groups of the same network."""

    def __init__(self, net, theta, X, y, block, criteria, damping, extra=(), full=None):
        idx = np.arange(*block) if isinstance(block, tuple) else np.asarray(block)
        self.idx = idx
        self.w = theta[idx]
        self.crits = {c: get_criterion(c, carried=extra) for c in criteria}
        need = {n for c in self.crits.values() for n in c.needs}
        self.grad = self.hdiag = self.H = self.Hinv = None
        self.relative_damping = damping
        full = {} if full is None else full
        if "grad" in need:
            if "grad" not in full:
                full["grad"] = net.loss_and_grad(theta, X, y)[1]
            self.grad = full["grad"][idx]
        if need & {"hessian", "hessian_inverse"}:
            self.H = net.ggn_matrix(theta, X, block=idx)
            self.hdiag = np.diag(self.H).copy()
            self.damping = damping * max(float(self.hdiag.mean()), np.finfo(float).tiny)
        elif "hessian_diag" in need:
            if "hdiag" not in full:
                full["hdiag"] = net.ggn_diagonal(theta, X)
            self.hdiag = full["hdiag"][idx]

    def obs_saliency(self):
        """``w_i^2 / [H^-1]_ii`` of the damped Gauss-Newton block (single-weight OBS)."""
        if self.Hinv is None:
            A = self.H + self.damping * np.eye(self.w.size)
            c, info = lapack.dpotrf(A, lower=1, clean=1)
            inv, info2 = lapack.dpotri(c, lower=1)
            if info or info2:
                raise np.linalg.LinAlgError("damped Gauss-Newton block is not positive definite")
            self.Hinv = inv                          # lower triangle holds the inverse; the diagonal is all we need
        return self.w**2 / np.diag(self.Hinv)

    def prune(self, criterion, keep, importance, rng, max_swaps):
        """:func:`linear_models.prune` with what the criterion needs (its registry entry says what)."""
        crit = self.crits[criterion]
        kw = {}
        if "hessian" in crit.needs or "hessian_inverse" in crit.needs:
            kw.update(hessian=self.H, relative_damping=self.relative_damping)
        elif "hessian_diag" in crit.needs:
            kw["hessian"] = self.hdiag
        if "grad" in crit.needs:
            kw["grad"] = self.grad
        if "importance" in crit.needs:
            kw["importance"] = importance
        if "rng" in crit.needs:
            kw["rng"] = rng
        if criterion == "cbs":
            kw["max_swaps"] = max_swaps
        return prune(self.w, keep, crit.name if crit.builtin else crit, **kw)

    def prune_all(self, criterion, keep_counts, importance, rng, max_swaps):
        """Prune results for every count of ``keep_counts`` (in their order); ``rng()`` gives the criterion's
        stream afresh (the same numbers at every level, so the masks of a criterion are nested).

        Greedy OBS removes weights one at a time, so the result at a smaller count continues the run at a
        larger one: after removing ``S`` with exact downdates the inverse Hessian is ``[(H + damping I)_KK]^-1``
        on the kept set ``K``, so a run on the subproblem ``(w_K, H_KK)`` from the larger count's updated
        weights makes the same greedy choices (up to rounding) and costs one greedy run in all.
        """
        if criterion != "obs":          # every level from the same fresh stream: nested masks, in any level order
            return [self.prune(criterion, int(k), importance, rng(), max_swaps) for k in keep_counts]
        results = [None] * len(keep_counts)
        kept = np.arange(self.w.size)
        w = self.w
        for i in np.argsort(-np.asarray(keep_counts), kind="stable"):
            k = int(keep_counts[i])
            sub = prune(w, k, "obs", hessian=self.H[np.ix_(kept, kept)], damping=self.damping)
            full = np.zeros(self.w.size)
            full[kept] = sub.weights
            mask = np.zeros(self.w.size, dtype=bool)
            mask[kept[sub.mask]] = True
            results[i] = PruneResult(full, mask, "obs")
            kept, w = kept[sub.mask], sub.weights[sub.mask]
        return results

    def scores(self, criterion, importance, rng):
        """Per-weight scores for the importance correlation (nan for cbs)."""
        if criterion == "obs":
            return self.obs_saliency()
        if criterion == "cbs":
            return None
        return self.prune(criterion, 1.0, importance, rng, None).scores


@dataclass(frozen=True)
class _Selection:
    """The pruned parameters of one network: ``pruned`` (sorted indices into ``theta``), the ``groups`` pruned
    apart (one for the global scope, one per layer for the layer scope), each group's positions in ``pruned``,
    and ``measured``: the indices whose ablation importance is computed (``pruned`` and the first layer)."""

    pruned: np.ndarray
    groups: tuple
    positions: tuple
    measured: np.ndarray

    @classmethod
    def of(cls, net, job):
        pruned = net.parameter_indices(job.prune_layers, job.prune_biases)
        if job.scope == "global":
            groups = (pruned,)
        else:
            groups = tuple(net.parameter_indices(l, job.prune_biases) for l in job.prune_layers)
        measured = np.union1d(pruned, np.arange(*net.layer_block(0))).astype(np.int64)
        return cls(pruned, groups, tuple(np.searchsorted(pruned, g) for g in groups), measured)


def _corr_all(net, theta, X, y, Xi, yi, sel, criteria, damping, rng, extra=()):
    """Ablation importance of ``sel.measured``, of the pruned parameters, the pruning inputs of every group, and
    each criterion's Spearman correlation with the importance over the pruned parameters."""
    measured = net.ablation_importance(theta, Xi, yi, block=sel.measured)
    imp = measured[np.searchsorted(sel.measured, sel.pruned)]
    full = {}                                   # gradient and Gauss-Newton diagonal, once for every group
    prs = [_Pruning(net, theta, X, y, g, criteria, damping, extra, full) for g in sel.groups]
    out = {}
    for c in criteria:
        s = np.empty(sel.pruned.size)
        for pr, pos in zip(prs, sel.positions):
            sc = pr.scores(c, imp[pos], rng)
            if sc is None:
                s = None
                break
            s[pos] = sc
        out[c] = float("nan") if s is None else _spearman(s, imp)
    return measured, imp, prs, out


def _loss_or_nan(net, theta, X, y):
    try:
        return net.loss_value(theta, X, y)
    except FloatingPointError:
        return float("nan")


def _rel_loss(net, theta, Xt, yt, var):
    """Test MSE / Var(y_test); NaN if the prediction overflows (the trial records it and the summary warns)."""
    try:
        value = float(np.mean((net.predict(theta, Xt) - yt) ** 2) / var)
    except FloatingPointError:
        return float("nan")
    return value if np.isfinite(value) else float("nan")


def _group_means(values, group, n_groups, width):
    """Mean over the first-layer entries leaving each feature group (``values`` of shape (d * width,))."""
    per_input = np.abs(values).reshape(-1, width).mean(axis=1) if values is not None else None
    return np.array([per_input[group == g].mean() for g in range(n_groups)])


def _fresh(seed, t, key, g, n_groups):
    """The criterion's score stream afresh at every call (the same at every keep level: nested masks); one per
    layer when the layers are pruned apart."""
    if n_groups == 1:
        return lambda: _stream(seed, t, STREAM_CRITERIA, key)
    return lambda: _stream(seed, t, STREAM_CRITERIA, key, g)


def _trial(job, t):
    net = Network((job.d, job.width, 1), job.activation, "squared", bias=job.bias)
    X, y, Xt, yt, Xi, yi, group = _draw_data(job, t)
    var = float(np.var(yt))
    if not (np.isfinite(var) and var > 0):      # refused up front (checks.check_label_scale); never divide by it
        raise FloatingPointError(f"trial {t}: Var(y_test) == {var}; the relative test loss is undefined "
                                 f"(noise == {job.noise}, teacher weights {job.teacher_weights.tolist()}).")
    theta0 = net.init(job.init, _stream(job.seed, t, STREAM_INIT))
    first = net.layer_block(0)
    sel = _Selection.of(net, job)
    trainable = None
    if job.freeze_second_layer:
        trainable = np.zeros(net.n_params, dtype=bool)
        trainable[first[0]:first[1]] = True
        if job.bias:
            trainable[slice(*net.bias_block(0))] = True
    train_kw = dict(optimizer=job.optimizer, lr=job.lr, batch_size=job.batch_size, momentum=job.momentum)
    tr = net.train(theta0, X, y, steps=job.steps, trainable=trainable, rng=_stream(job.seed, t, STREAM_ORDER),
                   checkpoints=job.checkpoints, **train_kw)
    theta = tr.theta
    n_groups = len(job.counts)
    W0, W = theta0[first[0]:first[1]], theta[first[0]:first[1]]
    # a diverged run has no loss: NaN, never the loss of the NaN network's laundered output
    out = dict(dense=_rel_loss(net, theta, Xt, yt, var) if tr.finite else float("nan"), train_finite=tr.finite,
               weight_change=float(np.linalg.norm(W - W0) / max(np.linalg.norm(W0), np.finfo(float).tiny)),
               train_loss=_loss_or_nan(net, theta, X, y) if tr.finite else float("nan"),
               initial_train_loss=_loss_or_nan(net, theta0, X, y),
               group_abs_weight=_group_means(W, group, n_groups, job.width), finetune_diverged=[])
    if not tr.finite:
        nan = np.full(job.keep_counts.size, np.nan)
        none = np.zeros((job.keep_counts.size, sel.pruned.size), dtype=bool)
        out.update(pruned={c: nan for c in job.criteria}, before={c: nan for c in job.criteria},
                   masks={c: none for c in job.criteria},
                   corr={c: np.nan for c in job.criteria}, group_importance=np.full(n_groups, np.nan))
    else:
        measured, imp, prs, corr = _corr_all(net, theta, X, y, Xi, yi, sel, job.criteria, job.damping,
                                             _stream(job.seed, t, STREAM_CHECKPOINT), job.extra_criteria)
        out["corr"] = corr
        out["group_importance"] = np.array([measured[:first[1]].reshape(-1, job.width)[group == g].mean()
                                            for g in range(n_groups)])
        counts = job.keep_counts[:, None] if job.group_counts is None else job.group_counts
        pruned, before, masks = {}, {}, {}
        for c in job.criteria:
            key = get_criterion(c, carried=job.extra_criteria).stream
            rng = _stream(job.seed, t, STREAM_FINETUNE, key)
            per_group = [pr.prune_all(c, counts[:, g], imp[pos], _fresh(job.seed, t, key, g, len(prs)),
                                      job.cbs_max_swaps)
                         for g, (pr, pos) in enumerate(zip(prs, sel.positions))]
            pruned[c] = np.empty(job.keep_counts.size)
            before[c] = np.empty(job.keep_counts.size)
            masks[c] = np.empty((job.keep_counts.size, sel.pruned.size), dtype=bool)
            for k in range(job.keep_counts.size):
                th = theta.copy()
                mask = np.ones(net.n_params, dtype=bool)
                for g, idx in enumerate(sel.groups):
                    th[idx] = per_group[g][k].weights
                    mask[idx] = per_group[g][k].mask
                masks[c][k] = mask[sel.pruned]
                before[c][k] = _rel_loss(net, th, Xt, yt, var)
                if job.finetune_steps:
                    ft = net.train(th, X, y, steps=job.finetune_steps, mask=mask, trainable=trainable, rng=rng,
                                   **train_kw)
                    if ft.finite:
                        pruned[c][k] = _rel_loss(net, ft.theta, Xt, yt, var)
                    else:
                        pruned[c][k] = np.nan
                        out["finetune_diverged"].append((c, int(job.keep_counts[k])))
                else:
                    pruned[c][k] = before[c][k]
        out.update(pruned=pruned, before=before, masks=masks)
    out["pruned_indices"] = sel.pruned
    if job.checkpoints.size:
        crng = _stream(job.seed, t, STREAM_CHECKPOINT + 1000)
        corr_t = {c: np.empty(job.checkpoints.size) for c in job.criteria}
        dense_t = np.empty(job.checkpoints.size)
        gw_t = np.empty((job.checkpoints.size, n_groups))
        for i, th in enumerate(tr.snapshots):
            finite = bool(np.all(np.isfinite(th)))
            dense_t[i] = _rel_loss(net, th, Xt, yt, var) if finite else np.nan
            gw_t[i] = _group_means(th[first[0]:first[1]], group, n_groups, job.width)
            if finite:
                corr = _corr_all(net, th, X, y, Xi, yi, sel, job.criteria, job.damping, crng, job.extra_criteria)[3]
            else:
                corr = {c: np.nan for c in job.criteria}
            for c in job.criteria:
                corr_t[c][i] = corr[c]
        out.update(corr_over_steps=corr_t, dense_over_steps=dense_t, group_abs_weight_over_steps=gw_t)
    return out




def _run_network_trials(job, start, stop):
    """Trials ``start <= t < stop`` (worker entry point): an object array of per-trial dicts."""
    out = np.empty(stop - start, dtype=object)
    with workers.one_blas_thread():
        for i, t in enumerate(range(start, stop)):
            out[i] = _trial(job, t)
    return out


def _execute(job, trials, n_jobs, client):
    """Per-trial records in trial order (serial, local processes or Dask)."""
    return [r for part in workers.execute(job, trials, n_jobs, client, fn=_run_network_trials) for r in part]


def network_experiment(d=20, width=64, n_train=4000, n_test=4000, *, groups=((5, 10.0, 0.1), (5, 1.0, 0.3),
                       (10, 1.0, 0.0)), noise=0.1, activation="relu", init=0.1, optimizer="adam", lr=1e-2,
                       steps=2500, batch_size=None, momentum=0.0, keep=(0.1, 0.3, 0.5),
                       criteria=("magnitude", "hessian", "taylor1", "taylor2", "random", "oracle", "obs"),
                       finetune_steps=0, trials=5, seed=0, n_jobs=None, client=None, teacher="linear",
                       teacher_width=4, prune_layers="first", freeze_second_layer=False, damping=1e-3,
                       importance_samples=20000, record_every=None, cbs_max_swaps=50, bias=False, prune_biases=False,
                       scope="global"):
    """Train two-layer nets on covariance-scaled feature groups, prune them, and measure.

    Per trial: draw the data (train, test, and a fresh importance sample), initialize
    ``W ~ N(0, init^2/d)``, ``v ~ N(0, init^2/m)``, train, then for each criterion and keep level prune
    with :func:`linear_models.prune` and record the test MSE / Var(y_test) (optionally after
    ``finetune_steps`` of training with the mask fixed).

    Parameters
    ----------
    d, width, n_train, n_test : int
        Input dimension, hidden width ``m``, train and test sample sizes.
    groups : sequence of (count, scale, teacher weight)
        Feature groups: ``count`` inputs with standard deviation ``scale`` and teacher weight ``teacher weight``
        each; counts sum to ``d``.
    noise : float
        Label-noise standard deviation.
    activation : {"relu", "tanh", "linear"}
    init : float
        Initialization scale (``init = 0`` starts every weight at 0: a saddle that training never leaves).
    optimizer : {"gd", "sgd", "adam"}
    lr : float
    steps : int
        Optimizer steps of dense training.
    batch_size : int, optional
        None: full batch.
    momentum : float
        SGD momentum.
    keep : float, int or sequence of them
        Kept fractions (floats in (0, 1]) or counts (ints) of the pruned parameters.
    criteria : sequence of str
        Subset of ``("magnitude", "hessian", "taylor1", "taylor2", "random", "oracle", "obs", "cbs")``:
        ``hessian``/``taylor2`` use the exact Gauss-Newton diagonal, ``taylor1``/``taylor2`` the training-loss
        gradient, ``obs``/``cbs`` the full Gauss-Newton block with ``damping`` times its mean diagonal
        added, ``oracle`` the ablation importance on ``importance_samples`` fresh points.
    finetune_steps : int
        Steps of training after pruning with the mask fixed (same optimizer, lr, batch size; fresh state).
    trials, seed : int
        Trial ``t`` uses the streams ``SeedSequence(seed, spawn_key=(t, j))``.
    n_jobs : int, optional
        None/1 serial, ``k`` worker processes, -1 one per core (results identical).
    client : dask.distributed.Client or str, optional
        Run on Dask.
    teacher : {"linear", "shallow"}
        ``y = x . beta + noise z`` or a planted two-layer teacher ``sum_k a_k act(x . u_k)`` with ``teacher_width``
        units, ``u_lk = beta_l g_lk`` (``g`` standard normal), ``a_k = +-1/sqrt(teacher_width)``.
    prune_layers : {"first", "all"}, int or sequence of int
        The pruned weight matrices: the first layer only (``W``), both, or the layers named (0 = ``W``,
        1 = ``v``, -1 the last).
    freeze_second_layer : bool
        Keep ``v`` (and its bias) at its initialization (with ``activation="linear"`` the network is a linear
        model).
    damping : float
        Relative damping of the Gauss-Newton block for ``obs``/``cbs``.
    importance_samples : int
        Size of the fresh sample of the ablation importance.
    record_every : int, optional
        Also record the importance correlations, the dense loss and the per-group ``|W|`` every that many
        training steps (and at the end) in ``extras``.
    cbs_max_swaps : int
        Bound on the swaps of ``cbs``.
    bias : bool
        Give the network biases (one per hidden unit and the output; initialized at 0, trained).
    prune_biases : bool
        Prune the biases of the pruned layers too (default: biases are kept and fine-tuned).
    scope : {"global", "layer"}
        Sparsity allocation over the pruned layers: one selection over all their parameters (with one
        Gauss-Newton block for ``obs``/``cbs``), or the same kept fraction in each layer, each pruned apart
        with its own block and, for ``random``, its own stream (an integer ``keep`` is split over the
        layers in proportion to their sizes). ``keep_counts`` is the total over the layers.

    Returns
    -------
    NetworkResult
        A trial whose training diverged (non-finite loss or parameters) has NaN dense and pruned values (so
        the means over trials are NaN), and a :class:`DivergedTrainingWarning` names the trials and the
        training parameters; so does a run that ends above its initial training loss, or whose test loss
        overflows.

    Raises
    ------
    ValueError
        Before any work, naming the parameter: every argument is checked, labels that are identically 0
        (``noise == 0`` and no teacher weight) or whose scale overflows float64 are refused, and
        :class:`simulations.networks.memory.AllocationError` (also a ``MemoryError``) when the full
        Gauss-Newton block, the samples, the loss record or the snapshots exceed
        :data:`simulations.networks.memory.MEMORY_LIMIT`.
    """
    job, config, keep_list, keep_counts, ckpt = experiment_job(
        d, width, n_train, n_test, groups=groups, noise=noise, activation=activation, init=init, optimizer=optimizer,
        lr=lr, steps=steps, batch_size=batch_size, momentum=momentum, keep=keep, criteria=criteria,
        finetune_steps=finetune_steps, trials=trials, seed=seed, teacher=teacher, teacher_width=teacher_width,
        prune_layers=prune_layers, freeze_second_layer=freeze_second_layer, damping=damping,
        importance_samples=importance_samples, record_every=record_every, cbs_max_swaps=cbs_max_swaps, bias=bias,
        prune_biases=prune_biases, scope=scope)
    if workers.check_client(client) is None:
        workers.n_workers(n_jobs)                       # a bad n_jobs is refused whatever the trial count
    records = _execute(job, trials, n_jobs, client)
    return _summarize(list(records), job.criteria, keep_list, keep_counts, ckpt, config)


def _warn_diverged(records, config):
    """One warning naming the trials and the training parameters when training diverged."""
    train = dict(optimizer=config["optimizer"], lr=config["lr"], steps=config["steps"],
                 batch_size=config["batch_size"])
    where = ", ".join(f"{k} == {v!r}" for k, v in train.items())
    bad = [t for t, r in enumerate(records) if not r["train_finite"]]
    if bad:
        warnings.warn(f"network_experiment: dense training diverged (non-finite loss or parameters) in trial"
                      f"{'s' if len(bad) > 1 else ''} {', '.join(map(str, bad))} of {len(records)} ({where}); "
                      "their dense and pruned values are NaN, and so are the means over trials; lower lr.",
                      DivergedTrainingWarning, stacklevel=3)
    up = [t for t, r in enumerate(records) if r["train_finite"] and r["train_loss"] > r["initial_train_loss"]]
    if up:                                      # finite but not converging: measured values, kept, and said
        shown = "; ".join(f"trial {t}: {records[t]['initial_train_loss']:.3g} -> {records[t]['train_loss']:.3g}"
                          for t in up[:5]) + ("; ..." if len(up) > 5 else "")
        warnings.warn(f"network_experiment: training raised the training loss ({shown}) in {len(up)} of "
                      f"{len(records)} trials ({where}); the run diverged or oscillates, so its dense and pruned "
                      "values measure a failed fit; lower lr.", DivergedTrainingWarning, stacklevel=3)
    ft = [(t, c, k) for t, r in enumerate(records) for c, k in r.get("finetune_diverged", ())]
    over = [t for t, r in enumerate(records) if r["train_finite"] and (
        not np.isfinite(r["dense"]) or any(not np.all(np.isfinite(v)) for v in r["before"].values()))]
    if over:
        warnings.warn(f"network_experiment: the test loss overflowed float64 in trial{'s' if len(over) > 1 else ''} "
                      f"{', '.join(map(str, over))} of {len(records)} ({where}); those values are NaN; lower lr or "
                      "rescale the data.", DivergedTrainingWarning, stacklevel=3)
    if ft:
        shown = "; ".join(f"trial {t} {c} keep count {k}" for t, c, k in ft[:5]) + ("; ..." if len(ft) > 5 else "")
        warnings.warn(f"network_experiment: fine-tuning diverged in {len(ft)} case(s) ({shown}; "
                      f"finetune_steps == {config['finetune_steps']}, {where}); those pruned values are NaN; "
                      "lower lr.", DivergedTrainingWarning, stacklevel=3)


def _summarize(records, criteria, keep_list, keep_counts, ckpt, config):
    _warn_diverged(records, config)
    samples = {c: np.array([r["pruned"][c] for r in records]) for c in criteria}
    samples["dense"] = np.array([r["dense"] for r in records])
    mean, sem = {}, {}
    for c, v in samples.items():
        m, s = mean_sem(v)
        mean[c], sem[c] = (float(m), float(s)) if c == "dense" else (m, s)
    corr = {c: np.array([r["corr"][c] for r in records]) for c in criteria}
    extras = dict(
        importance_corr=corr,
        importance_corr_sem={c: float(mean_sem(v)[1]) for c, v in corr.items()},
        group_abs_weight=np.array([r["group_abs_weight"] for r in records]),
        group_importance=np.array([r["group_importance"] for r in records]),
        weight_change=np.array([r["weight_change"] for r in records]),
        train_loss=np.array([r["train_loss"] for r in records]),
        initial_train_loss=np.array([r["initial_train_loss"] for r in records]),
        train_finite=np.array([r["train_finite"] for r in records]),
        masks={c: np.array([r["masks"][c] for r in records]) for c in criteria},
        pruned_indices=records[0]["pruned_indices"],
    )
    if config["finetune_steps"]:
        extras["before_finetune"] = {c: np.array([r["before"][c] for r in records]) for c in criteria}
    if ckpt.size:
        extras["checkpoints"] = ckpt
        extras["corr_over_steps"] = {c: np.array([r["corr_over_steps"][c] for r in records]) for c in criteria}
        extras["dense_over_steps"] = np.array([r["dense_over_steps"] for r in records])
        extras["group_abs_weight_over_steps"] = np.array([r["group_abs_weight_over_steps"] for r in records])
    importance_corr = {c: float(np.mean(v)) for c, v in corr.items()}
    return NetworkResult(mean, sem, keep_list, keep_counts, samples, importance_corr, config, extras)
