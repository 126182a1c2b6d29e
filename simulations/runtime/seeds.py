"""Seeded random streams: one ``numpy.random.SeedSequence`` child per purpose.

A stream is named by a spawn key (a tuple of integers), never by its position in a list, so a
result does not depend on which other streams were drawn, in which order, or in which process.
"""

from __future__ import annotations

import numpy as np


def stream(seed, *key):
    """The generator of ``SeedSequence(seed, spawn_key=key)`` (PCG64).

    Parameters
    ----------
    seed : int
        Master seed.
    *key : int
        The spawn key, e.g. ``(trial, purpose)``.

    Returns
    -------
    numpy.random.Generator
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=tuple(key))))


def generator(seq):
    """The PCG64 generator of a ``SeedSequence``."""
    return np.random.Generator(np.random.PCG64(seq))


def child(seq, k):
    """Child ``k`` of ``seq`` (what the ``k``-th ``seq.spawn`` would give), without mutating ``seq``:
    the same stream however often it is asked for."""
    return np.random.SeedSequence(seq.entropy, spawn_key=tuple(seq.spawn_key) + (int(k),), pool_size=seq.pool_size)


def children(seq, n):
    """Children ``0..n-1`` of ``seq`` (:func:`child`)."""
    return [child(seq, k) for k in range(n)]


def point_seed(seed, i):
    """Seed of grid point ``i``: a 63-bit integer from child ``i`` of ``SeedSequence(seed)``."""
    return int(np.random.SeedSequence(seed, spawn_key=(i,)).generate_state(2, np.uint64)[0] >> np.uint64(1))
