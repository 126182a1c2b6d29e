"""Write the figure notebooks (run from the repository root).

    python notebooks/build_notebooks.py            # writes notebooks/<name>.ipynb without outputs
    python notebooks/build_notebooks.py --execute  # and executes them in full mode (committed outputs)
    python notebooks/build_notebooks.py --keep-outputs [NAME ...]   # markdown changes only: keeps the outputs

Each notebook shows its computation with the public API (the ``Spectrum``, the
``pruned_risk`` / ``dense_risk`` theory calls, ``monte_carlo`` and the overlay
plot), uses the same seeds and sizes as ``python -m simulations figure NAME``
(so both give the same numbers), says what the figure shows and why, and ends
with a cell that invites a change. ``PRUNING_MECHANICS_QUICK=1`` runs it in
quick mode (the tests do); ``PRUNING_MECHANICS_OUT`` is where PNG and CSV go.

The notebooks are written in ``linear_notebooks`` (figures 1-7), ``network_notebooks`` and
``figure_notebooks`` (those that run a registered figure), with the cells and the registry of
``notebook_cells``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

# each of these modules registers its notebooks (in this order) in NOTEBOOKS
import linear_notebooks  # noqa: F401
import network_notebooks  # noqa: F401
import figure_notebooks  # noqa: F401
from notebook_cells import NOTEBOOKS

HERE = Path(__file__).resolve().parent

FIGURE_NAMES = {"network_scaling": "network-scaling", "network_init": "network-init", "network_hessian": "network-hessian",
                "network_claims": "network-claims", "cbs_table": "cbs-table", "loss_modelling": "loss-modelling",
                "linear_counterpart": "linear-counterpart", "regimes": "regimes", "scratch_table": "scratch-table",
                "linear_scratch": "linear-scratch", "phase_diagram": "phase-diagram"}


def _cells(stem):
    cells = NOTEBOOKS[stem]()
    if stem in FIGURE_NAMES:
        call = (f'FIGURES["{FIGURE_NAMES[stem]}"](OUT, quick=QUICK, n_jobs=-1)   '
                '# exactly what `python -m simulations figure` runs')
        for cell in cells:
            if "FIGURES_CALL" in cell.source:
                cell.source = "from simulations.figures import FIGURES\n\n" + cell.source.replace("'FIGURES_CALL'", call).replace("FIGURES_CALL", call)
    return cells


def keep_outputs(nb, path):
    """Copy the outputs of the committed notebook at ``path`` into ``nb`` when their code cells are identical, so
    that a markdown-only change needs no re-execution; returns False (and copies nothing) if any code differs."""
    if not path.exists():
        return False
    old = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    new = [c for c in nb.cells if c.cell_type == "code"]
    if [c.source for c in old] != [c.source for c in new]:
        return False
    for o, n in zip(old, new):
        n.outputs, n.execution_count, n.metadata = o.outputs, o.execution_count, o.metadata
    return True


def build(execute=False, keep=False):
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    for stem in NOTEBOOKS:
        if only and stem not in only:
            continue
        nb = nbformat.v4.new_notebook(cells=_cells(stem), metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"}})
        path = HERE / f"{stem}.ipynb"
        if keep and not keep_outputs(nb, path):
            print(f"{path}: its code changed; run with --execute to regenerate its outputs (left as it is)")
            continue
        if execute:
            import nbclient

            nbclient.NotebookClient(nb, timeout=1800, kernel_name="python3",
                                    resources={"metadata": {"path": str(HERE.parent)}}).execute()
        nbformat.write(nb, path)
        print(path)


if __name__ == "__main__":
    build(execute="--execute" in sys.argv[1:], keep="--keep-outputs" in sys.argv[1:])
