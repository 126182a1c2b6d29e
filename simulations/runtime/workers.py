"""Worker pools: serial, local processes or a Dask cluster, with results in task order.

Parallelism comes from running independent tasks (trials, grid cells, table rows) side by side;
inside every worker BLAS runs single-threaded (on small and medium matrices multithreaded
OpenBLAS was measured ~100x slower on this kind of 2-core machine). Pools are kept for the life of
the interpreter (a sweep or a notebook runs many short jobs; starting workers and loading the
compiled kernels once is what keeps those fast) and shut down at exit.

Local pools fork, except when this process already runs GNU OpenMP threads (forking such a process
is unsafe): then workers are spawned (a script doing that needs the usual
``if __name__ == "__main__":`` guard).
"""

from __future__ import annotations

import atexit
import multiprocessing
import numbers
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import nullcontext

import numpy as np
from threadpoolctl import threadpool_limits

#: Chunks per worker when trials are split into ranges (load balancing against scheduling overhead).
CHUNKS_PER_WORKER = 4


def is_int(value):
    """True for integers (Python or NumPy), False for bools."""
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def n_workers(n_jobs):
    """Worker count of ``n_jobs``: ``None``/1 serial, ``k`` processes, ``-1`` one per core.

    Raises
    ------
    ValueError
        For any other value.
    """
    if n_jobs is None or (is_int(n_jobs) and n_jobs == 1):
        return 1
    if not is_int(n_jobs) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs == {n_jobs!r}, must be None, -1 or a positive integer.")
    return (os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs)


def chunks(trials, workers):
    """``[(start, stop), ...]`` covering ``range(trials)`` in about ``CHUNKS_PER_WORKER * workers`` ranges."""
    n_chunks = max(1, min(trials, workers * CHUNKS_PER_WORKER))
    edges = np.linspace(0, trials, n_chunks + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


_WORKER_LIMITS = []


def in_worker():
    """True inside a worker process of a local pool."""
    return multiprocessing.parent_process() is not None


def one_blas_thread():
    """BLAS limited to one thread: for good in a worker process (cheap on every later chunk; Numba's
    threads too), for the duration of the call in the user's own process (their BLAS settings are
    restored afterwards). Results do not depend on either thread count."""
    if not in_worker():
        return threadpool_limits(limits=1)
    if not _WORKER_LIMITS:
        import numba

        numba.set_num_threads(1)       # Numba's parallel kernels would oversubscribe the cores too
        _WORKER_LIMITS.append(threadpool_limits(limits=1))
    return nullcontext()


def forking_is_unsafe():
    """True when this process already runs GNU OpenMP threads (Numba's ``omp`` layer on Linux)."""
    import numba
    from numba.np.ufunc import parallel

    return parallel._is_initialized and numba.threading_layer() == "omp" and sys.platform.startswith("linux")


_POOLS = {}


def pool(workers):
    """The process pool of ``workers`` processes (forked, or spawned when forking is unsafe), kept for the
    life of the interpreter."""
    spawn = forking_is_unsafe()
    key = (workers, spawn)
    p = _POOLS.get(key)
    if p is None:
        ctx = multiprocessing.get_context("spawn") if spawn else None
        p = _POOLS[key] = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    return p


def _discard_pool(workers):
    p = _POOLS.pop((workers, forking_is_unsafe()), None)
    if p is not None:
        p.shutdown(cancel_futures=True)


@atexit.register
def shutdown_pools():
    """Stop every pool's workers (at exit, or on an interrupt)."""
    for p in _POOLS.values():
        p.shutdown(cancel_futures=True)
    _POOLS.clear()


def pools():
    """The live pools (for interrupt handlers that stop their workers)."""
    return list(_POOLS.values())


def _single_threaded(fn, args):
    with one_blas_thread():
        return fn(*args)


def map_ordered(fn, tasks, n_jobs=None):
    """``[fn(*args) for args in tasks]`` serially or in ``n_jobs`` local processes, results in task order,
    BLAS single-threaded. A broken pool (a worker killed, out of memory) is restarted once."""
    workers = n_workers(n_jobs)
    tasks = list(tasks)
    if workers == 1 or len(tasks) <= 1:
        with one_blas_thread():
            return [fn(*args) for args in tasks]
    try:
        return list(pool(workers).map(_single_threaded, [fn] * len(tasks), tasks))
    except BrokenProcessPool:
        _discard_pool(workers)
        return list(pool(workers).map(_single_threaded, [fn] * len(tasks), tasks))


def map_completed(fn, tasks, n_jobs=None, client=None):
    """Yield ``fn(*args)`` for every task as it finishes (any order): serially, in local processes or on
    Dask (``client`` as in :func:`execute`)."""
    tasks = list(tasks)
    if client is not None:
        from distributed import as_completed as dask_completed

        with _client(client) as c:
            futures = [c.submit(fn, *args, pure=False) for args in tasks]
            for fut in dask_completed(futures):
                yield fut.result()
        return
    workers = n_workers(n_jobs)
    if workers == 1 or len(tasks) <= 1:
        with one_blas_thread():
            for args in tasks:
                yield fn(*args)
        return
    futures = [pool(workers).submit(_single_threaded, fn, args) for args in tasks]
    for fut in as_completed(futures):
        yield fut.result()


def check_client(client):
    """``client`` is None, a scheduler address or an object with the ``Client`` interface."""
    if client is None or isinstance(client, str):
        if isinstance(client, str) and not client.strip():
            raise ValueError("client == '', must be a Dask scheduler address or a Client.")
        return client
    if not all(hasattr(client, a) for a in ("submit", "gather", "scheduler_info")):
        raise TypeError(f"client must be a dask.distributed.Client or a scheduler address, "
                        f"got {type(client).__name__}.")
    return client


def open_client(address):
    """A ``dask.distributed.Client`` connected to ``address`` (the ``dask`` extra is needed)."""
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - depends on the optional extra
        raise ImportError("a Dask scheduler address needs the 'dask' extra: pip install -e '.[dask]'") from None
    return Client(address)


def _client(client):
    """A context: a given client is used as is and left open; an address opens one, closed at the end."""
    client = check_client(client)
    return open_client(client) if isinstance(client, str) else nullcontext(client)


def _run_on_dask(client, job, trials, fn):
    workers = len(client.scheduler_info().get("workers", {})) or 1
    futures = [client.submit(fn, job, a, b, pure=False) for a, b in chunks(trials, workers)]
    return client.gather(futures)


def execute(job, trials, n_jobs=None, client=None, *, fn):
    """Run ``fn(job, start, stop)`` over chunks of ``range(trials)`` serially, in local processes or on Dask;
    returns the list of chunk results in trial order.

    ``client``: a ``dask.distributed.Client`` is used as is and left open (open one per sweep and pass
    it to every call); a scheduler address opens one client for this call and closes it at the end.
    """
    if check_client(client) is not None:
        with _client(client) as c:
            return _run_on_dask(c, job, trials, fn)
    workers = n_workers(n_jobs)
    if workers == 1:
        return [fn(job, 0, trials)]
    parts = chunks(trials, workers)
    try:
        return list(pool(workers).map(fn, [job] * len(parts), *zip(*parts)))
    except BrokenProcessPool:            # a worker died (killed, out of memory): start afresh once
        _discard_pool(workers)
        return list(pool(workers).map(fn, [job] * len(parts), *zip(*parts)))
