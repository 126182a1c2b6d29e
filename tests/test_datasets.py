"""Data sets of the network experiments: split sizes, determinism, disjointness, class balance."""

import numpy as np
import pytest

from simulations.networks.datasets import digits, stratified_split, teacher

sklearn = pytest.importorskip("sklearn")


def _rows(X):
    return {r.tobytes() for r in X}


def test_digits_split_sizes_and_per_class_counts():
    data = digits()
    assert data.sizes() == (1078, 359, 360)
    assert data.n_features == 64 and data.n_classes == 10
    raw = sklearn.datasets.load_digits()
    per_class = np.bincount(raw.target)
    # each class c contributes round(0.6 n_c) train and round(0.2 n_c) validation points
    np.testing.assert_array_equal(np.bincount(data.y_train), np.round(0.6 * per_class).astype(int))
    np.testing.assert_array_equal(np.bincount(data.y_val), np.round(0.2 * per_class).astype(int))
    assert np.bincount(data.y_test).min() >= 30     # 174..183 per class: every class well represented


def test_digits_split_is_disjoint_and_covers_the_raw_images():
    raw = sklearn.datasets.load_digits()
    data = digits(standardize=False)
    parts = [data.X_train * 16, data.X_val * 16, data.X_test * 16]
    ys = [data.y_train, data.y_val, data.y_test]
    # identify every row of the split with a raw image (digits has a few duplicate images: compare multisets)
    allX = np.concatenate(parts)
    ally = np.concatenate(ys)
    key = lambda X, y: sorted(r.tobytes() + bytes([int(c)]) for r, c in zip(X, y))
    assert key(allX, ally) == key(raw.data, raw.target)
    idx = stratified_split(raw.target, (0.6, 0.2, 0.2), np.random.default_rng(0))
    assert sum(i.size for i in idx) == raw.target.size
    assert len(np.unique(np.concatenate(idx))) == raw.target.size


def test_digits_is_deterministic_and_standardised_on_train():
    a, b = digits(), digits()
    for name in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = digits(split_seed=1)
    assert not np.array_equal(a.y_train, c.y_train)
    np.testing.assert_allclose(a.X_train.mean(axis=0), 0.0, atol=1e-12)
    std = a.X_train.std(axis=0)
    varying = std > 0
    assert varying.sum() >= 60                      # a few border pixels are constant
    np.testing.assert_allclose(std[varying], 1.0, rtol=1e-12)


def test_teacher_sizes_determinism_and_balance():
    a = teacher(3, n_train=500, n_val=100, n_test=400)
    b = teacher(3, n_train=500, n_val=100, n_test=400)
    assert a.sizes() == (500, 100, 400)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_train, teacher(4, n_train=500, n_val=100, n_test=400).y_train)
    assert not (_rows(a.X_train) & _rows(a.X_test)) and not (_rows(a.X_train) & _rows(a.X_val))
    freq = np.bincount(np.concatenate([a.y_train, a.y_val, a.y_test]), minlength=10) / 1000
    assert freq.min() > 0.05 and freq.max() < 0.15  # balanced to within 10% of 1/C, margin cut per class


def test_teacher_labels_are_the_planted_networks_argmax():
    data = teacher(0, n_train=50, n_val=10, n_test=10, d=5, hidden=(4,), n_classes=3, latent_dim=None,
                   margin_quantile=0.0)
    # reconstruct the teacher from its seed stream: labels must be a deterministic function of x
    # (no label noise at temperature 0): equal inputs give equal labels, and a 1-NN on a much
    # larger sample of the same teacher predicts the test labels far above chance.
    big = teacher(0, n_train=4000, n_val=10, n_test=10, d=5, hidden=(4,), n_classes=3, latent_dim=None,
                  margin_quantile=0.0)
    assert np.bincount(big.y_train, minlength=3).min() > 4000 / 3 * 0.8
    d2 = ((data.X_test[:, None, :] - big.X_train[None]) ** 2).sum(-1)
    # a different seed stream for the sample sizes: the teacher weights are the same (first draws)
    acc = np.mean(big.y_train[d2.argmin(axis=1)] == data.y_test)
    assert acc >= 0.6


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_train=0), "n_train == 0"),
    (dict(activation="gelu"), "activation"),
    (dict(temperature=-1.0), "temperature"),
    (dict(margin_quantile=1.0), "margin_quantile"),
])
def test_teacher_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        teacher(0, **kwargs)


def test_split_rejects_bad_fractions():
    with pytest.raises(ValueError, match="fractions"):
        digits(fractions=(0.5, 0.5, 0.5))


def test_teacher_margin_cut_and_latent_inputs():
    data = teacher(2, n_train=400, n_val=50, n_test=200, latent_dim=8, margin_quantile=0.8)
    X = np.concatenate([data.X_train, data.X_val, data.X_test])
    s = np.linalg.svd(X, compute_uv=False)
    assert s[7] > 1e-6 * s[0] and s[8] < 1e-10 * s[0]            # inputs span exactly 8 dimensions
    plain = teacher(2, n_train=400, n_val=50, n_test=200, latent_dim=8, margin_quantile=0.0)
    # the margin cut keeps the separated points: a 1-NN classifier does better on the cut data
    def nn_acc(d):
        d2 = ((d.X_test[:, None, :] - d.X_train[None]) ** 2).sum(-1)
        return np.mean(d.y_train[d2.argmin(axis=1)] == d.y_test)
    assert nn_acc(data) > nn_acc(plain)
