"""Proportional-limit theory of pruned linear models (docs/theory.md Sections 2-4).

Pure functions, no randomness: a :class:`Spectrum` of atoms, the fixed point of
ridge / min-norm regression (:func:`solve_fixed_point`, :func:`dense_risk`) and
the test risk after pruning by magnitude, hessian (OBD), oracle or random
scores, with or without a fresh-data refit (:func:`pruned_risk`,
:func:`solve_pruned`), from a gradient-descent initialization of scale ``init``
(Section 8), and the temperature x load phase diagram of Section 9
(:func:`phase_diagram`). A :class:`BlockSpectrum` (block-diagonal covariance, blocks of 1 to 4
correlated features, docs/theory.md Section 10) goes through the same functions, with the
second-order criteria ``"obs"`` and ``"joint"`` and the population OBS update (``update="obs"``). The truncated-Gaussian moments and the isotropic closed forms are
derived symbolically in :mod:`asymptotics.symbolic` and generated once into
:mod:`asymptotics._generated_moments`, which :mod:`asymptotics.moments` evaluates
(sympy is not imported at run time).

Public functions take the spectrum, ``kappa`` and ``noise`` positionally and
everything else by keyword (``keep=``, ``criterion=``, ``ridge=``, ``retrain=``,
``init=``). ``keep`` is a float fraction in (0, 1]; integer counts are refused.

Example
-------
>>> import numpy as np
>>> from asymptotics import Spectrum, dense_risk, pruned_risk
>>> spec = Spectrum(variances=[1.0, 25.0], signal=[1.0, 0.5], weights=[0.5, 0.5])
>>> risk = pruned_risk(spec, kappa=2.0, noise=0.5, keep=np.linspace(0.05, 1, 20), criterion="hessian")
>>> bool(np.isclose(risk[-1], dense_risk(spec, kappa=2.0, noise=0.5)))
True
"""

from .api import dense_risk, pruned_risk, solve_fixed_point, solve_pruned
from .block_risk import BLOCK_CRITERIA, BlockPrunedRiskResult
from .blocks import BlockSpectrum
from .checks import RETRAIN, UPDATES
from .fixed_point import ConvergenceError, FixedPointResult
from .phase import PhaseDiagram, phase_diagram
from .pruning import CRITERIA, PrunedRiskResult
from .spectrum import SIGNAL_DISTS, Spectrum

__all__ = [
    "BLOCK_CRITERIA", "BlockPrunedRiskResult", "BlockSpectrum", "UPDATES", "CRITERIA", "RETRAIN", "SIGNAL_DISTS", "ConvergenceError", "FixedPointResult", "PhaseDiagram",
    "PrunedRiskResult", "Spectrum", "dense_risk", "phase_diagram", "pruned_risk", "solve_fixed_point",
    "solve_pruned",
]
