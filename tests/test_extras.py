"""A missing optional extra is reported before any work, in one line naming the extra to install."""

import sys

import pytest

from simulations.cli import main
from simulations.figures import FIGURES
from simulations.runtime.extras import require

NEEDLE = "pip install -e '.[digits]'"


@pytest.fixture
def no_sklearn(monkeypatch):
    """As if scikit-learn were not installed: importing it raises ImportError."""
    for name in list(sys.modules):
        if name == "sklearn" or name.startswith("sklearn."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "sklearn", None)


def _no_work(monkeypatch):
    """Make every piece of work of the digits figures fail loudly if it starts."""
    import simulations.second_order.cbs_table as T
    import simulations.second_order.loss_modelling as LM

    def work(*a, **k):
        raise AssertionError("work started before the extra was checked")
    monkeypatch.setattr(T, "table_rows", work)
    monkeypatch.setattr(LM, "lm_rows", work)


@pytest.mark.parametrize("name", ["cbs-table", "loss-modelling"])
def test_cli_reports_the_missing_extra_first_in_one_line(name, no_sklearn, monkeypatch, tmp_path, capsys):
    _no_work(monkeypatch)
    assert main(["figure", name, "--out", str(tmp_path / "out"), "--quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and NEEDLE in err and "scikit-learn" in err and name in err
    assert not (tmp_path / "out").exists()                 # nothing written


@pytest.mark.parametrize("call", [
    lambda out: FIGURES["cbs-table"](out, quick=True),
    lambda out: __import__("simulations.second_order.cbs_table", fromlist=["x"]).cbs_table(out, quick=True),
    lambda out: __import__("simulations.second_order.loss_modelling", fromlist=["x"]).loss_modelling(out, quick=True),
    lambda out: __import__("simulations.figures.regimes", fromlist=["x"]).regimes_figure(out, quick=True, task="digits"),
    lambda out: __import__("simulations.regimes.scratch_networks", fromlist=["x"]).scratch_table(out, quick=True,
                                                                                                   task="digits"),
    lambda out: __import__("simulations.networks.datasets", fromlist=["x"]).digits(),
])
def test_python_calls_report_the_missing_extra(call, no_sklearn, monkeypatch, tmp_path):
    _no_work(monkeypatch)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[digits\]'"):
        call(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_installed_extra_passes_and_an_unknown_one_is_named():
    require("digits", "x")                                  # scikit-learn is in the test extra
    with pytest.raises(ValueError, match="extra == 'nope'"):
        require("nope", "x")
