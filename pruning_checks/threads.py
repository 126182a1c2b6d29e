"""Thread safety of Numba's parallel kernels.

The toolkit's ``parallel=True`` kernels (the theory's threshold and moment kernels, greedy OBS) run on
Numba's threading layer. ``tbb`` and ``omp`` may be entered from several Python threads at once;
``workqueue`` (the fallback where neither is installed) may not: two threads inside it abort the
process ("Concurrent access has been detected"). Every call of a parallel kernel therefore goes through
:func:`parallel_section`, which is free under a thread-safe layer and serialises the calls under
``workqueue`` (or before the layer is known), so every public entry point can be called from several
threads (a threaded Dask worker, a user's thread pool) and gives the serial result.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext

#: Threading layers that Numba documents as safe to enter from several threads.
THREAD_SAFE_LAYERS = ("tbb", "omp")
_LOCK = threading.RLock()


def threading_layer():
    """Numba's threading layer once a parallel kernel has run, else ``None``."""
    try:
        from numba.np.ufunc import parallel

        if not parallel._is_initialized:
            return None
        import numba

        return numba.threading_layer()
    except (ImportError, ValueError):  # pragma: no cover - numba always present; layer not chosen yet
        return None


def parallel_section(parallel=True):
    """Context manager around a call of a Numba parallel kernel (``parallel=False``: a no-op).

    A no-op under a thread-safe layer (:data:`THREAD_SAFE_LAYERS`); a process-wide lock otherwise.
    """
    if not parallel or threading_layer() in THREAD_SAFE_LAYERS:
        return nullcontext()
    return _LOCK
