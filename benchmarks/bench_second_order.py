"""Speed of the second-order pruning pieces at the digits MLP's size (3,560 weights; issue 8).

Trains the 64-40-20-10 ReLU network on digits by the experiments' recipe, then times (medians):
per-sample gradients, the empirical Fisher build, its inverse (Cholesky), the Woodbury inverse
alternative (N < d), one full sparsity sweep (8 sparsities) of WoodFisher, of greedy OBS (one
greedy path reused for every sparsity) and of CBS (RMP starts + swap search + update), and the
whole CBS table in quick mode. Compile time is paid before timing.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_second_order.py [--repeats 3] [--table]

``--table`` also times the whole full-mode CBS table (minutes).
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from _timing import median_time  # noqa: E402

from linear_models import second_order as so  # noqa: E402
from pruning_checks import keep_count  # noqa: E402
from simulations.second_order import cbs_table as T  # noqa: E402
from simulations.second_order import digits_mlp as E  # noqa: E402
from simulations.second_order import loss_modelling as LM  # noqa: E402


def woodbury_inverse(G, lam):
    """``(lam I + G'G/N)^-1 = (I - G' (N lam I + G G')^-1 G) / lam``: an N x N solve when N < d."""
    N = G.shape[0]
    M = G @ G.T
    M[np.diag_indices_from(M)] += N * lam
    B = np.linalg.solve(M, G)
    out = -(G.T @ B)
    out[np.diag_indices_from(out)] += 1.0
    return out / lam


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--table", action="store_true")
    args = ap.parse_args()
    r = args.repeats

    data = E.load_data("digits")
    net = E.network()
    t0 = time.perf_counter()
    theta = E.train_dense(net, data, 0)
    print(f"dense training (incl. compile on a cold cache): {time.perf_counter() - t0:.2f} s")
    t_train, _ = median_time(lambda: E.train_dense(net, data, 0), r)
    Xtr, ytr = data.X_train, data.y_train.astype(float)
    net.per_sample_gradients(theta, Xtr[:4], ytr[:4])
    t_grads, G = median_time(lambda: net.per_sample_gradients(theta, Xtr, ytr), r)
    t_build, fisher0 = median_time(lambda: so.empirical_fisher(G, relative_damping=E.DAMPING), r)
    t_inv, Finv = median_time(lambda: so.spd_inverse(fisher0.matrix), r)
    t_wood, Fw = median_time(lambda: woodbury_inverse(G, fisher0.damping), r)
    err = float(np.max(np.abs(Fw - Finv)) / np.max(np.abs(Finv)))
    fisher = so.empirical_fisher(G, relative_damping=E.DAMPING, inverse=True)
    d = theta.size
    loss = lambda v: net.loss_value(v, Xtr, ytr)
    keeps = [1 - s for s in E.SPARSITIES]

    so.woodfisher(theta, fisher, 0.5)
    t_wf, _ = median_time(lambda: [so.woodfisher(theta, fisher, k) for k in keeps], r)
    t_mu, _ = median_time(lambda: [so.magnitude_update(theta, fisher, k) for k in keeps], r)
    so.obs_order(theta, fisher, 10)
    n_rm = d - keep_count(min(keeps), d)
    t_path, order = median_time(lambda: so.obs_order(theta, fisher, n_rm), 1)
    t_obs, _ = median_time(lambda: [so.obs(theta, fisher, k, order=order) for k in keeps], r)
    so.cbs(theta, fisher, 0.5, loss=loss, rng=0, n_starts=2)
    t_cbs, cbs_res = median_time(lambda: [so.cbs(theta, fisher, k, loss=loss, rng=0) for k in keeps], r)
    swaps = [sum(c.info["search"].swaps) for c in cbs_res]
    iters = [len(c.info["search"].swaps) for c in cbs_res]

    print(f"d = {d} weights, N = {G.shape[0]} per-sample gradients")
    print(f"dense training, {E.RECIPE['epochs']} epochs           {t_train:8.3f} s")
    print(f"per-sample gradients (N x d)            {t_grads:8.3f} s")
    print(f"Fisher build G'G/N + damping            {t_build:8.3f} s")
    print(f"Fisher inverse, Cholesky (potrf/potri)  {t_inv:8.3f} s")
    print(f"Fisher inverse, Woodbury (N x N solve)  {t_wood:8.3f} s   (max rel. difference {err:.1e}; "
          f"ratio Cholesky/Woodbury {t_inv / t_wood:.2f})")
    print(f"sweep of {len(keeps)} sparsities:")
    print(f"  magnitude+update                      {t_mu:8.3f} s")
    print(f"  woodfisher                            {t_wf:8.3f} s")
    print(f"  obs greedy path to {E.SPARSITIES[-1]}             {t_path:8.3f} s  (once)")
    print(f"  obs updates from the path             {t_obs:8.3f} s")
    print(f"  cbs (RMP {so.RMP_CANDIDATES} + search + update)     {t_cbs:8.3f} s  (swaps {swaps}, iterations {iters})")
    with tempfile.TemporaryDirectory() as tmp:
        t_quick, _ = median_time(lambda: T.cbs_table(tmp, quick=True), 1)
        print(f"CBS table, quick mode (2 seeds x 3 sparsities)     {t_quick:8.1f} s")
        if args.table:
            t_full, _ = median_time(lambda: T.cbs_table(tmp, quick=False, n_jobs=2), 1)
            print(f"CBS table, full mode, n_jobs=2                 {t_full:8.1f} s")


if __name__ == "__main__":
    main()
