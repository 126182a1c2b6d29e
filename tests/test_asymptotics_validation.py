"""Bad input gets a clear error naming the parameter and the value."""

import numpy as np
import pytest

from asymptotics import Spectrum, dense_risk, pruned_risk

GOOD = dict(variances=[1.0, 4.0], signal=[1.0, 0.5], weights=[0.5, 0.5])


@pytest.mark.parametrize("kwargs,match", [
    (dict(GOOD, variances=[1.0, -4.0]), r"variances\[1\] == -4.0, must be > 0"),
    (dict(GOOD, variances=[0.0, 4.0]), r"variances\[0\] == 0.0, must be > 0"),
    (dict(GOOD, variances=[1.0, np.nan]), r"variances\[1\] == nan, must be finite"),
    (dict(GOOD, signal=[np.inf, 0.5]), r"signal\[0\] == inf, must be finite"),
    (dict(GOOD, weights=[0.5, np.nan]), r"weights\[1\] == nan, must be finite"),
    (dict(GOOD, weights=[0.5, 0.6]), r"weights sum to 1.1, must sum to 1"),
    (dict(GOOD, weights=[1.5, -0.5]), r"weights\[1\] == -0.5, must be >= 0"),
    (dict(GOOD, signal=[1.0]), r"signal has 1 entries but variances has 2"),
    (dict(GOOD, weights=[1.0]), r"weights has 1 entries but variances has 2"),
    (dict(GOOD, signal_dist="laplace"), r"signal_dist == 'laplace', must be one of 'fixed', 'gaussian'"),
    (dict(GOOD, variances=[]), r"variances must be a non-empty 1-D sequence"),
])
def test_spectrum_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Spectrum(**kwargs)


def test_spectrum_rejects_non_numbers():
    with pytest.raises(TypeError, match="variances must be a sequence of real numbers"):
        Spectrum(variances=["a", "b"], signal=[1, 1])


SPEC = Spectrum(**GOOD)


@pytest.mark.parametrize("kwargs,match", [
    (dict(kappa=0.0), r"kappa == 0.0, must be > 0"),
    (dict(kappa=-1.0), r"kappa == -1.0, must be > 0"),
    (dict(kappa=np.nan), r"kappa == nan, must be finite"),
    (dict(noise=-0.1), r"noise == -0.1, must be >= 0"),
    (dict(noise=np.inf), r"noise == inf, must be finite"),
    (dict(ridge=-1e-3), r"ridge == -0.001, must be >= 0"),
    (dict(keep=0.0), r"keep == 0.0, must be in \(0, 1\]"),
    (dict(keep=1.5), r"keep == 1.5, must be in \(0, 1\]"),
    (dict(keep=[0.5, np.nan]), r"keep\[1\] == nan, must be in \(0, 1\]"),
    (dict(keep=[]), r"keep is empty"),
    (dict(criterion="largest"), r"criterion == 'largest', must be one of 'magnitude', 'hessian', 'oracle', 'random'"),
    (dict(retrain="same"), r"retrain == 'same', must be one of 'none', 'fresh' \(None is an alias of 'none'\)"),
    (dict(init=-1.0), r"init == -1.0, must be >= 0"),
    (dict(noise=1e155), r"noise == 1e\+155, must be <= 1e\+150"),
    (dict(init=1e200), r"init == 1e\+200, must be <= 1e\+150"),
])
def test_pruned_risk_rejects(kwargs, match):
    args = dict(kappa=2.0, noise=0.5, keep=0.5, criterion="magnitude", ridge=0.0, retrain="none")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        pruned_risk(SPEC, **args)


def test_type_errors_name_the_parameter():
    with pytest.raises(TypeError, match="kappa must be a real number"):
        dense_risk(SPEC, "2", 0.5)
    with pytest.raises(TypeError, match="spectrum must be an asymptotics.Spectrum"):
        dense_risk([1.0], 2.0, 0.5)
    with pytest.raises(TypeError, match="keep must be a number"):
        pruned_risk(SPEC, 2.0, 0.5, keep="half")


@pytest.mark.parametrize("keep,match", [
    (1, r"keep == 1 is an integer \(a count\); asymptotics takes kept fractions: pass 1.0"),
    (np.int64(1), r"keep == 1 is an integer \(a count\)"),
    ([1, 1], r"keep == \[1, 1\] holds integers \(counts\)"),
    (np.array([1, 2]), r"holds integers \(counts\)"),
    (True, r"keep == True is a bool"),
    (np.array([True]), r"is a bool"),
    (0.5 + 0j, r"keep == \(0.5\+0j\) is complex"),
    (np.array([0.5 + 0j]), r"is complex"),
])
def test_keep_must_be_a_float_fraction(keep, match):
    """issue 10: keep=True and complex keep were accepted silently, and keep=1 meant 'all' here but
    'one weight' in linear_models.prune; a count has no meaning in the limit, so it is refused."""
    with pytest.raises(TypeError, match=match):
        pruned_risk(SPEC, 2.0, 0.5, keep=keep)


def test_retrain_none_alias_and_keyword_only_signature():
    a = pruned_risk(SPEC, 2.0, 0.5, keep=0.5, retrain=None)
    assert a == pruned_risk(SPEC, 2.0, 0.5, keep=0.5, retrain="none")
    with pytest.raises(TypeError):
        pruned_risk(SPEC, 2.0, 0.5, 0.5)          # keep and everything after it are keyword-only
    with pytest.raises(TypeError):
        dense_risk(SPEC, 2.0, 0.5, 0.1)           # ridge is keyword-only


def test_spectrum_is_immutable():
    v = np.array([1.0, 4.0])
    spec = Spectrum(v, [1.0, 0.5])
    v[0] = 99.0
    assert spec.variances[0] == 1.0
    with pytest.raises(ValueError):
        spec.variances[0] = 2.0
