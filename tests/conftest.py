"""Test configuration: one BLAS thread (multithreaded OpenBLAS is ~100x slower on this
machine's small solves), a session-wide record of Monte Carlo z-scores that is printed at
the end of the run, and the arithmetic of pre-registered |z| bounds.

A Monte Carlo test fixes its |z| bound before it runs, for the number of z-values the
bound covers: with ``m`` z-values of a correct formula (each approximately standard normal),
``P(max |z| >= b) <= m * 2 Q(b)`` (Bonferroni, whatever their correlation), so the test
passes with probability at least ``pass_probability(b, m)``. :func:`bonferroni_bound` gives
the bound that makes the family-wise failure probability ``level`` (about 3.5 for 20 values,
3.9 for 100, at 1%)."""

import math
import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402

Z_SCORES = {}


def _two_sided_tail(b):
    """``P(|Z| >= b)`` for a standard normal ``Z``."""
    return math.erfc(b / math.sqrt(2.0))


def pass_probability(bound, m):
    """Lower bound (Bonferroni) on ``P(max of m |z| < bound)`` for a correct formula."""
    return max(0.0, 1.0 - m * _two_sided_tail(bound))


def bonferroni_bound(m, level=0.01):
    """The |z| bound whose Bonferroni family-wise failure probability over ``m`` z-values is ``level``."""
    lo, hi = 0.0, 40.0
    for _ in range(200):                     # bisection on the monotone tail
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if m * _two_sided_tail(mid) > level else (lo, mid)
    return hi


@pytest.fixture
def record_z():
    """Record the z-scores of a Monte Carlo check under a label (printed in the summary).

    ``record(label, z, bound=None)``: pass the pre-registered bound to have the summary show
    it with the number of z-values and the pass probability of a correct formula.
    """

    def record(label, z, bound=None):
        import numpy as np
        z = np.atleast_1d(np.asarray(z, dtype=float))
        Z_SCORES[label] = (float(np.max(np.abs(z))), int(z.size), bound)

    return record


def pytest_terminal_summary(terminalreporter):
    if not Z_SCORES:
        return
    terminalreporter.section("Monte Carlo agreement (max |z| per check)")
    terminalreporter.write_line(" max|z|  values  bound  P(pass | correct) >=")
    for label, (z, m, bound) in sorted(Z_SCORES.items()):
        extra = f"{bound:5.2f}  {pass_probability(bound, m):.4f}" if bound is not None else "    -        -"
        terminalreporter.write_line(f"{z:7.2f}  {m:6d}  {extra}  {label}")
    total = sum(m for _, m, _ in Z_SCORES.values())
    terminalreporter.write_line(f"overall max |z| = {max(z for z, _, _ in Z_SCORES.values()):.2f} over "
                                f"{len(Z_SCORES)} checks ({total} z-values)")
