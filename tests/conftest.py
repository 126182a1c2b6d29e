"""Test configuration: one BLAS thread (multithreaded OpenBLAS is ~100x slower on this
machine's small solves), and a session-wide record of Monte Carlo z-scores that is
printed at the end of the run."""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402

Z_SCORES = {}


@pytest.fixture
def record_z():
    """Record the z-scores of a Monte Carlo check under a label (printed in the summary)."""

    def record(label, z):
        import numpy as np
        Z_SCORES[label] = float(np.max(np.abs(z)))

    return record


def pytest_terminal_summary(terminalreporter):
    if not Z_SCORES:
        return
    terminalreporter.section("Monte Carlo agreement (max |z| per check)")
    for label, z in sorted(Z_SCORES.items()):
        terminalreporter.write_line(f"{z:6.2f}  {label}")
    terminalreporter.write_line(f"overall max |z| = {max(Z_SCORES.values()):.2f} over {len(Z_SCORES)} checks")
