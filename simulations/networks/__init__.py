"""Networks: the Numba MLP engine (:mod:`.model`, :class:`simulations.Network`), its kernels, data sets
(:mod:`.datasets`) and representation similarity (:mod:`.similarity`)."""
