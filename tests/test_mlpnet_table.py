"""The CBS table at MLPNet scale (simulations.second_order.mlpnet_table) runs end to end on synthetic inputs."""

import numpy as np
import pytest

from simulations.second_order import mlpnet_table as mt


@pytest.mark.slow
def test_synthetic_mlpnet_table_runs_with_block_fisher(tmp_path):
    data = mt.load("synthetic")
    assert data.n_features == 784 and data.n_classes == 10
    rows = mt.run_seed(data, 0, sparsities=(0.5, 0.9), n_fisher=600, n_starts=1, epochs=1)
    acc = {(r["method"], r["sparsity"]): r["value"] for r in rows if r["metric"] == "test_accuracy"}
    assert set(acc) == {("dense", 0.0)} | {(m, s) for m in mt.METHODS for s in (0.5, 0.9)}
    assert all(0.0 <= v <= 1.0 for v in acc.values())
    # the dense net learned something, and the updates do not lose to plain magnitude at sparsity 0.5 on the
    # training loss they approximate (second-order model near the trained weights)
    loss = {(r["method"], r["sparsity"]): r["value"] for r in rows if r["metric"] == "train_loss"}
    assert acc[("dense", 0.0)] > 0.2
    assert loss[("obs", 0.5)] <= loss[("magnitude", 0.5)]
    md = mt.markdown(rows, "synthetic", (0.5, 0.9))
    assert md.count("\n| 0.") == 2 and "90.30 / 91.69 / 93.14" in md


def test_mnist_needs_a_path():
    with pytest.raises(ValueError, match="needs the path of a local copy: --mnist PATH"):
        mt.load("mnist")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        mt.load("mnist", "/nonexistent/mnist")
    with pytest.raises(ValueError, match="data == 'cifar'"):
        mt.load("cifar")
    assert np.isclose(mt.DAMPING, 0.1)
