"""The command line: figures are written, bad input exits with status 2 and one line."""

import csv
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose

from asymptotics import pruned_risk
from simulations.cli import main
from simulations.figures import HEADLINE_NOISE, HEADLINE_SPECTRUM


def test_pruned_risk_figure_writes_png_pdf_and_csv(tmp_path):
    assert main(["figure", "pruned-risk", "--out", str(tmp_path), "--quick"]) == 0
    for name in ("pruned_risk.png", "pruned_risk.pdf", "pruned_risk.csv"):
        assert (tmp_path / name).stat().st_size > 1000
    rows = list(csv.DictReader(open(tmp_path / "pruned_risk.csv")))
    theory = [r for r in rows if r["source"] == "theory" and r["criterion"] == "hessian" and r["kappa"] == "2.0"]
    keep = np.array([float(r["keep"]) for r in theory])
    assert_allclose([float(r["risk"]) for r in theory],
                    pruned_risk(HEADLINE_SPECTRUM, 2.0, HEADLINE_NOISE, keep, "hessian"), rtol=1e-12)


@pytest.mark.parametrize("argv,needle", [
    (["figure", "no-such-figure"], "invalid choice: 'no-such-figure'"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments_exit_2_with_one_line(argv, needle):
    proc = subprocess.run([sys.executable, "-m", "simulations", *argv], capture_output=True, text=True)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_list_names_the_figures(capsys):
    assert main(["list"]) == 0
    assert "pruned-risk" in capsys.readouterr().out
