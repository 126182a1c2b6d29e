"""Issue 10, section 1: silent wrong answers and crashes of the theory engine, one test per class.

Each test failed on the code before the fix (the issue's example is in the docstring) and states
the guarantee it now holds.
"""

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose

from asymptotics import CRITERIA, ConvergenceError, Spectrum, dense_risk, pruned_risk, solve_fixed_point, solve_pruned
from asymptotics import fixed_point as fixed_point_module
from asymptotics import pruning as pruning_module
from asymptotics.thresholds import verify_kept


# ------------------------------------------------------------- nearly point-like atoms
@pytest.mark.parametrize("noise", [1e-15, 1e-20, 1e-100, 1e-300])
def test_nearly_noiseless_ols_behaves_as_the_point_masses(noise):
    """Was 0.826 at noise 1e-15 and 0.5 at 1e-20 (0.95 at noise 0): an atom whose score spread is
    tiny against its centre must act as the point mass it nearly is."""
    spec = Spectrum.two_level(variances=(1, 25), signal=(1, 0.3))
    # noise 0: b_hat = beta; hessian scores 1 (first atom) and 1.5 (second): keep 60% of the second,
    # drop the first: risk = 0.5 * 1 * 1 + 0.5 * 0.4 * 25 * 0.09 = 0.95 (independent of the code)
    res = solve_pruned(spec, 2.0, noise, keep=0.3, criterion="hessian")
    assert_allclose(res.kept_fraction, [0.0, 0.6], atol=1e-12)
    assert_allclose(res.risk, 0.95, rtol=1e-9)
    assert res.keep_error <= 1e-12


@pytest.mark.parametrize("dist", ["fixed", "gaussian"])
@pytest.mark.parametrize("criterion", ["magnitude", "hessian", "oracle"])
@pytest.mark.parametrize("variances", [(1.0, 1e40), (1e-20, 1e20), (1e-40, 1.0)])
def test_kept_fraction_is_exact_over_forty_decades(variances, criterion, dist):
    """Was: variances (1, 1e40), hessian, keep 0.3 kept 50%."""
    spec = Spectrum(variances, (1.0, 0.3), (0.5, 0.5), dist)
    keep = np.array([0.05, 0.3, 0.5, 0.7])
    res = solve_pruned(spec, 2.0, 0.5, keep=keep, criterion=criterion)
    assert_allclose(res.kept_fraction @ spec.weights, keep, rtol=1e-10)


def test_unverified_threshold_raises_instead_of_returning(monkeypatch):
    """The solver checks the kept fraction it reached; a threshold off by 1% must raise."""
    real = pruning_module.solve_thresholds

    def off_by_one_percent(alpha, A, C, w, **kwargs):
        th = real(alpha, A, C, w, **kwargs)
        return type(th)(th.t * 1.01, th.base * 1.01, th.step * 1.01, th.x, th.tie, th.iterations, th.optimistic)
    monkeypatch.setattr(pruning_module, "solve_thresholds", off_by_one_percent)
    with pytest.raises(ConvergenceError, match="kept fraction"):
        pruned_risk(Spectrum.two_level(), 2.0, 0.5, keep=0.3, criterion="hessian")
    with pytest.raises(ConvergenceError):
        verify_kept(np.array([[1.0, 0.2]]), np.array([0.5, 0.5]), np.array([0.5]))


# -------------------------------------------------------------------- keep = 1
POINT_SPECTRA = {
    "ten-equal-atoms": Spectrum(np.arange(1, 11.0), np.ones(10)),
    "from-arrays-7": Spectrum.from_arrays(np.random.default_rng(3).lognormal(0, 1, 7),
                                          np.random.default_rng(4).normal(size=7) / 3),
    "from-arrays-3": Spectrum.from_arrays([0.3, 1.0, 7.0], [0.1, -0.2, 0.05]),
}


@pytest.mark.parametrize("name", list(POINT_SPECTRA))
@pytest.mark.parametrize("noise", [0.0, 0.5])
def test_keep_one_is_dense_for_point_mass_spectra(name, noise):
    """Was ConvergenceError ('no continuous atom can meet the kept fraction'): the cumulative weight
    of the point masses rounds below 1. Noise 0 with kappa > 1 makes every score a point mass."""
    spec = POINT_SPECTRA[name]
    for kappa, ridge in [(2.0, 0.0), (0.6, 0.0), (0.6, 0.3)]:
        dense = dense_risk(spec, kappa, noise, ridge=ridge)
        for c in CRITERIA:
            for retrain in ("none", "fresh"):
                got = pruned_risk(spec, kappa, noise, keep=np.array([1.0]), criterion=c, ridge=ridge,
                                  retrain=retrain)
                assert_allclose(got, dense, rtol=1e-12, atol=1e-300, err_msg=f"{c} {retrain} {kappa}")


# ------------------------------------------------------------- never negative, never NaN
def test_issue_example_is_not_negative():
    """Was -1.7e-4: gaussian signal, kappa = 1 - 1e-12, ridge = 1e-300, noise 0, fresh refit at keep 1:
    the dropped signal (b^2 - E[b^2 1{kept}]) cancelled to a negative number and 1/(1 - d2) ~ 1e12
    amplified it."""
    spec = Spectrum([1.0, 25.0, 0.1], [1.0, 0.3, 0.0], [0.4, 0.4, 0.2], "gaussian")
    for c in CRITERIA:
        r = pruned_risk(spec, 1 - 1e-12, 0.0, keep=np.linspace(0.05, 1, 20), criterion=c, ridge=1e-300,
                        retrain="fresh")
        assert np.all(r >= 0) and not np.isnan(r).any(), (c, r)


EXTREME_SPECTRA = [
    Spectrum.two_level(variances=(1, 25), signal=(1, 0.3)),
    Spectrum([1e-20, 1.0, 1e20], [1.0, 0.0, 1e-10], None, "gaussian"),
    Spectrum([1e-150, 1e150], [1e70, 1e-70], None, "fixed"),
    Spectrum(np.arange(1, 11.0), np.ones(10)),
    Spectrum([1.0, 25.0, 0.1], [1.0, 0.3, 0.0], [0.4, 0.4, 0.2], "gaussian"),
]


def test_extreme_valid_inputs_give_a_number_or_a_clear_value_error():
    """Was OverflowError tracebacks (kappa = 1e-300, noise = 1e155), brentq sign errors and
    non-converging tau near the threshold. Now: a risk >= noise^2 (never NaN, never negative), or
    a ValueError naming the parameter. 400 combinations drawn from a fixed grid with a fixed seed."""
    kappas = [1e-300, 1e-12, 0.5, 1 - 1e-12, 1.0, 1 + 1e-12, 2.0, 1e12, 1e300]
    ridges = [0.0, 1e-300, 1e-8, 1.0, 1e300]
    noises = [0.0, 1e-300, 0.5, 1e150]
    grid = list(itertools.product(range(len(EXTREME_SPECTRA)), kappas, ridges, noises, CRITERIA,
                                  ["none", "fresh"], [0.0, 3.0]))
    pick = np.random.default_rng(0).choice(len(grid), size=400, replace=False)
    keep = np.array([1e-9, 0.3, 0.999999, 1.0])
    for i in pick:
        si, kappa, ridge, noise, c, retrain, init = grid[i]
        try:
            r = pruned_risk(EXTREME_SPECTRA[si], kappa, noise, keep=keep, criterion=c, ridge=ridge,
                            retrain=retrain, init=init)
        except ValueError as exc:
            assert any(name in str(exc) for name in ("kappa", "noise", "ridge", "init")), str(exc)
            continue
        assert not np.isnan(r).any() and np.all(r >= noise**2 * (1 - 1e-12)), (grid[i], r)


def test_tiny_kappa_and_huge_ridge_are_correct_numbers():
    """kappa -> 0 or ridge -> inf: b_hat -> 0, risk -> noise^2 + sum pi lam b^2 (every criterion);
    kappa -> inf with ridge 0: b_hat -> beta, pruned risk = noise^2 + dropped importance."""
    spec = Spectrum.two_level(variances=(1, 25), signal=(1, 0.3))
    null = 0.25 + 0.5 * 1 + 0.5 * 25 * 0.09
    for c in CRITERIA:
        assert_allclose(pruned_risk(spec, 1e-300, 0.5, keep=0.5, criterion=c), null, rtol=1e-12)
        assert_allclose(pruned_risk(spec, 2.0, 0.5, keep=0.5, criterion=c, ridge=1e300), null, rtol=1e-12)
    # kappa = 1e300: keep 30% by hessian (scores 1 and 1.5): drop all of atom 1 and 40% of atom 2
    assert_allclose(pruned_risk(spec, 1e300, 0.5, keep=0.3, criterion="hessian"), 0.25 + 0.95, rtol=1e-12)


def test_overflowing_noise_is_a_value_error():
    with pytest.raises(ValueError, match=r"noise == 1e\+155"):
        pruned_risk(Spectrum.two_level(), 2.0, 1e155, keep=0.5)
    with pytest.raises(ValueError, match=r"noise == 1e\+155"):
        dense_risk(Spectrum.two_level(), 2.0, 1e155)


# ------------------------------------------------------------------ converged flags
def test_converged_flag_is_computed(monkeypatch):
    """Was hard-coded True. A wrong tau must be flagged."""
    spec = Spectrum.two_level()
    assert solve_fixed_point(spec, 0.5, 0.5).converged
    assert solve_fixed_point(spec, 0.5, 0.5, ridge=0.1).converged
    res = solve_pruned(spec, 0.5, 0.5, keep=np.array([0.2, 0.9]), criterion="hessian", retrain="fresh")
    assert res.converged and all(f.converged for f in res.refit)
    real = fixed_point_module._solve_tau
    monkeypatch.setattr(fixed_point_module, "_solve_tau",
                        lambda w, lam, kappa, ridge: (real(w, lam, kappa, ridge)[0] * 1.01, 1))
    assert not solve_fixed_point(spec, 0.5, 0.5).converged
    assert not solve_fixed_point(spec, 0.5, 0.5, ridge=0.1).converged
    assert not solve_pruned(spec, 0.5, 0.5, keep=0.5, criterion="hessian").converged
