"""The shallow-network pruning experiment (docs/theory.md Section 6): covariance-scaled feature groups,
trained two-layer nets, every pruning criterion, importance correlations.

Two-layer net of docs/theory.md Section 6: ``sizes = (d, m, 1)``; first-layer weight
``W[l, j]`` (input ``l`` to hidden unit ``j``) is ``theta[l * m + j]`` and the second
layer ``v`` is ``theta[d * m:]``.

:func:`network_experiment` trains such nets on inputs in feature groups
(covariance scaling: a group has a count, a feature scale ``c`` and a teacher
weight), prunes the first layer with :func:`linear_models.prune` fed with the
network's gradient and Gauss-Newton matrix (one pruning library for linear
models and networks), and reports test loss relative to ``Var(y_test)``,
rank correlations of every criterion's scores with the exact ablation
importance, and diagnostics (per-group mean ``|W|``, ``||W - W0|| / ||W0||``).

Reproducibility: trial ``t`` draws everything from children of the ``t``-th
child of ``SeedSequence(seed)`` (spawn keys ``(t, j)``: data, initialization,
minibatch order, importance sample, then one stream per criterion), and runs in
one process with BLAS and Numba single-threaded, so results are bitwise
identical for any ``n_jobs`` (and on Dask).
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import lapack
from scipy.stats import spearmanr

from linear_models import PruneResult, get_criterion, prune
from pruning_checks import check_choice, check_int, check_scalar

from ..networks.memory import check_allocation, matrix_bytes
from ..networks.model import ACTIVATIONS, OPTIMIZERS, Network
from ..runtime import workers
from ..runtime.seeds import stream as _stream
from ..runtime.stats import mean_sem

#: The criteria of the seed paper's comparison (any registered criterion runs: :mod:`linear_models.criteria`).
CRITERIA = ("magnitude", "hessian", "taylor1", "taylor2", "random", "oracle", "obs", "cbs")
TEACHERS = ("linear", "shallow")
PRUNE_LAYERS = ("first", "all")
# spawn keys (t, j) of the per-trial streams; criterion c draws its scores from (t, STREAM_CRITERIA, key) and
# fine-tunes from (t, STREAM_FINETUNE, key), key = the registry's stream key of its name (never its position)
STREAM_DATA, STREAM_INIT, STREAM_ORDER, STREAM_IMPORTANCE, STREAM_CHECKPOINT, STREAM_CRITERIA = 0, 1, 2, 3, 4, 5
STREAM_FINETUNE = 6
#: Largest label / feature standard deviation accepted: squares, gradients and Gauss-Newton entries of
#: larger scales overflow float64 (``noise = 1e200`` made every value NaN); the smallest label scale too.
SCALE_LIMIT = 1e50
#: Copies of the ``b x b`` Gauss-Newton block alive at the peak of the full-matrix criteria (the block, the
#: damped copy, its Cholesky factor and inverse, and a symmetrised copy inside the pruning call).
FULL_MATRIX_COPIES = 5


class DivergedTrainingWarning(RuntimeWarning):
    """Training of some trials diverged (non-finite loss or parameters): their values are NaN."""


def _criterion(name, extra=()):
    """The registry entry of ``name``; user-registered ones travel with the job (``extra``)."""
    for crit in extra:
        if crit.name == name:
            return crit
    return get_criterion(name)


def _int(value, name, low=1):
    return check_int(value, name, low=low)


@dataclass(frozen=True)
class NetworkResult:
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
        when training diverged), ``initial_train_loss`` (at the initialization), ``train_finite``; with ``finetune_steps > 0`` also ``before_finetune`` (criterion -> (trials, keep));
        with ``record_every``: ``checkpoints`` (steps), ``corr_over_steps`` (criterion -> (trials, checkpoints)),
        ``dense_over_steps`` and ``group_abs_weight_over_steps`` (trials, checkpoints, groups).
    """

    mean: dict
    sem: dict
    keep: list
    keep_counts: np.ndarray
    samples: dict = field(repr=False)
    importance_corr: dict = field(repr=False)
    config: dict = field(repr=False)
    extras: dict = field(repr=False)


@dataclass(frozen=True)
class _NetJob:
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
    prune_layers: str
    freeze_second_layer: bool
    damping: float
    importance_samples: int
    checkpoints: np.ndarray
    cbs_max_swaps: int
    extra_criteria: tuple = ()


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
    """The pruning inputs of one trained network on the pruned block, computed once and shared."""

    def __init__(self, net, theta, X, y, block, criteria, damping, extra=()):
        self.block = block
        start, stop = block
        self.w = theta[start:stop].copy()
        self.crits = {c: _criterion(c, extra) for c in criteria}
        need = {n for c in self.crits.values() for n in c.needs}
        self.grad = self.hdiag = self.H = self.Hinv = None
        self.relative_damping = damping
        if "grad" in need:
            self.grad = net.loss_and_grad(theta, X, y)[1][start:stop]
        if need & {"hessian", "hessian_inverse"}:
            self.H = net.ggn_matrix(theta, X, block=block)
            self.hdiag = np.diag(self.H).copy()
            self.damping = damping * max(float(self.hdiag.mean()), np.finfo(float).tiny)
        elif "hessian_diag" in need:
            self.hdiag = net.ggn_diagonal(theta, X)[start:stop]

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


def _corr_all(net, theta, X, y, Xi, yi, block, criteria, damping, rng, extra=()):
    """Importance of the block and each criterion's Spearman correlation with it."""
    imp = net.ablation_importance(theta, Xi, yi, block=block)
    pr = _Pruning(net, theta, X, y, block, criteria, damping, extra)
    out = {}
    for c in criteria:
        s = pr.scores(c, imp, rng)
        out[c] = float("nan") if s is None else _spearman(s, imp)
    return imp, pr, out


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


def _trial(job, t):
    net = Network((job.d, job.width, 1), job.activation, "squared")
    X, y, Xt, yt, Xi, yi, group = _draw_data(job, t)
    var = float(np.var(yt))
    if not (np.isfinite(var) and var > 0):      # refused up front (_check_label_scale); never divide by it
        raise FloatingPointError(f"trial {t}: Var(y_test) == {var}; the relative test loss is undefined "
                                 f"(noise == {job.noise}, teacher weights {job.teacher_weights.tolist()}).")
    theta0 = net.init(job.init, _stream(job.seed, t, STREAM_INIT))
    first = net.layer_block(0)
    block = first if job.prune_layers == "first" else (0, net.n_params)
    trainable = None
    if job.freeze_second_layer:
        trainable = np.zeros(net.n_params, dtype=bool)
        trainable[first[0]:first[1]] = True
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
        out.update(pruned={c: nan for c in job.criteria}, before={c: nan for c in job.criteria},
                   corr={c: np.nan for c in job.criteria}, group_importance=np.full(n_groups, np.nan))
    else:
        imp, pr, corr = _corr_all(net, theta, X, y, Xi, yi, block, job.criteria, job.damping,
                                  _stream(job.seed, t, STREAM_CHECKPOINT), job.extra_criteria)
        out["corr"] = corr
        out["group_importance"] = np.array([imp[:first[1]].reshape(-1, job.width)[group == g].mean()
                                            for g in range(n_groups)])
        pruned, before = {}, {}
        for c in job.criteria:
            key = _criterion(c, job.extra_criteria).stream
            rng = _stream(job.seed, t, STREAM_FINETUNE, key)
            fresh = lambda: _stream(job.seed, t, STREAM_CRITERIA, key)   # noqa: E731
            pruned[c] = np.empty(job.keep_counts.size)
            before[c] = np.empty(job.keep_counts.size)
            results = pr.prune_all(c, job.keep_counts, imp, fresh, job.cbs_max_swaps)
            for k, res in enumerate(results):
                th = theta.copy()
                th[block[0]:block[1]] = res.weights
                before[c][k] = _rel_loss(net, th, Xt, yt, var)
                if job.finetune_steps:
                    mask = np.ones(net.n_params, dtype=bool)
                    mask[block[0]:block[1]] = res.mask
                    ft = net.train(th, X, y, steps=job.finetune_steps, mask=mask, trainable=trainable, rng=rng,
                                   **train_kw)
                    if ft.finite:
                        pruned[c][k] = _rel_loss(net, ft.theta, Xt, yt, var)
                    else:
                        pruned[c][k] = np.nan
                        out["finetune_diverged"].append((c, int(job.keep_counts[k])))
                else:
                    pruned[c][k] = before[c][k]
        out.update(pruned=pruned, before=before)
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
                _, _, corr = _corr_all(net, th, X, y, Xi, yi, block, job.criteria, job.damping, crng,
                                       job.extra_criteria)
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


def _check_groups(groups, d):
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


def _check_keep_counts(keep, p):
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


def network_experiment(d=20, width=64, n_train=4000, n_test=4000, *, groups=((5, 10.0, 0.1), (5, 1.0, 0.3),
                       (10, 1.0, 0.0)), noise=0.1, activation="relu", init=0.1, optimizer="adam", lr=1e-2,
                       steps=2500, batch_size=None, momentum=0.0, keep=(0.1, 0.3, 0.5),
                       criteria=("magnitude", "hessian", "taylor1", "taylor2", "random", "oracle", "obs"),
                       finetune_steps=0, trials=5, seed=0, n_jobs=None, client=None, teacher="linear",
                       teacher_width=4, prune_layers="first", freeze_second_layer=False, damping=1e-3,
                       importance_samples=20000, record_every=None, cbs_max_swaps=50):
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
        Kept fractions (floats in (0, 1]) or counts (ints) of the pruned weights.
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
    prune_layers : {"first", "all"}
        Prune the first layer only or all weights together.
    freeze_second_layer : bool
        Keep ``v`` at its initialization (with ``activation="linear"`` the network is a linear model).
    damping : float
        Relative damping of the Gauss-Newton block for ``obs``/``cbs``.
    importance_samples : int
        Size of the fresh sample of the ablation importance.
    record_every : int, optional
        Also record the importance correlations, the dense loss and the per-group ``|W|`` every that many
        training steps (and at the end) in ``extras``.
    cbs_max_swaps : int
        Bound on the swaps of ``cbs``.

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
        importance_samples=importance_samples, record_every=record_every, cbs_max_swaps=cbs_max_swaps)
    if workers.check_client(client) is None:
        workers.n_workers(n_jobs)                       # a bad n_jobs is refused whatever the trial count
    records = _execute(job, trials, n_jobs, client)
    return _summarize(list(records), job.criteria, keep_list, keep_counts, ckpt, config)


def _check_label_scale(counts, scales, weights, noise):
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


def _check_memory(d, width, n_train, n_test, importance_samples, steps, finetune_steps, n_ckpt, criteria, extra,
                  prune_layers):
    """Estimate the largest allocations of one trial from the arguments and refuse before any work."""
    P = d * width + width
    b = d * width if prune_layers == "first" else P
    crits = [_criterion(c, extra) for c in criteria]
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
                    freeze_second_layer, damping, importance_samples, record_every, cbs_max_swaps):
    """Check the arguments of :func:`network_experiment` (raising as it does) without running anything:
    ``(job, config, keep_list, keep_counts, checkpoints)``. The sweep kind validates grid points with it."""
    d = _int(d, "d")
    width = _int(width, "width")
    n_train = _int(n_train, "n_train")
    n_test = _int(n_test, "n_test", low=2)
    counts, scales, tweights = _check_groups(groups, d)
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
    check_choice(prune_layers, "prune_layers", PRUNE_LAYERS)
    n_pruned = d * width if prune_layers == "first" else d * width + width
    keep_list, keep_counts = _check_keep_counts(keep, n_pruned)
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
    _check_label_scale(counts, scales, tweights, noise)
    _check_memory(d, width, n_train, n_test, importance_samples, steps, finetune_steps, ckpt.size, criteria, extra,
                  prune_layers)
    job = _NetJob(d, width, n_train, n_test, counts, scales, tweights, noise, activation, init, optimizer, lr,
                  momentum, steps, batch_size, keep_counts, criteria, finetune_steps, seed, teacher, teacher_width,
                  prune_layers, bool(freeze_second_layer), damping, importance_samples, ckpt, cbs_max_swaps, extra)
    config = dict(d=d, width=width, n_train=n_train, n_test=n_test,
                  groups=[list(g) for g in zip(counts, scales.tolist(), tweights.tolist())], noise=noise,
                  activation=activation, init=init, optimizer=optimizer, lr=lr, steps=steps, batch_size=batch_size,
                  momentum=momentum, keep=keep_list, criteria=list(criteria), finetune_steps=finetune_steps,
                  trials=trials, seed=seed, teacher=teacher, teacher_width=teacher_width, prune_layers=prune_layers,
                  freeze_second_layer=bool(freeze_second_layer), damping=damping,
                  importance_samples=importance_samples, record_every=record_every, cbs_max_swaps=cbs_max_swaps)
    return job, config, keep_list, keep_counts, ckpt


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
