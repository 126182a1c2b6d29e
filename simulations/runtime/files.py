"""Atomic file writes: a result file is either absent or complete, never partial.

Every write goes through a unique temporary file in the target folder (so concurrent writers of one
path never share a temporary name), is flushed to disk, and is renamed over the target.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import socket
import tempfile
from pathlib import Path

import numpy as np

_HOST = socket.gethostname().replace(".", "_")


def temporary(folder, name, suffix=".tmp"):
    """A unique temporary file ``.<name>.<host>-<pid>.<random><suffix>`` in ``folder``: ``(fd, path)``."""
    return tempfile.mkstemp(dir=folder, prefix=f".{name}.{_HOST}-{os.getpid()}.", suffix=suffix)


def remove_dead_temporaries(folder):
    """Remove temporary files left in ``folder`` by processes of this host that no longer run (killed runs)."""
    for path in Path(folder).glob(".*.tmp"):
        owner = path.name.split(".")[-3]
        host, _, pid = owner.rpartition("-")
        if host != _HOST or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        except PermissionError:             # alive, another user's
            pass


def write_atomic(path, text):
    """Write ``text`` to ``path`` through a unique temporary file in the same folder, then rename."""
    path = Path(path)
    fd, tmp = temporary(path.parent, path.name)
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def write_tidy_csv(path, rows, columns):
    """Write ``rows`` (an iterable of dicts) atomically as a tidy CSV with the given column order.

    Floats are written with ``repr`` (round-trip exact). Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=list(columns))
    w.writeheader()
    for row in rows:
        w.writerow({k: (repr(float(v)) if isinstance(v, (float, np.floating)) else v) for k, v in row.items()})
    return write_atomic(path, buf.getvalue())
