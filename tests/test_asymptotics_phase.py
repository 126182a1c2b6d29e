"""The linear phase diagram (docs/theory.md Section 9, issue 9 A): risk of a fresh refit at a fixed ridge
over the mask's ridge (temperature) x load."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from asymptotics import Spectrum, pruned_risk
from asymptotics.phase import phase_diagram
from mc_reference import monte_carlo

SPEC3 = Spectrum([25.0, 16.0, 1.0], [0.3, 0.2, 1.0])


@pytest.mark.parametrize("criterion", ["oracle", "random"])
def test_masks_that_ignore_the_fit_give_a_flat_diagram(criterion):
    """Oracle and random masks do not depend on mu, and the refit ridge is fixed: R is constant in mu."""
    pd = phase_diagram(SPEC3, 5.0, 0.5, loads=np.linspace(0.02, 0.2, 7), ridges=np.geomspace(1e-3, 1e3, 9),
                       criterion=criterion)
    assert_allclose(pd.risk, np.broadcast_to(pd.risk_zero, pd.risk.shape), rtol=1e-12)
    assert_allclose(pd.risk_screening, pd.risk_zero, rtol=1e-12)
    assert pd.boundary == []


def test_grid_is_the_pruned_risk_with_a_separate_refit_ridge():
    loads = np.array([0.05, 0.12, 0.18])
    ridges = np.array([0.01, 1.0, 100.0])
    pd = phase_diagram(SPEC3, 5.0, 0.5, loads=loads, ridges=ridges, refit_ridge=0.0)
    for i, mu in enumerate(ridges):
        want = pruned_risk(SPEC3, 5.0, 0.5, keep=loads * 5.0, ridge=mu, retrain="fresh", refit_ridge=0.0)
        assert_allclose(pd.risk[i], want, rtol=1e-14)
    assert_allclose(pd.risk_zero, pruned_risk(SPEC3, 5.0, 0.5, keep=loads * 5.0, retrain="fresh"), rtol=1e-14)
    # the screening limit: a finite huge ridge and a larger one agree
    far = pruned_risk(SPEC3, 5.0, 0.5, keep=loads * 5.0, ridge=1e13, retrain="fresh", refit_ridge=0.0)
    assert_allclose(pd.risk_screening, far, rtol=1e-7)


def test_boundary_points_are_stationary_points_of_the_risk():
    """Each located flip is a local extremum of R(mu) at its load: R at mu * (1 +- 1e-2) lies on
    the same side of R(mu) (computed independently of the root finder)."""
    pd = phase_diagram(SPEC3, 5.0, 0.5, loads=np.linspace(0.06, 0.19, 14), ridges=np.geomspace(1e-3, 1e3, 40))
    assert len(pd.boundary) > 0
    for load, mu in pd.boundary:
        r = [pruned_risk(SPEC3, 5.0, 0.5, keep=load * 5.0, ridge=m, retrain="fresh", refit_ridge=0.0)
             for m in (mu * 0.99, mu, mu * 1.01)]
        assert (r[0] - r[1]) * (r[2] - r[1]) > 0, (load, mu, r)


def test_rejects_loads_above_one_over_kappa():
    with pytest.raises(ValueError, match=r"loads\[1\] == 0.3, must be <= 1/kappa"):
        phase_diagram(SPEC3, 5.0, 0.5, loads=[0.1, 0.3])


# A cut of the diagram against the plain-NumPy Monte Carlo: three atoms, kappa = 5, magnitude masks from
# ridge mu in {0, 0.1, 5, 1e4}, fresh OLS refit (refit ridge 0), keep 0.3 and 0.8: 8 z-values.
# Bonferroni at 1% family-wise: Phi^-1(1 - 0.01/16) = 3.23; a correct formula passes with
# probability >= 99% for any seed.
Z_BOUND_CUT = 3.3


@pytest.mark.slow
def test_phase_cut_against_monte_carlo(record_z):
    lam, b, w = [25.0, 16.0, 1.0], [0.3, 0.2, 1.0], [1 / 3, 1 / 3, 1 / 3]
    keep = (0.3, 0.8)
    zs = []
    for i, mu in enumerate((0.0, 0.1, 5.0, 1e4)):
        mc = monte_carlo(lam, b, w, "fixed", 240, 5.0, 0.5, mu, keep, ("magnitude",), "fresh", 200, 9100 + i,
                         refit_ridge=0.0)
        x = mc["magnitude"]
        th = pruned_risk(Spectrum(lam, b, w), 5.0, 0.5, keep=np.array(keep), ridge=mu, retrain="fresh",
                         refit_ridge=0.0)
        z = (x.mean(axis=0) - th) / (x.std(axis=0, ddof=1) / np.sqrt(x.shape[0]))
        record_z(f"phase cut mu={mu}", z)
        print(f"mu={mu}: theory {np.round(th, 4)}, MC {np.round(x.mean(axis=0), 4)}, z {np.round(z, 2)}")
        zs.extend(z)
    assert np.max(np.abs(zs)) < Z_BOUND_CUT, zs
