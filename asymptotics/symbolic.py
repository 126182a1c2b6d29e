"""Symbolic layer: sympy derives the formulas the numerical layer evaluates.

Two families are derived here, once per process and on first use:

* **Truncated-Gaussian moments** (THEORY.md Section 3). For ``Y = a + c g``,
  ``g ~ N(0, 1)``, kept when ``abs(Y) >= u``, with ``U = (u - a)/c`` and
  ``L = (-u - a)/c``, sympy integrates ``(a + c g)^j phi(g)`` over
  ``g >= U`` and ``g <= L`` (the lower tail as the upper tail of ``-g``, so
  that both are written with ``erfc`` and keep full relative precision deep in
  the tails) and returns ``P(kept)``, ``E[Y 1{kept}]``, ``E[Y^2 1{kept}]``.
* **Isotropic closed forms** (THEORY.md Section 2). sympy solves the one-atom
  fixed point (``lam = 1``, fixed signal ``r``) for ``tau`` and substitutes it
  into ``rho^2``, giving the ridge risk in closed form; at ``mu = 0`` this is
  the Hastie-Montanari-Rosset-Tibshirani min-norm / OLS risk.

Both are lambdified (with common-subexpression elimination) and handed to the
numerical layer; the tests compare them with the numerical solvers.

Example
-------
>>> from asymptotics.symbolic import truncated_moments
>>> p, m1, m2 = truncated_moments(0.0, 1.0, 0.0, 0.0)   # keep everything: E[g^2] = 1
>>> float(p), float(m1), float(m2)
(1.0, 0.0, 1.0)
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

_a, _U, _Lm = sp.symbols("a U Lm", real=True)   # Lm = -L
_c = sp.Symbol("c", positive=True)
_g = sp.Symbol("g", real=True)
_PHI = sp.exp(-_g**2 / 2) / sp.sqrt(2 * sp.pi)


@lru_cache(maxsize=None)
def _gaussian_tail_moments(lower):
    """``[int_lower^oo g^i phi(g) dg for i = 0, 1, 2]``, written with erfc."""
    return [sp.simplify(sp.integrate(_g**i * _PHI, (_g, lower, sp.oo)).rewrite(sp.erfc)) for i in range(3)]


def _tail(j, sign, lower):
    """``int_lower^oo (a + sign c g)^j phi(g) dg`` by binomial expansion of the basis tails."""
    basis = _gaussian_tail_moments(lower)
    return sp.expand(sum(sp.binomial(j, i) * _a ** (j - i) * (sign * _c) ** i * basis[i] for i in range(j + 1)))


@lru_cache(maxsize=None)
def truncated_moment_exprs():
    """Sympy ``(P, M1, M2)`` of ``Y = a + c g`` kept when ``g >= U`` or ``g <= L`` (``Lm = -L``).

    The lower tail ``int_{-oo}^{L} f(g) phi dg`` is computed as
    ``int_{Lm}^{oo} f(-g) phi dg`` so that it is an ``erfc`` of ``Lm``, not
    ``1 - erfc`` (which would cancel catastrophically deep in the tail).
    """
    return tuple(_tail(j, 1, _U) + _tail(j, -1, _Lm) for j in range(3))


@lru_cache(maxsize=None)
def _truncated_moments_fn():
    return sp.lambdify((_a, _c, _U, _Lm), truncated_moment_exprs(), modules=["scipy", "numpy"], cse=True)


def truncated_moments(a, c, U, L):
    """``(P(kept), E[Y 1{kept}], E[Y^2 1{kept}])`` for ``Y = a + c g`` kept when ``g >= U`` or ``g <= L``.

    Broadcasts over numpy arrays; ``c`` must be positive.
    """
    return _truncated_moments_fn()(a, c, U, -L)


_kappa, _sigma, _r = sp.symbols("kappa sigma r", positive=True)
_mu, _tau = sp.symbols("mu tau", nonnegative=True)


@lru_cache(maxsize=None)
def isotropic_risk_expr():
    """Sympy ``(tau, rho2)`` of the isotropic model: ``lam = 1``, fixed signal ``r``, ridge ``mu > 0``.

    ``tau`` is the positive root of ``mu = tau (1 - 1/(kappa (1 + tau)))``;
    ``rho2 = (sigma^2 + B0)/(1 - d2)`` with ``B0 = tau^2 r^2/(1+tau)^2`` and
    ``d2 = 1/(kappa (1+tau)^2)``.
    """
    df = 1 / (_kappa * (1 + _tau))
    roots = sp.solve(sp.Eq(_mu, _tau * (1 - df)), _tau)
    # the admissible root is the one that is positive; check at a sample point
    sample = {_mu: sp.Rational(1, 3), _kappa: sp.Rational(1, 2)}
    tau = next(rt for rt in roots if rt.subs(sample).evalf() > 0)
    d2 = 1 / (_kappa * (1 + _tau) ** 2)
    bias = _tau**2 * _r**2 / (1 + _tau) ** 2
    rho2 = sp.simplify(((_sigma**2 + bias) / (1 - d2)).subs(_tau, tau))
    return sp.simplify(tau), rho2


@lru_cache(maxsize=None)
def isotropic_minnorm_expr():
    """Sympy ``rho2`` at ``mu = 0`` on each side of ``kappa = 1``: ``(underparameterized, overparameterized)``.

    ``kappa > 1``: ``tau = 0``; ``kappa < 1``: ``tau`` solves ``df(tau) = 1``.
    """
    d2 = 1 / (_kappa * (1 + _tau) ** 2)
    rho2 = (_sigma**2 + _tau**2 * _r**2 / (1 + _tau) ** 2) / (1 - d2)
    tau_over = sp.solve(sp.Eq(1 / (_kappa * (1 + _tau)), 1), _tau)[0]
    return sp.simplify(rho2.subs(_tau, 0)), sp.simplify(rho2.subs(_tau, tau_over))


@lru_cache(maxsize=None)
def _isotropic_fns():
    args = (_kappa, _sigma, _r, _mu)
    _, ridge = isotropic_risk_expr()
    under, over = isotropic_minnorm_expr()
    mk = lambda e: sp.lambdify(args, e, modules=["numpy"])
    return mk(ridge), mk(under), mk(over)


def isotropic_risk(kappa, noise, signal, ridge=0.0):
    """Closed-form dense test risk of the isotropic model (``lam = 1``, fixed signal ``signal``).

    ``inf`` at ``kappa = 1, ridge = 0``.
    """
    ridge_fn, under_fn, over_fn = _isotropic_fns()
    if ridge > 0:
        return float(ridge_fn(kappa, noise, abs(signal), ridge))
    if kappa == 1:
        return float("inf")
    fn = under_fn if kappa > 1 else over_fn
    return float(fn(kappa, noise, abs(signal), ridge))
