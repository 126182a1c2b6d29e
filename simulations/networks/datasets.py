"""Classification data sets for the network experiments: scikit-learn's digits and a planted-MLP teacher.

* :func:`digits`: the 1,797 handwritten digits of 8 x 8 pixels that scikit-learn
  ships (loaded offline by ``sklearn.datasets.load_digits``; MNIST cannot be
  fetched on the machines this toolkit runs on). A fixed, seeded, stratified
  train / validation / test split (60 / 20 / 20 per class by default), and
  features standardised with the training mean and standard deviation (pixels
  that are constant on the training set are only centred). scikit-learn is an
  optional extra: ``pip install -e '.[digits]'``.
* :func:`teacher`: a planted multilayer perceptron ``x -> W3 act(W2 act(W1 x))``
  without biases, weights ``N(0, 2 / fan_in)`` (``N(0, 1 / fan_in)`` for tanh),
  on inputs ``x = A z / sqrt(k)`` with ``z ~ N(0, I_k)`` and a fixed Gaussian
  ``k x d`` map ``A`` (``latent_dim = k``; ``None``: ``x ~ N(0, I_d)``). The label
  is the argmax of the teacher's logits after a per-class shift that balances the
  classes on the drawn sample (or a draw from ``softmax(logits / temperature)``
  when ``temperature > 0``); within each class the ``margin_quantile`` fraction of
  draws with the smallest top-two logit margin is discarded, so the classes are
  separated and a student of the teacher's shape can learn them from about a
  thousand samples (with ``latent_dim=None, margin_quantile=0`` a 64-40-20-10
  student reaches only about 22% test accuracy from 1,078 samples). Needs no extra.

Both return a :class:`Dataset` of float64 features and int64 labels; the same
seed gives bitwise-identical arrays.

Example
-------
>>> from simulations.networks.datasets import teacher
>>> data = teacher(seed=0, n_train=200, n_val=50, n_test=100)
>>> data.X_train.shape, data.n_classes, data.n_features
((200, 64), 10, 64)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from pruning_checks import as_generator, check_bool

from .memory import check_allocation, matrix_bytes

#: The split of :func:`digits` is this seed's unless told otherwise: every experiment sees the same split.
DIGITS_SPLIT_SEED = 0
DIGITS_FRACTIONS = (0.6, 0.2, 0.2)
TEACHER_ACTIVATIONS = ("relu", "tanh")


@dataclass(frozen=True)
class Dataset:
    """A train / validation / test split of a classification problem.

    Attributes
    ----------
    name : str
    X_train, X_val, X_test : ndarray, shape (n, d), float64
    y_train, y_val, y_test : ndarray, shape (n,), int64 in ``[0, n_classes)``
    n_classes : int
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_features(self):
        return self.X_train.shape[1]

    def sizes(self):
        """``(n_train, n_val, n_test)``."""
        return len(self.y_train), len(self.y_val), len(self.y_test)


# TODO(pruning_checks): move to the shared validation package once it is merged.
def _count(value, name, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} ({value!r}).")
    if value < low:
        raise ValueError(f"{name} == {value}, must be >= {low}.")
    return int(value)


def _fractions(fractions):
    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or not np.all(np.isfinite(f)) or np.any(f <= 0) or abs(f.sum() - 1) > 1e-12:
        raise ValueError(f"fractions == {fractions!r}, must be three positive numbers (train, val, test) summing to 1.")
    return f


def stratified_split(y, fractions, rng):
    """Indices ``(train, val, test)``: each class split by ``fractions`` (rounded), each part shuffled.

    Every class contributes ``round(f_train n_c)`` training and ``round(f_val n_c)`` validation
    points and the rest to the test part, so the three parts are disjoint and cover ``y``.
    """
    f = _fractions(fractions)
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"y must be a non-empty 1-D array of labels, got shape {y.shape}.")
    rng = as_generator(rng)
    parts = ([], [], [])
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_tr = int(round(f[0] * idx.size))
        n_va = int(round(f[1] * idx.size))
        parts[0].append(idx[:n_tr])
        parts[1].append(idx[n_tr:n_tr + n_va])
        parts[2].append(idx[n_tr + n_va:])
    return tuple(rng.permutation(np.concatenate(p)) for p in parts)


def _standardize(X_train, *others):
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)           # constant pixels (the digits' borders) are only centred
    return tuple((X - mean) / std for X in (X_train, *others))


def digits(split_seed=DIGITS_SPLIT_SEED, *, fractions=DIGITS_FRACTIONS, standardize=True):
    """scikit-learn's handwritten digits with a fixed, seeded, stratified split.

    Parameters
    ----------
    split_seed : int
        Seed of the split (default :data:`DIGITS_SPLIT_SEED`, the split every experiment uses).
    fractions : (float, float, float)
        Train, validation and test fractions per class.
    standardize : bool
        Standardise features with the training mean and standard deviation (else pixels / 16).

    Returns
    -------
    Dataset
        1,078 / 359 / 360 points of 64 features with the default fractions.
    """
    from ..runtime.extras import require

    require("digits", "the digits data set")
    from sklearn.datasets import load_digits
    split_seed = _count(split_seed, "split_seed", 0)
    check_bool(standardize, "standardize")                  # 'no' is truthy: a string must not standardise
    _fractions(fractions)
    bunch = load_digits()
    X = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    tr, va, te = stratified_split(y, fractions, np.random.default_rng(split_seed))
    if standardize:
        Xtr, Xva, Xte = _standardize(X[tr], X[va], X[te])
    else:
        Xtr, Xva, Xte = X[tr] / 16.0, X[va] / 16.0, X[te] / 16.0
    return Dataset("digits", np.ascontiguousarray(Xtr), y[tr], np.ascontiguousarray(Xva), y[va],
                   np.ascontiguousarray(Xte), y[te], 10)


BALANCE_ITERATIONS = 200


def _balancing_shift(Z):
    """A per-class shift ``b`` with ``argmax(Z + b)`` about uniform over classes (bounded fixed-point loop)."""
    n, C = Z.shape
    b = -Z.mean(axis=0)
    step = 0.5 * float(Z.std())
    for _ in range(BALANCE_ITERATIONS):
        freq = np.bincount((Z + b).argmax(axis=1), minlength=C) / n
        if np.all(np.abs(freq * C - 1) < 0.1):
            break
        b -= step * np.log((freq + 1.0 / n) * C)
        step *= 0.97
    return b


def teacher(seed=0, *, n_train=1000, n_val=300, n_test=1000, d=64, hidden=(40, 20), n_classes=10,
            activation="relu", temperature=0.0, latent_dim=8, margin_quantile=0.8):
    """A planted-MLP teacher classification problem (no extra dependency).

    Parameters
    ----------
    seed : int
        Seeds the teacher's weights and the sample.
    n_train, n_val, n_test : int
        Sizes of the three parts (drawn independently from the same distribution).
    d : int
        Input dimension.
    hidden : tuple of int
        Hidden widths of the teacher (the student of the experiments has the same shape by default).
    n_classes : int
    activation : {"relu", "tanh"}
    temperature : float
        0 gives the argmax label (noise-free); ``> 0`` draws labels from ``softmax(logits / temperature)``.
    latent_dim : int or None
        Inputs lie in a random ``latent_dim``-dimensional subspace (None: isotropic in ``d`` dimensions).
    margin_quantile : float in [0, 1)
        Fraction of the draws of each class with the smallest top-two logit margin that is discarded.

    Returns
    -------
    Dataset
    """
    seed = _count(seed, "seed", 0)
    sizes = [_count(v, n, 1) for v, n in ((n_train, "n_train"), (n_val, "n_val"), (n_test, "n_test"))]
    d = _count(d, "d", 1)
    n_classes = _count(n_classes, "n_classes", 2)
    if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__len__"):
        raise TypeError(f"hidden == {hidden!r}, must be a sequence of hidden widths, e.g. (40, 20).")
    hidden = tuple(_count(h, f"hidden[{i}]", 1) for i, h in enumerate(hidden))
    if activation not in TEACHER_ACTIVATIONS:
        raise ValueError(f"activation == {activation!r}, must be one of {TEACHER_ACTIVATIONS}.")
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not (
            np.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature == {temperature!r}, must be a finite number >= 0.")
    if latent_dim is not None:
        latent_dim = _count(latent_dim, "latent_dim", 1)
    if isinstance(margin_quantile, bool) or not isinstance(margin_quantile, numbers.Real) or not (
            0 <= margin_quantile < 1):
        raise ValueError(f"margin_quantile == {margin_quantile!r}, must be in [0, 1).")
    margin_quantile = float(margin_quantile)
    widths = (d, *hidden, n_classes)
    check_allocation(matrix_bytes(sum(a * b for a, b in zip(widths[:-1], widths[1:])), 1),
                     f"d == {d}, hidden == {hidden}", "the teacher's weights", "use a smaller d or hidden widths")
    n = sum(sizes)
    m = int(math.ceil(n / (1.0 - margin_quantile) * 1.05)) + n_classes   # enough draws after the margin cut
    # the draws, their logits and the sorted top two (a few copies of m x (d + classes)), before any draw
    big = max(range(3), key=lambda i: sizes[i])
    check_allocation(matrix_bytes(m, d + 4 * n_classes + max(hidden + (0,)), 2),
                     f"{('n_train', 'n_val', 'n_test')[big]} == {sizes[big]}",
                     f"{m} teacher draws of {d} features", "draw fewer samples")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x7EAC,)))
    gain = 2.0 if activation == "relu" else 1.0
    widths = (d, *hidden, n_classes)
    Ws = [rng.standard_normal((b, a)) * np.sqrt(gain / a) for a, b in zip(widths[:-1], widths[1:])]
    act = (lambda z: np.maximum(z, 0.0)) if activation == "relu" else np.tanh

    def logits(X):
        h = X
        for W in Ws[:-1]:
            h = act(h @ W.T)
        return h @ Ws[-1].T

    if latent_dim is None:
        X = rng.standard_normal((m, d))
    else:
        A = rng.standard_normal((latent_dim, d))
        X = rng.standard_normal((m, latent_dim)) @ A / np.sqrt(latent_dim)
    Z = logits(X)
    Z = Z + _balancing_shift(Z)             # a per-class shift: rough class balance, as for a real data set
    if temperature > 0:
        P = np.exp((Z - Z.max(axis=1, keepdims=True)) / temperature)
        P /= P.sum(axis=1, keepdims=True)
        u = rng.random((m, 1))
        y = np.minimum((P.cumsum(axis=1) < u).sum(axis=1), n_classes - 1)
    else:
        y = Z.argmax(axis=1)
    y = y.astype(np.int64)
    if margin_quantile > 0:
        top2 = np.sort(Z, axis=1)[:, -2:]
        margin = top2[:, 1] - top2[:, 0]
        keep = np.zeros(m, dtype=bool)
        for c in range(n_classes):
            idx = np.flatnonzero(y == c)
            if idx.size:
                keep[idx[margin[idx] >= np.quantile(margin[idx], margin_quantile)]] = True
        sel = np.flatnonzero(keep)
        if sel.size < n:  # pragma: no cover - m leaves a 5% reserve
            raise RuntimeError("too few teacher draws survived the margin cut.")
        sel = sel[:n]
        X, y = X[sel], y[sel]
    a, b = sizes[0], sizes[0] + sizes[1]
    return Dataset("teacher", X[:a], y[:a], X[a:b], y[a:b], X[b:], y[b:], n_classes)
