"""The on-disk store of sweeps and grids: atomic, checksummed JSON records, one per grid point.

The store
---------
::

    store/config.json        {"format": 3, "hash": ..., "config": <the normalised configuration>}
    store/points/<i>.json    grid point i: {"format", "kind", "index": i, "config_hash", "point", "seed", "result", "checksum"}
    store/locks/<i>.lock     advisory lock (fcntl.flock) held by the run computing point i

What a store guarantees:

* **Finished points are never lost and never half-written.** A point is written
  to a unique temporary file in ``points/`` (``tempfile``, named with the host
  and pid of its writer), flushed, fsynced and renamed over ``<i>.json`` as soon
  as it completes. Killing a sweep loses at most the points in progress (the
  next run removes temporary files of writers that no longer run); re-running
  the same sweep computes only what is missing. Point ``i`` draws from child ``i`` of ``SeedSequence(seed)``, so an
  interrupted-and-resumed sweep ends with exactly the results of an
  uninterrupted one.
* **A store cannot serve another configuration's results.** Every point file
  carries its grid index and the configuration's hash and both are checked on
  read; ``config.json`` is checked too. A point file of another configuration
  or another grid index (a deleted ``config.json``, a file copied over another)
  stops the sweep with one line naming the file.
* **Edited or damaged records are detected.** Every record carries the SHA-256 of
  its canonical JSON; one edited number (valid JSON, same shape) no longer matches
  and the record is treated as unreadable.
* **Unreadable points are recomputed.** A truncated, corrupted or malformed
  point file (wrong format, wrong array shapes) is treated as missing: a
  :class:`StoreWarning` names it and the point is computed again. Point files
  are JSON (floats written with ``repr``, which round-trips exactly); nothing
  in a store is ever unpickled.
* **Any number of concurrent runs on one store finish with the single-run
  result.** A run claims a point with a non-blocking ``flock`` on its lock file
  (released by the kernel when the process ends, however it ends, so a killed
  run never leaves a stale claim), skips points claimed by others, and at the
  end waits for those and computes whatever a dead run left undone.
* **A point is validated and its theory computed before any Monte Carlo is
  spent on it**: :func:`load_config` checks every grid point as the simulator
  would, and :func:`run_sweep` computes the theory of every pending point first.

"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import warnings
from pathlib import Path

from .files import remove_dead_temporaries, temporary, write_atomic

#: Version of the store layout; stores of another format are refused.
STORE_FORMAT = 3


class ConfigError(ValueError):
    """A sweep configuration value is invalid; the message names the field."""


class StoreError(ConfigError):
    """A store holds something that does not belong to this sweep; the message names the file."""


class StoreWarning(UserWarning):
    """An unreadable point file was found; it is recomputed."""


def config_hash(cfg):
    """A short hash of a normalised configuration (what identifies a store and its points)."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]


def store_path(store):
    if isinstance(store, str) and not store.strip():
        raise ConfigError("store == '', must name a folder (an empty path would write into the current folder).")
    if not isinstance(store, (str, os.PathLike)):
        raise ConfigError(f"store must be a path, got {type(store).__name__}.")
    store = Path(store)
    if store.exists() and not store.is_dir():
        raise ConfigError(f"store {str(store)!r} is a file, must be a folder.")
    return store



def open_store(store, cfg, records="points"):
    """Create the store for ``cfg`` or check that an existing one belongs to it; returns its path.

    ``cfg`` is any JSON-serialisable configuration (compared after a JSON round trip, so tuples equal
    lists); ``records`` names the folder of the record files (``"points"`` for sweeps). Also creates
    ``locks/`` and removes temporary files left by killed writers of this host.
    """
    store = store_path(store)
    for sub in (records, "locks"):
        (store / sub).mkdir(parents=True, exist_ok=True)
    for folder in (store, store / records):
        remove_dead_temporaries(folder)
    meta = store / "config.json"
    h = config_hash(cfg)
    if not meta.exists():               # create it exactly once, even with concurrent runs (link fails if it exists)
        fd, tmp = temporary(store, "config.json")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps({"format": STORE_FORMAT, "hash": h, "config": cfg}, indent=1, sort_keys=True))
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, meta)
        finally:
            os.unlink(tmp)
    try:
        old = json.loads(meta.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise StoreError(f"{meta} is unreadable ({type(exc).__name__}); use another store or delete it.") from None
    if not isinstance(old, dict) or old.get("format") != STORE_FORMAT:
        raise StoreError(f"store {str(store)!r} was written in another store format "
                         f"({old.get('format', 1) if isinstance(old, dict) else '?'}, this is {STORE_FORMAT}); "
                         "use another store or delete it.")
    if old.get("hash") != h or old.get("config") != json.loads(json.dumps(cfg)):
        raise StoreError(f"store {str(store)!r} holds results of a different configuration "
                         f"(hash {old.get('hash')} != {h}); use another store or delete it.")
    return store


def record_file(store, i, records="points"):
    return Path(store) / records / f"{i}.json"


def checksum(data):
    """SHA-256 of a record's canonical JSON (sorted keys, floats by ``repr``), without its ``checksum`` field."""
    body = {k: v for k, v in data.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def write_record(store, i, cfg_hash, payload, records="points"):
    """Write record ``i`` atomically: ``{"format", "index": i, "config_hash", **payload, "checksum"}`` as JSON
    (floats written with ``repr``, NaN as ``NaN``) through a unique temporary file, fsynced, renamed.

    ``checksum`` (:func:`checksum`) covers everything else in the record, so an edited or truncated value
    is detected on read."""
    data = json.loads(json.dumps({"format": STORE_FORMAT, "index": i, "config_hash": cfg_hash, **payload}))
    data["checksum"] = checksum(data)
    write_atomic(record_file(store, i, records), json.dumps(data))


def read_record(store, i, cfg_hash, records="points", warn=True):
    """Record ``i`` as written by :func:`write_record`, or ``None`` if it is missing or unreadable (a
    :class:`StoreWarning` names an unreadable file; the caller recomputes it).

    A record whose checksum does not match its contents (a value edited by hand, a damaged file) is
    unreadable. Raises :class:`StoreError` if an intact file belongs to another configuration or index.
    """
    path = record_file(store, i, records)
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return unreadable(path, f"{type(exc).__name__}: {exc}", warn)
    if not isinstance(data, dict) or data.get("format") != STORE_FORMAT:
        return unreadable(path, "not a record of this store format", warn)
    if data.get("checksum") != checksum(data):
        return unreadable(path, "its checksum does not match its contents: edited or damaged", warn)
    if data.get("config_hash") != cfg_hash or data.get("index") != i:
        raise StoreError(f"point file {path} belongs to grid point {data.get('index')!r} of configuration "
                         f"{data.get('config_hash')!r}, not to point {i} of {cfg_hash}; delete it or use another "
                         "store.")
    return data


def unreadable(path, why, warn):
    if warn:
        warnings.warn(f"point file {path} is unreadable ({why}); recomputing it.", StoreWarning, stacklevel=4)



def try_claim(store, i, block=False):
    """Claim record ``i`` with an ``flock`` on ``locks/<i>.lock``: an open file descriptor (release it with
    :func:`release`), or ``None`` if another process holds the claim and ``block`` is false.

    ``flock`` locks belong to the open file and are dropped by the kernel when the process ends, so a
    killed run never leaves a stale claim behind.
    """
    fd = os.open(Path(store) / "locks" / f"{i}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())      # who holds it, for a human looking at the store
    return fd


def release(fd):
    """Release a claim of :func:`try_claim`."""
    os.close(fd)


@contextlib.contextmanager
def claim(store, i, block):
    """Hold the lock of point ``i`` (``True``), or ``False`` if another process holds it and ``block`` is false."""
    fd = try_claim(store, i, block)
    try:
        yield fd is not None
    finally:
        if fd is not None:
            release(fd)

