"""Every notebook runs in quick mode; its simulated points agree with theory within a |z| bound fixed in advance.

A notebook's CSV holds m z-values (m is set by the figure's grid, not by the outcome). The bound is the
Bonferroni bound for m values at a 1% family-wise level, so a correct formula passes each notebook with
probability at least 0.99 for any seed (about 3.5 for 20 values, 3.9 for 100). Slow: each notebook runs a
simulation (minutes in total); deselect with -m "not slow".
"""

import csv
import os
from pathlib import Path

import pytest
from conftest import bonferroni_bound

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
FAMILY_LEVEL = 0.01      # P(fail | correct formula) <= 1% per notebook


def test_one_notebook_per_figure():
    from simulations.figures import FIGURES

    assert {p.stem for p in NOTEBOOKS} == {name.replace("-", "_") for name in FIGURES}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_quick_and_agrees(path, tmp_path, monkeypatch, record_z):
    """Notebooks with a theory column are held to the bound; the others must write their tidy CSV."""
    monkeypatch.setenv("PRUNING_MECHANICS_QUICK", "1")
    monkeypatch.setenv("PRUNING_MECHANICS_OUT", str(tmp_path))
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    csvs = sorted(tmp_path.glob("*.csv"))
    assert csvs, f"{path.stem} wrote no CSV"
    rows = [r for f in csvs for r in csv.DictReader(open(f))]
    assert rows
    # the columns shared with sweep CSVs are filled as the figure fills them
    assert all(r["noise"] != "" and r["spectrum"] != "" for r in rows if "noise" in r), path.stem
    zrows = [r for r in rows if r.get("z") not in (None, "")]
    if path.stem == "retraining":
        # no formula for same-data refits: only no-refit and fresh-refit points are held to the bound
        zrows = [r for r in zrows if r["retrain"] != "same"]
    if path.stem in Z_FREE:
        return
    assert zrows, f"{path.stem}: no simulated point with a theory value"
    zs = [float(r["z"]) for r in zrows]
    bound = bonferroni_bound(len(zs), FAMILY_LEVEL)
    record_z(f"notebook {path.stem} (quick)", zs, bound)
    assert max(map(abs, zs)) < bound, f"max |z| = {max(map(abs, zs)):.2f} over {len(zs)} points, bound {bound:.2f}"


#: notebooks without a theory line to hold simulation to (networks, and tables whose z-checks live in their tests)
Z_FREE = {"network_scaling", "network_init", "network_hessian", "network_claims", "network_allocation", "cbs_table",
          "loss_modelling", "linear_counterpart", "regimes", "scratch_table", "linear_scratch"}
