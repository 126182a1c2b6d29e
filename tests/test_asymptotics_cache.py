"""Stale compiled code: Numba's on-disk cache must not serve machine code compiled from other sources.

Each test runs the theory's kernels in fresh subprocesses on a temporary copy of ``asymptotics``
with a temporary ``NUMBA_CACHE_DIR``, edits the copy between runs, and checks what the next
process computes against an independent expectation.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import asymptotics

CHILD = r"""
import json, sys
import numpy as np
import asymptotics.moments as m
import asymptotics.thresholds as t
assert m.__file__.startswith(sys.argv[1]), m.__file__
out = {}
for name, (K, n) in {"serial": (3, 4), "parallel": (512, 1024)}.items():
    if name not in sys.argv[2:]:
        continue
    A = np.linspace(0.1, 2.0, K); C = np.full(K, 0.7)
    x = np.linspace(0.0, 2.5, n)
    th = t.Thresholds(x, x.copy(), np.ones(n), np.zeros(n), np.ones(n), 0)
    assert (n * K >= t.PARALLEL_MIN_WORK) == (name == "parallel")
    Q, R, TM = m.moment_sums(th, A, C, C, np.ones((3, 4, K)), np.ones(K), True)
    kernel = m._moment_parallel if name == "parallel" else m._moment_serial
    G = t.continuous_kept(x, A, C, np.full(K, 1.0 / K))
    kept = t._kept_parallel if name == "parallel" else t._kept_serial
    out[name] = {"Q": Q[:, :3].tolist(), "R": R.tolist(), "G": G.tolist(),
                 "hits": int(sum(kernel.stats.cache_hits.values())),
                 "kept_hits": int(sum(kept.stats.cache_hits.values()))}
print(json.dumps(out))
"""


@pytest.fixture
def package(tmp_path):
    """A temporary copy of ``asymptotics`` (without compiled caches) and an empty Numba cache."""
    src = Path(asymptotics.__file__).parent
    root = tmp_path / "pkg"
    shutil.copytree(src, root / "asymptotics", ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    return root, tmp_path / "numba_cache"


def _run(package, *variants, cache=None):
    root, default_cache = package
    env = dict(os.environ, PYTHONPATH=str(root), NUMBA_CACHE_DIR=str(cache or default_cache))
    proc = subprocess.run([sys.executable, "-c", CHILD, str(root), *variants], env=env, cwd=root, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _edit(path, old, new):
    text = path.read_text()
    assert text.count(old) >= 1, old
    path.write_text(text.replace(old, new, 1))


def test_regenerated_moments_are_not_served_from_a_stale_cache(package):
    """Stale compiled code: the cached moment kernels inline the generated ``truncated_moments``; after
    that function changes (the moments are regenerated) the next process must compute with the new
    code, for the serial and the parallel kernel (the cache was keyed on moments.py alone)."""
    before = _run(package, "serial", "parallel")
    assert before["serial"]["hits"] == 0
    again = _run(package, "serial", "parallel")
    assert again["serial"]["hits"] == 1 and again["parallel"]["hits"] == 1       # the cache works
    assert again == {k: dict(v, hits=1, kept_hits=1) for k, v in before.items()}
    # halve P(kept) in the scalar code the kernels compile in (0.5 * x is exact in floating point)
    _edit(package[0] / "asymptotics" / "_generated_moments.py", "return (x3 + x5, ", "return (0.5*(x3 + x5), ")
    after = _run(package, "serial", "parallel")
    for name in ("serial", "parallel"):
        np.testing.assert_array_equal(np.array(after[name]["Q"]), 0.5 * np.array(before[name]["Q"]), err_msg=name)


def test_changed_constant_of_another_module_is_not_served_from_a_stale_cache(package, tmp_path):
    """Stale compiled code: the moment kernels compile in ``Z_CLIP`` from thresholds.py; after it changes
    the next process must agree with a compilation from scratch (an empty cache), not with the old value."""
    before = _run(package, "serial", "parallel")
    _edit(package[0] / "asymptotics" / "thresholds.py", "Z_CLIP = 40.0", "Z_CLIP = 0.5")
    after = _run(package, "serial", "parallel")
    fresh = _run(package, "serial", "parallel", cache=tmp_path / "empty_cache")
    for name in ("serial", "parallel"):
        assert fresh[name]["hits"] == 0
        assert not np.array_equal(fresh[name]["Q"], before[name]["Q"])          # the change is visible
        assert after[name]["Q"] == fresh[name]["Q"] and after[name]["R"] == fresh[name]["R"], name


def test_serial_and_parallel_variants_have_their_own_cache_entries(package):
    """Stale compiled code: ``njit(cache=True)(f)`` and ``njit(parallel=True, cache=True)(f)`` had one cache
    key, so a process that first compiled the parallel kernel made every later process load it for the
    serial one (and the reverse); each variant must compile (miss) once and then load its own entry."""
    first = _run(package, "parallel")
    assert first["parallel"]["hits"] == 0 and first["parallel"]["kept_hits"] == 0
    second = _run(package, "serial")
    assert second["serial"]["hits"] == 0, "the serial moment kernel was loaded from the parallel kernel's entry"
    assert second["serial"]["kept_hits"] == 0, "the serial kept kernel was loaded from the parallel kernel's entry"
    third = _run(package, "serial", "parallel")
    for name in ("serial", "parallel"):
        assert third[name]["hits"] == 1 and third[name]["kept_hits"] == 1, name
    assert third["serial"]["Q"] == second["serial"]["Q"] and third["parallel"]["Q"] == first["parallel"]["Q"]
