"""Sparsity schedules of multi-step pruning: the kept count after each stage.

Used by :func:`linear_models.prune_iterative` and :func:`linear_models.second_order.prune_in_steps`.
"""

from __future__ import annotations

import numpy as np

#: Named schedules: the kept density after stage ``t`` of ``T`` (``s = t/T``, target density ``a``) is
#: ``1 - (1 - a) s`` (linear), ``a^s`` (geometric: the same fraction removed each stage) or
#: ``a + (1 - a)(1 - s)^3`` (cubic, Zhu & Gupta 2017).
SCHEDULES = ("linear", "geometric", "cubic")


def schedule_counts(p, k, steps, schedule):
    """Kept counts after each of ``steps`` stages, ending exactly at ``k``."""
    s = np.arange(1, steps + 1) / steps
    a = k / p
    dens = {"linear": 1 - (1 - a) * s, "geometric": a**s, "cubic": a + (1 - a) * (1 - s) ** 3}[schedule]
    counts = np.maximum(np.round(dens * p).astype(int), k)
    counts[-1] = k
    return np.minimum.accumulate(counts)
