"""Finite-sample linear models and the pruning library.

* data: :class:`LinearProblem` (Gaussian design, population risk, importance,
  covariance scaling), :func:`from_spectrum`, :func:`ar1_covariance`,
  :func:`block_covariance`;
* estimators: :func:`ols`, :func:`min_norm`, :func:`ridge`, :func:`fit`,
  :func:`gradient_descent`; a singular Gram, Hessian or Fisher matrix (decided relative to
  its spectrum, the same way everywhere) raises :class:`RankDeficientError`;
* criteria: the registry of pruning criteria (:mod:`linear_models.criteria`:
  magnitude, hessian, taylor1, taylor2, random, oracle, obs, cbs, woodfisher, and
  any added with :func:`register_criterion`);
* pruning: :func:`prune` (any registered criterion; optional OBS or single-weight
  updates, locality penalty),
  :func:`prune_iterative`, :func:`refit`, :func:`fine_tune_vs_scratch`;
* second_order (the toolkit's one implementation for any weight vector with a
  gradient and a Fisher/Hessian, networks included): :func:`empirical_fisher`
  (:class:`Fisher`), :func:`optimal_update`, :func:`single_weight_update`,
  :func:`woodfisher`, :func:`obs`, :func:`rmp_masks`, :func:`cbs_search`,
  :func:`cbs`, :func:`loss_model_scores`, :func:`prune_in_steps`;
* blockwise: second order with the Fisher in diagonal blocks and one global selection
  (:func:`block_fisher`, :class:`BlockFisher`, :func:`prune_blockwise`), for networks whose full
  Fisher does not fit in memory;
* torch_bridge: :func:`prune_module`, any registered criterion on a PyTorch ``nn.Module`` (the
  optional ``torch`` extra; ``import linear_models`` never imports torch: the name is resolved on
  first use).

Example
-------
>>> from linear_models import LinearProblem, fit, prune
>>> prob = LinearProblem.diagonal([1.0, 1.0, 100.0, 100.0], [1.0, 0.5, 0.2, 0.05], noise=0.1)
>>> X, y = prob.sample(200, rng=0)
>>> b = fit(X, y)
>>> prune(b, keep=2, criterion="magnitude").mask.tolist()      # drops the scaled (important) features
[True, True, False, False]
>>> prune(b, keep=2, criterion="hessian", hessian=X.T @ X / 200).mask.tolist()
[True, False, True, False]
"""

from .data import LinearProblem, ar1_covariance, atom_counts, block_covariance
from .spectrum_data import from_spectrum
from ._spd import RankDeficientError
from .estimators import fit, gradient_descent, lipschitz, min_norm, ols, ridge
from .criteria import (CRITERIA, Criterion, Stats, criterion_names, get_criterion, register_criterion,
                       unregister_criterion)
from .pruning import CBSOptions, prune
from .second_order import (Fisher, PruneResult, cbs, cbs_search, empirical_fisher, loss_model_scores, obs, optimal_update,
                           prune_in_steps, removal_increase, rmp_masks, selection_objective, single_weight_update,
                           woodfisher)
from .blockwise import BlockFisher, block_fisher, prune_blockwise
from .retrain import fine_tune_vs_scratch, prune_iterative, refit
from .schedules import SCHEDULES, schedule_counts

__all__ = [
    "BlockFisher", "CBSOptions", "CRITERIA", "ModulePruneResult", "block_fisher", "prune_blockwise", "prune_module", "Criterion", "Fisher", "SCHEDULES", "Stats", "criterion_names", "get_criterion",
    "register_criterion", "unregister_criterion", "LinearProblem", "PruneResult", "RankDeficientError",
    "ar1_covariance",
    "atom_counts", "block_covariance", "cbs", "cbs_search", "empirical_fisher", "fine_tune_vs_scratch", "fit",
    "from_spectrum", "gradient_descent", "lipschitz", "loss_model_scores", "min_norm", "obs", "ols",
    "optimal_update", "prune", "prune_in_steps", "prune_iterative", "refit", "removal_increase", "ridge",
    "rmp_masks", "schedule_counts", "selection_objective", "single_weight_update", "woodfisher",
]


_LAZY = {"prune_module": "torch_bridge", "ModulePruneResult": "torch_bridge", "prunable_parameters": "torch_bridge"}


def __getattr__(name):
    """Resolve the PyTorch bridge's names on first use, so that importing the package never imports torch."""
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
