"""The pruning criteria: one registry entry per criterion, open to users.

Every part of the toolkit that prunes (:func:`linear_models.prune`, the Monte Carlo engine
:func:`simulations.monte_carlo`, :func:`simulations.network_experiment`, the second-order
experiments, sweeps and figures) looks a criterion up here by name: its score, what the score
needs, its default update of the kept weights, the key of its own random stream, and its plot
style (label, colour, marker). Adding a criterion is one call, from user code, with no edit of
the package:

>>> import numpy as np
>>> from linear_models import prune, register_criterion
>>> crit = register_criterion("cube_doc", lambda w, stats: np.abs(w) ** 3, label="|w|^3")
>>> prune(np.array([0.5, -2.0, 1.0]), keep=2, criterion="cube_doc").mask.tolist()
[False, True, True]
>>> unregister_criterion("cube_doc")

A score is ``score(weights, stats) -> ndarray of shape (p,)``: one number per weight, the largest
kept. ``stats`` (:class:`Stats`) exposes by attribute what the caller knows at these weights;
asking for something the caller did not provide raises a ``ValueError`` naming the criterion and
the argument to pass. The built-in criteria (scores of weight ``i``; ``H`` the loss Hessian or
Fisher, ``g`` the gradient; docs/theory.md Sections 1, 3 and 7):

========== =================================================== ========================== ======
criterion  score (largest kept)                                needs                      update
========== =================================================== ========================== ======
magnitude  ``abs(w_i)``                                        nothing                    none
hessian    ``1/2 H_ii w_i^2`` (OBD, LeCun et al. 1990)         ``hessian_diag``           none
taylor1    ``abs(g_i w_i)`` (LM, Laurent et al. 2020)          ``grad``                   none
taylor2    ``abs(-g_i w_i + 1/2 H_ii w_i^2)`` (QM)             ``grad``, ``hessian_diag`` none
random     uniform on [0, 1) from the criterion's stream       ``rng``                    none
oracle     the true importance ``Sigma_ii beta*_i^2``          ``importance``             none
woodfisher ``w_i^2 / (2 [H^-1]_ii)`` (Singh & Alistarh 2020)   ``hessian_inverse``        single
obs        greedy Optimal Brain Surgeon (Hassibi & Stork 1993) ``hessian_inverse``        obs
cbs        combinatorial OBS (Yu et al. 2022)                  ``hessian_inverse``        obs
joint      per-block exact OBS, one multiplier (Section 10)    ``hessian_inverse``        obs
========== =================================================== ========================== ======

``obs``, ``cbs`` and ``joint`` are *selections*, not per-weight scores: which weights go depends on
the others removed, so they have ``score=None`` and :func:`linear_models.prune` runs their algorithms
(:mod:`linear_models.second_order`, :mod:`linear_models.joint`; ``joint`` needs ``block_size=``).
Note that the theory's ``obs`` of docs/theory.md Section 10 is the one-shot OBS saliency
``w_i^2 / [H^-1]_ii``, which ranks as ``woodfisher`` does, not the greedy ``obs`` here. Criteria marked ``locality`` (magnitude, hessian, taylor1,
taylor2) take Laurent et al.'s penalty ``+ 1/2 lambda w_i^2`` on their scores.

Random streams: a criterion that draws random numbers gets a generator of its own, spawned from
the trial's seed with the key :attr:`Criterion.stream`, which is fixed by the criterion's *name*
(built-ins: fixed numbers; registered ones: a hash of the name), so adding or removing criteria
never shifts another criterion's numbers.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from pruning_checks import check_scalar

#: What a score can ask of :class:`Stats`.
NEEDS = ("hessian_diag", "hessian", "hessian_inverse", "grad", "importance", "rng")
#: Updates of the kept weights after a mask is chosen.
UPDATES = ("none", "obs", "single")
#: Colours of registered criteria without one (by a hash of the name), and of names that are not criteria
#: (the plotting fallback, kept as it was so existing figures keep their colours).
_COLOR_CYCLE = ("#8c564b", "#e377c2", "#17becf", "#bcbd22", "#ff7f0e", "#9467bd")
_FALLBACK_CYCLE = _COLOR_CYCLE[-1:] + _COLOR_CYCLE[:-1]
#: First stream key of registered (non built-in) criteria; keys of built-ins lie below it.
USER_STREAM_BASE = 1 << 20


@dataclass(frozen=True)
class Criterion:
    """One pruning criterion.

    Attributes
    ----------
    name : str
    score : callable or None
        ``score(weights, stats) -> ndarray (p,)``, larger kept; ``None`` for the selection
        algorithms ``obs``, ``cbs`` and ``joint``.
    needs : tuple of str
        Entries of :data:`NEEDS` the score reads (checked before any work).
    update : {"none", "obs", "single"}
        Default update of the kept weights.
    stream : int
        Key of the criterion's own random stream (fixed by name).
    label, color, marker : str
        Plot style.
    locality : bool
        Whether the locality penalty ``1/2 lambda w^2`` applies.
    builtin : bool
    """

    name: str
    score: Callable | None
    needs: tuple
    update: str
    stream: int
    label: str
    color: str
    marker: str
    locality: bool = False
    builtin: bool = False

    @property
    def separable(self):
        """True when the criterion ranks weights by a per-weight score (everything but obs, cbs and joint)."""
        return self.score is not None


class Stats:
    """What the toolkit knows at the weights being pruned, exposed by attribute to score functions.

    Each argument is an array (or a generator for ``rng``) or a zero-argument callable that
    computes it on first access (so a network computes its Gauss-Newton matrix only when a
    criterion asks for it). Accessing something that was not provided raises a ``ValueError``
    naming the criterion and the argument to pass.

    Attributes
    ----------
    hessian_diag : ndarray, shape (p,)
        Diagonal of the loss Hessian (or Fisher); derived from ``hessian`` when only that is given.
    hessian : ndarray, shape (p, p)
    hessian_inverse : ndarray, shape (p, p)
        Inverse of the damped Hessian.
    grad : ndarray, shape (p,)
    importance : ndarray, shape (p,)
        The true importance (``oracle``).
    rng : numpy.random.Generator
        The criterion's own stream.
    """

    def __init__(self, *, criterion="", hessian=None, hessian_diag=None, hessian_inverse=None, grad=None,
                 importance=None, rng=None):
        self._criterion = criterion
        self._given = dict(hessian=hessian, hessian_diag=hessian_diag, hessian_inverse=hessian_inverse, grad=grad,
                           importance=importance, rng=rng)
        self._cache = {}

    def has(self, name):
        """Whether ``name`` can be provided (without computing it)."""
        if name == "hessian_diag":
            return self._given["hessian_diag"] is not None or self._given["hessian"] is not None
        return self._given[name] is not None

    def _get(self, name):
        if name not in self._cache:
            value = self._given[name]
            if value is None and name == "hessian_diag" and self._given["hessian"] is not None:
                H = self._get("hessian")
                value = H if np.ndim(H) == 1 else np.diag(H).copy()
            if value is None:
                hint = {"rng": "rng (a seed or a Generator)", "hessian_diag": "hessian (its diagonal suffices)"}
                raise ValueError(f"criterion {self._criterion!r} needs {name}; pass {hint.get(name, name)}=.")
            self._cache[name] = value() if callable(value) and name != "rng" else value
        return self._cache[name]

    hessian = property(lambda self: self._get("hessian"))
    hessian_diag = property(lambda self: self._get("hessian_diag"))
    hessian_inverse = property(lambda self: self._get("hessian_inverse"))
    grad = property(lambda self: self._get("grad"))
    importance = property(lambda self: self._get("importance"))
    rng = property(lambda self: self._get("rng"))


# ------------------------------------------------------------------------------------- built-ins

def magnitude_score(w, stats):
    """``abs(w)``."""
    return np.abs(w)


def obd_score(w, stats):
    """OBD's saliency ``1/2 H_ii w^2`` (LeCun, Denker & Solla 1990; docs/theory.md Section 3)."""
    return 0.5 * stats.hessian_diag * w * w


def taylor1_score(w, stats):
    """First-order Taylor ``abs(g w)`` (Laurent et al. 2020's LM)."""
    return np.abs(stats.grad * w)


def taylor2_score(w, stats):
    """Second-order Taylor ``abs(-g w + 1/2 H_ii w^2)`` (Laurent et al. 2020's QM)."""
    return np.abs(-stats.grad * w + 0.5 * stats.hessian_diag * w * w)


def random_score(w, stats):
    """Uniform scores from the criterion's own stream."""
    return stats.rng.random(w.size)


def oracle_score(w, stats):
    """The true importance per weight."""
    return stats.importance


def woodfisher_score(w, stats):
    """WoodFisher's (single-weight OBS) saliency ``w^2 / (2 [H^-1]_ii)`` (Singh & Alistarh 2020)."""
    return w * w / (2.0 * np.diag(stats.hessian_inverse))


_REGISTRY = {}


def _builtin(name, score, needs, update, stream, label, color, marker, locality=False):
    _REGISTRY[name] = Criterion(name, score, tuple(needs), update, stream, label, color, marker, locality, True)


# stream keys 10-13 are those the linear Monte Carlo engine has always used (results unchanged)
_builtin("magnitude", magnitude_score, (), "none", 10, "magnitude", "#d62728", "o", locality=True)
_builtin("hessian", obd_score, ("hessian_diag",), "none", 11, "hessian (OBD)", "#1f77b4", "s", locality=True)
_builtin("oracle", oracle_score, ("importance",), "none", 12, "oracle", "#2ca02c", "^")
_builtin("random", random_score, ("rng",), "none", 13, "random", "#7f7f7f", "D")
_builtin("taylor1", taylor1_score, ("grad",), "none", 14, "taylor1 (LM)", "#ff7f0e", "v", locality=True)
_builtin("taylor2", taylor2_score, ("grad", "hessian_diag"), "none", 15, "taylor2 (QM)", "#bcbd22", "<",
         locality=True)
_builtin("obs", None, ("hessian_inverse",), "obs", 16, "OBS", "#17becf", "P")
_builtin("cbs", None, ("hessian_inverse",), "obs", 17, "CBS", "#9467bd", "*")
_builtin("woodfisher", woodfisher_score, ("hessian_inverse",), "single", 18, "WoodFisher", "#e377c2", "X")
_builtin("joint", None, ("hessian_inverse",), "obs", 19, "joint (block CBS)", "#8c564b", "h")


#: The built-in criteria (registered ones are listed by :func:`criterion_names`).
CRITERIA = tuple(_REGISTRY)


def criterion_names():
    """Names of the registered criteria, built-ins first, in registration order."""
    return tuple(_REGISTRY)


def get_criterion(name, where="criterion", carried=()):
    """The :class:`Criterion` called ``name`` (a :class:`Criterion` is returned as it is).

    ``carried``: entries that travel with a job to worker processes (user-registered criteria a worker
    need not have registered itself); they are looked up first.

    Raises
    ------
    ValueError
        Naming the parameter ``where`` and the registered names, for an unknown name.
    """
    if isinstance(name, Criterion):
        return name
    for crit in carried:
        if crit.name == name:
            return crit
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"{where} == {name!r}, must be one of {', '.join(map(repr, _REGISTRY))} "
                         "(or a name given to linear_models.register_criterion).")
    return _REGISTRY[name]


def _user_stream(name):
    return USER_STREAM_BASE + zlib.crc32(name.encode()) % USER_STREAM_BASE


def register_criterion(name, score, *, needs=(), update="none", label=None, color=None, marker="o",
                       locality=False):
    """Add a pruning criterion that every pruning entry point of the toolkit can then use by name.

    Parameters
    ----------
    name : str
        A new name (a registered name is refused).
    score : callable
        ``score(weights, stats) -> ndarray of shape (p,)``, larger kept; ``stats`` is a
        :class:`Stats`. Checked for shape and finiteness every time it is called.
    needs : sequence of str
        What ``score`` reads from ``stats``, from :data:`NEEDS`; callers check these before work.
    update : {"none", "obs", "single"}
        Default update of the kept weights (``"obs"``/``"single"`` need a Hessian).
    label, color, marker : str, optional
        Plot style (label defaults to the name, colour to a fixed cycle by name).
    locality : bool
        Whether :func:`linear_models.prune`'s ``locality`` penalty may be added to the scores.

    Returns
    -------
    Criterion

    Raises
    ------
    ValueError
        For a name already registered, an unknown need or update; ``TypeError`` for a score that is
        not callable.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name == {name!r}, must be a non-empty string.")
    if name in _REGISTRY:
        raise ValueError(f"name == {name!r} is already a registered criterion; choose another name.")
    if not callable(score):
        raise TypeError(f"score must be callable as score(weights, stats), got {type(score).__name__}.")
    needs = (needs,) if isinstance(needs, str) else tuple(needs)
    for n in needs:
        if n not in NEEDS:
            raise ValueError(f"needs contains {n!r}, must be among {', '.join(map(repr, NEEDS))}.")
    if update not in UPDATES:
        raise ValueError(f"update == {update!r}, must be one of {', '.join(map(repr, UPDATES))}.")
    if update != "none" and "hessian_inverse" not in needs:
        needs = needs + ("hessian_inverse",)
    crit = Criterion(name, score, needs, update, _user_stream(name), label or name,
                     color or _COLOR_CYCLE[zlib.crc32(name.encode()) % len(_COLOR_CYCLE)], marker, bool(locality),
                     False)
    _REGISTRY[name] = crit
    return crit


def unregister_criterion(name):
    """Remove a criterion added by :func:`register_criterion` (built-ins cannot be removed)."""
    crit = get_criterion(name, "name")
    if crit.builtin:
        raise ValueError(f"name == {name!r} is a built-in criterion and cannot be removed.")
    del _REGISTRY[name]


def scores(name, w, stats, *, locality=0.0):
    """The scores of criterion ``name`` (a name or a :class:`Criterion`) at ``w`` (plus ``1/2 locality w^2``
    where it applies).

    Raises
    ------
    ValueError
        If the criterion is a selection (``obs``, ``cbs``), if a score has the wrong shape or is not
        finite, or if ``locality`` is given to a criterion that does not take it.
    """
    crit = name if isinstance(name, Criterion) else get_criterion(name)
    name = crit.name
    if crit.score is None:
        raise ValueError(f"criterion {name!r} is a selection algorithm, not a per-weight score.")
    locality = check_scalar(locality, "locality", low=0)
    if locality and not crit.locality:
        takers = ", ".join(c.name for c in _REGISTRY.values() if c.locality)
        raise ValueError(f"locality applies to {takers}, not to criterion {name!r}.")
    s = np.asarray(crit.score(w, stats), dtype=float)
    if s.shape != w.shape:
        raise ValueError(f"criterion {name!r} returned scores of shape {s.shape}, must be {w.shape} "
                         "(one score per weight).")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"criterion {name!r} returned non-finite scores (check its inputs: weights, hessian, "
                         "grad, importance).")
    return s + 0.5 * locality * w * w if locality else s


def plot_style(name):
    """``(label, color, marker)`` of a criterion, or a neutral style for other names (e.g. ``dense``)."""
    crit = _REGISTRY.get(name)
    if crit is not None:
        return crit.label, crit.color, crit.marker
    if name == "dense":
        return "dense", "#000000", "x"
    return name, _FALLBACK_CYCLE[sum(map(ord, name)) % len(_FALLBACK_CYCLE)], "o"
