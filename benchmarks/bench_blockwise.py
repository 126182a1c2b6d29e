"""Block-wise second-order pruning at the CBS paper's MLPNet size (issue 16, item 3).

The 784-40-20-10 bias-free ReLU MLP (32,360 weights; docs/references.md) on synthetic inputs
(standard normal, labels from a random teacher MLP), briefly trained with Adam so the weights are
not at their initialization. The empirical Fisher from ``N`` per-sample gradients of the Numba
engine, accumulated chunk by chunk in diagonal blocks of at most 2,000 weights inside each layer
(``linear_models.blockwise.layer_blocks``), damped by ``1e-2`` times its mean diagonal; then
OBS, CBS (the paper's search, magnitude start) and WoodFisher at sparsity 0.9 with one global
selection (``linear_models.blockwise.prune_blockwise``).

Each method runs in a fresh subprocess so that its peak resident memory (``ru_maxrss``, the whole
process: Python, NumPy, Numba, the data and the gradients) is its own. Prints, per method, the
median seconds over the repeats of the Fisher (per-sample gradients, blocks, inverses) and of the
pruning, and the peak memory. Numba compilation is paid before timing. One thread for BLAS;
everything single-threaded.

    .venv/bin/python benchmarks/bench_blockwise.py            # --quick: one repeat, N = 2000
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

SIZES = (784, 40, 20, 10)
BLOCK = 2000
SPARSITY = 0.9
REL_DAMPING = 1e-2
CHUNK = 500
METHODS = ("woodfisher", "obs", "cbs")
GOALS = {"woodfisher": 30.0, "obs": 180.0, "cbs": 180.0}


def problem(n_samples, seed=0):
    from simulations import Network
    rng = np.random.default_rng(seed)
    net = Network(SIZES, activation="relu", loss="cross_entropy")
    teacher = net.init(1.0, rng)
    X = rng.standard_normal((n_samples, SIZES[0]))
    y = np.argmax(net.predict(teacher, X), axis=1).astype(float)
    theta = net.train(net.init(1.0, rng), X, y, optimizer="adam", lr=1e-3, steps=200, batch_size=256, rng=1).theta
    return net, theta, X, y


def run_one(method, n_samples, repeats):
    """In the subprocess: time the Fisher and one method; returns a dict."""
    from linear_models.blockwise import block_fisher, layer_blocks, prune_blockwise

    net, theta, X, y = problem(n_samples)
    layers = [b - a for a, b in (net.layer_block(l) for l in range(len(SIZES) - 1))]
    blocks = layer_blocks(layers, BLOCK)
    keep = 1.0 - SPARSITY

    def fisher():
        chunks = (net.per_sample_gradients(theta, X[i:i + CHUNK], y[i:i + CHUNK]) for i in range(0, n_samples, CHUNK))
        return block_fisher(chunks, blocks, relative_damping=REL_DAMPING, inverse=method != "cbs")

    # compile the kernels on a small problem first
    small = block_fisher(np.random.default_rng(0).standard_normal((50, 30)), [(0, 10), (10, 30)], damping=0.1)
    prune_blockwise(np.random.default_rng(1).standard_normal(30), 0.5, method, small)

    t_fisher, t_prune, c_fisher, c_prune, out = [], [], [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        bf = fisher()
        t1, c1 = time.perf_counter(), time.process_time()
        res = prune_blockwise(theta, keep, method, bf, overwrite=True)
        t2, c2 = time.perf_counter(), time.process_time()
        t_fisher.append(t1 - t0)
        t_prune.append(t2 - t1)
        c_fisher.append(c1 - c0)
        c_prune.append(c2 - c1)
        loss = net.loss_value(res.weights, X, y)
        out = dict(kept=int(res.mask.sum()), loss_increase=res.loss_increase, loss_after=loss,
                   removed_per_block=res.info["removed_per_block"], n_blocks=len(blocks))
        del bf, res
    out.update(method=method, fisher_s=float(np.median(t_fisher)), prune_s=float(np.median(t_prune)),
               fisher_cpu=float(np.median(c_fisher)), prune_cpu=float(np.median(c_prune)),
               peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               dense_loss=net.loss_value(theta, X, y), d=int(theta.size))
    return out


def main():
    quick = "--quick" in sys.argv
    n_samples = 2000 if quick else 10000
    repeats = 1 if quick else 3
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(run_one(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
        return
    print(f"MLPNet {'-'.join(map(str, SIZES))}, block size {BLOCK}, sparsity {SPARSITY}, N = {n_samples} "
          f"per-sample gradients, median of {repeats}")
    print("wall-clock seconds (CPU seconds of the process, all threads, in brackets: the machine may be shared)")
    print(f"{'method':>11} {'fisher s':>14} {'prune s':>14} {'total s':>8} {'goal s':>7} {'peak MiB':>9} "
          f"{'pred. dL':>9} {'loss':>7}")
    for method in METHODS:
        proc = subprocess.run([sys.executable, __file__, "--child", method, str(n_samples), str(repeats)],
                              capture_output=True, text=True, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        total = r["fisher_s"] + r["prune_s"]
        print(f"{method:>11} {r['fisher_s']:6.1f} ({r['fisher_cpu']:5.1f}) {r['prune_s']:6.1f} ({r['prune_cpu']:5.1f}) "
              f"{total:8.1f} {GOALS[method]:7.0f} "
              f"{r['peak_rss_mib']:9.0f} {r['loss_increase']:9.4f} {r['loss_after']:7.4f}")
    print(f"d = {r['d']} weights in {r['n_blocks']} blocks; dense training loss {r['dense_loss']:.4f}; "
          f"memory goal 2048 MiB")


if __name__ == "__main__":
    main()
