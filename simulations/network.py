"""Networks: a Numba MLP engine and the shallow-network pruning experiment (THEORY.md Section 6).

:class:`Network` is a bias-free multilayer perceptron of layer sizes
``(n_0, ..., n_L)`` whose parameters live in **one flat float64 vector**
``theta`` (matrix ``l`` is the ``(n_l, n_{l+1})`` view ``theta[poff[l]:poff[l+1]]``,
``z_{l+1} = a_l W_l``), so pruning masks, gradients, per-sample gradients and
Gauss-Newton matrices all index the same vector. Hidden activations ``relu``,
``tanh`` or ``linear``; losses ``squared`` (``mean (f - y)^2``, scalar output)
or ``cross_entropy`` (mean softmax cross-entropy, ``y`` class indices).
Initialization: matrix ``l`` has i.i.d. ``N(0, init^2 / n_l)`` entries.

Two-layer net of THEORY.md Section 6: ``sizes = (d, m, 1)``; first-layer weight
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

Example
-------
>>> import numpy as np
>>> from simulations.network import Network
>>> net = Network((3, 4, 1), activation="tanh", loss="squared")
>>> rng = np.random.default_rng(0)
>>> theta = net.init(1.0, rng)
>>> X = rng.standard_normal((20, 3)); y = X[:, 0]
>>> res = net.train(theta, X, y, optimizer="adam", lr=1e-2, steps=200)
>>> bool(res.losses[-1] < res.losses[0]), net.ggn_diagonal(res.theta, X, y).shape
(True, (16,))
"""

from __future__ import annotations

import atexit
import inspect
import itertools
import multiprocessing
import numbers
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import blas, lapack
from scipy.stats import spearmanr

from pruning_checks import as_generator, check_choice, check_int, check_scalar
from linear_models import PruneResult, prune

from . import _nn_kernels as K
from .engine import _chunks, _one_blas_thread, _workers, execute

ACTIVATIONS = {"linear": K.LINEAR, "relu": K.RELU, "tanh": K.TANH}
LOSSES = {"squared": K.SQUARED, "cross_entropy": K.CROSS_ENTROPY}
OPTIMIZERS = ("gd", "sgd", "adam")
CRITERIA = ("magnitude", "hessian", "taylor1", "taylor2", "random", "oracle", "obs", "cbs")
TEACHERS = ("linear", "shallow")
PRUNE_LAYERS = ("first", "all")
GGN_ROWS = 4096                  # factor rows (samples x output factors) per block of a Gauss-Newton matrix
# spawn keys (t, j) of the per-trial streams; criteria use STREAM_CRITERIA + their index in CRITERIA
STREAM_DATA, STREAM_INIT, STREAM_ORDER, STREAM_IMPORTANCE, STREAM_CHECKPOINT, STREAM_CRITERIA = 0, 1, 2, 3, 4, 5


# --------------------------------------------------------------------------------------------------
# checks (the shared ones live in pruning_checks)
# --------------------------------------------------------------------------------------------------

def _int(value, name, low=1):
    return check_int(value, name, low=low)


def _matrix(X, name, cols):
    try:
        X = np.ascontiguousarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers.") from exc
    if X.ndim != 2 or X.shape[1] != cols:
        raise ValueError(f"{name} has shape {X.shape}, must be (n, {cols}).")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} has non-finite entries.")
    return X


def _stream(seed, t, j):
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(t, j))))


# --------------------------------------------------------------------------------------------------
# the engine
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainResult:
    """Trained parameters and the training record.

    Attributes
    ----------
    theta : ndarray, shape (P,)
    losses : ndarray, shape (steps,)
        Batch loss before each step.
    checkpoints : ndarray of int
        Step counts of the snapshots.
    snapshots : ndarray, shape (len(checkpoints), P)
        ``theta`` after that many steps.
    finite : bool
        Whether every loss and parameter stayed finite (False: training diverged).
    """

    theta: np.ndarray
    losses: np.ndarray
    checkpoints: np.ndarray
    snapshots: np.ndarray = field(repr=False)
    finite: bool = True


@dataclass(frozen=True)
class Network:
    """A bias-free MLP: layer sizes, hidden activation and loss (see the module docstring).

    Parameters
    ----------
    sizes : sequence of int
        ``(n_0, ..., n_L)``, at least two entries; ``n_L == 1`` for the squared loss, ``>= 2`` classes
        for cross-entropy.
    activation : {"relu", "tanh", "linear"}
    loss : {"squared", "cross_entropy"}
    """

    sizes: tuple
    activation: str = "relu"
    loss: str = "squared"

    def __post_init__(self):
        if isinstance(self.sizes, (str, bytes)) or not hasattr(self.sizes, "__len__") or len(self.sizes) < 2:
            raise ValueError(f"sizes == {self.sizes!r}, must be a sequence of at least two layer sizes.")
        sizes = tuple(_int(s, f"sizes[{i}]") for i, s in enumerate(self.sizes))
        check_choice(self.activation, "activation", tuple(ACTIVATIONS))
        check_choice(self.loss, "loss", tuple(LOSSES))
        if self.loss == "squared" and sizes[-1] != 1:
            raise ValueError(f"sizes[-1] == {sizes[-1]}, the squared loss needs a scalar output (1).")
        if self.loss == "cross_entropy" and sizes[-1] < 2:
            raise ValueError(f"sizes[-1] == {sizes[-1]}, cross_entropy needs at least 2 classes.")
        object.__setattr__(self, "sizes", sizes)

    # layout -------------------------------------------------------------------------------------
    @property
    def _sizes(self):
        return np.array(self.sizes, dtype=np.int64)

    @property
    def _act(self):
        return ACTIVATIONS[self.activation]

    @property
    def _loss(self):
        return LOSSES[self.loss]

    @property
    def offsets(self):
        """Parameter offsets ``poff`` (``L + 1`` entries): matrix ``l`` is ``theta[poff[l]:poff[l+1]]``."""
        return np.concatenate([[0], np.cumsum([a * b for a, b in zip(self.sizes[:-1], self.sizes[1:])])])

    @property
    def n_params(self):
        return int(self.offsets[-1])

    def layer_block(self, layer):
        """``(start, stop)`` of weight matrix ``layer`` in the flat vector."""
        L = len(self.sizes) - 1
        layer = _int(layer, "layer", low=-L)
        if layer >= L:
            raise ValueError(f"layer == {layer}, the network has {L} weight matrices.")
        layer %= L
        off = self.offsets
        return int(off[layer]), int(off[layer + 1])

    def views(self, theta):
        """The weight matrices as ``(n_l, n_{l+1})`` views of ``theta`` (writing to them writes ``theta``)."""
        off = self.offsets
        return [theta[off[l]:off[l + 1]].reshape(self.sizes[l], self.sizes[l + 1]) for l in range(len(self.sizes) - 1)]

    def init(self, init, rng):
        """Parameters with matrix ``l`` i.i.d. ``N(0, init^2 / n_l)``, drawn layer by layer from ``rng``."""
        init = check_scalar(init, "init", low=0)
        rng = as_generator(rng)
        parts = [init / np.sqrt(a) * rng.standard_normal((a, b)).ravel()
                 for a, b in zip(self.sizes[:-1], self.sizes[1:])]
        return np.concatenate(parts)

    # checks ---------------------------------------------------------------------------------------
    def _theta(self, theta):
        theta = np.ascontiguousarray(theta, dtype=np.float64)
        if theta.shape != (self.n_params,):
            raise ValueError(f"theta has shape {theta.shape}, must be ({self.n_params},).")
        return theta

    def _xy(self, X, y):
        X = _matrix(X, "X", self.sizes[0])
        y = np.ascontiguousarray(y, dtype=np.float64)
        if y.shape != (X.shape[0],):
            raise ValueError(f"y has shape {y.shape}, must be ({X.shape[0]},).")
        if not np.all(np.isfinite(y)):
            raise ValueError("y has non-finite entries.")
        if self.loss == "cross_entropy":
            bad = (y != np.round(y)) | (y < 0) | (y >= self.sizes[-1])
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"y[{i}] == {y[i]}, cross_entropy labels must be integers in [0, {self.sizes[-1]}).")
        return X, y

    def _block(self, block):
        if block is None:
            return 0, self.n_params
        if isinstance(block, numbers.Integral) and not isinstance(block, bool):
            return self.layer_block(block)
        try:
            start, stop = (int(b) for b in block)
        except (TypeError, ValueError):
            raise TypeError(f"block == {block!r}, must be None, a layer index or a (start, stop) pair.") from None
        if not 0 <= start < stop <= self.n_params:
            raise ValueError(f"block == {block!r}, must satisfy 0 <= start < stop <= {self.n_params}.")
        return start, stop

    # evaluation -------------------------------------------------------------------------------------
    def predict(self, theta, X):
        """Outputs: ``(n,)`` for the squared loss, ``(n, classes)`` logits for cross-entropy."""
        theta, X = self._theta(theta), _matrix(X, "X", self.sizes[0])
        out = np.empty((X.shape[0], self.sizes[-1]))
        K.predict(theta, self._sizes, self._act, X, out)
        return out[:, 0] if self.loss == "squared" else out

    def loss_value(self, theta, X, y):
        """Mean loss."""
        theta, (X, y) = self._theta(theta), self._xy(X, y)
        return float(K.mean_loss(theta, self._sizes, self._act, self._loss, X, y))

    def loss_and_grad(self, theta, X, y):
        """``(mean loss, gradient (P,))``."""
        theta, (X, y) = self._theta(theta), self._xy(X, y)
        g = np.empty(self.n_params)
        value = K.loss_grad(theta, self._sizes, self._act, self._loss, X, y, g)
        return float(value), g

    def per_sample_gradients(self, theta, X, y):
        """``(n, P)``: row ``i`` is the gradient of sample ``i``'s loss (the empirical Fisher is ``G'G/n``)."""
        theta, (X, y) = self._theta(theta), self._xy(X, y)
        out = np.empty((X.shape[0], self.n_params))
        K.per_sample_grads(theta, self._sizes, self._act, self._loss, X, y, out)
        return out

    def ggn_diagonal(self, theta, X, y=None):
        """Exact diagonal of the Gauss-Newton matrix of the mean loss (the true Fisher for cross-entropy).

        ``y`` is not needed (the Gauss-Newton matrix does not involve the labels)."""
        theta, X = self._theta(theta), _matrix(X, "X", self.sizes[0])
        out = np.empty(self.n_params)
        K.ggn_diag(theta, self._sizes, self._act, self._loss, X, np.zeros(X.shape[0]), out)
        return out

    def ggn_matrix(self, theta, X, y=None, block=None):
        """The block ``[start:stop]`` (``block``: None = all, a layer index, or a pair) of the Gauss-Newton
        matrix of the mean loss, accumulated from blocks of at most ``GGN_ROWS`` factor rows (dsyrk)."""
        theta, X = self._theta(theta), _matrix(X, "X", self.sizes[0])
        start, stop = self._block(block)
        n, b = X.shape[0], stop - start
        k = 1 if self.loss == "squared" else self.sizes[-1]
        chunk = max(1, GGN_ROWS // k)
        G = np.zeros((b, b), order="F")
        rows = np.empty((min(n, chunk) * k, b))
        for a in range(0, n, chunk):
            Xa = X[a:a + chunk]
            Fa = rows[:Xa.shape[0] * k]
            K.ggn_rows(theta, self._sizes, self._act, self._loss, Xa, start, stop, 1.0 / np.sqrt(n), Fa)
            G = blas.dsyrk(1.0, Fa, beta=1.0, c=G, trans=1, lower=0, overwrite_c=1)
        G = np.triu(G)
        return G + np.triu(G, 1).T

    def ablation_importance(self, theta, X, y, block=None):
        """Exact increase of the mean loss on ``(X, y)`` when each weight of ``block`` alone is set to 0."""
        theta, (X, y) = self._theta(theta), self._xy(X, y)
        start, stop = self._block(block)
        out = np.empty(stop - start)
        K.ablation(theta, self._sizes, self._act, self._loss, X, y, start, stop, out)
        return out

    # training -----------------------------------------------------------------------------------------
    def train(self, theta, X, y, *, optimizer="adam", lr=1e-3, steps=100, batch_size=None, momentum=0.0,
              betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, mask=None, trainable=None, rng=None,
              checkpoints=None):
        """Train a copy of ``theta``; every step runs inside one Numba kernel.

        Parameters
        ----------
        optimizer : {"gd", "sgd", "adam"}
            ``"gd"``: full-batch gradient descent (``batch_size`` must be None); ``"sgd"``: minibatch SGD with
            optional ``momentum`` (PyTorch convention); ``"adam"``: Adam (PyTorch's form, ``betas``, ``eps``).
        batch_size : int, optional
            None (or ``>= n``): full batch. Otherwise each epoch is a fresh permutation drawn from ``rng``.
        weight_decay : float
            Coupled L2: ``weight_decay * theta`` is added to the gradient.
        mask : bool array (P,), optional
            Pruning mask: masked-out weights are set to 0 and stay 0 (their gradient is masked).
        trainable : bool array (P,), optional
            Parameters that move; the others stay at their (nonzero) values, e.g. a fixed second layer.
        rng : Generator or int
            Minibatch order; required when ``batch_size < n``.
        checkpoints : sequence of int, optional
            Step counts in ``[0, steps]`` at which ``theta`` is recorded.

        Returns
        -------
        TrainResult
        """
        theta, (X, y) = self._theta(theta).copy(), self._xy(X, y)
        check_choice(optimizer, "optimizer", OPTIMIZERS)
        lr = check_scalar(lr, "lr", low=0, include_low=False)
        steps = _int(steps, "steps", low=0)
        momentum = check_scalar(momentum, "momentum", low=0, high=1, include_high=False)
        if not hasattr(betas, "__len__") or len(betas) != 2:
            raise ValueError(f"betas == {betas!r}, must be a pair (beta1, beta2).")
        b1 = check_scalar(betas[0], "betas[0]", low=0, high=1, include_high=False)
        b2 = check_scalar(betas[1], "betas[1]", low=0, high=1, include_high=False)
        eps = check_scalar(eps, "eps", low=0, include_low=False)
        weight_decay = check_scalar(weight_decay, "weight_decay", low=0)
        n = X.shape[0]
        if batch_size is None:
            batch = n
        else:
            batch = _int(batch_size, "batch_size")
            if optimizer == "gd" and batch < n:
                raise ValueError(f"optimizer == 'gd' is full-batch; batch_size == {batch_size} < n == {n} needs 'sgd'.")
        if optimizer == "adam" and momentum != 0.0:
            raise ValueError(f"momentum == {momentum} applies to 'sgd' and 'gd'; Adam uses betas.")
        if batch < n:
            if rng is None:
                raise ValueError("rng is required for minibatch training (batch_size < n): a seed or a Generator.")
            rng = as_generator(rng)
        else:
            rng = np.random.default_rng(0) if rng is None else as_generator(rng)      # unused in the kernel
        gmask = np.ones(self.n_params)
        for arr, name in ((mask, "mask"), (trainable, "trainable")):
            if arr is not None:
                arr = np.asarray(arr)
                if arr.shape != (self.n_params,) or arr.dtype != bool:
                    raise ValueError(f"{name} must be a boolean array of shape ({self.n_params},), "
                                     f"got {arr.dtype} {arr.shape}.")
                gmask[~arr] = 0.0
        if mask is not None:
            theta[~np.asarray(mask)] = 0.0
        ckpt = np.zeros(0, dtype=np.int64) if checkpoints is None else np.sort(np.asarray(checkpoints, dtype=np.int64))
        if ckpt.size and (ckpt[0] < 0 or ckpt[-1] > steps):
            raise ValueError(f"checkpoints must lie in [0, steps == {steps}], got {ckpt.tolist()}.")
        snaps = np.empty((ckpt.size, self.n_params))
        losses = np.empty(steps)
        K.train(theta, self._sizes, self._act, self._loss, X, y, K.ADAM if optimizer == "adam" else K.SGD,
                lr, momentum, b1, b2, eps, weight_decay, steps, batch, gmask, rng, ckpt, snaps, losses)
        finite = bool(np.all(np.isfinite(theta)) and np.all(np.isfinite(losses)))
        return TrainResult(theta, losses, ckpt, snaps, finite)


# --------------------------------------------------------------------------------------------------
# the shallow-network experiment
# --------------------------------------------------------------------------------------------------

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
        ``weight_change`` ``||W - W0|| / ||W0||`` of the first layer, ``train_loss`` (final full-batch),
        ``train_finite``; with ``finetune_steps > 0`` also ``before_finetune`` (criterion -> (trials, keep));
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

    def __init__(self, net, theta, X, y, block, criteria, damping):
        self.block = block
        start, stop = block
        self.w = theta[start:stop].copy()
        need = set(criteria)
        self.grad = self.hdiag = self.H = self.Hinv = None
        if need & {"taylor1", "taylor2"}:
            self.grad = net.loss_and_grad(theta, X, y)[1][start:stop]
        if need & {"obs", "cbs"}:
            self.H = net.ggn_matrix(theta, X, block=block)
            self.hdiag = np.diag(self.H).copy()
            self.damping = damping * max(float(self.hdiag.mean()), np.finfo(float).tiny)
        elif need & {"hessian", "taylor2"}:
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
        kw = {}
        if criterion in ("hessian", "taylor2"):
            kw["hessian"] = self.hdiag
        if criterion in ("taylor1", "taylor2"):
            kw["grad"] = self.grad
        if criterion in ("obs", "cbs"):
            kw.update(hessian=self.H, damping=self.damping)
        if criterion == "cbs":
            kw["max_swaps"] = max_swaps
        if criterion == "oracle":
            kw["importance"] = importance
        if criterion == "random":
            kw["rng"] = rng
        return prune(self.w, keep, criterion, **kw)

    def prune_all(self, criterion, keep_counts, importance, rng, max_swaps):
        """Prune results for every count of ``keep_counts`` (in their order).

        Greedy OBS removes weights one at a time, so the result at a smaller count continues the run at a
        larger one: after removing ``S`` with exact downdates the inverse Hessian is ``[(H + damping I)_KK]^-1``
        on the kept set ``K``, so a run on the subproblem ``(w_K, H_KK)`` from the larger count's updated
        weights makes the same greedy choices (up to rounding) and costs one greedy run in all.
        """
        if criterion != "obs":
            return [self.prune(criterion, int(k), importance, rng, max_swaps) for k in keep_counts]
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


def _corr_all(net, theta, X, y, Xi, yi, block, criteria, damping, rng):
    """Importance of the block and each criterion's Spearman correlation with it."""
    imp = net.ablation_importance(theta, Xi, yi, block=block)
    pr = _Pruning(net, theta, X, y, block, [c for c in criteria if c != "random"], damping)
    out = {}
    for c in criteria:
        s = pr.scores(c, imp, rng)
        out[c] = float("nan") if s is None else _spearman(s, imp)
    return imp, pr, out


def _rel_loss(net, theta, Xt, yt, var):
    return float(np.mean((net.predict(theta, Xt) - yt) ** 2) / var)


def _group_means(values, group, n_groups, width):
    """Mean over the first-layer entries leaving each feature group (``values`` of shape (d * width,))."""
    per_input = np.abs(values).reshape(-1, width).mean(axis=1) if values is not None else None
    return np.array([per_input[group == g].mean() for g in range(n_groups)])


def _trial(job, t):
    net = Network((job.d, job.width, 1), job.activation, "squared")
    X, y, Xt, yt, Xi, yi, group = _draw_data(job, t)
    var = float(np.var(yt))
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
    out = dict(dense=_rel_loss(net, theta, Xt, yt, var), train_finite=tr.finite,
               weight_change=float(np.linalg.norm(W - W0) / max(np.linalg.norm(W0), np.finfo(float).tiny)),
               train_loss=net.loss_value(theta, X, y), group_abs_weight=_group_means(W, group, n_groups, job.width))
    if not tr.finite:
        nan = np.full(job.keep_counts.size, np.nan)
        out.update(pruned={c: nan for c in job.criteria}, before={c: nan for c in job.criteria},
                   corr={c: np.nan for c in job.criteria}, group_importance=np.full(n_groups, np.nan))
    else:
        imp, pr, corr = _corr_all(net, theta, X, y, Xi, yi, block, job.criteria, job.damping,
                                  _stream(job.seed, t, STREAM_CHECKPOINT))
        out["corr"] = corr
        out["group_importance"] = np.array([imp[:first[1]].reshape(-1, job.width)[group == g].mean()
                                            for g in range(n_groups)])
        pruned, before = {}, {}
        for c in job.criteria:
            rng = _stream(job.seed, t, STREAM_CRITERIA + CRITERIA.index(c))
            pruned[c] = np.empty(job.keep_counts.size)
            before[c] = np.empty(job.keep_counts.size)
            results = pr.prune_all(c, job.keep_counts, imp, rng, job.cbs_max_swaps)
            for k, res in enumerate(results):
                th = theta.copy()
                th[block[0]:block[1]] = res.weights
                before[c][k] = _rel_loss(net, th, Xt, yt, var)
                if job.finetune_steps:
                    mask = np.ones(net.n_params, dtype=bool)
                    mask[block[0]:block[1]] = res.mask
                    th = net.train(th, X, y, steps=job.finetune_steps, mask=mask, trainable=trainable, rng=rng,
                                   **train_kw).theta
                    pruned[c][k] = _rel_loss(net, th, Xt, yt, var)
                else:
                    pruned[c][k] = before[c][k]
        out.update(pruned=pruned, before=before)
    if job.checkpoints.size:
        crng = _stream(job.seed, t, STREAM_CHECKPOINT + 1000)
        corr_t = {c: np.empty(job.checkpoints.size) for c in job.criteria}
        dense_t = np.empty(job.checkpoints.size)
        gw_t = np.empty((job.checkpoints.size, n_groups))
        for i, th in enumerate(tr.snapshots):
            dense_t[i] = _rel_loss(net, th, Xt, yt, var)
            gw_t[i] = _group_means(th[first[0]:first[1]], group, n_groups, job.width)
            if np.all(np.isfinite(th)):
                _, _, corr = _corr_all(net, th, X, y, Xi, yi, block, job.criteria, job.damping, crng)
            else:
                corr = {c: np.nan for c in job.criteria}
            for c in job.criteria:
                corr_t[c][i] = corr[c]
        out.update(corr_over_steps=corr_t, dense_over_steps=dense_t, group_abs_weight_over_steps=gw_t)
    return out


def _run_network_trials(job, start, stop):
    """Trials ``start <= t < stop`` (worker entry point): an object array of per-trial dicts."""
    if multiprocessing.parent_process() is not None:
        import numba
        numba.set_num_threads(1)               # the OBS kernel's prange would oversubscribe the cores
    out = np.empty(stop - start, dtype=object)
    with _one_blas_thread():
        for i, t in enumerate(range(start, stop)):
            out[i] = _trial(job, t)
    return out, np.zeros(stop - start)


def _fork_safe_threads():
    """Make Numba's threads fork-safe before they start. :func:`linear_models.prune`'s OBS kernel runs
    ``prange`` threads; with GNU OpenMP (Numba's default layer on Linux) a process that has run them aborts
    on ``fork``, which is how the shared worker pool of :func:`simulations.engine.execute` starts workers.
    ``"forksafe"`` selects TBB or the workqueue layer (same results; the kernel's rows are independent). An
    explicit ``NUMBA_THREADING_LAYER`` is respected."""
    import os

    import numba
    from numba.np.ufunc import parallel

    if not parallel._is_initialized and "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER = "forksafe"


_fork_safe_threads()
_SPAWN_POOLS = {}


def _forking_is_unsafe():
    """True when this process already runs GNU OpenMP threads (started before this module was imported)."""
    import numba
    from numba.np.ufunc import parallel

    return parallel._is_initialized and numba.threading_layer() == "omp" and sys.platform.startswith("linux")


def _execute(job, trials, n_jobs, client):
    """Per-trial records in trial order via :func:`simulations.engine.execute` (serial, local processes or
    Dask); if this process already runs GNU OpenMP threads, local workers are spawned instead of forked
    (a script doing that needs the usual ``if __name__ == "__main__":`` guard)."""
    if client is None and _workers(n_jobs) > 1 and _forking_is_unsafe():
        workers = _workers(n_jobs)
        pool = _SPAWN_POOLS.get(workers)
        if pool is None:
            pool = _SPAWN_POOLS[workers] = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        chunks = _chunks(trials, workers)
        records = [r for part, _ in pool.map(_run_network_trials, [job] * len(chunks), *zip(*chunks)) for r in part]
        return records
    records, _ = execute(job, trials, n_jobs, client, fn=_run_network_trials)
    return list(records)


@atexit.register
def _shutdown_spawn_pools():
    for pool in _SPAWN_POOLS.values():
        pool.shutdown(cancel_futures=True)
    _SPAWN_POOLS.clear()


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
                                 "pass kept fractions as floats, e.g. 1.0.")
            counts.append(int(v))
        elif isinstance(v, numbers.Real):
            v = float(v)
            if not (np.isfinite(v) and 0 < v <= 1):
                raise ValueError(f"keep{where} == {v}, a kept fraction must be in (0, 1].")
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
    """
    job, config, keep_list, keep_counts, ckpt = _experiment_job(
        d, width, n_train, n_test, groups=groups, noise=noise, activation=activation, init=init, optimizer=optimizer,
        lr=lr, steps=steps, batch_size=batch_size, momentum=momentum, keep=keep, criteria=criteria,
        finetune_steps=finetune_steps, trials=trials, seed=seed, teacher=teacher, teacher_width=teacher_width,
        prune_layers=prune_layers, freeze_second_layer=freeze_second_layer, damping=damping,
        importance_samples=importance_samples, record_every=record_every, cbs_max_swaps=cbs_max_swaps)
    records = _execute(job, trials, n_jobs, client)
    return _summarize(list(records), job.criteria, keep_list, keep_counts, ckpt, config)


def _experiment_job(d, width, n_train, n_test, *, groups, noise, activation, init, optimizer, lr, steps, batch_size,
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
    init = check_scalar(init, "init", low=0)
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
    for c in criteria:
        check_choice(c, "criteria", CRITERIA)
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
    job = _NetJob(d, width, n_train, n_test, counts, scales, tweights, noise, activation, init, optimizer, lr,
                  momentum, steps, batch_size, keep_counts, criteria, finetune_steps, seed, teacher, teacher_width,
                  prune_layers, bool(freeze_second_layer), damping, importance_samples, ckpt, cbs_max_swaps)
    config = dict(d=d, width=width, n_train=n_train, n_test=n_test,
                  groups=[list(g) for g in zip(counts, scales.tolist(), tweights.tolist())], noise=noise,
                  activation=activation, init=init, optimizer=optimizer, lr=lr, steps=steps, batch_size=batch_size,
                  momentum=momentum, keep=keep_list, criteria=list(criteria), finetune_steps=finetune_steps,
                  trials=trials, seed=seed, teacher=teacher, teacher_width=teacher_width, prune_layers=prune_layers,
                  freeze_second_layer=bool(freeze_second_layer), damping=damping,
                  importance_samples=importance_samples, record_every=record_every, cbs_max_swaps=cbs_max_swaps)
    return job, config, keep_list, keep_counts, ckpt


def _mean_sem(x):
    x = np.asarray(x, dtype=float)
    mean = x.mean(axis=0)
    sem = x.std(axis=0, ddof=1) / np.sqrt(x.shape[0]) if x.shape[0] > 1 else np.full(x.shape[1:], np.nan)
    return mean, sem


def _summarize(records, criteria, keep_list, keep_counts, ckpt, config):
    samples = {c: np.array([r["pruned"][c] for r in records]) for c in criteria}
    samples["dense"] = np.array([r["dense"] for r in records])
    mean, sem = {}, {}
    for c, v in samples.items():
        m, s = _mean_sem(v)
        mean[c], sem[c] = (float(m), float(s)) if c == "dense" else (m, s)
    corr = {c: np.array([r["corr"][c] for r in records]) for c in criteria}
    extras = dict(
        importance_corr=corr,
        importance_corr_sem={c: float(_mean_sem(v)[1]) for c, v in corr.items()},
        group_abs_weight=np.array([r["group_abs_weight"] for r in records]),
        group_importance=np.array([r["group_importance"] for r in records]),
        weight_change=np.array([r["weight_change"] for r in records]),
        train_loss=np.array([r["train_loss"] for r in records]),
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


# --------------------------------------------------------------------------------------------------
# the "network" kind of sweep (simulations.sweep): {"kind": "network", ...} configs
# --------------------------------------------------------------------------------------------------
# A point of a network sweep is one network_experiment. Grid fields take a value or a list (the grid is
# their product, in the order of NET_GRID); every other argument of network_experiment is a fixed field.
# ``scale`` (optional) sweeps the feature scale c of group ``scale_group`` (figure 1 of issue 7).

from . import sweep as _sweep                      # noqa: E402  (sweep does not import this module)

NET_GRID = ("init", "width", "activation", "noise", "lr", "steps", "scale")
NET_REQUIRED = ("d", "groups", "trials", "keep")
_NET_FIXED = ("d", "n_train", "n_test", "optimizer", "batch_size", "momentum", "keep", "criteria", "finetune_steps",
              "trials", "teacher", "teacher_width", "prune_layers", "freeze_second_layer", "damping",
              "importance_samples", "cbs_max_swaps")


def _net_defaults():
    """Defaults of the optional fields: those of :func:`network_experiment` (one source), as JSON data."""
    sig = inspect.signature(network_experiment).parameters
    json_value = lambda v: list(v) if isinstance(v, tuple) else v      # noqa: E731
    out = {k: [sig[k].default] for k in NET_GRID if k != "scale"}
    out.update(scale=[], scale_group=0)
    out.update({k: json_value(sig[k].default) for k in _NET_FIXED if k not in NET_REQUIRED})
    return out


NET_DEFAULTS = _net_defaults()
GROUP_FIELDS = ("count", "scale", "teacher_weight")
NET_CSV_COLUMNS = ("kind",) + NET_GRID + ("criterion", "keep", "keep_count", "metric", "group", "mean", "sem",
                                          "trials")


def _net_groups(groups):
    """Feature groups as ``[[count, scale, teacher_weight], ...]`` from triples or tables with those fields."""
    if not isinstance(groups, (list, tuple)) or not groups:
        raise _sweep.ConfigError(f"groups == {groups!r}, must be a non-empty list of [count, scale, teacher_weight] "
                                 "triples or tables with fields count, scale, teacher_weight.")
    out = []
    for i, g in enumerate(groups):
        name = f"groups[{i}]"
        if isinstance(g, dict):
            _sweep._check_table(g, name, GROUP_FIELDS, ())
            g = [g[k] for k in GROUP_FIELDS]
        elif not isinstance(g, (list, tuple)) or len(g) != 3:
            raise _sweep.ConfigError(f"{name} == {g!r}, must be a triple [count, scale, teacher_weight] or a table "
                                     "with fields count, scale, teacher_weight.")
        out.append([_sweep._integer(g[0], f"{name}.count", 1),
                    _sweep._real(g[1], f"{name}.scale", low=0, include_low=False),
                    _sweep._real(g[2], f"{name}.teacher_weight")])
    return out


def _net_list(raw, name, check):
    return _sweep._distinct([check(v, f"{name}[{j}]") for j, v in enumerate(_sweep._as_list(raw, name))], name)


def _net_keep(raw):
    """Kept fractions (floats in (0, 1]) or counts (ints >= 1), in the order given."""
    def one(v, name):
        if isinstance(v, bool):
            raise _sweep.ConfigError(f"{name} == {v!r} is a bool; pass kept fractions as floats, e.g. 1.0.")
        if isinstance(v, int):
            return _sweep._integer(v, name, 1)
        return _sweep._real(v, name, low=0, include_low=False, high=1)
    return _net_list(raw, "keep", one)


def _net_normalize(raw):
    cfg = dict(d=_sweep._integer(raw["d"], "d", 1), groups=_net_groups(raw["groups"]))
    cfg["trials"] = _sweep._integer(raw["trials"], "trials", 1)
    if cfg["trials"] < 2:
        raise _sweep.ConfigError(f"trials == {cfg['trials']}, must be >= 2 for standard errors.")
    cfg["keep"] = _net_keep(raw["keep"])
    cfg["init"] = _net_list(raw["init"], "init", lambda v, n: _sweep._real(v, n, low=0))
    cfg["width"] = _net_list(raw["width"], "width", lambda v, n: _sweep._integer(v, n, 1))
    cfg["activation"] = _net_list(raw["activation"], "activation",
                                  lambda v, n: _sweep._choice(v, n, tuple(ACTIVATIONS)))
    cfg["noise"] = _net_list(raw["noise"], "noise", lambda v, n: _sweep._real(v, n, low=0))
    cfg["lr"] = _net_list(raw["lr"], "lr", lambda v, n: _sweep._real(v, n, low=0, include_low=False))
    cfg["steps"] = _net_list(raw["steps"], "steps", lambda v, n: _sweep._integer(v, n, 0))
    scale = raw["scale"]
    cfg["scale"] = [] if isinstance(scale, (list, tuple)) and not scale else _net_list(
        scale, "scale", lambda v, n: _sweep._real(v, n, low=0, include_low=False))
    cfg["scale_group"] = _sweep._integer(raw["scale_group"], "scale_group", 0)
    if cfg["scale_group"] >= len(cfg["groups"]):
        raise _sweep.ConfigError(f"scale_group == {cfg['scale_group']}, must index one of the "
                                 f"{len(cfg['groups'])} groups.")
    for k in ("n_train", "teacher_width", "importance_samples"):
        cfg[k] = _sweep._integer(raw[k], k, 1)
    cfg["n_test"] = _sweep._integer(raw["n_test"], "n_test", 2)
    for k in ("finetune_steps", "cbs_max_swaps"):
        cfg[k] = _sweep._integer(raw[k], k, 0)
    cfg["batch_size"] = None if raw["batch_size"] is None else _sweep._integer(raw["batch_size"], "batch_size", 1)
    cfg["optimizer"] = _sweep._choice(raw["optimizer"], "optimizer", OPTIMIZERS)
    cfg["teacher"] = _sweep._choice(raw["teacher"], "teacher", TEACHERS)
    cfg["prune_layers"] = _sweep._choice(raw["prune_layers"], "prune_layers", PRUNE_LAYERS)
    cfg["momentum"] = _sweep._real(raw["momentum"], "momentum", low=0, high=1, include_high=False)
    cfg["damping"] = _sweep._real(raw["damping"], "damping", low=0, include_low=False)
    if not isinstance(raw["freeze_second_layer"], bool):
        raise _sweep.ConfigError(f"freeze_second_layer == {raw['freeze_second_layer']!r}, must be true or false.")
    cfg["freeze_second_layer"] = raw["freeze_second_layer"]
    cfg["criteria"] = _net_list(raw["criteria"], "criteria", lambda v, n: _sweep._choice(v, n, CRITERIA))
    return cfg


def _net_grid(cfg):
    axes = [(k, cfg[k]) for k in NET_GRID if k != "scale" or cfg["scale"]]
    return [dict(zip([k for k, _ in axes], values)) for values in itertools.product(*[v for _, v in axes])]


def _net_arguments(cfg, point, seed):
    """The keyword arguments of :func:`network_experiment` at one grid point (without n_jobs and client)."""
    groups = [list(g) for g in cfg["groups"]]
    if "scale" in point:
        groups[cfg["scale_group"]][1] = point["scale"]
    args = {k: cfg[k] for k in _NET_FIXED}
    args.update({k: v for k, v in point.items() if k != "scale"})
    args["criteria"] = tuple(cfg["criteria"])
    return dict(args, groups=groups, seed=seed, record_every=None)


def _net_where(point):
    return ", ".join(f"{k} == {v!r}" for k, v in point.items())


def _net_check_point(cfg, point):
    try:
        _experiment_job(**_net_arguments(cfg, point, cfg["seed"]))
    except (TypeError, ValueError) as exc:
        raise _sweep.ConfigError(f"{exc} (grid point {_net_where(point)})") from None


def _net_simulate(cfg, point, seed, n_jobs, client):
    res = network_experiment(**_net_arguments(cfg, point, seed), n_jobs=n_jobs, client=client)
    crit = cfg["criteria"]
    ex = res.extras

    def ms(x):
        m, s = _mean_sem(x)
        return np.stack([m, s], axis=-1)

    return dict(mean=np.array([res.mean[c] for c in crit]), sem=np.array([res.sem[c] for c in crit]),
                dense=np.array([res.mean["dense"], res.sem["dense"]]),
                keep_counts=np.asarray(res.keep_counts, dtype=float),
                importance_corr=np.array([[res.importance_corr[c], ex["importance_corr_sem"][c]] for c in crit]),
                weight_change=ms(ex["weight_change"]), train_loss=ms(ex["train_loss"]),
                train_finite=ms(np.asarray(ex["train_finite"], dtype=float)),
                group_abs_weight=ms(ex["group_abs_weight"]), group_importance=ms(ex["group_importance"]))


def _net_shapes(cfg):
    ck = (len(cfg["criteria"]), len(cfg["keep"]))
    return dict(mean=ck, sem=ck, dense=(2,), keep_counts=(len(cfg["keep"]),),
                importance_corr=(len(cfg["criteria"]), 2), weight_change=(2,), train_loss=(2,), train_finite=(2,),
                group_abs_weight=(len(cfg["groups"]), 2), group_importance=(len(cfg["groups"]), 2))


def _net_rows(cfg, r):
    base = dict({k: r[k] for k in NET_GRID if k in r}, kind="network", trials=cfg["trials"])
    rows = []
    for ci, c in enumerate(cfg["criteria"]):
        for ki, k in enumerate(cfg["keep"]):
            rows.append(dict(base, criterion=c, keep=k, keep_count=int(r["keep_counts"][ki]), metric="relative_loss",
                             mean=r["mean"][ci, ki], sem=r["sem"][ci, ki]))
    rows.append(dict(base, criterion="dense", keep=1.0, metric="relative_loss", mean=r["dense"][0],
                     sem=r["dense"][1]))
    for ci, c in enumerate(cfg["criteria"]):
        rows.append(dict(base, criterion=c, metric="importance_corr", mean=r["importance_corr"][ci, 0],
                         sem=r["importance_corr"][ci, 1]))
    for metric in ("weight_change", "train_loss", "train_finite"):
        rows.append(dict(base, criterion="dense", metric=metric, mean=r[metric][0], sem=r[metric][1]))
    for metric in ("group_abs_weight", "group_importance"):
        for g, (m, s) in enumerate(r[metric]):
            rows.append(dict(base, criterion="dense", metric=metric, group=g, mean=m, sem=s))
    return rows


NETWORK_KIND = _sweep.register_kind(_sweep.PointKind(
    name="network", required=NET_REQUIRED, defaults=NET_DEFAULTS, normalize=_net_normalize, grid=_net_grid,
    check_point=_net_check_point, theory=lambda cfg, point: {}, simulate=_net_simulate, shapes=_net_shapes,
    rows=_net_rows, csv_columns=NET_CSV_COLUMNS, renamed={"batch": "batch_size"}))
