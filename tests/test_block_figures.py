"""The block-correlation figure (docs/theory.md Section 10) in quick mode: it writes PNG, PDF and a tidy CSV,
and its simulated points agree with the theory within the Bonferroni bound fixed in advance for their number
(120 points in quick mode: 2 signs x 5 correlations x 4 criteria x (no update, update, fresh refit))."""

import csv

import pytest

from simulations.figures import FIGURES
from simulations.figures.blocks import figure_bound, figure_sizes

from conftest import bonferroni_bound


def test_figure_bound_is_the_suites_bonferroni_bound():
    for m in (13, 120, 168):
        assert abs(figure_bound(m) - bonferroni_bound(m)) < 1e-9
    p, trials, grid, sim = figure_sizes(True)
    assert (p, trials, len(sim)) == (200, 100, 5) and grid[0] == -0.95 and grid[-1] == 0.95


@pytest.mark.slow
def test_block_correlation_figure_quick(tmp_path, record_z):
    paths = FIGURES["block-correlation"](tmp_path, quick=True, n_jobs=2)
    assert [p.suffix for p in paths] == [".png", ".pdf", ".csv"] and all(p.stat().st_size > 0 for p in paths)
    rows = list(csv.DictReader(open(paths[-1])))
    zs = [float(r["z"]) for r in rows if r["z"]]
    assert len(zs) == 120
    bound = figure_bound(len(zs))
    record_z("figure block-correlation (quick)", zs, bound)
    assert max(map(abs, zs)) < bound


@pytest.mark.slow
def test_block_hessian_gap_figure_quick(tmp_path, record_z):
    """16 population points held to the theory (2 models x 2 sizes x 2 criteria x 2 keep levels); the training
    Hessian points have no formula and carry no z."""
    paths = FIGURES["block-hessian-gap"](tmp_path, quick=True, n_jobs=2)
    assert [p.suffix for p in paths] == [".png", ".pdf", ".csv", ".md"]
    rows = list(csv.DictReader(open(paths[2])))
    zs = [float(r["z"]) for r in rows if r["z"]]
    assert len(zs) == 16 and all(r["z"] == "" for r in rows if "training" in r["criterion"])
    bound = figure_bound(len(zs))
    record_z("figure block-hessian-gap (quick, population points)", zs, bound)
    assert max(map(abs, zs)) < bound
