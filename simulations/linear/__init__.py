"""The Monte Carlo engine of pruned linear models: trial steps (:mod:`.kernels`), the engine
(:mod:`.engine`, :func:`simulations.monte_carlo`) and the ``"linear"`` sweep kind (:mod:`.sweep_kind`)."""
