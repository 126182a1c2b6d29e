"""The digits MLP shared by the second-order experiments: data, network, training recipe, seeds, output.

The experiments (:mod:`~simulations.second_order.cbs_table`, :mod:`~simulations.second_order.loss_modelling`,
:mod:`~simulations.second_order.linear_counterpart`) are figure functions
(``fn(out_dir, quick=False, n_jobs=None)`` writes ``<name>.png``, ``.pdf``, a tidy
``<name>.csv`` and a ``<name>.md`` summary, and returns the paths).

Why the dense network is not trained to zero loss: the empirical Fisher is the
mean of ``g g'`` over training samples; when every sample is fitted, ``g -> 0``,
the Fisher's diagonal collapses (orders of magnitude below any fixed damping)
and every update vanishes (the CBS checkpoint was likewise stopped at 25 epochs,
93.97% test accuracy). :data:`RECIPE` stops at a training loss of about 0.1.

Which weights are pruned: the options ``bias`` (a network with one bias per unit), ``layers`` (the
weight matrices pruned, default all) and ``scope`` (``"global"``: one selection over every pruned
weight, the default; ``"layer"``: the same kept fraction of each layer, each layer pruned alone with
its own Fisher block and update, as ``torch.nn.utils.prune.l1_unstructured`` layer by layer and
:func:`linear_models.prune_module` with ``scope="layer"``) are resolved by :func:`selection` into a
:class:`Selection`. Biases are never pruned; the Fisher is over the pruned weights only (the
columns of the per-sample gradients at :attr:`Selection.index`), and every loss is evaluated on the
full parameter vector (biases and unpruned layers at their trained values).

Reproducibility: task ``(data, seed)`` draws its initialization, minibatch
order and randomised starts from ``SeedSequence(BASE_SEED, spawn_key=(data
index, seed, stream))`` and runs single-threaded, so tables are bitwise
identical for any ``n_jobs``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from linear_models import second_order as so
from linear_models.pruning import SCOPES, scope_counts
from pruning_checks import check_bool, check_choice, check_int

from ..networks.memory import check_allocation, matrix_bytes

from ..networks.datasets import digits, teacher
from ..runtime.extras import require
from ..plotting import color as _toolkit_color
from ..plotting import save_with_csv
from ..runtime.files import write_atomic
from ..runtime.seeds import stream
from ..runtime.stats import mean_sem

METHOD_COLORS = {"magnitude+update": "#ff7f0e", "woodfisher": "#e377c2", "obs": "#17becf", "cbs": "#9467bd",
                 "cbs-exact": "#8c564b", "taylor1": "#ff7f0e", "taylor2": "#2ca02c"}


def color(name):
    return METHOD_COLORS.get(name) or _toolkit_color(name)


SIZES = (64, 40, 20, 10)
#: MNIST-1D's MLP (Greydanus 2020; docs/references.md): 40 features, two hidden layers of 100, 10 classes.
MNIST1D_SIZES = (40, 100, 100, 10)
#: Dense training: Adam, lr 1e-3, batch 32, 10 epochs from He initialization (N(0, 2 / fan_in)):
#: training loss about 0.1, test accuracy about 96-97% on digits, before the loss saturates.
RECIPE = dict(optimizer="adam", lr=1e-3, batch_size=32, epochs=10, init=math.sqrt(2.0))
#: MNIST-1D: Adam, lr 1e-2, batch 100, 30 epochs of its 3,500 training signals (1,050 steps; the published
#: MLP trains 8,000 steps at that rate and batch, but here longer training overfits).
MNIST1D_RECIPE = dict(optimizer="adam", lr=1e-2, batch_size=100, epochs=30, init=math.sqrt(2.0))
#: MNIST-1D's published baselines, test accuracy in % (Greydanus 2020; docs/references.md).
PUBLISHED_MNIST1D = {"mlp": 68.0, "logistic": 32.0}
#: The published baselines' training (the mnist1d repository's defaults): Adam, lr 1e-2, batch 100, 6,000 steps
#: (150 epochs of the standard 4,000 training signals), here from He initialization with zero biases.
PUBLISHED_MNIST1D_RECIPE = dict(optimizer="adam", lr=1e-2, batch_size=100, epochs=150, init=math.sqrt(2.0))
#: The published baselines' networks, both with biases: the MLP and logistic regression (a linear softmax layer).
MNIST1D_BASELINES = {"mlp": MNIST1D_SIZES, "logistic": (MNIST1D_SIZES[0], MNIST1D_SIZES[-1])}
#: Fine-tuning after pruning (loss modelling): the same optimizer for this many epochs, mask fixed,
#: the epoch with the best validation accuracy kept (as in Laurent et al.).
FINETUNE_EPOCHS = 10
#: Relative damping of the empirical Fisher (lambda = DAMPING * mean diagonal of G'G/N).
DAMPING = 0.1
DAMPINGS = (1e-3, 1e-2, 1e-1, 1.0)
SPARSITIES = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)
METHODS = so.METHODS
DATASETS = ("digits", "teacher")
#: Every data set the tasks load: the table's two, then MNIST-1D (the optional ``mnist1d`` extra).
ALL_DATA = DATASETS + ("mnist1d",)
#: Input features of each data set (all have 10 classes).
FEATURES = {"digits": SIZES[0], "teacher": SIZES[0], "mnist1d": MNIST1D_SIZES[0]}
BASE_SEED = 20220708
STREAM_INIT, STREAM_ORDER, STREAM_RMP, STREAM_FINETUNE = 0, 1, 2, 3
CSV_COLUMNS = ("figure", "data", "method", "sparsity", "steps", "penalty", "damping", "seed", "metric", "value")
#: Yu et al. 2022, docs/references.md, MNIST MLPNet 784-40-20-10 (d = 32,360), test accuracy in % ([M]: recalled, verify).
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
    """The fixed data set of the experiments: digits (fixed split), the planted teacher (seed 0) or MNIST-1D
    (the generator's seed 42; 3,500 training, 500 validation and 1,000 test signals)."""
    if name == "digits":
        return digits()
    if name == "teacher":
        return teacher(0, n_train=1078, n_val=359, n_test=1000, d=SIZES[0], hidden=SIZES[1:-1],
                       n_classes=SIZES[-1])
    if name == "mnist1d":
        from ..networks.mnist import load_mnist1d
        return load_mnist1d(n_val=500)
    raise ValueError(f"data == {name!r}, must be one of {ALL_DATA}.")


def mnist1d_baselines(seeds=3, figure="mnist1d-baselines"):
    """Dense test accuracy of MNIST-1D's published baselines retrained here, to compare with
    :data:`PUBLISHED_MNIST1D`: the MLP and logistic regression of :data:`MNIST1D_BASELINES` (with biases),
    trained by :data:`PUBLISHED_MNIST1D_RECIPE` on the standard split (all 4,000 training signals, 1,000
    test signals), seeds ``0..seeds-1``.

    Returns
    -------
    list of dict
        Tidy rows (method ``"mlp"`` / ``"logistic"``, metric ``"test_accuracy"``, one per seed).

    Raises
    ------
    ImportError
        The ``mnist1d`` package is missing (before any training).
    ValueError, TypeError
        ``seeds`` is not an integer >= 1.
    """
    from ..networks.mnist import load_mnist1d

    seeds = check_int(seeds, "seeds", low=1)
    require("mnist1d", "mnist1d_baselines")
    data = load_mnist1d()
    rows = []
    for name, sizes in MNIST1D_BASELINES.items():
        net = network("relu", sizes, True)
        for seed in range(seeds):
            theta = train_dense(net, data, seed, PUBLISHED_MNIST1D_RECIPE)
            rows.append(row(figure, data.name, name, 0.0, "test_accuracy",
                            accuracy(net, theta, data.X_test, data.y_test), seed))
    return rows


def require_data(name, what):
    """Raise :class:`ImportError` in one line, before any work, if data set ``name``'s optional package
    (scikit-learn for digits, ``mnist1d`` for MNIST-1D) is missing; ``what`` names the experiment."""
    check_choice(name, "data", ALL_DATA)
    if name == "digits":
        require("digits", what)
    elif name == "mnist1d":
        require("mnist1d", what)


def default_sizes(data_name):
    """The experiments' network for a data set: :data:`SIZES` (digits, teacher) or :data:`MNIST1D_SIZES`."""
    return MNIST1D_SIZES if data_name == "mnist1d" else SIZES


def recipe_of(data_name):
    """Dense training (and fine-tuning) recipe of a data set: :data:`RECIPE` or :data:`MNIST1D_RECIPE`."""
    return MNIST1D_RECIPE if data_name == "mnist1d" else RECIPE


def stream_of(data_name, seed, j):
    check_choice(data_name, "data", ALL_DATA)
    seed = check_int(seed, "seed", low=0)               # 1.5 is not seed 1
    key = (ALL_DATA.index(data_name), seed, j)
    return stream(BASE_SEED, *key)


#: Training-set size of the data sets (the default split of digits; the teacher's n_train; MNIST-1D's 4,000
#: training signals less the 500 of validation).
N_TRAIN = {"digits": 1078, "teacher": 1078, "mnist1d": 3500}
#: Copies of the ``d x d`` empirical Fisher alive at the peak of :func:`linear_models.second_order.empirical_fisher`
#: with ``inverse=True`` (the Gram matrix, the damped copy, its factor and inverse, a symmetrised copy).
FISHER_COPIES = 5


def check_task(task, fisher):
    """Check the fields shared by the experiments' task records (``data``, ``seed``, ``activation``, ``sizes``,
    ``bias``, ``layers``, ``scope``) and, with ``fisher``, the memory of the full empirical Fisher of the
    pruned weights; one line naming the field, before any work.

    Returns
    -------
    sizes : tuple of int
        ``task.sizes``, or the data set's :func:`default_sizes` when it is None.
    layers : tuple of int or None
        The pruned weight matrices, sorted, negative indices resolved (None: all).

    Raises
    ------
    ValueError, TypeError
        A field out of range or of the wrong type (named); :class:`MemoryError` when the Fisher would not fit.
    """
    from ..networks.model import ACTIVATIONS

    check_choice(task.data, "data", ALL_DATA)
    check_int(task.seed, "seed", low=0)
    check_choice(task.activation, "activation", tuple(ACTIVATIONS))
    check_bool(task.bias, "bias")
    sizes = default_sizes(task.data) if task.sizes is None else task.sizes
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__") or len(sizes) < 2:
        raise ValueError(f"sizes == {sizes!r}, must be a sequence of layer sizes like {default_sizes(task.data)}.")
    sizes = tuple(check_int(v, f"sizes[{i}]", low=1) for i, v in enumerate(sizes))
    n_in, n_out = FEATURES[task.data], SIZES[-1]
    if sizes[0] != n_in or sizes[-1] != n_out:
        who = "the data sets have" if task.data in DATASETS else f"{task.data} has"
        raise ValueError(f"sizes == {sizes}: {who} {n_in} features and {n_out} classes, so "
                         f"sizes must start with {n_in} and end with {n_out}.")
    sel = selection(network(task.activation, sizes, task.bias), task.layers, task.scope)
    if fisher:
        d, P, n = sel.d, sel.n_params, N_TRAIN[task.data]
        grads = matrix_bytes(n, P) + (matrix_bytes(n, d) if d < P else 0)
        fishers = sum(matrix_bytes(b - a, b - a, FISHER_COPIES) for a, b in sel.groups)     # one per layer: "layer"
        check_allocation(fishers + grads, f"sizes == {sizes} ({d} weights)",
                         f"the full {d} x {d} empirical Fisher ({FISHER_COPIES} copies at peak) and the "
                         f"{n} x {d} per-sample gradients",
                         "use a smaller network (the Fisher grows as the square of its weights)")
    return sizes, sel.layers


def network(activation="relu", sizes=SIZES, bias=False):
    """The experiments' MLP: ``sizes`` (default :data:`SIZES`), softmax cross-entropy, biases if ``bias``."""
    from ..networks.model import Network

    return Network(tuple(sizes), activation=activation, loss="cross_entropy", bias=bias)


@dataclass(frozen=True)
class Selection:
    """The pruned weights of a network and how they are split for pruning (from :func:`selection`).

    Attributes
    ----------
    index : ndarray of int64, shape (d,)
        Sorted positions in ``theta`` of the pruned weights (never a bias).
    groups : tuple of (start, stop)
        Ranges of ``index`` pruned apart: one covering all (``scope="global"``) or one per layer.
    layers : tuple of int or None
        The pruned weight matrices (None: every one).
    scope : {"global", "layer"}
    n_params : int
        Length of ``theta``.
    layer_sizes : tuple of int
        Weights of each pruned matrix, in order (they are consecutive runs of ``index``).
    """

    index: np.ndarray
    groups: tuple
    layers: tuple | None
    scope: str
    n_params: int
    layer_sizes: tuple

    @property
    def d(self):
        """Number of pruned weights (the Fisher's dimension)."""
        return int(self.index.size)

    @property
    def everything(self):
        """True when every parameter is pruned (no bias, all layers): ``theta`` itself is the pruned vector."""
        return self.d == self.n_params

    def counts(self, keep):
        """Kept weights of each group for ``keep`` (a fraction, or an integer count over all pruned weights).

        :func:`linear_models.pruning.scope_counts` of the groups, as :func:`linear_models.prune_module` counts.

        Raises
        ------
        ValueError
            ``keep`` out of range, or an integer too small to leave every layer a weight.
        """
        return scope_counts(keep, [b - a for a, b in self.groups], self.scope)

    def weights(self, theta, group=None):
        """The pruned weights ``theta[index]`` (of one group with ``group``), shape ``(d,)`` or ``(n_g,)``."""
        if group is None:
            return theta if self.everything else theta[self.index]
        a, b = self.groups[group]
        return theta[self.index[a:b]]

    def put(self, theta, w, group=None):
        """A copy of ``theta`` with the pruned weights (of one group with ``group``) replaced by ``w``."""
        out = theta.copy()
        out[self.index if group is None else self.index[slice(*self.groups[group])]] = w
        return out

    def full_mask(self, mask):
        """The ``(n_params,)`` mask of a pruned-weight mask ``(d,)``: biases and unpruned layers kept."""
        if self.everything:
            return mask
        out = np.ones(self.n_params, dtype=bool)
        out[self.index] = mask
        return out

    def columns(self, G):
        """The columns of per-sample gradients ``G`` (``(N, n_params)``) at the pruned weights, ``(N, d)``."""
        return G if self.everything else np.ascontiguousarray(G[:, self.index])


def selection(net, layers=None, scope="global"):
    """Which weights of ``net`` are pruned (``layers``, default all; never the biases) and how (``scope``).

    Parameters
    ----------
    net : Network
    layers : None, int or sequence of int
        Weight matrices pruned (``-1`` the last).
    scope : {"global", "layer"}
        One selection over all pruned weights, or the same kept fraction in each layer.

    Returns
    -------
    Selection

    Raises
    ------
    ValueError
        ``scope`` not one of :data:`SCOPES`; no such layer, or an empty or non-integer ``layers`` (named).
    """
    check_choice(scope, "scope", SCOPES)
    index = net.parameter_indices(layers)                  # checks layers
    blocks = [net.layer_block(l) for l in range(len(net.sizes) - 1)]
    picked = np.isin([a for a, _ in blocks], index)
    chosen = None if layers is None else tuple(int(l) for l in np.flatnonzero(picked))
    sizes = tuple(b - a for (a, b), p in zip(blocks, picked) if p)
    if scope == "global":
        groups = ((0, int(index.size)),)
    else:
        off = np.concatenate([[0], np.cumsum(sizes)])
        groups = tuple((int(off[i]), int(off[i + 1])) for i in range(len(sizes)))
    return Selection(index, groups, chosen, scope, net.n_params, sizes)


def check_sparsities(sparsities):
    """``sparsities`` as a tuple of pruned fractions in ``[0, 1)``, or a one-line error naming the entry."""
    sp = sparsities
    if isinstance(sp, (str, bytes)) or not hasattr(sp, "__len__") or not len(sp):
        raise ValueError(f"sparsities == {sp!r}, must be a non-empty sequence of fractions in [0, 1).")
    for i, x in enumerate(sp):
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real) or not 0 <= x < 1:
            raise ValueError(f"sparsities[{i}] == {x!r}, must be a pruned fraction in [0, 1) (a float).")
    return tuple(sp)


def check_methods(methods):
    """``methods`` as a tuple of :data:`METHODS`, or a one-line error naming the entry."""
    if isinstance(methods, str) or not methods:
        raise ValueError(f"methods == {methods!r}, must be a non-empty sequence of {METHODS}.")
    for i, m in enumerate(methods):
        check_choice(m, f"methods[{i}]", METHODS)
    return tuple(methods)


def prune_groups(sel, keep, prune_one):
    """Prune each group of ``sel`` with ``prune_one(group, k)`` (a :class:`~linear_models.second_order.PruneResult`
    over that group's weights, ``k`` its kept count) and join the results.

    Returns
    -------
    weights : ndarray, shape (d,)
        The pruned (and updated) weights of every group, in the order of ``sel.index``.
    mask : ndarray of bool, shape (d,)
    results : list of PruneResult
        One per group.
    """
    results = [prune_one(g, k) for g, k in enumerate(sel.counts(keep))]
    if len(results) == 1:
        return results[0].weights, results[0].mask, results
    return (np.concatenate([r.weights for r in results]), np.concatenate([r.mask for r in results]), results)


def add_selection_flags(parser):
    """The command-line flags ``--bias``, ``--scope`` and ``--layers`` of the experiments' entry points."""
    parser.add_argument("--bias", action="store_true", help="one bias per unit (never pruned)")
    parser.add_argument("--scope", choices=SCOPES, default="global",
                        help="one selection over all pruned weights (global) or the same fraction per layer")
    parser.add_argument("--layers", type=int, nargs="+", metavar="L",
                        help="the weight matrices pruned (0 the first, -1 the last; default all)")


def options_text(bias=False, layers=None, scope="global"):
    """Words for the network and the pruned weights ("" for the defaults: no biases, every layer, one selection)."""
    parts = []
    if bias:
        parts.append("with biases (not pruned)")
    if layers is not None:
        parts.append("layers " + ", ".join(map(str, layers)) + " pruned")
    if scope == "layer":
        parts.append("the same fraction of each layer")
    return ", ".join(parts)


def option_suffix(bias=False, layers=None, scope="global"):
    """File-name suffix of non-default options (``-bias``, ``-layers0-2``, ``-layer``; "" for the defaults)."""
    return (("-bias" if bias else "") + ("" if layers is None else "-layers" + "-".join(map(str, layers)))
            + ("-layer" if scope == "layer" else ""))


def steps_per_epoch(n, batch):
    return -(-n // batch)


def train_dense(net, data, seed, recipe=None):
    """Dense training by ``recipe`` (default the data set's, :func:`recipe_of`) from the seed's
    initialization and minibatch streams; biases start at 0 and are trained."""
    recipe = recipe_of(data.name) if recipe is None else recipe
    theta0 = net.init(recipe["init"], stream_of(data.name, seed, STREAM_INIT))
    spe = steps_per_epoch(len(data.y_train), recipe["batch_size"])
    res = net.train(theta0, data.X_train, data.y_train.astype(float), optimizer=recipe["optimizer"],
                    lr=recipe["lr"], steps=recipe["epochs"] * spe, batch_size=recipe["batch_size"],
                    rng=stream_of(data.name, seed, STREAM_ORDER))
    if not res.finite:
        raise FloatingPointError(f"dense training diverged (data {data.name}, seed {seed}).")
    return res.theta


def trained_task(task):
    """What every experiment task starts from: ``(data, net, sel, theta, X_train, y_train)``, the task's data
    set, network, pruned selection (:func:`selection`) and densely trained parameters (:func:`train_dense`)."""
    data = load_data(task.data)
    net = network(task.activation, task.sizes, task.bias)
    sel = selection(net, task.layers, task.scope)
    theta = train_dense(net, data, task.seed)
    return data, net, sel, theta, data.X_train, data.y_train.astype(float)


def task_rows(fn, tasks, kind, n_jobs=None):
    """Tidy rows of ``fn(task)`` for every task (in task order, whatever ``n_jobs``); the tasks' type (``kind``)
    and ``n_jobs`` are checked before any runs."""
    from ..runtime.workers import map_ordered, n_workers

    tasks = list(tasks)
    for i, t in enumerate(tasks):
        if not isinstance(t, kind):
            raise TypeError(f"tasks[{i}] must be a {kind.__name__}, got {type(t).__name__}.")
    n_workers(n_jobs)
    return [r for part in map_ordered(fn, [(t,) for t in tasks], n_jobs) for r in part]


def accuracy(net, theta, X, y):
    return float(np.mean(net.predict(theta, X).argmax(axis=1) == y))


def row(figure, data, method, sparsity, metric, value, seed, steps=1, penalty=0.0, damping=""):
    return dict(figure=figure, data=data, method=method, sparsity=sparsity, steps=steps, penalty=penalty,
                damping=damping, seed=seed, metric=metric, value=value)


def write_outputs(out_dir, stem, fig, rows, markdown):
    """Save ``fig``, its tidy CSV and the markdown summary ``<stem>.md``; returns the paths."""
    paths = save_with_csv(fig, rows, out_dir, stem, CSV_COLUMNS)
    md = write_atomic(Path(out_dir) / f"{stem}.md", markdown)
    return (*paths, md)


def summarize(rows, figure, metric, data=None, by=("data", "method", "sparsity")):
    """``{key: (mean, sem, n)}`` of ``metric`` over seeds, keyed by the ``by`` columns."""
    groups = {}
    for r in rows:
        if r["figure"] != figure or r["metric"] != metric or (data is not None and r["data"] != data):
            continue
        groups.setdefault(tuple(r[b] for b in by), []).append(r["value"])
    return {k: (*mean_sem(v), len(v)) for k, v in groups.items()}


def pm(m, s, scale=1.0, digits=2, sign=""):
    """``mean +- sem`` in a summary; the mean alone, marked "(one seed)", when only the s.e. is not finite (a
    single seed: a NaN value makes the mean NaN too); "cannot be assessed" when the mean is not finite
    (never 'nan +- nan')."""
    m, s = float(m) * scale, float(s) * scale
    if not np.isfinite(m):
        return "cannot be assessed"
    if not np.isfinite(s):
        return f"{m:{sign}.{digits}f} (one seed)"
    return f"{m:{sign}.{digits}f} +- {s:.{digits}f}"
