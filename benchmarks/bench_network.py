"""Training throughput of the Numba network engine against PyTorch CPU.

Same network (bias-free ``20-64-1`` ReLU, squared loss; the bias-free ``64-40-20-10`` and ``784-40-20-10``
softmax MLPs; and the MNIST-1D MLP ``40-100-100-10`` with biases, started from small nonzero biases so
that the bias path is exercised), same float64 data (n = 4000, the size of MNIST-1D's training set;
synthetic inputs), same optimizer (Adam, PyTorch's form), same initial parameters, one thread each:
full batch, and minibatch 32 or 64 (a fresh permutation per epoch, drawn for both engines from the same
NumPy stream, so they see the same minibatches in the same order). Prints the median seconds per step
of each engine and their ratio, and the final losses of both with their relative difference: a ratio
counts only when they agree to ``LOSS_RTOL`` (the two engines did the same work). The repeats alternate
between the engines, so that a change of load falls on both. Compilation is paid before timing and
reported separately.

PyTorch is an optional extra used only here; without it the script times the Numba engine and says
that PyTorch is missing.

    .venv/bin/python benchmarks/bench_network.py            # add --quick for fewer repeats
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from _timing import median_time, median_times_interleaved  # noqa: E402

from simulations import Network  # noqa: E402

N = 4000
LR = 1e-3
CASES = [  # (sizes, activation, loss, biases, batch size or None, steps per timed run)
    ((20, 64, 1), "relu", "squared", False, None, 200),
    ((20, 64, 1), "relu", "squared", False, 32, 1250),
    ((64, 40, 20, 10), "relu", "cross_entropy", False, None, 100),
    ((64, 40, 20, 10), "relu", "cross_entropy", False, 32, 1250),
    ((40, 100, 100, 10), "relu", "cross_entropy", True, None, 50),      # the MNIST-1D MLP, synthetic inputs
    ((40, 100, 100, 10), "relu", "cross_entropy", True, 32, 1250),
    ((784, 40, 20, 10), "relu", "cross_entropy", False, 64, 250),   # the CBS paper's MLPNet shape, synthetic inputs
]
#: Standard deviation of the initial biases (``Network.init`` starts them at 0; nonzero ones test the bias path).
BIAS_INIT = 0.1
#: The two engines must end at the same loss (same batches in the same order): relative agreement required.
LOSS_RTOL = 1e-8


def data(sizes, loss, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, sizes[0]))
    if loss == "squared":
        y = X[:, :5].sum(axis=1) + 0.1 * rng.standard_normal(N)
    else:
        y = np.argmax(X[:, :sizes[-1]] + 0.5 * rng.standard_normal((N, sizes[-1])), axis=1).astype(float)
    return X, y


def numba_run(net, theta, X, y, batch, steps):
    res = net.train(theta, X, y, optimizer="adam", lr=LR, steps=steps, batch_size=batch, rng=1)
    return res.losses[-1]


def torch_setup():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    return torch


def torch_run(torch, net, theta, X, y, batch, steps):
    """The same training in PyTorch: float64 Linear layers (with biases when ``net.bias``) initialised from
    ``theta``."""
    layers = []
    biases = net.bias_views(theta) if net.bias else [None] * (len(net.sizes) - 1)
    for i, (W, b) in enumerate(zip(net.views(theta), biases)):
        lin = torch.nn.Linear(W.shape[0], W.shape[1], bias=net.bias, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            if b is not None:
                lin.bias.copy_(torch.from_numpy(b.copy()))
        layers.append(lin)
        if i < len(net.sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    Xt = torch.from_numpy(X)
    if net.loss == "squared":
        yt = torch.from_numpy(y)
        lossf = lambda out, target: torch.mean((out[:, 0] - target) ** 2)        # noqa: E731
    else:
        yt = torch.from_numpy(y.astype(np.int64))
        lossf = torch.nn.functional.cross_entropy
    order = np.random.default_rng(1)      # the Numba engine's minibatch stream (rng=1): the same batches
    n = X.shape[0]
    perm, pos = None, n
    last = None
    for _ in range(steps):
        if batch is None:
            xb, yb = Xt, yt
        else:
            if pos >= n:
                perm, pos = torch.from_numpy(order.permutation(n)), 0
            rows = perm[pos:pos + batch]
            pos += batch
            xb, yb = Xt[rows], yt[rows]
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(xb), yb)
        loss.backward()
        opt.step()
        last = loss
    return float(last.detach())


def main(argv=None):
    quick = "--quick" in (sys.argv[1:] if argv is None else argv)
    repeats = 3 if quick else 7
    torch = torch_setup()
    if torch is None:
        print("PyTorch is not installed: timing the Numba engine only "
              "(install the optional extra, e.g. pip install torch, to compare).")
    else:
        print(f"PyTorch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"n = {N}, Adam lr = {LR}, float64, one thread; load average {os.getloadavg()[0]:.2f}")
    print(f"{'network':>16} {'bias':>5} {'batch':>6} {'numba s/step':>13} {'torch s/step':>13} {'torch/numba':>11}"
          f" {'final loss numba / torch':>26}")
    for sizes, act, loss, bias, batch, steps in CASES:
        net = Network(sizes, act, loss, bias=bias)
        X, y = data(sizes, loss)
        rng = np.random.default_rng(2)
        theta = net.init(1.0, rng)
        if bias:
            for b in net.bias_views(theta):
                b[:] = BIAS_INIT * rng.standard_normal(b.size)
        t0 = time.perf_counter()
        numba_run(net, theta, X, y, batch, 2)                      # compile (or load from cache)
        compile_s = time.perf_counter() - t0
        steps_run = max(10, steps // (4 if quick else 1))
        run_nb = lambda: numba_run(net, theta, X, y, batch, steps_run)                       # noqa: E731
        head = f"{'-'.join(map(str, sizes)):>16} {'yes' if bias else 'no':>5} {str(batch or 'full'):>6}"
        if torch is None:
            t_nb, loss_nb = median_time(run_nb, repeats)
            print(head + f" {t_nb / steps_run:13.2e} {'-':>13} {'-':>11} {loss_nb:12.4g} / -"
                  f"   (compile/load {compile_s:.1f} s)")
            continue
        torch_run(torch, net, theta, X, y, batch, 2)              # warm-up
        run_th = lambda: torch_run(torch, net, theta, X, y, batch, steps_run)               # noqa: E731
        (t_nb, loss_nb), (t_th, loss_th) = median_times_interleaved([run_nb, run_th], repeats)
        rel = abs(loss_nb - loss_th) / abs(loss_th)
        agree = rel <= LOSS_RTOL
        print(head + f" {t_nb / steps_run:13.2e} {t_th / steps_run:13.2e} {t_th / t_nb:11.2f}"
              f" {loss_nb:.12g} / {loss_th:.12g} (relative difference {rel:.1e}: "
              f"{'same work' if agree else 'LOSSES DIFFER, the ratio does not count'})")


if __name__ == "__main__":
    main()
