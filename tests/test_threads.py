"""Every public entry point may be called from several threads (a threaded Dask worker, a user's thread pool)
and gives the serial result; under Numba's thread-unsafe ``workqueue`` layer too, where two threads inside a
parallel kernel used to abort the interpreter ("Concurrent access has been detected", exit -6)."""

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from asymptotics import Spectrum, pruned_risk
from linear_models import prune
from simulations import monte_carlo, network_experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# the reported example, plus the theory's parallel kernels on a large spectrum, from two threads
SCRIPT = textwrap.dedent("""
    import threading, numpy as np
    import simulations
    from asymptotics import Spectrum, pruned_risk
    from linear_models import prune
    A = np.random.default_rng(0).standard_normal((300, 200)); H = A.T @ A / 300; w = np.linspace(-1, 1, 200)
    rng = np.random.default_rng(1)
    spec = Spectrum.from_arrays(rng.uniform(0.5, 4.0, 20000), rng.standard_normal(20000))
    keep = np.linspace(0.05, 1.0, 40)
    ref_w = prune(w, 20, "obs", hessian=H).weights
    ref_r = pruned_risk(spec, 2.0, 0.5, keep=keep, criterion="magnitude")
    bad = []
    def work():
        for _ in range(10):
            if not np.array_equal(prune(w, 20, "obs", hessian=H).weights, ref_w):
                bad.append("prune")
            if not np.array_equal(pruned_risk(spec, 2.0, 0.5, keep=keep, criterion="magnitude"), ref_r):
                bad.append("pruned_risk")
    ts = [threading.Thread(target=work) for _ in range(2)]
    [t.start() for t in ts]; [t.join() for t in ts]
    import numba
    print(numba.threading_layer(), "mismatches:", len(bad))
""")


@pytest.mark.parametrize("layer", ["workqueue", "default"])
def test_two_threads_in_parallel_kernels_give_the_serial_result(layer):
    env = dict(os.environ, NUMBA_THREADING_LAYER=layer, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout.split()
    assert out[-1] == "0" and (layer == "default" or out[0] == layer), proc.stdout


def _jobs():
    spec = Spectrum.two_level(variances=(1.0, 25.0), signal=(1.0, 0.3))
    net = dict(d=6, width=5, n_train=120, n_test=200, groups=((3, 3.0, 0.5), (3, 1.0, 0.5)), steps=60,
               keep=(0.2, 0.5), trials=2, seed=1, importance_samples=300, criteria=("magnitude", "obs", "random"))
    A = np.random.default_rng(0).standard_normal((300, 120))
    return {
        "monte_carlo": lambda: monte_carlo(spec, 80, 0.6, 0.5, keep=[0.2, 1.0], trials=6, seed=4).samples["hessian"],
        "pruned_risk": lambda: pruned_risk(spec, 0.6, 0.5, keep=np.linspace(0.05, 1, 30), criterion="hessian"),
        "network_experiment": lambda: network_experiment(**net).samples["obs"],
        "prune": lambda: prune(np.linspace(-1, 1, 120), 30, "obs", hessian=A.T @ A).weights,
    }


def test_entry_points_from_two_python_threads_equal_serial():
    jobs = _jobs()
    serial = {name: fn() for name, fn in jobs.items()}
    got, errors = {}, []

    def run(tag):
        try:
            for name, fn in jobs.items():
                got[(tag, name)] = fn()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    ts = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert not errors, errors
    for (tag, name), value in got.items():
        assert_array_equal(value, serial[name], err_msg=f"{name} in thread {tag}")


def test_entry_points_on_a_threaded_dask_worker_equal_serial():
    distributed = pytest.importorskip("distributed")
    jobs = _jobs()
    serial = {name: fn() for name, fn in jobs.items()}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        futures = {(i, name): client.submit(fn, pure=False) for i in range(2) for name, fn in jobs.items()}
        for (i, name), fut in futures.items():
            assert_array_equal(fut.result(), serial[name], err_msg=f"{name}, task {i}")
