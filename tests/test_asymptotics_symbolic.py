"""The sympy-derived truncated-Gaussian moments against quadrature and docs/theory.md's formulas, and the
committed generated module against a fresh sympy derivation."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.integrate import quad
from scipy.stats import norm

import subprocess
import sys
from pathlib import Path

import asymptotics._generated_moments as generated
from asymptotics.moments import truncated_moments
from asymptotics.symbolic import generate_source


def quad_moments(a, c, u):
    """E[Y^j 1{|Y| >= u}] for Y = a + c g by adaptive quadrature over each tail."""
    U, L = (u - a) / c, (-u - a) / c
    out = []
    for j in range(3):
        f = lambda g: (a + c * g) ** j * norm.pdf(g)
        out.append(quad(f, U, np.inf, epsabs=0, epsrel=1e-13)[0] + quad(f, -np.inf, L, epsabs=0, epsrel=1e-13)[0])
    return out


def theory_formulas(a, c, u):
    """docs/theory.md Section 3 as printed."""
    U, L = (u - a) / c, (-u - a) / c
    phi, Phi, Q = norm.pdf, norm.cdf, norm.sf
    P = Q(U) + Phi(L)
    m1 = a * P + c * (phi(U) - phi(L))
    m2 = a**2 * P + 2 * a * c * (phi(U) - phi(L)) + c**2 * (U * phi(U) + Q(U) - L * phi(L) + Phi(L))
    return P, m1, m2


@pytest.mark.parametrize("a,c,u", [(0.0, 1.0, 0.5), (1.2, 0.3, 1.0), (-0.7, 2.0, 3.0), (2.0, 0.5, 0.0),
                                   (0.3, 1.0, 6.0), (5.0, 0.1, 4.0)])
def test_moments_match_quadrature_and_theory(a, c, u):
    U, L = (u - a) / c, (-u - a) / c
    got = truncated_moments(a, c, U, L)
    assert_allclose(got, quad_moments(a, c, u), rtol=1e-9, atol=1e-300)
    assert_allclose(got, theory_formulas(a, c, u), rtol=1e-12, atol=1e-300)


def test_deep_tails_keep_relative_precision():
    """Kept mass ~1e-100: 1 - erfc would give 0 or noise; the erfc form keeps ~full precision."""
    a, c, u = 0.0, 1.0, 21.3
    p, m1, m2 = truncated_moments(a, c, (u - a) / c, (-u - a) / c)
    assert_allclose(p, 2 * norm.sf(u), rtol=1e-12)
    assert_allclose(m2, 2 * (u * norm.pdf(u) + norm.sf(u)), rtol=1e-12)
    assert m1 == 0.0 or abs(m1) < 1e-12 * p


def test_vectorized_broadcasting():
    a = np.array([0.0, 1.0, 2.0])
    u = np.array([[0.5], [1.5]])
    U, L = (u - a) / 0.7, (-u - a) / 0.7
    p, m1, m2 = truncated_moments(a, 0.7, U, L)
    assert p.shape == (2, 3) and m2.shape == (2, 3)
    for i in range(2):
        for k in range(3):
            assert_allclose([p[i, k], m1[i, k], m2[i, k]], theory_formulas(a[k], 0.7, u[i, 0]), rtol=1e-12)


def test_generated_module_is_what_sympy_derives():
    """issue 10 section 3: the derivation runs once, into a committed module; it must not drift."""
    committed = Path(generated.__file__).read_text()
    assert generate_source() == committed, "run `python asymptotics/symbolic.py` and commit the result"


def test_runtime_does_not_import_sympy():
    code = ("import sys, numpy as np\n"
            "from asymptotics import Spectrum, pruned_risk, dense_risk\n"
            "s = Spectrum.two_level()\n"
            "pruned_risk(s, 0.5, 0.5, keep=np.array([0.3, 0.7]), criterion='hessian', retrain='fresh', init=1.0)\n"
            "dense_risk(s, 2.0, 0.5)\n"
            "from asymptotics.moments import isotropic_risk; isotropic_risk(2.0, 0.5, 1.0, 0.1)\n"
            "assert 'sympy' not in sys.modules, 'sympy was imported'\n")
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_scalar_and_array_code_agree():
    """The math-module scalar code (compiled by Numba into the kernels) equals the numpy code."""
    rng = np.random.default_rng(1)
    for a, c, U, Lm in rng.normal(size=(20, 4)) * [1, 1, 3, 3]:
        c = abs(c) + 0.1
        assert_allclose(generated.truncated_moments(a, c, U, Lm), generated.truncated_moments_array(a, c, U, Lm),
                        rtol=1e-15, atol=0)
