"""Shared timing helper of the benchmark scripts (run them as ``python benchmarks/<name>.py``)."""

import time

import numpy as np


def median_time(fn, repeats):
    """``(median seconds over repeats, the last return value)`` of calling ``fn()``."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def median_times_interleaved(fns, repeats):
    """``[(median seconds, the last return value)]`` of each of ``fns``, called in turn within every repeat,
    so that a change of load on the machine falls on all of them alike (their ratios stay meaningful)."""
    times, outs = [[] for _ in fns], [None] * len(fns)
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            outs[k] = fn()
            times[k].append(time.perf_counter() - t0)
    return [(float(np.median(t)), out) for t, out in zip(times, outs)]
