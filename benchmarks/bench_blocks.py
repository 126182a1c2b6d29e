"""Speed of the block-diagonal Monte Carlo engine against the diagonal engine (issue 15, item 4).

Workload: p = 400, kappa in {0.5, 2} (design and Bartlett samplers), ridge 0, ten keep levels, 200 trials,
serial (one process, BLAS one thread). Side by side:
  diagonal   monte_carlo(Spectrum) with magnitude, hessian, oracle, random;
  block B=2  monte_carlo(BlockSpectrum.correlated_pair) with the same four criteria (the goal: within 1.5x);
  block B=4  the same with an AR(1) block of four;
  block all6 B = 2 with the theory's six criteria (obs and joint added), population Hessian;
  block upd  B = 2, the same four criteria followed by the population OBS update.
Numba compiles are warmed up first; medians over repeats, and the ratio to the diagonal engine.

Measured (2 shared cores, load average ~7): kappa 0.5 diagonal 0.528 s, B=2 0.623 s (1.18x), B=4 0.626 s
(1.19x); kappa 2 diagonal 0.325 s, B=2 0.377 s (1.16x), B=4 0.390 s (1.20x); all six criteria 1.36x/1.45x,
with the update 1.35x/1.48x.

    .venv/bin/python benchmarks/bench_blocks.py
"""

import numpy as np

from _timing import median_time

from asymptotics import BlockSpectrum, Spectrum
from simulations import monte_carlo

KEEP = tuple(np.round(np.linspace(0.1, 1.0, 10), 2))
TRIALS, P, REPEATS = 200, 400, 5
FOUR = ("magnitude", "hessian", "oracle", "random")
DIAG = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3))
PAIR = BlockSpectrum.correlated_pair(0.8, scale=5.0, signal=(1.0, -0.5))
AR4 = BlockSpectrum.ar1(4, 0.7, signal=[1.0, -0.5, 0.8, 0.2])


def main():
    for kappa in (0.5, 2.0):                              # warm-up: Numba compiles, imports
        monte_carlo(DIAG, 20, kappa, 0.5, keep=KEEP, trials=2)
        monte_carlo(PAIR, 20, kappa, 0.5, keep=KEEP, trials=2, hessian_scores="population")
    print(f"p = {P}, {TRIALS} trials, {len(KEEP)} keep levels, serial; median of {REPEATS} (seconds)")
    print(f"{'kappa':>5} {'workload':<11} {'median':>8} {'ratio':>6}")
    for kappa in (0.5, 2.0):
        base = median_time(lambda: monte_carlo(DIAG, P, kappa, 0.5, keep=KEEP, criteria=FOUR, trials=TRIALS), REPEATS)[0]
        rows = [("diagonal", base)]
        cases = [("block B=2", PAIR, dict(criteria=FOUR)), ("block B=4", AR4, dict(criteria=FOUR)),
                 ("block all6", PAIR, dict(hessian_scores="population")),
                 ("block upd", PAIR, dict(criteria=FOUR, update="obs"))]
        for name, spec, kw in cases:
            rows.append((name, median_time(lambda: monte_carlo(spec, P, kappa, 0.5, keep=KEEP, trials=TRIALS, **kw),
                                           REPEATS)[0]))
        for name, t in rows:
            print(f"{kappa:5.1f} {name:<11} {t:8.3f} {t / base:6.2f}")


if __name__ == "__main__":
    main()
