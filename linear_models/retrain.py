"""Retraining after pruning and iterative (multi-step) pruning (docs/theory.md Sections 4 and 7).

* :func:`refit`: the same estimator on the kept support, on the same data or on
  fresh data (pass the fresh sample).
* :func:`fine_tune_vs_scratch`: gradient descent on the support from the pruned
  weights (fine-tuning) versus from scratch (zero or random initialisation), at
  equal steps (Scratch-E) and at equal compute (Scratch-B), as in Liu et al. 2019.
  In a linear model the answer is exact: GD from ``b0`` converges to the
  interpolator (or least-squares fit) on the support closest to ``b0``.
* :func:`prune_iterative`: reach the target in ``steps`` stages on a schedule,
  recomputing scores on the pruned model, with optional fine-tuning between
  stages and Laurent et al.'s (2020) locality penalty ``lambda/2 ||w - w0||^2``
  (``+ 1/2 lambda w_i^2`` on each score).
"""

from __future__ import annotations

import numpy as np

from pruning_checks import as_generator, check_array, check_choice, check_int, check_scalar, keep_count
from .estimators import fit, gradient_descent
from .pruning import PruneResult, prune
from .schedules import SCHEDULES, schedule_counts



def _mask(mask, p):
    m = np.asarray(mask)
    if m.dtype != bool or m.shape != (p,):
        raise ValueError(f"mask must be a boolean array of shape ({p},), got dtype {m.dtype} and shape {m.shape}.")
    if not m.any():
        raise ValueError("mask keeps no weight.")
    return m.copy()


def refit(X, y, mask, ridge=0.0, *, init=None):
    """Refit (OLS / min-norm / ridge, as :func:`fit`) on the kept support; zeros elsewhere.

    Pass the training sample for a same-data refit, a fresh sample for a fresh-data refit.
    ``init`` (shape ``(p,)``) is the starting point of gradient descent; only its entries on
    the support matter, and only for underdetermined refits with ``ridge == 0``.
    """
    X = check_array(X, "X", 2)
    p = X.shape[1]
    m = _mask(mask, p)
    b0 = None if init is None else check_array(init, "init", 1, shape=(p,))[m]
    out = np.zeros(p)
    out[m] = fit(X[:, m], y, ridge, init=b0)
    return out


def fine_tune_vs_scratch(X, y, pruned, mask, *, steps, dense_steps, rng, init_scale=None, lr=None):
    """Gradient descent on the support from four starts, at equal steps and equal compute.

    Parameters
    ----------
    X, y : training data
    pruned : array, shape (p,)
        The pruned weights (fine-tuning starts here).
    mask : bool array
        Kept support.
    steps : int
        Fine-tuning steps (the Scratch-E budget).
    dense_steps : int
        Steps spent training the dense model; Scratch-B gets the compute of dense training plus
        fine-tuning, ``(dense_steps * p + steps * k) / k`` steps on ``k`` weights.
    rng : Generator or int
        For the random initialisation (``N(0, init_scale^2)``, default scale ``1/sqrt(p)``).

    Returns
    -------
    dict of str -> ndarray
        ``"fine-tune"``, ``"scratch-E zero"``, ``"scratch-E random"``, ``"scratch-B zero"``,
        ``"scratch-B random"``: the weights after training.
    """
    X = check_array(X, "X", 2)
    p = X.shape[1]
    m = _mask(mask, p)
    pruned = check_array(pruned, "pruned", 1, shape=(p,))
    steps, dense_steps = check_int(steps, "steps"), check_int(dense_steps, "dense_steps")
    rng = as_generator(rng)
    scale = 1.0 / np.sqrt(p) if init_scale is None else check_scalar(init_scale, "init_scale", low=0)
    k = int(m.sum())
    budget_b = int(round((dense_steps * p + steps * k) / k))
    rand = np.where(m, scale * rng.standard_normal(p), 0.0)
    zero = np.zeros(p)
    gd = lambda init, n_steps: gradient_descent(X, y, n_steps, lr=lr, init=init, mask=m)
    return {
        "fine-tune": gd(np.where(m, pruned, 0.0), steps),
        "scratch-E zero": gd(zero, steps),
        "scratch-E random": gd(rand, steps),
        "scratch-B zero": gd(zero, budget_b),
        "scratch-B random": gd(rand, budget_b),
    }


def prune_iterative(X, y, w, keep, criterion="magnitude", *, steps=5, schedule="geometric", finetune_steps=0,
                    ridge=0.0, locality=0.0, lr=None, rng=None, damping=None, relative_damping=None):
    """Prune in ``steps`` stages, recomputing scores on the pruned model at every stage.

    The loss is ``(1/n)||y - X w||^2 + ridge ||w||^2``; its gradient and Hessian
    ``(2/n) X'X + 2 ridge I`` restricted to the surviving weights feed the criterion
    (``taylor1``/``taylor2``/``hessian``/``obs``/``cbs``/``woodfisher``). ``locality`` is
    Laurent et al.'s ``lambda``: the scores of the loss-modelling criteria get ``+ 1/2 lambda w_i^2``
    (:func:`prune`). After each stage, ``finetune_steps`` of gradient descent on the support move the
    surviving weights (none by default, as in the loss-modelling study). With the ``"geometric"``
    schedule every stage removes the same fraction of the remaining weights (up to rounding).

    Returns
    -------
    PruneResult
        Final weights and mask (``scores`` is None; ``loss_increase`` is None).
    """
    X = check_array(X, "X", 2)
    n, p = X.shape
    y = check_array(y, "y", 1, shape=(n,))
    cur = check_array(w, "w", 1, shape=(p,))
    k = keep_count(keep, p)
    steps = check_int(steps, "steps", low=1)
    check_choice(schedule, "schedule", SCHEDULES)
    finetune_steps = check_int(finetune_steps, "finetune_steps")
    mu = check_scalar(ridge, "ridge", low=0)
    rng = None if rng is None else as_generator(rng)
    mask = np.ones(p, dtype=bool)
    H_full = (2.0 / n) * (X.T @ X) + 2 * mu * np.eye(p)
    for k_s in schedule_counts(p, k, steps, schedule):
        act = np.flatnonzero(mask)
        grad = (2.0 / n) * (X[:, act].T @ (X[:, act] @ cur[act] - y)) + 2 * mu * cur[act]
        res = prune(cur[act], int(k_s), criterion, hessian=H_full[np.ix_(act, act)], grad=grad, rng=rng,
                    damping=damping, relative_damping=relative_damping, locality=locality)
        cur = np.zeros(p)
        cur[act] = res.weights
        mask = np.zeros(p, dtype=bool)
        mask[act[res.mask]] = True
        if finetune_steps:
            cur = gradient_descent(X, y, finetune_steps, lr=lr, init=cur, ridge=mu, mask=mask)
    return PruneResult(cur, mask, criterion)
