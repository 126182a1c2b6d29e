"""The shallow-network pruning experiment (:mod:`.network_experiment`, :func:`simulations.network_experiment`)
and its sweep kind (:mod:`.network_sweep`)."""
