"""Temperature, load and retraining: the three-regime phase diagram on networks (Zhou et al. 2023,
:mod:`.grid`), fine-tuning against training from scratch on networks (Liu et al. 2019,
:mod:`.scratch_networks`) and in the linear limit (:mod:`.scratch_linear`)."""
