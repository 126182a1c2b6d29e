"""Finite-sample linear models and the pruning library.

* data: :class:`LinearProblem` (Gaussian design, population risk, importance,
  covariance scaling), :func:`from_spectrum`, :func:`ar1_covariance`,
  :func:`block_covariance`;
* estimators: :func:`ols`, :func:`min_norm`, :func:`ridge`, :func:`fit`,
  :func:`gradient_descent`;
* pruning: :func:`prune` (magnitude, hessian, taylor1, taylor2, random, oracle,
  obs, cbs, woodfisher; optional OBS or single-weight updates, locality penalty),
  :func:`empirical_fisher`, :func:`prune_iterative`, :func:`refit`,
  :func:`fine_tune_vs_scratch`.

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

from .data import LinearProblem, ar1_covariance, atom_counts, block_covariance, from_spectrum
from .estimators import fit, gradient_descent, lipschitz, min_norm, ols, ridge
from .pruning import (CRITERIA, CBSOptions, PruneResult, empirical_fisher, obs_update, prune, quadratic_cost,
                      randomized_magnitude_starts, removal_cost, single_weight_update)
from .retrain import SCHEDULES, fine_tune_vs_scratch, prune_iterative, refit, schedule_counts

__all__ = [
    "CBSOptions", "CRITERIA", "SCHEDULES", "LinearProblem", "PruneResult", "ar1_covariance", "atom_counts",
    "block_covariance", "empirical_fisher", "fine_tune_vs_scratch", "fit", "from_spectrum", "gradient_descent",
    "lipschitz", "min_norm", "obs_update", "ols", "prune", "prune_iterative", "quadratic_cost",
    "randomized_magnitude_starts", "refit", "removal_cost", "ridge", "schedule_counts", "single_weight_update",
]
