"""Memory estimates of the large allocations, checked from the arguments before any work.

Every quadratic allocation (a Gauss-Newton block or an empirical Fisher, ``P x P``) and every large
linear one (``n x d`` samples, ``n x P`` per-sample gradients, ``steps`` losses) of the network half is
estimated from the arguments of the public function that makes it, and refused with one line naming
the parameter, the size needed and what to use instead when it exceeds :data:`MEMORY_LIMIT` — before
any data is drawn or any network trained.

The limit is read at call time: set ``simulations.networks.memory.MEMORY_LIMIT`` (bytes) or the
environment variable ``PRUNING_MECHANICS_MEMORY_LIMIT`` (bytes, read at import) to change it.

Example
-------
>>> from simulations.networks.memory import check_allocation
>>> check_allocation(8 * 10**6, "width == 10", "the 1,000 x 1,000 block", "a smaller width")
8000000
"""

from __future__ import annotations

import os

#: Largest allocation (bytes) one call may make: 4 GiB unless ``PRUNING_MECHANICS_MEMORY_LIMIT`` says otherwise.
MEMORY_LIMIT = int(float(os.environ.get("PRUNING_MECHANICS_MEMORY_LIMIT", 4 * 2**30)))
#: Bytes of one float64 entry.
DOUBLE = 8


class AllocationError(ValueError, MemoryError):
    """An allocation estimated from the arguments exceeds :data:`MEMORY_LIMIT` (raised before any work).

    A ``ValueError`` (the arguments are refused) and a ``MemoryError`` (what it prevents)."""


def gib(nbytes):
    """``nbytes`` in GiB as text (``'47.7 GiB'``)."""
    return f"{nbytes / 2**30:.3g} GiB"


def check_allocation(nbytes, name, what, instead):
    """Return ``nbytes`` if it is within :data:`MEMORY_LIMIT`, else raise :class:`AllocationError`.

    ``name`` is the parameter (with its value) that sets the size, ``what`` the allocation, ``instead``
    what to use instead; the message is one line.
    """
    limit = MEMORY_LIMIT
    if nbytes > limit:
        raise AllocationError(f"{name}: {what}, about {gib(nbytes)}, exceeds the memory limit of {gib(limit)} "
                              f"(simulations.networks.memory.MEMORY_LIMIT); {instead}.")
    return int(nbytes)


def matrix_bytes(rows, cols, copies=1):
    """Bytes of ``copies`` float64 matrices of ``rows x cols`` (Python integers: no overflow)."""
    return int(copies) * int(rows) * int(cols) * DOUBLE
