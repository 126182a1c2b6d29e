"""Speed of the asymptotic pruned-risk curves (issue: asymptotics engine).

Workloads
  A. a 200-point pruned-risk curve for the four criteria on a two-atom spectrum;
  B. a pruned-risk curve (magnitude, 50 and 200 points) on a 100,000-atom ``from_arrays`` spectrum;
  C. the linear phase diagram (docs/theory.md Section 9) on a 100 x 100 grid (mask ridge x load), three
     atoms, fresh refit at ridge 0, with its flip boundary located by root finding.
Baseline, in the same process: the same curves evaluated one kept fraction at a time
(scalar calls), which is what a user looping over ``keep`` would write.

Prints medians over repeats (after one warm-up call, so the one-off Numba compilation
is reported separately; sympy is no longer imported at run time) and the ratio
baseline / vectorized. Issue 10 s6 measured B (200 points) at 4.4 s before the fused
moment pass and the optimistic threshold solve; run this script on both branches to compare.

    .venv/bin/python benchmarks/bench_asymptotics.py
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from _timing import median_time  # noqa: E402

from asymptotics import CRITERIA, Spectrum, pruned_risk  # noqa: E402


def main():
    t0 = time.perf_counter()
    two = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3))
    pruned_risk(two, 2.0, 0.5, keep=0.5, criterion="magnitude")
    print(f"first call (imports + Numba compilation or cache load): {time.perf_counter() - t0:.2f} s")

    keep = np.linspace(0.005, 1.0, 200)
    vec = lambda: [pruned_risk(two, 2.0, 0.5, keep=keep, criterion=c) for c in CRITERIA]
    loop = lambda: [[pruned_risk(two, 2.0, 0.5, keep=float(a), criterion=c) for a in keep] for c in CRITERIA]
    tv, tl = median_time(vec, 21)[0], median_time(loop, 5)[0]
    print(f"A  two-atom, 4 criteria x 200 points: vectorized median {tv * 1e3:.1f} ms, "
          f"scalar loop {tl * 1e3:.1f} ms, ratio {tl / tv:.1f}x")

    rng = np.random.default_rng(0)
    p = 100_000
    big = Spectrum.from_arrays(rng.lognormal(0.0, 1.0, p), rng.standard_normal(p) / np.sqrt(p))
    for n_points in (50, 200):
        keep = np.linspace(0.01, 1.0, n_points)
        tv = median_time(lambda: pruned_risk(big, 2.0, 0.5, keep=keep, criterion="magnitude"), 5)[0]
        line = f"B  100,000 atoms, magnitude, {n_points} points: vectorized median {tv:.2f} s"
        if n_points == 50:
            sub = keep[::10]
            tl = median_time(lambda: [pruned_risk(big, 2.0, 0.5, keep=float(a), criterion="magnitude") for a in sub], 3)[0]
            tl *= n_points / sub.size
            line += f", scalar loop {tl:.2f} s (extrapolated from {sub.size} points), ratio {tl / tv:.1f}x"
        print(line)

    from asymptotics.phase import phase_diagram
    three = Spectrum([25.0, 16.0, 1.0], [0.3, 0.2, 1.0])
    loads, ridges = np.linspace(0.002, 0.2, 100), np.geomspace(1e-4, 1e4, 100)
    phase_diagram(three, 5.0, 0.5, loads=loads[:3], ridges=ridges[:3])
    tp, pd = median_time(lambda: phase_diagram(three, 5.0, 0.5, loads=loads, ridges=ridges), 3)
    print(f"C  phase diagram 100 x 100 (+ {len(pd.boundary)} flip points by root finding): median {tp:.2f} s")


if __name__ == "__main__":
    main()
