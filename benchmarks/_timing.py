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
