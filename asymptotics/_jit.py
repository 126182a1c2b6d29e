"""Numba's on-disk cache, keyed on everything a cached kernel compiles in.

Numba keys a ``cache=True`` kernel on the source file that defines it, its bytecode and the
values of its closure variables, and on nothing else. Two things therefore escape the key:

* code and constants the kernel inlines from **other modules** (a jitted callee, a module
  constant such as ``Z_CLIP``): edit or regenerate them and the old machine code is served;
* the **compile options**: ``njit(cache=True)(f)`` and ``njit(parallel=True, cache=True)(f)`` of the
  same ``f`` share one key, so whichever variant is compiled first is served for both.

A kernel built by a factory that closes over :func:`stamp` ``(dependencies..., variant)`` and reads
it (a never-taken early return suffices) has all of these in its key.

Example
-------
>>> import math
>>> stamp(math, 40.0, "serial") == stamp(math, 40.0, "serial") != stamp(math, 40.0, "parallel")
True
"""

from __future__ import annotations

import hashlib
import inspect
import types
from pathlib import Path


def stamp(*deps) -> int:
    """A non-negative 62-bit digest of ``deps``: modules and functions by the bytes of their source
    file (compiled or built-in modules by name and version), anything else by ``repr``."""
    h = hashlib.sha256()
    for dep in deps:
        h.update(b"\0")
        if isinstance(dep, (types.ModuleType, types.FunctionType)):
            try:
                h.update(Path(inspect.getfile(dep)).read_bytes())
            except (TypeError, OSError):          # built-in or without a readable source
                h.update(f"{getattr(dep, '__name__', dep)!r} {getattr(dep, '__version__', '')}".encode())
        else:
            h.update(repr(dep).encode())
    return int.from_bytes(h.digest()[:8], "little") >> 2
