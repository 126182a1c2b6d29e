"""Atom spectra of the proportional limit (docs/theory.md Section 2).

Coordinates come in atoms ``k = 1..K``: a fraction ``weights[k]`` of the ``p``
coordinates has feature variance ``variances[k]`` and true weight
``beta*_i = s_i signal[k] / sqrt(p)``, where ``s_i = +-1`` (``"fixed"``
signal) or ``s_i ~ N(0, 1)`` (``"gaussian"`` signal). A finite problem is the
special case of ``p`` atoms of weight ``1/p`` (:meth:`Spectrum.from_arrays`).

Importance of a coordinate is ``variances * beta*^2`` (the OBD saliency); it
is invariant under covariance scaling ``x -> d x``, which maps
``variances -> d^2 variances`` and ``signal -> signal / d`` (:meth:`Spectrum.scaled`).

Example
-------
>>> from asymptotics import Spectrum
>>> spec = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.2))
>>> spec.n_atoms, round(float(spec.importance[1]), 12)
(2, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pruning_checks import check_choice, check_scalar, check_vector

SIGNAL_DISTS = ("fixed", "gaussian")
WEIGHT_SUM_ATOL = 1e-8  # weights must sum to 1 within this (rounding of 1/p sums)


@dataclass(frozen=True, eq=False)
class Spectrum:
    """Atoms of feature variances and signal strengths.

    Parameters
    ----------
    variances : array_like of float, shape (K,)
        Feature variance ``lam_k > 0`` of each atom.
    signal : array_like of float, shape (K,)
        Signal scale ``b_k`` (``sqrt(p) beta*_i = s_i b_k``). Zero means a null atom.
    weights : array_like of float, shape (K,), optional
        Proportion ``pi_k >= 0`` of coordinates in each atom, summing to 1.
        Defaults to equal weights.
    signal_dist : {"fixed", "gaussian"}
        ``s_i = +-1`` or ``s_i ~ N(0, 1)``.
    """

    variances: np.ndarray
    signal: np.ndarray
    weights: np.ndarray | None = None
    signal_dist: str = "fixed"

    def __post_init__(self):
        lam = check_vector(self.variances, "variances", positive=True)
        b = check_vector(self.signal, "signal")
        if b.size != lam.size:
            raise ValueError(f"signal has {b.size} entries but variances has {lam.size}; they must match.")
        if self.weights is None:
            w = np.full(lam.size, 1.0 / lam.size)
        else:
            w = check_vector(self.weights, "weights", nonnegative=True)
            if w.size != lam.size:
                raise ValueError(f"weights has {w.size} entries but variances has {lam.size}; they must match.")
            total = float(w.sum())
            if abs(total - 1.0) > WEIGHT_SUM_ATOL:
                raise ValueError(f"weights sum to {total!r}, must sum to 1.")
        check_choice(self.signal_dist, "signal_dist", SIGNAL_DISTS)
        for name, arr in (("variances", lam), ("signal", b), ("weights", w)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    # ------------------------------------------------------------------ views
    @property
    def n_atoms(self) -> int:
        """Number of atoms ``K``."""
        return int(self.variances.size)

    @property
    def signal_second_moment(self) -> np.ndarray:
        """``E[(sqrt(p) beta*_i)^2]`` per atom: ``b_k^2`` for both signal laws."""
        return self.signal**2

    @property
    def importance(self) -> np.ndarray:
        """Mean importance ``lam_k E[b^2]`` per atom (times ``1/p``)."""
        return self.variances * self.signal_second_moment

    def scaled(self, factors) -> "Spectrum":
        """Covariance scaling ``x -> D x`` with ``D = diag(factors)`` per atom.

        Variances are multiplied by ``factors**2`` and signals divided by
        ``factors``; the importance of every atom is unchanged.
        """
        d = check_vector(factors, "factors", positive=True)
        if d.size not in (1, self.n_atoms):
            raise ValueError(f"factors has {d.size} entries, must have 1 or {self.n_atoms}.")
        return Spectrum(self.variances * d**2, self.signal / d, self.weights, self.signal_dist)

    def __repr__(self):
        return (f"Spectrum(variances={self.variances.tolist()}, signal={self.signal.tolist()}, "
                f"weights={self.weights.tolist()}, signal_dist={self.signal_dist!r})"
                if self.n_atoms <= 8 else
                f"Spectrum(<{self.n_atoms} atoms>, signal_dist={self.signal_dist!r})")

    # ---------------------------------------------------------- constructors
    @classmethod
    def isotropic(cls, signal=1.0, variance=1.0, signal_dist="fixed") -> "Spectrum":
        """One atom: every feature has variance ``variance`` and signal ``signal``."""
        return cls([check_scalar(variance, "variance", low=0, include_low=False)],
                   [check_scalar(signal, "signal")], [1.0], signal_dist)

    @classmethod
    def two_level(cls, variances=(1.0, 25.0), signal=(1.0, 0.2), fraction=0.5,
                  signal_dist="fixed") -> "Spectrum":
        """Two atoms; ``fraction`` of the coordinates belong to the second.

        The default scales half of the features by 5 (variance 25) and gives
        them signal ``0.2 = 1/5``: both groups have the same importance, but the
        scaled group has five times smaller weights (docs/theory.md Section 1).
        """
        f = check_scalar(fraction, "fraction", low=0, high=1, include_low=False, include_high=False)
        return cls(variances, signal, [1.0 - f, f], signal_dist)

    @classmethod
    def power_law(cls, n_atoms=64, exponent=1.0, signal_exponent=0.0, signal_dist="fixed") -> "Spectrum":
        """``K`` equal-weight atoms with ``lam_k ~ k^-exponent`` and ``b_k ~ k^-signal_exponent``.

        Both are normalised so that ``mean(lam) = 1`` and ``mean(lam b^2) = 1``.
        """
        if isinstance(n_atoms, bool) or not isinstance(n_atoms, (int, np.integer)) or n_atoms < 1:
            raise ValueError(f"n_atoms == {n_atoms!r}, must be an integer >= 1.")
        e = check_scalar(exponent, "exponent", low=0)
        se = check_scalar(signal_exponent, "signal_exponent")
        k = np.arange(1, n_atoms + 1, dtype=float)
        lam = k**-e
        lam /= lam.mean()
        b = k**-se
        b /= np.sqrt(np.mean(lam * b**2))
        return cls(lam, b, None, signal_dist)

    @classmethod
    def from_arrays(cls, variances, beta) -> "Spectrum":
        """The deterministic equivalent of a finite problem.

        Parameters
        ----------
        variances : array_like, shape (p,)
            Feature variances ``lam_i``.
        beta : array_like, shape (p,)
            True weights ``beta*_i``; each coordinate becomes an atom of weight
            ``1/p`` with ``b_i = sqrt(p) beta*_i`` and fixed signal.
        """
        lam = check_vector(variances, "variances", positive=True)
        beta = check_vector(beta, "beta")
        if beta.size != lam.size:
            raise ValueError(f"beta has {beta.size} entries but variances has {lam.size}; they must match.")
        p = lam.size
        return cls(lam, np.sqrt(p) * beta, np.full(p, 1.0 / p), "fixed")
