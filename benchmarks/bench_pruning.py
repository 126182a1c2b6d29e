"""Speed of greedy OBS and CBS (issue: linear_models pruning library).

Greedy OBS downdates the inverse Hessian in place (O(p^2) per removed weight); the naive
baseline, run in the same script, re-inverts the Hessian of the surviving weights after
every removal (O(p^3) per removal). Both prune to 10% and agree on the mask.

    .venv/bin/python benchmarks/bench_pruning.py
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from _timing import median_time  # noqa: E402

from linear_models import ar1_covariance, prune  # noqa: E402


def naive_obs(w, H, k):
    """Greedy OBS recomputing inv(H_active) after each removal."""
    w = w.copy()
    act = np.arange(w.size)
    while act.size > k:
        A = np.linalg.inv(H[np.ix_(act, act)])
        wa = w[act]
        j = int(np.argmin(wa**2 / np.diag(A)))
        w[act] = wa - wa[j] * A[:, j] / A[j, j]
        w[act[j]] = 0.0
        act = np.delete(act, j)
    mask = np.zeros(w.size, bool)
    mask[act] = True
    return w, mask


def problem(p, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(p), ar1_covariance(p, 0.6) + 0.1 * np.eye(p)


def main():
    w, H = problem(50)
    t0 = time.perf_counter()
    prune(w, 0.1, "obs", hessian=H)
    print(f"numba compile / cache load of the OBS kernel: {time.perf_counter() - t0:.2f} s")

    p = 300
    w, H = problem(p)
    t_fast, fast = median_time(lambda: prune(w, 0.1, "obs", hessian=H), 5)
    t_naive, (w_naive, m_naive) = median_time(lambda: naive_obs(w, H, int(round(0.1 * p))), 3)
    assert np.array_equal(fast.mask, m_naive) and np.allclose(fast.weights, w_naive, atol=1e-8)
    print(f"OBS p={p} -> 10%: downdate median {t_fast * 1e3:.1f} ms, naive re-inversion "
          f"{t_naive * 1e3:.0f} ms, ratio {t_naive / t_fast:.0f}x")

    p = 2000
    w, H = problem(p)
    t_fast, _ = median_time(lambda: prune(w, 0.1, "obs", hessian=H), 3)
    print(f"OBS p={p} -> 10%: downdate median {t_fast:.2f} s "
          f"(naive re-inversion would take ~sum_k k^3 = {sum(k**3 for k in range(200, 2001)) / 1e9:.0f} Gflop)")

    p = 500
    w, H = problem(p, 1)
    t_cbs, res = median_time(lambda: prune(w, 0.1, "cbs", hessian=H, start="magnitude"), 3)
    print(f"CBS p={p} -> 10% from the magnitude mask: median {t_cbs:.2f} s, {res.swaps} swaps, "
          f"objective {res.start_loss_increase:.4g} -> {res.loss_increase:.4g}")
    t_cbs, res = median_time(lambda: prune(w, 0.1, "cbs", hessian=H, start="obs"), 3)
    print(f"CBS p={p} -> 10% from the OBS mask: median {t_cbs:.2f} s, {res.swaps} swaps, "
          f"objective {res.start_loss_increase:.4g} -> {res.loss_increase:.4g}")


if __name__ == "__main__":
    main()
