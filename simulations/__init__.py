"""Monte Carlo simulators, sweeps, figures and plotting: theory checked against simulation.

:func:`monte_carlo` runs Numba-compiled trials of pruned linear models and
returns means and standard errors, reproducibly whatever the number of workers
or the backend (serial, local processes, Dask).
"""

from .engine import MonteCarloResult, monte_carlo
from .network import Network, NetworkResult, TrainResult, network_experiment

__all__ = ["MonteCarloResult", "Network", "NetworkResult", "TrainResult", "monte_carlo", "network_experiment"]
