"""Monte Carlo simulators, networks, experiments, sweeps and figures: theory checked against simulation.

Sub-packages, from the bottom up (each imports only those below it):

``runtime``
    worker pools, seeded streams, means and standard errors, atomic files, the sweep store and sweeps;
``linear``
    the Monte Carlo engine of pruned linear models (:func:`monte_carlo`) and its sweep kind;
``networks``
    the Numba MLP engine (:class:`Network`), data sets and representation similarity;
``experiments``
    the shallow-network pruning experiment (:func:`network_experiment`) and its sweep kind;
``second_order``
    second-order pruning of a small MLP: the CBS table, loss modelling, their linear counterpart;
``regimes``
    temperature, load and retraining: the three-regime phase diagram, fine-tuning vs scratch;
``figures``
    the named figures (:data:`simulations.figures.FIGURES`), drawn with :mod:`simulations.plotting`;

and the command line (:mod:`simulations.cli`, ``python -m simulations``).
"""

from .linear import sweep_kind as _linear_kind  # noqa: F401  (registers the "linear" sweep kind)
from .experiments import network_sweep as _network_kind  # noqa: F401  (registers the "network" sweep kind)
from .linear.engine import MonteCarloResult, monte_carlo
from .networks.model import Network, TrainResult
from .experiments.network_experiment import NetworkResult, network_experiment

__all__ = ["MonteCarloResult", "Network", "NetworkResult", "TrainResult", "monte_carlo", "network_experiment"]
