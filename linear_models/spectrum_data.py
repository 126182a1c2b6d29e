"""Finite problems from a spectrum of the proportional limit: :func:`from_spectrum` instantiates an atom
spectrum (docs/theory.md Section 2) as a diagonal :class:`~linear_models.LinearProblem`, and a block spectrum
(Section 10) through :func:`linear_models.block_data.from_block_spectrum`."""

from __future__ import annotations

import numpy as np

from pruning_checks import as_generator, check_int

from .block_data import from_block_spectrum
from .data import LinearProblem, atom_counts


def from_spectrum(spectrum, p, noise, rng):
    """Instantiate an atom spectrum at finite ``p`` (docs/theory.md Section 2).

    ``spectrum`` is anything with ``variances``, ``signal``, ``weights`` and
    ``signal_dist`` (such as ``asymptotics.Spectrum``). Atom ``k`` gets
    ``floor(weights[k] p)`` coordinates (the remainder goes to the largest
    fractional parts); ``beta*_i = s_i signal[k] / sqrt(p)`` with random signs
    (``"fixed"``) or ``s_i ~ N(0, 1)`` (``"gaussian"``).

    A block spectrum (anything with ``covariances``, such as ``asymptotics.BlockSpectrum``) gives a
    block-diagonal problem (:func:`linear_models.block_data.from_block_spectrum`, docs/theory.md
    Section 10); ``p`` must then be a multiple of its block size.
    """
    if getattr(spectrum, "covariances", None) is not None:
        return from_block_spectrum(spectrum, p, noise, rng)
    p = check_int(p, "p", low=1)
    rng = as_generator(rng)
    counts = atom_counts(np.asarray(spectrum.weights, dtype=float), p)
    lam = np.repeat(np.asarray(spectrum.variances, dtype=float), counts)
    b = np.repeat(np.asarray(spectrum.signal, dtype=float), counts)
    if spectrum.signal_dist == "fixed":
        s = rng.choice(np.array([-1.0, 1.0]), size=p)
    elif spectrum.signal_dist == "gaussian":
        s = rng.standard_normal(p)
    else:
        raise ValueError(f"signal_dist == {spectrum.signal_dist!r}, must be 'fixed' or 'gaussian'.")
    return LinearProblem.diagonal(lam, s * b / np.sqrt(p), noise)
