"""Finite block-diagonal problems (docs/theory.md Section 10): ``from_spectrum`` with a block spectrum,
the ``joint`` selection against brute force over all masks, and the pruning library with the population
Hessian against the theory's per-block rules written out here in plain NumPy, one block at a time."""

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import asymptotics
from asymptotics import BlockSpectrum
from linear_models import criterion_names, fit, from_spectrum, get_criterion, prune, refit
from linear_models.joint import joint_mask


def random_blocks(rng, m, B, corr=0.9):
    """``m`` random SPD ``B x B`` blocks with strong correlations and unequal scales."""
    out = []
    for _ in range(m):
        A = rng.standard_normal((B, B))
        C = A @ A.T + (1 - corr) * np.eye(B)
        d = rng.uniform(0.3, 3.0, B)
        out.append(C * np.outer(d, d))
    return np.array(out)


def block_diag(blocks):
    m, B = blocks.shape[:2]
    H = np.zeros((m * B, m * B))
    for j in range(m):
        H[j * B:(j + 1) * B, j * B:(j + 1) * B] = blocks[j]
    return H


# ------------------------------------------------------------------------------- from_spectrum

def test_from_block_spectrum_layout_signal_and_risk():
    spec = BlockSpectrum([[[1.0, 0.5], [0.5, 4.0]], [[2.0, -0.9], [-0.9, 1.0]]], [[1.0, -0.3], [0.2, 0.7]],
                         [0.25, 0.75])
    p = 16
    prob = from_spectrum(spec, p, 0.4, rng=3)
    assert prob.block_size == 2 and prob.p == p and prob.noise == 0.4
    S = prob.sigma
    types = [0, 0] + [1] * 6                          # 8 blocks: round(0.25 * 8) = 2 of type 0
    for j, k in enumerate(types):
        blk = slice(2 * j, 2 * j + 2)
        assert_array_equal(S[blk, blk], spec.covariances[k])
        b = np.sqrt(p) * prob.beta[blk]
        assert_allclose(np.abs(b), np.abs(spec.signal[k]), rtol=1e-14)
        assert np.sign(b[0] * b[1]) == np.sign(spec.signal[k][0] * spec.signal[k][1])   # relative sign kept
    off = S.copy()
    for j in range(8):
        off[2 * j:2 * j + 2, 2 * j:2 * j + 2] = 0
    assert not off.any()
    w = np.linspace(-1, 1, p)
    d = w - prob.beta
    assert prob.risk(w) == pytest.approx(0.16 + d @ S @ d, rel=1e-14)
    assert_allclose(prob.importance(), np.diag(S) * prob.beta**2, rtol=1e-14)
    assert prob.scaled([2.0]).block_size == 2


def test_from_block_spectrum_gaussian_signal_covariance():
    """A rank-one signal covariance ``[[1, -1], [-1, 1]]`` makes the two weights of a block exact opposites."""
    spec = BlockSpectrum([[[1.0, 0.3], [0.3, 1.0]]], None, signal_dist="gaussian", signal_cov=[[[1.0, -1.0], [-1.0, 1.0]]])
    prob = from_spectrum(spec, 400, 0.1, rng=0)
    b = prob.beta.reshape(-1, 2)
    assert_allclose(b[:, 0], -b[:, 1], atol=1e-14)
    assert 0.8 < np.mean(400 * b[:, 0] ** 2) < 1.2            # variance 1 (200 draws: sd 0.1)


def test_from_block_spectrum_rejects_incomplete_blocks():
    with pytest.raises(ValueError, match="p == 7 is not a multiple of the block size 2"):
        from_spectrum(BlockSpectrum.correlated_pair(0.5), 7, 0.1, rng=0)


# ------------------------------------------------------------------------------- joint: brute force

def block_costs_brute(w, blocks):
    """Per block the cost of every kept pattern, via the full inverse (bit i = coordinate i kept)."""
    m, B = blocks.shape[:2]
    out = np.zeros((m, 2**B))
    for j in range(m):
        inv = np.linalg.inv(blocks[j])
        for s in range(2**B):
            P = [i for i in range(B) if not (s >> i) & 1]
            if P:
                wp = w[j * B + np.array(P)]
                out[j, s] = wp @ np.linalg.solve(inv[np.ix_(P, P)], wp)
    return out


def global_costs(w, H):
    """``g(k) = min over masks of count k of w_P' ([H^-1]_PP)^-1 w_P``, by enumerating all 2^p masks."""
    p = w.size
    Hinv = np.linalg.inv(H)
    best = np.full(p + 1, np.inf)
    arg = [None] * (p + 1)
    for bits in itertools.product([False, True], repeat=p):
        mask = np.array(bits)
        P = np.flatnonzero(~mask)
        c = 0.0 if not P.size else float(w[P] @ np.linalg.solve(Hinv[np.ix_(P, P)], w[P]))
        k = int(mask.sum())
        if c < best[k]:
            best[k], arg[k] = c, mask
    return best, arg


def lower_hull_vertices(g):
    """Indices ``k`` on the lower convex hull of ``(k, g(k))`` (strict vertices)."""
    hull = []
    for k in range(g.size):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            if (g[b] - g[a]) * (k - a) >= (g[k] - g[a]) * (b - a):
                hull.pop()
            else:
                break
        hull.append(k)
    return hull


@pytest.mark.parametrize("m, B, seed", [(3, 2, 0), (3, 2, 1), (4, 2, 2), (2, 3, 3), (2, 3, 4), (2, 4, 5)])
def test_joint_against_brute_force(m, B, seed):
    rng = np.random.default_rng(seed)
    blocks = random_blocks(rng, m, B)
    w = rng.standard_normal(m * B) * rng.uniform(0.2, 2.0, m * B)
    check_joint_brute(w, blocks)


def test_joint_against_brute_force_where_the_hull_skips_sizes():
    """Negatively correlated pairs with same-sign weights: pruning one weight costs more than half of pruning
    both, so the Lagrangian jumps from 0 to 2 kept and odd counts need the partial block."""
    rng = np.random.default_rng(9)
    r = np.array([-0.9, -0.7, -0.95, -0.8])
    d = rng.uniform(0.5, 2.0, (4, 2))
    blocks = np.array([[[1.0, rj], [rj, 1.0]] for rj in r]) * d[:, :, None] * d[:, None, :]
    w = (rng.uniform(0.95, 1.05, 8).reshape(4, 2) / d).ravel()
    assert check_joint_brute(w, blocks) >= 3


def check_joint_brute(w, blocks):
    m, B = blocks.shape[:2]
    H = block_diag(blocks)
    Hinv = np.linalg.inv(H)
    g, arg = global_costs(w, H)
    costs = block_costs_brute(w, blocks)
    hull = lower_hull_vertices(g)
    partial_seen = 0
    for k in range(m * B + 1):
        mask = joint_mask(w, Hinv, B, k)
        assert mask.sum() == k
        pats = [int(sum(1 << i for i in range(B) if mask[j * B + i])) for j in range(m)]
        total = sum(costs[j, s] for j, s in enumerate(pats))
        if k in hull:                     # a Lagrangian count: the mask is the global optimum of its count
            assert total == pytest.approx(g[k], rel=1e-10, abs=1e-13)
            assert_array_equal(mask, arg[k])
            continue
        partial_seen += 1
        # otherwise: a multiplier t at which all blocks but one minimise c_j(S) + t |S|, and that one block
        # holds its cheapest pattern of its size
        sizes = np.array([bin(s).count("1") for s in range(2**B)])
        cands = {0.0, 1e300}
        for j in range(m):
            for s1, s2 in itertools.combinations(range(2**B), 2):
                if sizes[s1] != sizes[s2]:
                    cands.add(abs((costs[j, s1] - costs[j, s2]) / (sizes[s2] - sizes[s1])))
        ok = False
        for t in cands:
            off = [j for j, s in enumerate(pats)
                   if costs[j, s] + t * sizes[s] > np.min(costs[j] + t * sizes) * (1 + 1e-12) + 1e-300]
            if len(off) <= 1 and all(costs[j, pats[j]] == np.min(costs[j][sizes == sizes[pats[j]]]) for j in off):
                ok = True
                break
        assert ok, (k, pats)
    assert len(hull) >= 3
    print(f"joint m={m} B={B}: {len(hull)} Lagrangian counts, {partial_seen} counts with a partial block")
    return partial_seen


def test_joint_is_deterministic_on_ties():
    """Identical blocks tie: the lower block is kept first; equal weights inside a block: the lower bit.
    Per block the costs are 5 (all pruned), 1.875 (one kept), 0: hull edges at t = 3.125 then 1.875, so every
    block gets its first weight before any gets its second."""
    H = np.kron(np.eye(3), np.array([[2.0, 0.5], [0.5, 2.0]]))
    w = np.tile([1.0, 1.0], 3)
    for k in range(7):
        a = joint_mask(w, np.linalg.inv(H), 2, k)
        assert_array_equal(a, joint_mask(w, np.linalg.inv(H), 2, k))
    assert_array_equal(joint_mask(w, np.linalg.inv(H), 2, 1), [True, False, False, False, False, False])
    assert_array_equal(joint_mask(w, np.linalg.inv(H), 2, 2), [True, False, True, False, False, False])
    assert_array_equal(joint_mask(w, np.linalg.inv(H), 2, 4), [True, True, True, False, True, False])


def test_joint_with_diagonal_hessian_is_obd():
    rng = np.random.default_rng(7)
    h = rng.uniform(0.1, 10, 12)
    w = rng.standard_normal(12)
    for B in (1, 2, 3):
        for k in (1, 5, 11):
            assert_array_equal(prune(w, k, "joint", hessian=np.diag(h), block_size=B).mask,
                               prune(w, k, "hessian", hessian=h).mask)


def test_joint_is_registered_and_every_theory_criterion_is():
    assert set(asymptotics.BLOCK_CRITERIA) <= set(criterion_names())
    crit = get_criterion("joint")
    assert not crit.separable and crit.update == "obs" and crit.needs == ("hessian_inverse",)


def test_joint_rejects():
    H = np.eye(6)
    with pytest.raises(ValueError, match="block_size == 4 does not divide p == 6"):
        prune(np.ones(6), 3, "joint", hessian=H, block_size=4)
    with pytest.raises(ValueError, match="block_size applies to criterion 'joint'"):
        prune(np.ones(6), 3, "magnitude", block_size=2)
    with pytest.raises(ValueError, match="update == 'single'"):
        prune(np.ones(6), 3, "joint", hessian=H, block_size=2, update="single")
    with pytest.raises(ValueError, match="hessian is required"):
        prune(np.ones(6), 3, "joint", block_size=2)


# ------------------------------------------------------------- the library against the theory's rules

def theory_rule(Y, blocks, k, criterion):
    """The theory's per-block rules of docs/theory.md Section 10 at finite p, one block at a time: the mask,
    the masked block and the population-OBS-updated block."""
    m, B = blocks.shape[:2]
    Yb = Y.reshape(m, B)
    if criterion == "obs":
        score = np.array([Yb[j] ** 2 / np.diag(np.linalg.inv(blocks[j])) for j in range(m)]).ravel()
    elif criterion == "hessian":
        score = np.array([np.sqrt(np.diag(blocks[j])) * np.abs(Yb[j]) for j in range(m)]).ravel()
    else:
        score = np.abs(Y)
    mask = np.zeros(Y.size, bool)
    mask[np.argsort(-score, kind="stable")[:k]] = True
    upd = np.zeros_like(Yb)
    for j in range(m):
        S, P = np.flatnonzero(mask.reshape(m, B)[j]), np.flatnonzero(~mask.reshape(m, B)[j])
        upd[j, S] = Yb[j, S]
        if S.size and P.size:
            upd[j, S] += np.linalg.solve(blocks[j][np.ix_(S, S)], blocks[j][np.ix_(S, P)] @ Yb[j, P])
    return mask, np.where(mask, Y, 0.0), upd.ravel()


@pytest.mark.parametrize("B", [2, 3])
def test_prune_with_the_population_hessian_is_the_theorys_block_rule(B):
    rng = np.random.default_rng(11 + B)
    m = 12
    blocks = random_blocks(rng, m, B)
    spec = BlockSpectrum(blocks, rng.standard_normal((m, B)), np.full(m, 1 / m))
    prob = from_spectrum(spec, m * B, 0.5, rng=1)
    X, y = prob.sample(5 * m * B, rng=2)
    w = fit(X, y)
    Sigma = prob.sigma
    for k in (1, 7, m * B // 2, m * B - 1):
        for lib, theory in (("woodfisher", "obs"), ("hessian", "hessian"), ("magnitude", "magnitude")):
            mask, masked, upd = theory_rule(w, blocks, k, theory)
            a = prune(w, k, lib, hessian=Sigma, update="none")
            assert_array_equal(a.mask, mask)
            assert_array_equal(a.weights, masked)
            b = prune(w, k, lib, hessian=Sigma, update="obs")
            assert_array_equal(b.mask, mask)
            assert_allclose(b.weights, upd, rtol=1e-10, atol=1e-12)
        # joint + update: the update is the same per-block population OBS update
        j = prune(w, k, "joint", hessian=Sigma, block_size=B)
        ref = np.zeros(m * B)
        for q in range(m):
            blk = slice(q * B, (q + 1) * B)
            S, P = np.flatnonzero(j.mask[blk]), np.flatnonzero(~j.mask[blk])
            ref[q * B + S] = w[blk][S]
            if S.size and P.size:
                ref[q * B + S] += np.linalg.solve(blocks[q][np.ix_(S, S)], blocks[q][np.ix_(S, P)] @ w[blk][P])
        assert_allclose(j.weights, ref, rtol=1e-10, atol=1e-12)


def test_population_and_training_hessians_both_run_and_differ():
    """obs, cbs, woodfisher and joint take Sigma or X'X/n; with the training Hessian the OBS update of any mask
    is the same-data least-squares refit (Section 4), with Sigma it is not; CBS's exact search with the
    block-diagonal Sigma never beats joint where joint is a Lagrangian optimum."""
    spec = BlockSpectrum.correlated_pair(0.8, scale=5.0, signal=(1.0, -0.6))
    prob = from_spectrum(spec, 40, 0.5, rng=4)
    X, y = prob.sample(100, rng=5)
    w = fit(X, y)
    train, pop = X.T @ X / 100, prob.sigma
    for crit, kw in (("obs", {}), ("cbs", {}), ("woodfisher", dict(update="obs")), ("joint", dict(block_size=2))):
        a = prune(w, 15, crit, hessian=train, **kw)
        b = prune(w, 15, crit, hessian=pop, **kw)
        assert a.mask.sum() == b.mask.sum() == 15
        assert_allclose(a.weights, refit(X, y, a.mask), rtol=1e-8, atol=1e-10)
        assert np.max(np.abs(b.weights - refit(X, y, b.mask))) > 1e-3
    inv = np.linalg.inv(pop)
    for k in range(2, 40, 2):                             # even counts: every block whole or empty is possible
        jm = prune(w, k, "joint", hessian=pop, block_size=2)
        cb = prune(w, k, "cbs", hessian=pop)
        P = ~jm.mask
        assert 2 * jm.loss_increase == pytest.approx(w[P] @ np.linalg.solve(inv[np.ix_(P, P)], w[P]), rel=1e-10)
        assert cb.loss_increase >= jm.loss_increase * (1 - 1e-10) or not _lagrangian(w, inv, k)


def _lagrangian(w, inv, k):
    """Whether the joint mask of count ``k`` used whole hull edges only (recomputed from adjacent counts)."""
    from linear_models.joint import block_inverse_blocks, joint_patterns, pattern_costs
    costs = pattern_costs(w, block_inverse_blocks(inv, 2))
    pats = joint_patterns(costs, np.array([k]))[0]
    best1 = np.minimum(costs[:, 1], costs[:, 2])
    on_hull = best1 <= costs[:, 0] / 2                  # size 1 on the hull of (0, c0), (1, c1), (2, 0)
    sizes = np.array([0, 1, 1, 2])[pats]
    return bool(np.all((sizes != 1) | on_hull))
