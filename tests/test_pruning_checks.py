"""The shared validation layer: messages name the culprit, keep means one thing, imports stay one-way."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import pruning_checks as pc
from pruning_checks import (as_generator, check_array, check_choice, check_fraction, check_int, check_keep,
                            check_scalar, check_symmetric, check_vector, keep_count)

# ------------------------------------------------------------ scalars and integers


@pytest.mark.parametrize("value", [2, 2.0, np.float32(2.0), np.int64(2), np.uint8(2)])
def test_check_scalar_accepts_real_numbers_and_returns_float(value):
    out = check_scalar(value, "kappa", low=0, include_low=False)
    assert type(out) is float and out == 2.0


@pytest.mark.parametrize("value,kwargs,exc,match", [
    (-1.0, dict(low=0, include_low=False), ValueError, r"^kappa == -1.0, must be > 0.$"),
    (0.0, dict(low=0, include_low=False), ValueError, r"^kappa == 0.0, must be > 0.$"),
    (-1.0, dict(low=0), ValueError, r"^kappa == -1.0, must be >= 0.$"),
    (1.0, dict(high=1, include_high=False), ValueError, r"^kappa == 1.0, must be < 1.$"),
    (2.0, dict(high=1), ValueError, r"^kappa == 2.0, must be <= 1.$"),
    (np.nan, {}, ValueError, r"^kappa == nan, must be finite.$"),
    (np.inf, dict(low=0), ValueError, r"^kappa == inf, must be finite.$"),
    (True, {}, TypeError, r"kappa must be a real number, got bool"),
    (np.True_, {}, TypeError, r"kappa must be a real number, got bool"),
    (1 + 0j, {}, TypeError, r"kappa must be a real number, got complex"),
    ("2", {}, TypeError, r"kappa must be a real number, got str"),
    (None, {}, TypeError, r"kappa must be a real number, got NoneType"),
])
def test_check_scalar_rejects(value, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        check_scalar(value, "kappa", **kwargs)


def test_real_is_check_scalar_with_low_open():
    assert pc.real(0.5, "lr", low=0, low_open=True) == 0.5
    with pytest.raises(ValueError, match=r"^lr == 0.0, must be > 0.$"):
        pc.real(0.0, "lr", low=0, low_open=True)
    assert pc.real(0.0, "mu", low=0) == 0.0


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint16(3)])
def test_check_int_accepts_python_and_numpy_integers(value):
    out = check_int(value, "p", low=1)
    assert type(out) is int and out == 3


@pytest.mark.parametrize("value,kwargs,exc,match", [
    (0, dict(low=1), ValueError, r"^p == 0, must be an integer >= 1.$"),
    (-1, {}, ValueError, r"^p == -1, must be an integer >= 0.$"),
    (11, dict(high=10), ValueError, r"^p == 11, must be an integer <= 10.$"),
    (2.0, dict(low=1), TypeError, r"^p == 2.0, must be an integer >= 1, got float.$"),
    (True, dict(low=1), TypeError, r"^p == True, must be an integer >= 1, got bool.$"),
    (np.True_, dict(low=1), TypeError, r"must be an integer >= 1, got bool"),
    ("3", dict(low=1), TypeError, r"^p == '3', must be an integer >= 1, got str.$"),
    (None, dict(low=1), TypeError, r"^p == None, must be an integer >= 1, got NoneType.$"),
])
def test_check_int_rejects(value, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        check_int(value, "p", **kwargs)


def test_count_is_check_int():
    assert pc.count(0, "steps") == 0
    with pytest.raises(ValueError, match=r"^steps == -1, must be an integer >= 0.$"):
        pc.count(-1, "steps")


def test_check_choice():
    assert check_choice("fresh", "retrain", (None, "fresh")) == "fresh"
    assert check_choice(None, "retrain", (None, "fresh")) is None
    with pytest.raises(ValueError, match=r"^retrain == 'same', must be one of None, 'fresh'.$"):
        check_choice("same", "retrain", (None, "fresh"))
    with pytest.raises(ValueError, match=r"criterion == \['l1'\], must be one of"):   # unhashable: no TypeError
        check_choice(["l1"], "criterion", frozenset({"magnitude"}))
    assert pc.choice is check_choice


def test_as_generator():
    g = np.random.default_rng(1)
    assert as_generator(g) is g
    assert as_generator(5).random() == np.random.default_rng(5).random()
    assert as_generator(np.int64(5)).random() == np.random.default_rng(5).random()
    ss = np.random.SeedSequence(9)
    assert as_generator(ss).random() == np.random.default_rng(np.random.SeedSequence(9)).random()
    with pytest.raises(ValueError, match="rng is None; pass a seed"):
        as_generator(None)
    with pytest.raises(TypeError, match="seed must be a numpy.random.Generator or an integer seed, got float"):
        as_generator(1.5, "seed")
    with pytest.raises(TypeError, match="got bool"):
        as_generator(True)


# ------------------------------------------------------------ arrays


def test_check_array_copies_and_converts():
    src = np.arange(6).reshape(2, 3)
    out = check_array(src, "X", 2, shape=(2, None))
    assert out.dtype == float and not np.shares_memory(out, src)
    out[0, 0] = 99.0
    assert src[0, 0] == 0
    assert_array_equal(check_array([[1, 2], [3, 4]], "X", 2), [[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize("value,kwargs,exc,match", [
    ([[1.0, np.nan]], dict(ndim=2), ValueError, r"^X\[0, 1\] == nan, must be finite.$"),
    ([1.0, np.inf], dict(ndim=1), ValueError, r"^X\[1\] == inf, must be finite.$"),
    ([1.0, 2.0], dict(ndim=2), ValueError, r"^X must be 2-D, got shape \(2,\).$"),
    (np.ones((2, 3)), dict(ndim=2, shape=(2, 4)), ValueError, r"X has shape \(2, 3\); axis 1 must have length 4"),
    ([1.0, -2.0], dict(positive=True), ValueError, r"^X\[1\] == -2.0, must be > 0.$"),
    ([1.0, 0.0], dict(positive=True), ValueError, r"^X\[1\] == 0.0, must be > 0.$"),
    ([0.0, -1e-300], dict(nonnegative=True), ValueError, r"^X\[1\] == -1e-300, must be >= 0.$"),
    (["a", "b"], {}, TypeError, "X must be a sequence of real numbers"),
    ([True, False], {}, TypeError, "X must be a sequence of real numbers"),
    ([1 + 1j], {}, TypeError, "X must be a sequence of real numbers"),
    ([[1.0, 2.0], [3.0]], {}, TypeError, "X must be a sequence of real numbers"),
    ([], dict(ndim=1, nonempty=True), ValueError, r"X must be a non-empty 1-D sequence, got shape \(0,\)"),
])
def test_check_array_rejects(value, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        check_array(value, "X", **kwargs)


def test_check_vector_promotes_scalars_and_needs_entries():
    assert_array_equal(check_vector(2.0, "variances"), [2.0])
    with pytest.raises(ValueError, match=r"variances must be a non-empty 1-D sequence, got shape \(0,\)"):
        check_vector([], "variances")
    with pytest.raises(ValueError, match=r"variances must be a non-empty 1-D sequence, got shape \(1, 2\)"):
        check_vector([[1.0, 2.0]], "variances")
    with pytest.raises(ValueError, match=r"variances\[0\] == 0.0, must be > 0"):
        check_vector([0.0, 1.0], "variances", positive=True)


def test_array_alias_requires_ndim():
    assert_array_equal(pc.array([1, 2], "b", 1, shape=(2,)), [1.0, 2.0])
    with pytest.raises(ValueError, match=r"b has shape \(2,\); axis 0 must have length 3"):
        pc.array([1, 2], "b", 1, shape=(3,))


def test_check_symmetric():
    H = np.array([[2.0, 1.0], [1.0 + 1e-14, 3.0]])
    out = check_symmetric(H, "hessian", 2)
    assert_array_equal(out, out.T)                            # rounding asymmetry averaged away
    msg = r"hessian is not symmetric: hessian\[0, 1\] == 1.0 but hessian\[1, 0\] == 0.0"
    with pytest.raises(ValueError, match=msg):
        check_symmetric(np.triu(np.ones((2, 2))), "hessian", 2)
    with pytest.raises(ValueError, match=r"hessian has shape \(3, 3\); axis 0 must have length 2"):
        check_symmetric(np.eye(3), "hessian", 2)
    assert_array_equal(check_symmetric(np.zeros((2, 2)), "hessian", 2), np.zeros((2, 2)))
    assert pc.symmetric is check_symmetric


# ------------------------------------------------------------ keep: a float is a fraction, an int a count


@pytest.mark.parametrize("keep,want", [(0.5, 0.5), (1.0, 1.0), (np.float64(0.25), 0.25), (np.float32(0.5), 0.5)])
def test_check_fraction_scalar_returns_float(keep, want):
    out = check_fraction(keep)
    assert type(out) is float and out == want


def test_check_fraction_arrays_keep_their_shape():
    out = check_fraction([[0.1, 0.2], [0.5, 1.0]])
    assert out.shape == (2, 2) and out.dtype == float
    # an integer entry is a count wherever counts exist, so it is refused, not read as 1.0
    with pytest.raises(TypeError, match=r"^keep\[1\] == 1 is an integer \(a count\)"):
        check_fraction([0.5, 1])
    with pytest.raises(TypeError, match=r"^keep\[1\]\[0\] == 1 is an integer"):
        check_fraction([[0.5], [1]])


@pytest.mark.parametrize("keep,match", [
    (1, r"^keep == 1 is an integer \(a count\); asymptotics takes kept fractions: pass 1.0.$"),
    (np.int64(1), r"^keep == 1 is an integer \(a count\); asymptotics takes kept fractions: pass 1.0.$"),
    (np.uint8(3), r"^keep == 3 is an integer \(a count\); asymptotics takes kept fractions: pass a float in "
                  r"\(0, 1\], e.g. 0.5 to keep half.$"),
    (np.array(1), r"^keep == 1 is an integer \(a count\)"),
    ([1, 1], r"keep == \[1, 1\] holds integers \(counts\); asymptotics takes kept fractions"),
    (np.array([1, 2]), r"keep == \[1, 2\] holds integers \(counts\)"),
    (True, r"^keep == True is a bool; pass a kept fraction in \(0, 1\] \(a float\).$"),
    (np.True_, r"^keep == np.True_ is a bool"),
    ([0.5, True], r"keep == \[0.5, True\] is a bool"),
    (np.array([True, False]), r"is a bool"),
    (1 + 0j, r"^keep == \(1\+0j\) is complex"),
    (np.complex128(0.5), r"is complex"),
    (np.array([0.5 + 0j]), r"is complex"),
    ("half", r"keep must be a number or an array of numbers in \(0, 1\], got 'half'"),
    (None, r"keep must be a number or an array of numbers"),
])
def test_check_fraction_refuses_counts_bools_complex_and_text(keep, match):
    with pytest.raises(TypeError, match=match):
        check_fraction(keep)


def test_check_fraction_names_the_caller_and_the_parameter():
    msg = r"^grid == 1 is an integer \(a count\); monte_carlo takes kept fractions: pass 1.0.$"
    with pytest.raises(TypeError, match=msg):
        check_fraction(1, "grid", where="monte_carlo")


@pytest.mark.parametrize("keep,match", [
    (0.0, r"^keep == 0.0, must be in \(0, 1\].$"),
    (1.5, r"^keep == 1.5, must be in \(0, 1\].$"),
    (-0.1, r"^keep == -0.1, must be in \(0, 1\].$"),
    (np.nan, r"^keep == nan, must be in \(0, 1\].$"),
    ([0.5, np.nan], r"^keep\[1\] == nan, must be in \(0, 1\].$"),
    ([[0.5, 0.2], [2.0, 0.1]], r"^keep\[1, 0\] == 2.0, must be in \(0, 1\].$"),
    ([], r"^keep is empty"),
])
def test_check_fraction_range(keep, match):
    with pytest.raises(ValueError, match=match):
        check_fraction(keep)


def test_check_keep_is_the_tuple_form_of_check_fraction():
    arr, scalar = check_keep(0.3)
    assert scalar and arr.shape == () and float(arr) == 0.3
    arr, scalar = check_keep([0.3, 1.0])
    assert not scalar and arr.tolist() == [0.3, 1.0]
    with pytest.raises(TypeError, match=r"keep == 1 is an integer \(a count\)"):
        check_keep(1)
    with pytest.raises(TypeError, match=r"^keep == 1 is an integer \(a count\); monte_carlo takes kept fractions"):
        check_keep(1, where="monte_carlo")


@pytest.mark.parametrize("keep,p,want", [
    (1.0, 10, 10), (0.5, 10, 5), (0.25, 10, 2), (0.35, 10, 4), (1e-9, 10, 1),   # fractions round, at least 1
    (1, 10, 1), (10, 10, 10), (np.int64(3), 10, 3), (np.uint8(3), 10, 3),     # integers are counts
    (np.array(3), 10, 3), (np.array(0.5), 10, 5), (np.float32(0.5), 4, 2),
])
def test_keep_count(keep, p, want):
    out = keep_count(keep, p)
    assert type(out) is int and out == want


@pytest.mark.parametrize("keep,exc,match", [
    (0, ValueError, r"^keep == 0, an integer count must be in \[1, 10\].$"),
    (11, ValueError, r"^keep == 11, an integer count must be in \[1, 10\].$"),
    (0.0, ValueError, r"^keep == 0.0, must be in \(0, 1\] \(or an integer count\).$"),
    (1.5, ValueError, r"^keep == 1.5, must be in \(0, 1\] \(or an integer count\).$"),
    (np.nan, ValueError, r"keep == nan, must be in \(0, 1\]"),
    (True, TypeError, r"^keep == True is a bool; pass a kept fraction in \(0, 1\] \(a float\) or a number of kept"),
    (np.True_, TypeError, r"is a bool"),
    (1j, TypeError, r"^keep == 1j is complex"),
    ("all", TypeError, r"keep must be a fraction in \(0, 1\] or an integer count, got str"),
    ([0.5], TypeError, r"keep must be a fraction in \(0, 1\] or an integer count, got list"),
])
def test_keep_count_rejects(keep, exc, match):
    with pytest.raises(exc, match=match):
        keep_count(keep, 10)


def test_integer_keep_means_the_same_in_every_package():
    """An int is a count where counts exist (linear_models) and is refused, with the reason, where they do not."""
    from asymptotics import Spectrum, pruned_risk
    from linear_models import prune

    w = np.arange(1.0, 11.0)
    assert prune(w, 1, "magnitude").mask.sum() == 1          # one weight
    assert prune(w, 1.0, "magnitude").mask.sum() == 10       # the fraction 1.0: all of them
    with pytest.raises(TypeError, match=r"keep == True is a bool"):
        prune(w, True, "magnitude")
    spec = Spectrum.isotropic()
    with pytest.raises(TypeError, match=r"keep == 1 is an integer \(a count\); asymptotics takes kept fractions"):
        pruned_risk(spec, 2.0, 0.5, keep=1)
    with pytest.raises(TypeError, match=r"keep == True is a bool"):
        pruned_risk(spec, 2.0, 0.5, keep=True)
    with pytest.raises(TypeError, match=r"is complex"):
        pruned_risk(spec, 2.0, 0.5, keep=0.5 + 0j)


# ------------------------------------------------------------ one implementation, one-way imports


def test_packages_use_the_shared_checks():
    import asymptotics.checks
    import asymptotics.spectrum
    import linear_models.pruning

    assert asymptotics.checks.check_keep is pc.check_keep
    assert asymptotics.spectrum.check_vector is pc.check_vector
    assert linear_models.pruning.keep_count is pc.keep_count
    for package in (asymptotics, linear_models):              # the two former copies are gone
        assert not (Path(package.__file__).parent / "_validation.py").exists()


@pytest.mark.parametrize("package,forbidden", [
    ("pruning_checks", ("asymptotics", "linear_models", "simulations", "scipy", "numba")),
    ("asymptotics", ("linear_models", "simulations")),
    ("linear_models", ("asymptotics", "simulations")),
])
def test_imports_stay_one_way(package, forbidden):
    code = (f"import sys, {package}; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(forbidden)!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"{package} imports {out.strip()}"


def test_a_lone_integer_keep_entry_is_refused_where_only_fractions_mean_something():
    """``keep=[0.5, 1]``: the ``1`` is one weight in network_experiment and prune, so the theory and the Monte
    Carlo engine refuse it (they used to read it as 100%) instead of giving it another meaning."""
    from asymptotics import Spectrum, pruned_risk
    from simulations import monte_carlo

    with pytest.raises(TypeError, match=r"keep\[1\] == 1 is an integer \(a count\)"):
        pruned_risk(Spectrum.isotropic(), 2.0, 0.5, keep=[0.5, 1])
    with pytest.raises(TypeError, match=r"keep\[1\] == 1 is an integer \(a count\)"):
        monte_carlo(Spectrum.isotropic(), 20, 2.0, 0.5, keep=[0.5, 1], trials=2)
