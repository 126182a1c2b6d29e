"""Block-wise second order (linear_models.blockwise) against the full-matrix methods.

Reference values are the full-matrix functions of linear_models (prune with a dense matrix): one
block covering every weight must give their masks and weights, several blocks must give what they
give on the dense block-diagonal matrix, and blocks of size 1 must give OBD with the (vanishing)
OBS update on the damped diagonal.
"""

import numpy as np
import pytest

from linear_models import empirical_fisher, prune
from linear_models.blockwise import (BlockFisher, block_fisher, cbs_search_blocks, layer_blocks, memory_estimate,
                                     prune_blockwise)
from linear_models.second_order import cbs_search, selection_objective

D = 40
REL = 1e-2


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(1)
    G = rng.standard_normal((300, D)) @ rng.standard_normal((D, D)) * 0.3
    w = rng.standard_normal(D)
    return G, w


def _dense(bf):
    H = np.zeros((bf.d, bf.d))
    for (a, b), M in zip(bf.blocks, bf.matrices):
        H[a:b, a:b] = M
    return H


CASES = [("obs", {}), ("woodfisher", {}), ("cbs", {}), ("magnitude", {"update": "obs"}),
         ("hessian", {"update": "obs"}), ("taylor2", {"update": "single"})]


@pytest.mark.parametrize("criterion,kw", CASES)
@pytest.mark.parametrize("keep", [0.3, 0.75, 5])
def test_one_block_equals_full_matrix(problem, criterion, kw, keep):
    G, w = problem
    F = empirical_fisher(G, relative_damping=REL)
    bf = block_fisher(G, [(0, D)], relative_damping=REL)
    assert bf.damping == pytest.approx(F.damping, rel=1e-14)
    np.testing.assert_allclose(bf.matrices[0], F.matrix, rtol=0, atol=1e-12 * np.abs(F.matrix).max())
    H = F.matrix - F.damping * np.eye(D)
    grad = G.mean(axis=0)
    full = prune(w, keep, criterion, hessian=H, damping=F.damping, grad=grad, cbs_search="paper", **kw)
    blk = prune_blockwise(w, keep, criterion, bf, grad=grad, **kw)
    np.testing.assert_array_equal(blk.mask, full.mask)
    np.testing.assert_allclose(blk.weights, full.weights, rtol=0, atol=1e-10)
    if full.loss_increase is not None:
        assert blk.loss_increase == pytest.approx(full.loss_increase, rel=1e-10)


@pytest.mark.parametrize("criterion,kw", CASES[:4])
def test_blocks_equal_full_matrix_on_the_block_diagonal(problem, criterion, kw):
    G, w = problem
    bf = block_fisher(G, [(0, 7), (7, 20), (20, 33), (33, 40)], relative_damping=REL)
    H = _dense(bf)                                     # damped already
    full = prune(w, 0.3, criterion, hessian=H, cbs_search="paper", **kw)
    blk = prune_blockwise(w, 0.3, criterion, bf, **kw)
    np.testing.assert_array_equal(blk.mask, full.mask)
    np.testing.assert_allclose(blk.weights, full.weights, rtol=0, atol=1e-10)
    assert blk.loss_increase == pytest.approx(full.loss_increase, rel=1e-10)
    assert sum(blk.info["removed_per_block"]) == D - 12
    # no coupling between blocks: the kept weights move only inside blocks that lost a weight
    for (a, b), r in zip(bf.blocks, blk.info["removed_per_block"]):
        if r == 0:
            np.testing.assert_array_equal(blk.weights[a:b], w[a:b])


def test_block_size_one_is_obd_with_update(problem):
    G, w = problem
    bf = block_fisher(G, [(i, i + 1) for i in range(D)], relative_damping=REL)
    diag = np.diag(empirical_fisher(G, relative_damping=REL).matrix)      # damped diagonal
    obd = prune(w, 0.3, "hessian", hessian=np.diag(diag), update="obs")
    for criterion in ("obs", "woodfisher", "cbs"):
        res = prune_blockwise(w, 0.3, criterion, bf)
        if criterion != "cbs":                         # CBS searches a different objective (no update)
            np.testing.assert_array_equal(res.mask, obd.mask)
        if criterion != "woodfisher":                  # diagonal: the OBS update changes no kept weight
            np.testing.assert_allclose(res.weights, np.where(res.mask, w, 0.0), rtol=0, atol=1e-12)
    res = prune_blockwise(w, 0.3, "obs", bf)
    np.testing.assert_allclose(res.weights, obd.weights, rtol=0, atol=1e-10)
    assert res.loss_increase == pytest.approx(obd.loss_increase, rel=1e-10)
    # the diagonal model by hand: 1/2 sum over the pruned of (H_ii + lambda) w_i^2
    assert res.loss_increase == pytest.approx(0.5 * np.sum(diag[~res.mask] * w[~res.mask] ** 2), rel=1e-10)


def test_chunks_equal_one_array(problem):
    G, w = problem
    blocks = layer_blocks([25, 15], 10)
    assert blocks == [(0, 9), (9, 17), (17, 25), (25, 33), (33, 40)]
    a = block_fisher(G, blocks, damping=0.1)
    b = block_fisher((G[i:i + 37] for i in range(0, G.shape[0], 37)), blocks, damping=0.1)
    for Ma, Mb, (s, e) in zip(a.matrices, b.matrices, blocks):
        np.testing.assert_allclose(Ma, Mb, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(Ma, G[:, s:e].T @ G[:, s:e] / G.shape[0] + 0.1 * np.eye(e - s), rtol=1e-12)
        np.testing.assert_allclose(Ma, Ma.T, rtol=0, atol=0)
    np.testing.assert_allclose(a.diagonal, np.mean(G * G, axis=0), rtol=1e-12)
    assert a.n_samples == b.n_samples == G.shape[0]


def test_cbs_search_blocks_one_block_matches_dense(problem):
    G, w = problem
    bf = block_fisher(G, [(0, D)], relative_damping=REL, inverse=False)
    start = np.abs(w) >= np.sort(np.abs(w))[D - 15]
    a = cbs_search(w, bf.matrices[0], start, epsilon=1e-6)
    b = cbs_search_blocks(w, bf, start, epsilon=1e-6)
    np.testing.assert_array_equal(a.mask, b.mask)
    assert a.swaps == b.swaps and a.objectives == pytest.approx(b.objectives, rel=1e-12)


def test_cbs_across_blocks_never_worse_than_its_start(problem):
    G, w = problem
    bf = block_fisher(G, layer_blocks([D], 8), relative_damping=REL, inverse=False)
    start = np.abs(w) >= np.sort(np.abs(w))[D - 12]
    res = cbs_search_blocks(w, bf, start, epsilon=0.0)
    assert res.mask.sum() == 12
    assert res.objective <= res.start_objective
    assert res.objective == pytest.approx(selection_objective(w, _dense(bf), res.mask), rel=1e-12)


def test_from_matrix_and_memory_checks(problem):
    G, w = problem
    F = empirical_fisher(G)
    bf = BlockFisher.from_matrix(F.matrix, [(0, 20), (20, 40)], relative_damping=REL)
    ref = block_fisher(G, [(0, 20), (20, 40)], relative_damping=REL)
    for Ma, Mb in zip(bf.matrices, ref.matrices):
        np.testing.assert_allclose(Ma, Mb, rtol=1e-12)
    assert memory_estimate([2000] * 3, 2) == 3 * 2000 ** 2 * 16
    with pytest.raises(MemoryError, match=r"in 2 blocks \(largest 20\) needs 12\.5 KiB > max_memory == 1\.0 KiB; pass a smaller block size"):
        block_fisher(G, [(0, 20), (20, 40)], max_memory=1024)


def test_bad_input(problem):
    G, w = problem
    with pytest.raises(ValueError, match="block_size == 30 is larger than every layer .largest: layer 0 with 25"):
        layer_blocks([25, 15], 30)
    with pytest.raises(ValueError, match=r"blocks\[1\] == \(21, 40\)"):
        block_fisher(G, [(0, 20), (21, 40)])
    with pytest.raises(ValueError, match="grads chunk 0 has shape"):
        block_fisher(G[:, :30], [(0, 40)])
    bf = block_fisher(G, [(0, 40)], inverse=False, damping=0.1)
    with pytest.raises(ValueError, match="needs the block inverses"):
        prune_blockwise(w, 0.5, "obs", bf)
    with pytest.raises(ValueError, match="keep == 1.5"):
        prune_blockwise(w, 1.5, "cbs", bf)
    with pytest.raises(ValueError, match="grad is required for criterion 'taylor1'"):
        prune_blockwise(w, 0.5, "taylor1", bf)


@pytest.mark.parametrize("rank", [1, 3, 16])
def test_lazy_downdates_and_compaction_change_nothing(problem, monkeypatch, rank):
    """Pending downdates applied every ``rank`` removals, blocks compacted: still greedy OBS exactly."""
    import linear_models.blockwise as bw
    G, w = problem
    monkeypatch.setattr(bw, "LAZY_RANK", rank)
    F = empirical_fisher(G, relative_damping=REL)
    full = prune(w, 4, "obs", hessian=F.matrix)
    for blocks in ([(0, D)], [(0, 13), (13, 40)]):
        bf = block_fisher(G, blocks, relative_damping=REL)
        res = prune_blockwise(w, 4, "obs", bf)
        ref = prune(w, 4, "obs", hessian=_dense(bf)) if len(blocks) > 1 else full
        np.testing.assert_array_equal(res.mask, ref.mask)
        np.testing.assert_allclose(res.weights, ref.weights, rtol=0, atol=1e-10)
        assert res.loss_increase == pytest.approx(ref.loss_increase, rel=1e-10)


def test_restrict_takes_whole_blocks_and_refuses_to_cut_one():
    rng = np.random.default_rng(2)
    G = rng.standard_normal((50, 40))
    bf = block_fisher(G, layer_blocks([25, 15], 10), relative_damping=REL, inverse=True)
    sub = bf.restrict(25, 40)
    assert sub.blocks == [(0, 8), (8, 15)] and sub.damping == bf.damping      # 15 weights in two balanced blocks
    np.testing.assert_array_equal(sub.matrices[1], bf.matrices[-1])
    np.testing.assert_array_equal(sub.diagonal, bf.diagonal[25:])
    assert bf.restrict(0, 40) is bf
    with pytest.raises(ValueError, match="cuts through a block"):
        bf.restrict(5, 40)
