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

Reproducibility: task ``(data, seed)`` draws its initialization, minibatch
order and randomised starts from ``SeedSequence(BASE_SEED, spawn_key=(data
index, seed, stream))`` and runs single-threaded, so tables are bitwise
identical for any ``n_jobs``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from linear_models import second_order as so
from pruning_checks import check_choice, check_int

from ..networks.memory import check_allocation, matrix_bytes

from ..networks.datasets import digits, teacher
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
    """The fixed data set of the experiments: digits (fixed split) or the planted teacher (seed 0)."""
    if name == "digits":
        return digits()
    if name == "teacher":
        return teacher(0, n_train=1078, n_val=359, n_test=1000, d=SIZES[0], hidden=SIZES[1:-1],
                       n_classes=SIZES[-1])
    raise ValueError(f"data == {name!r}, must be one of {DATASETS}.")


def stream_of(data_name, seed, j):
    check_choice(data_name, "data", DATASETS)
    seed = check_int(seed, "seed", low=0)               # 1.5 is not seed 1
    key = (DATASETS.index(data_name), seed, j)
    return stream(BASE_SEED, *key)


#: Training-set size of both data sets (the default split of digits; the teacher's n_train).
N_TRAIN = 1078
#: Copies of the ``d x d`` empirical Fisher alive at the peak of :func:`linear_models.second_order.empirical_fisher`
#: with ``inverse=True`` (the Gram matrix, the damped copy, its factor and inverse, a symmetrised copy).
FISHER_COPIES = 5


def check_task(task, fisher):
    """Check the fields shared by the experiments' task records (``data``, ``seed``, ``activation``, ``sizes``)
    and, with ``fisher``, the memory of the full empirical Fisher; one line naming the field, before any work."""
    from ..networks.model import ACTIVATIONS

    check_choice(task.data, "data", DATASETS)
    check_int(task.seed, "seed", low=0)
    check_choice(task.activation, "activation", tuple(ACTIVATIONS))
    sizes = task.sizes
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__") or len(sizes) < 2:
        raise ValueError(f"sizes == {sizes!r}, must be a sequence of layer sizes like {SIZES}.")
    sizes = tuple(check_int(v, f"sizes[{i}]", low=1) for i, v in enumerate(sizes))
    if sizes[0] != SIZES[0] or sizes[-1] != SIZES[-1]:
        raise ValueError(f"sizes == {sizes}: the data sets have {SIZES[0]} features and {SIZES[-1]} classes, so "
                         f"sizes must start with {SIZES[0]} and end with {SIZES[-1]}.")
    if fisher:
        d = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        check_allocation(matrix_bytes(d, d, FISHER_COPIES) + matrix_bytes(N_TRAIN, d), f"sizes == {sizes} ({d} weights)",
                         f"the full {d} x {d} empirical Fisher ({FISHER_COPIES} copies at peak) and the "
                         f"{N_TRAIN} x {d} per-sample gradients",
                         "use a smaller network (the Fisher grows as the square of its weights)")
    return sizes


def network(activation="relu", sizes=SIZES):
    """The experiments' MLP: ``sizes`` (default :data:`SIZES`), no biases, softmax cross-entropy."""
    from ..networks.model import Network

    return Network(tuple(sizes), activation=activation, loss="cross_entropy")


def steps_per_epoch(n, batch):
    return -(-n // batch)


def train_dense(net, data, seed, recipe=RECIPE):
    """Dense training by :data:`RECIPE` from the seed's initialization and minibatch streams."""
    theta0 = net.init(recipe["init"], stream_of(data.name, seed, STREAM_INIT))
    spe = steps_per_epoch(len(data.y_train), recipe["batch_size"])
    res = net.train(theta0, data.X_train, data.y_train.astype(float), optimizer=recipe["optimizer"],
                    lr=recipe["lr"], steps=recipe["epochs"] * spe, batch_size=recipe["batch_size"],
                    rng=stream_of(data.name, seed, STREAM_ORDER))
    if not res.finite:
        raise FloatingPointError(f"dense training diverged (data {data.name}, seed {seed}).")
    return res.theta


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
    """``mean +- sem`` in a summary, or "cannot be assessed" when either is not finite (never 'nan +- nan')."""
    m, s = float(m) * scale, float(s) * scale
    if not (np.isfinite(m) and np.isfinite(s)):
        return "cannot be assessed"
    return f"{m:{sign}.{digits}f} +- {s:.{digits}f}"
