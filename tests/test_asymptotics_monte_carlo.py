"""Theory vs an independent plain-NumPy Monte Carlo (tests/mc_reference.py) at p = 500.

Every criterion, both signal laws, no retraining and a fresh-data refit, on six
configurations covering kappa < 1, kappa > 1, ridge > 0 and a covariance-scaled
two-atom model where hessian pruning beats magnitude pruning. Each point must
agree within Z_BOUND standard errors of the Monte Carlo mean (a bound that accounts for the
number of z-values, below); the z-scores are printed in the test summary.
"""

import numpy as np
import pytest

from asymptotics import CRITERIA, Spectrum, dense_risk, pruned_risk
from mc_reference import monte_carlo

# 12 tests x 9 z-values (dense + 4 criteria x 2 keep levels) = 108 z-values, roughly independent.
# Bonferroni at a 1% family-wise level: Phi^-1(1 - 0.01/216) = 3.91. A correct formula passes the
# whole module with probability >= 99% (each test >= 1 - 9 * 6.3e-5 = 99.94%), for any seed.
Z_BOUND = 4.0
P = 500
TRIALS = 150
KEEP = (0.15, 0.35)

CONFIGS = {
    # name: (variances, signal, weights, signal_dist, kappa, noise, ridge)
    "scaled-ols-fixed": ([1.0, 25.0], [1.0, 0.3], [0.5, 0.5], "fixed", 2.0, 0.5, 0.0),
    "scaled-minnorm-fixed": ([1.0, 25.0], [1.0, 0.3], [0.5, 0.5], "fixed", 0.5, 0.5, 0.0),
    "ridge-underdetermined-gaussian": ([1.0, 9.0], [1.0, 0.5], [0.7, 0.3], "gaussian", 0.6, 0.3, 0.1),
    "null-atom-ols-gaussian": ([1.0, 0.1, 4.0], [1.0, 0.0, 0.8], [0.3, 0.4, 0.3], "gaussian", 1.6, 0.5, 0.0),
    "isotropic-ridge-fixed": ([1.0], [1.0], [1.0], "fixed", 1.5, 0.5, 0.05),
    "four-atom-ridge-fixed": ([4.0, 1.0, 0.25, 0.0625], [0.5, 1.0, 1.0, 2.0], [0.25] * 4, "fixed", 0.8, 0.2, 0.5),
}


@pytest.mark.slow
@pytest.mark.parametrize("retrain", ["none", "fresh"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_theory_agrees_with_monte_carlo(name, retrain, record_z):
    lam, b, w, dist, kappa, noise, ridge = CONFIGS[name]
    seed = sorted(CONFIGS).index(name) + (100 if retrain == "fresh" else 0)
    mc = monte_carlo(lam, b, w, dist, P, kappa, noise, ridge, KEEP, CRITERIA, retrain, TRIALS, seed)
    spec = Spectrum(lam, b, w, dist)
    sem = lambda x: x.std(axis=0, ddof=1) / np.sqrt(x.shape[0])
    zs = {"dense": (mc["dense"].mean() - dense_risk(spec, kappa, noise, ridge=ridge)) / sem(mc["dense"])}
    for c in CRITERIA:
        theory = pruned_risk(spec, kappa, noise, keep=KEEP, criterion=c, ridge=ridge, retrain=retrain)
        zs[c] = (mc[c].mean(axis=0) - theory) / sem(mc[c])
    for c, z in zs.items():
        record_z(f"asymptotics {name} retrain={retrain} {c}", z)
    worst = {c: float(np.max(np.abs(z))) for c, z in zs.items()}
    assert max(worst.values()) < Z_BOUND, worst


def test_hessian_beats_magnitude_in_the_scaled_config():
    lam, b, w, dist, kappa, noise, ridge = CONFIGS["scaled-ols-fixed"]
    spec = Spectrum(lam, b, w, dist)
    keep = np.array(KEEP)
    assert np.all(pruned_risk(spec, kappa, noise, keep=keep, criterion="hessian")
                  < pruned_risk(spec, kappa, noise, keep=keep, criterion="magnitude"))
