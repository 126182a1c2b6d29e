"""A Numba MLP engine: training, gradients, per-sample gradients and Gauss-Newton matrices.

:class:`Network` is a multilayer perceptron of layer sizes ``(n_0, ..., n_L)``,
bias-free by default, whose parameters live in **one flat float64 vector**
``theta`` (matrix ``l`` is the ``(n_l, n_{l+1})`` view ``theta[poff[l]:poff[l+1]]``,
``z_{l+1} = a_l W_l + b_l``), so pruning masks, gradients, per-sample gradients and
Gauss-Newton matrices all index the same vector. With ``bias=True`` the biases follow
every weight: ``b_l`` is ``theta[slice(*bias_block(l))]`` (:meth:`Network.parameter_indices`
selects the weights of chosen layers, with or without their biases). Hidden activations ``relu``,
``tanh`` or ``linear``; losses ``squared`` (``mean (f - y)^2``, scalar output)
or ``cross_entropy`` (mean softmax cross-entropy, ``y`` class indices).
Initialization: matrix ``l`` has i.i.d. ``N(0, init^2 / n_l)`` entries; biases start at 0.

Two-layer net of docs/theory.md Section 6: ``sizes = (d, m, 1)``; first-layer weight
``W[l, j]`` (input ``l`` to hidden unit ``j``) is ``theta[l * m + j]`` and the second
layer ``v`` is ``theta[d * m:]``.

Kernels run single-threaded (Numba, no ``parallel``): parallelism comes from running trials
side by side (:mod:`simulations.runtime.workers`).

Example
-------
>>> import numpy as np
>>> from simulations import Network
>>> net = Network((3, 4, 1), activation="tanh", loss="squared")
>>> rng = np.random.default_rng(0)
>>> theta = net.init(1.0, rng)
>>> X = rng.standard_normal((20, 3)); y = X[:, 0]
>>> res = net.train(theta, X, y, optimizer="adam", lr=1e-2, steps=200)
>>> bool(res.losses[-1] < res.losses[0]), net.ggn_diagonal(res.theta, X, y).shape
(True, (16,))
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import blas

from pruning_checks import as_generator, check_choice, check_int, check_scalar

from . import _kernels as K
from .memory import check_allocation, matrix_bytes

ACTIVATIONS = {"linear": K.LINEAR, "relu": K.RELU, "tanh": K.TANH}
LOSSES = {"squared": K.SQUARED, "cross_entropy": K.CROSS_ENTROPY}
OPTIMIZERS = ("gd", "sgd", "adam")
GGN_ROWS = 4096                  # factor rows (samples x output factors) per block of a Gauss-Newton matrix
#: Copies of the ``b x b`` block alive at the peak of :meth:`Network.ggn_matrix` (the accumulator, its
#: upper triangle and the symmetrised result).
GGN_PEAK_COPIES = 3


def _int(value, name, low=1):
    return check_int(value, name, low=low)


def _first_bad(arr):
    """``[i]`` / ``[i, j]`` of the first non-finite entry of ``arr`` and its value, as text."""
    idx = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
    return "[" + ", ".join(map(str, idx)) + f"] == {arr[idx]}"


def _matrix(X, name, cols, min_rows=0):
    try:
        X = np.ascontiguousarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers.") from exc
    if X.ndim != 2 or X.shape[1] != cols:
        raise ValueError(f"{name} has shape {X.shape}, must be (n, {cols}).")
    if X.shape[0] < min_rows:
        raise ValueError(f"{name} has {X.shape[0]} rows (samples); a mean over samples needs at least {min_rows}.")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name}{_first_bad(X)}, must be finite.")
    return X


def _steps_list(values, name, high):
    """Integer step counts in ``[0, high]`` (entries checked one by one: ``1.5`` is not step 1)."""
    items = list(np.asarray(values, dtype=object).ravel()) if np.ndim(values) else [values]
    out = []
    for i, v in enumerate(items):
        v = check_int(v, f"{name}[{i}]", low=0)
        if v > high:
            raise ValueError(f"{name}[{i}] == {v}, must lie in [0, steps == {high}].")
        out.append(v)
    return np.sort(np.array(out, dtype=np.int64))



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
    """An MLP: layer sizes, hidden activation, loss and whether it has biases (see the module docstring).

    Parameters
    ----------
    sizes : sequence of int
        ``(n_0, ..., n_L)``, at least two entries; ``n_L == 1`` for the squared loss, ``>= 2`` classes
        for cross-entropy.
    activation : {"relu", "tanh", "linear"}
    loss : {"squared", "cross_entropy"}
    bias : bool
        One bias per unit of layers ``1..L`` (``n_1 + ... + n_L`` parameters after the weights).
    """

    sizes: tuple
    activation: str = "relu"
    loss: str = "squared"
    bias: bool = False

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
        if not isinstance(self.bias, (bool, np.bool_)):
            raise TypeError(f"bias must be a bool, got {self.bias!r}.")
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "bias", bool(self.bias))

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
    def n_weights(self):
        """Entries of the weight matrices (``poff[L]``)."""
        return int(self.offsets[-1])

    @property
    def n_params(self):
        """Length of ``theta``: the weights, then (``bias=True``) one bias per unit of layers ``1..L``."""
        return self.n_weights + (sum(self.sizes[1:]) if self.bias else 0)

    def _layer(self, layer, name="layer"):
        L = len(self.sizes) - 1
        layer = _int(layer, name, low=-L)
        if layer >= L:
            raise ValueError(f"{name} == {layer}, the network has {L} weight matrices (layers 0..{L - 1}).")
        return layer % L

    def layer_block(self, layer):
        """``(start, stop)`` of weight matrix ``layer`` in the flat vector."""
        layer = self._layer(layer)
        off = self.offsets
        return int(off[layer]), int(off[layer + 1])

    def bias_block(self, layer):
        """``(start, stop)`` of the bias ``b_layer`` (the units fed by matrix ``layer``) in the flat vector.

        Raises
        ------
        ValueError
            The network has no biases, or no such layer.
        """
        if not self.bias:
            raise ValueError("bias_block: the network has no biases (Network(..., bias=True)).")
        layer = self._layer(layer)
        start = self.n_weights + sum(self.sizes[1:layer + 1])
        return start, start + self.sizes[layer + 1]

    def parameter_indices(self, layers=None, biases=False):
        """Sorted indices into ``theta`` of the weights of ``layers`` and, with ``biases``, their biases.

        Parameters
        ----------
        layers : None, int or sequence of int
            Weight matrices (``-1`` the last); None: every layer.
        biases : bool
            Also the biases of those layers (needs ``bias=True``).

        Returns
        -------
        ndarray of int64

        Raises
        ------
        ValueError
            No such layer, an empty sequence, or ``biases`` on a bias-free network.
        """
        L = len(self.sizes) - 1
        if layers is None:
            layers = range(L)
        elif isinstance(layers, numbers.Integral) and not isinstance(layers, bool):
            layers = [layers]
        elif isinstance(layers, (str, bytes)) or not hasattr(layers, "__len__") or not len(layers):
            raise ValueError(f"layers == {layers!r}, must be None, a layer index or a non-empty sequence of them.")
        chosen = sorted({self._layer(v, f"layers[{i}]") for i, v in enumerate(layers)})
        if not isinstance(biases, (bool, np.bool_)):
            raise TypeError(f"biases must be a bool, got {biases!r}.")
        if biases and not self.bias:
            raise ValueError("biases == True, but the network has no biases (Network(..., bias=True)).")
        parts = [np.arange(*self.layer_block(l)) for l in chosen]
        if biases:
            parts += [np.arange(*self.bias_block(l)) for l in chosen]
        return np.sort(np.concatenate(parts)).astype(np.int64)

    def _check_view(self, theta):
        if not isinstance(theta, np.ndarray) or theta.shape != (self.n_params,):
            raise ValueError(f"theta must be an array of shape ({self.n_params},), got "
                             f"{getattr(theta, 'shape', type(theta).__name__)}.")

    def views(self, theta):
        """The weight matrices as ``(n_l, n_{l+1})`` views of ``theta`` (writing to them writes ``theta``)."""
        self._check_view(theta)
        off = self.offsets
        return [theta[off[l]:off[l + 1]].reshape(self.sizes[l], self.sizes[l + 1]) for l in range(len(self.sizes) - 1)]

    def bias_views(self, theta):
        """The biases as ``(n_{l+1},)`` views of ``theta`` (``bias=True`` only)."""
        self._check_view(theta)
        return [theta[slice(*self.bias_block(l))] for l in range(len(self.sizes) - 1)]

    def init(self, init, rng):
        """Parameters with matrix ``l`` i.i.d. ``N(0, init^2 / n_l)``, drawn layer by layer from ``rng``;
        biases 0 (so a network with biases starts from the same weights as one without)."""
        init = check_scalar(init, "init", low=0)
        rng = as_generator(rng)
        self._check_params(2, "the parameters (drawn and concatenated)")
        parts = [init / np.sqrt(a) * rng.standard_normal((a, b)).ravel()
                 for a, b in zip(self.sizes[:-1], self.sizes[1:])]
        if self.bias:
            parts.append(np.zeros(self.n_params - self.n_weights))
        return np.concatenate(parts)

    # checks ---------------------------------------------------------------------------------------
    def _theta(self, theta, name="theta"):
        try:
            theta = np.ascontiguousarray(theta, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be an array of real numbers.") from exc
        if theta.shape != (self.n_params,):
            raise ValueError(f"{name} has shape {theta.shape}, must be ({self.n_params},).")
        if not np.all(np.isfinite(theta)):
            raise ValueError(f"{name}{_first_bad(theta)}, must be finite (a diverged training run?).")
        return theta

    def _xy(self, X, y, min_rows=1):
        X = _matrix(X, "X", self.sizes[0], min_rows)
        try:
            y = np.ascontiguousarray(y, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError("y must be an array of real numbers.") from exc
        if y.shape != (X.shape[0],):
            raise ValueError(f"y has shape {y.shape}, must be ({X.shape[0]},).")
        if not np.all(np.isfinite(y)):
            raise ValueError(f"y{_first_bad(y)}, must be finite.")
        if self.loss == "cross_entropy":
            bad = (y != np.round(y)) | (y < 0) | (y >= self.sizes[-1])
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"y[{i}] == {y[i]}, cross_entropy labels must be integers in [0, {self.sizes[-1]}).")
        return X, y

    def _check_params(self, copies, what):
        check_allocation(matrix_bytes(self.n_params, 1, copies), f"sizes == {self.sizes} ({self.n_params} weights)",
                         f"{copies} vectors of the {self.n_params} weights: {what}", "use a smaller network")

    def _x_only(self, X, y):
        """``X`` (at least one row) for the Gauss-Newton methods; ``y``, unused, is checked if given."""
        if y is None:
            return _matrix(X, "X", self.sizes[0], 1)
        return self._xy(X, y)[0]

    @staticmethod
    def _finite(out, what, theta, X):
        """``out`` if finite; else the evaluation overflowed from finite inputs: say so, never return inf/NaN."""
        if not np.all(np.isfinite(out)):
            raise FloatingPointError(
                f"{what} overflowed float64 from finite inputs (max |theta| == {np.abs(theta).max(initial=0):.3g}, "
                f"max |X| == {np.abs(X).max(initial=0):.3g}); rescale theta or X.")
        return out

    def _block(self, block):
        """Parameter indices (int64, increasing) of ``block``: None (all), a layer index (its weights), a
        ``(start, stop)`` pair, or an integer ndarray of indices (e.g. :meth:`parameter_indices`)."""
        if block is None:
            return np.arange(self.n_params, dtype=np.int64)
        if isinstance(block, numbers.Integral) and not isinstance(block, bool):
            return np.arange(*self.layer_block(block), dtype=np.int64)
        if isinstance(block, np.ndarray):
            if block.ndim != 1 or block.size == 0 or not np.issubdtype(block.dtype, np.integer):
                raise ValueError(f"block must be a non-empty 1-D integer array of parameter indices, got "
                                 f"{block.dtype} {block.shape}.")
            if block.min() < 0 or block.max() >= self.n_params or np.any(np.diff(block) <= 0):
                raise ValueError(f"block indices must be increasing and in [0, {self.n_params}).")
            return block.astype(np.int64)
        try:
            start, stop = (int(b) for b in block)
        except (TypeError, ValueError):
            raise TypeError(f"block == {block!r}, must be None, a layer index, a (start, stop) pair or an index "
                            "array.") from None
        if not 0 <= start < stop <= self.n_params:
            raise ValueError(f"block == {block!r}, must satisfy 0 <= start < stop <= {self.n_params}.")
        return np.arange(start, stop, dtype=np.int64)

    # evaluation -------------------------------------------------------------------------------------
    def predict(self, theta, X):
        """Outputs: ``(n,)`` for the squared loss, ``(n, classes)`` logits for cross-entropy."""
        theta, X = self._theta(theta), _matrix(X, "X", self.sizes[0])
        out = np.empty((X.shape[0], self.sizes[-1]))
        K.predict(theta, self._sizes, self._act, X, out)
        self._finite(out, "predict", theta, X)
        return out[:, 0] if self.loss == "squared" else out

    def loss_value(self, theta, X, y):
        """Mean loss."""
        theta, (X, y) = self._theta(theta), self._xy(X, y)
        return float(self._finite(K.mean_loss(theta, self._sizes, self._act, self._loss, X, y), "loss_value", theta, X))

    def loss_and_grad(self, theta, X, y):
        """``(mean loss, gradient (P,))``."""
        theta, (X, y) = self._theta(theta), self._xy(X, y)
        g = np.empty(self.n_params)
        value = K.loss_grad(theta, self._sizes, self._act, self._loss, X, y, g)
        self._finite(g, "loss_and_grad (gradient)", theta, X)
        return float(self._finite(value, "loss_and_grad (loss)", theta, X)), g

    def per_sample_gradients(self, theta, X, y):
        """``(n, P)``: row ``i`` is the gradient of sample ``i``'s loss (the empirical Fisher is ``G'G/n``)."""
        theta, (X, y) = self._theta(theta), self._xy(X, y)
        check_allocation(matrix_bytes(X.shape[0], self.n_params), f"X with {X.shape[0]} rows",
                         f"the {X.shape[0]} x {self.n_params} per-sample gradients",
                         "pass fewer samples at a time (the rows are independent)")
        out = np.empty((X.shape[0], self.n_params))
        K.per_sample_grads(theta, self._sizes, self._act, self._loss, X, y, out)
        return self._finite(out, "per_sample_gradients", theta, X)

    def ggn_diagonal(self, theta, X, y=None):
        """Exact diagonal of the Gauss-Newton matrix of the mean loss (the true Fisher for cross-entropy).

        ``y`` is not needed (the Gauss-Newton matrix does not involve the labels); if given it is checked."""
        theta, X = self._theta(theta), self._x_only(X, y)
        out = np.empty(self.n_params)
        K.ggn_diag(theta, self._sizes, self._act, self._loss, X, np.zeros(X.shape[0]), out)
        return self._finite(out, "ggn_diagonal", theta, X)

    def ggn_matrix(self, theta, X, y=None, block=None):
        """The block ``[idx, idx]`` (``block``: None = all, a layer index, a ``(start, stop)`` pair or an index
        array) of the Gauss-Newton
        matrix of the mean loss, accumulated from blocks of at most ``GGN_ROWS`` factor rows (dsyrk)."""
        theta, X = self._theta(theta), self._x_only(X, y)
        idx = self._block(block)
        n, b = X.shape[0], idx.size
        k = 1 if self.loss == "squared" else self.sizes[-1]
        chunk = max(1, GGN_ROWS // k)
        check_allocation(matrix_bytes(b, b, GGN_PEAK_COPIES) + matrix_bytes(min(n, chunk) * k, b),
                         f"block == {block!r} ({b} weights)", f"the {b} x {b} Gauss-Newton block",
                         "pass a smaller block (a layer index or a (start, stop) pair) or use ggn_diagonal")
        G = np.zeros((b, b), order="F")
        rows = np.empty((min(n, chunk) * k, b))
        for a in range(0, n, chunk):
            Xa = X[a:a + chunk]
            Fa = rows[:Xa.shape[0] * k]
            K.ggn_rows(theta, self._sizes, self._act, self._loss, Xa, idx, 1.0 / np.sqrt(n), Fa)
            G = blas.dsyrk(1.0, Fa, beta=1.0, c=G, trans=1, lower=0, overwrite_c=1)
        G = np.triu(G)
        return self._finite(G + np.triu(G, 1).T, "ggn_matrix", theta, X)

    def ablation_importance(self, theta, X, y, block=None):
        """Exact increase of the mean loss on ``(X, y)`` when each parameter of ``block`` (as in
        :meth:`ggn_matrix`) alone is set to 0."""
        theta, (X, y) = self._theta(theta), self._xy(X, y)
        idx = self._block(block)
        out = np.empty(idx.size)
        K.ablation(theta, self._sizes, self._act, self._loss, X, y, idx, out)
        return self._finite(out, "ablation_importance", theta, X)

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
        self._check_params(6, "parameters, gradient, two moment buffers, mask and the input")
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
        ckpt = np.zeros(0, dtype=np.int64) if checkpoints is None else _steps_list(checkpoints, "checkpoints", steps)
        check_allocation(matrix_bytes(steps, 1), f"steps == {steps}", "the record of the batch loss of every step",
                         "train in several calls of fewer steps, each from the last one's theta")
        check_allocation(matrix_bytes(ckpt.size, self.n_params), f"checkpoints ({ckpt.size} of them)",
                         f"{ckpt.size} snapshots of the {self.n_params} parameters", "record fewer checkpoints")
        snaps = np.empty((ckpt.size, self.n_params))
        losses = np.empty(steps)
        K.train(theta, self._sizes, self._act, self._loss, X, y, K.ADAM if optimizer == "adam" else K.SGD,
                lr, momentum, b1, b2, eps, weight_decay, steps, batch, gmask, rng, ckpt, snaps, losses)
        finite = bool(np.all(np.isfinite(theta)) and np.all(np.isfinite(losses)))
        return TrainResult(theta, losses, ckpt, snaps, finite)
