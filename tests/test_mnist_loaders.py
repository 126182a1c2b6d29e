"""MNIST from local IDX / .npz files the test writes, and MNIST-1D from its package's generator."""

import gzip
import random
import struct

import numpy as np
import pytest

from simulations.networks.mnist import IDX_FILES, load_mnist, load_mnist1d, read_idx


def _idx_bytes(arr, code=0x08):
    arr = np.asarray(arr)
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}i", *arr.shape)
    dt = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}[code]
    return header + arr.astype(dt).tobytes()


def _mnist_arrays(seed=0, n_train=30, n_test=12):
    rng = np.random.default_rng(seed)
    return dict(x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
                y_train=rng.integers(0, 10, n_train, dtype=np.uint8),
                x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
                y_test=rng.integers(0, 10, n_test, dtype=np.uint8))


def _write_idx(directory, arrays, gz):
    for key, base in IDX_FILES.items():
        data = _idx_bytes(arrays[key])
        path = directory / (base + (".gz" if gz else ""))
        if gz:
            with gzip.open(path, "wb") as f:
                f.write(data)
        else:
            path.write_bytes(data)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_directory(tmp_path, gz):
    arrays = _mnist_arrays()
    _write_idx(tmp_path, arrays, gz)
    data = load_mnist(tmp_path)
    assert data.name == "mnist" and data.sizes() == (30, 0, 12) and data.n_features == 784
    np.testing.assert_array_equal(data.X_train, arrays["x_train"].reshape(30, 784) / 255.0)
    np.testing.assert_array_equal(data.y_test, arrays["y_test"].astype(np.int64))
    assert data.X_train.dtype == np.float64 and data.y_train.dtype == np.int64


def test_npz_equals_idx_and_splits(tmp_path):
    arrays = _mnist_arrays(1)
    _write_idx(tmp_path, arrays, gz=True)
    npz = tmp_path / "mnist.npz"
    np.savez(npz, **arrays)
    a = load_mnist(tmp_path, n_val=10, normalize="mnist", split_seed=3)
    b = load_mnist(npz, n_val=10, normalize="mnist", split_seed=3)
    for name in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.sizes() == (20, 10, 12)
    perm = np.random.default_rng(3).permutation(30)
    np.testing.assert_allclose(a.X_val, (arrays["x_train"].reshape(30, 784)[perm[:10]] / 255.0 - 0.1307) / 0.3081)
    s = load_mnist(npz, normalize="standardize")
    used = s.X_train.std(axis=0) > 0
    np.testing.assert_allclose(s.X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(s.X_train.std(axis=0)[used], 1, rtol=1e-12)


def test_read_idx_types_and_dot_names(tmp_path):
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 5
    (tmp_path / "f.idx").write_bytes(_idx_bytes(a, 0x0D))
    np.testing.assert_array_equal(read_idx(tmp_path / "f.idx"), a)
    b = np.array([-3, 300, 7], dtype=np.int16)
    (tmp_path / "g.idx").write_bytes(_idx_bytes(b, 0x0B))
    np.testing.assert_array_equal(read_idx(tmp_path / "g.idx"), b)
    arrays = _mnist_arrays(2)
    for key, base in IDX_FILES.items():                       # the train-images.idx3-ubyte spelling
        (tmp_path / base.replace("-idx", ".idx")).write_bytes(_idx_bytes(arrays[key]))
    assert load_mnist(tmp_path).sizes() == (30, 0, 12)


def test_errors_name_the_path_and_the_files(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=r"MNIST path '.*nowhere' does not exist; pass a directory with the "
                                                 r"IDX files train-images-idx3-ubyte\[\.gz\]"):
        load_mnist(missing)
    arrays = _mnist_arrays()
    _write_idx(tmp_path, arrays, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="lacks t10k-labels-idx1-ubyte .expected the four IDX files"):
        load_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(ValueError, match=r"3 bytes of data, the header's shape \(5,\) needs 5"):
        load_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"PK\x03\x04junk")
    with pytest.raises(ValueError, match="is not an IDX file"):
        load_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(arrays["y_test"][:5]))
    with pytest.raises(ValueError, match="test part .* do not match"):
        load_mnist(tmp_path)
    npz = tmp_path / "m.npz"
    np.savez(npz, x_train=arrays["x_train"], y_train=arrays["y_train"])
    with pytest.raises(ValueError, match="lacks the arrays x_test, y_test"):
        load_mnist(npz)
    (tmp_path / "m.txt").write_text("x")
    with pytest.raises(ValueError, match="is a file but not an .npz"):
        load_mnist(tmp_path / "m.txt")
    with pytest.raises(ValueError, match="normalize == 'max'"):
        load_mnist(npz, normalize="max")


def test_mnist1d_standard_split_seeded_and_global_state_untouched():
    pytest.importorskip("mnist1d")
    np.random.seed(123)
    random.seed(7)
    before_np, before_py = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(7)
    a = load_mnist1d()
    assert np.random.random() == before_np and random.random() == before_py      # caller's streams unchanged
    assert a.name == "mnist1d" and a.sizes() == (4000, 0, 1000) and a.n_features == 40
    assert set(np.unique(a.y_train)) == set(range(10)) and set(np.unique(a.y_test)) <= set(range(10))
    # 500 signals per class in all (the generator's samples_per_class), standardised over the whole set
    np.testing.assert_array_equal(np.bincount(np.concatenate([a.y_train, a.y_test]), minlength=10), 500)
    allx = np.concatenate([a.X_train, a.X_test])
    assert abs(allx.mean()) < 1e-12 and abs(allx.std() - 1) < 1e-12
    b = load_mnist1d(42, n_val=500)
    np.testing.assert_array_equal(np.concatenate([b.X_train, b.X_val]), a.X_train)
    assert b.sizes() == (3500, 500, 1000)
    c = load_mnist1d(0)
    assert not np.array_equal(c.X_train, a.X_train)
    with pytest.raises(ValueError, match=r"n_val == 4000, must be an integer in \[0, 4000\)"):
        load_mnist1d(n_val=4000)


def test_mnist1d_missing_extra(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(ImportError, match=r"pip install 'pruning-mechanics\[mnist1d\]'"):
        load_mnist1d()
