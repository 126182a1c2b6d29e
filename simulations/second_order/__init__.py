"""Second-order pruning on a small network: the CBS table (Yu et al. 2022), loss modelling with locality
(Laurent et al. 2020), and their linear counterpart where the quadratic model is exact."""
