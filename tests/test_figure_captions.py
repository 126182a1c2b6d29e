"""Every figure's comparison wording is computed from its numbers and holds on its own CSV.

Each figure that states a comparison writes that sentence to ``<stem>.txt`` beside its CSV
(:mod:`simulations.figures.captions`). The checks here recompute the comparison from the CSV with
plain code (argmax over criteria, ratios of means), independently of the caption functions, and
require the sentence to say it; the unit tests feed the caption functions rows where the comparison
goes each way, so a hard-coded sentence would fail one of them.
"""

import csv
import math
import re

import numpy as np
import pytest

from simulations.figures import FIGURES
from simulations.figures import captions as C


def _read(path):
    return list(csv.DictReader(open(path)))


def _runs_of(text):
    """``[(name, lo, hi), ...]`` of a "worst ..." or "best ..." text of the pruned-risk caption."""
    return [(m[0], float(m[1]), float(m[2] or m[1]))
            for m in re.findall(r"(\w+) at keep ([0-9.]+)(?:-([0-9.]+))?", text)]


# ----------------------------------------------------------------------------- unit tests
def _pr_rows(table, kappa=0.6):
    return [dict(source="theory", kappa=kappa, keep=k, criterion=c, risk=r)
            for k, risks in table.items() for c, r in risks.items()]


def test_pruned_risk_wording_follows_the_numbers():
    rows = _pr_rows({0.1: dict(magnitude=1.75, hessian=1.84, random=1.65),
                     0.2: dict(magnitude=1.77, hessian=1.72, random=1.62),
                     0.5: dict(magnitude=1.54, hessian=1.44, random=1.52)})
    worst, best = C.pruned_risk_extremes(rows)[0.6]
    assert _runs_of(worst) == [("hessian", 0.1, 0.1), ("magnitude", 0.2, 0.5)]
    assert _runs_of(best) == [("random", 0.1, 0.2), ("hessian", 0.5, 0.5)]
    swapped = _pr_rows({0.1: dict(magnitude=1.84, hessian=1.75, random=1.65)})
    assert _runs_of(C.pruned_risk_extremes(swapped)[0.6][0]) == [("magnitude", 0.1, 0.1)]


def test_ties_name_no_criterion_and_keep_one_is_left_out():
    rows = _pr_rows({0.3: dict(magnitude=1.0, hessian=1.0), 0.5: dict(magnitude=2.0, hessian=1.0),
                     1.0: dict(magnitude=3.0, hessian=1.0)})
    worst, _ = C.pruned_risk_extremes(rows)[0.6]
    assert _runs_of(worst) == [("magnitude", 0.5, 0.5)]


def _net_rows(cs, w, imp, mag, rnd):
    rows = []
    for c, a, b, m, r in zip(cs, w, imp, mag, rnd):
        rows += [dict(x=c, metric="scaled_group_abs_weight", criterion="", mean=a, sem=0.0),
                 dict(x=c, metric="scaled_group_importance", criterion="", mean=b, sem=0.0),
                 dict(x=c, metric="relative_loss", criterion="magnitude", mean=m, sem=0.0),
                 dict(x=c, metric="relative_loss", criterion="random", mean=r, sem=0.0)]
    return rows


def test_network_scaling_wording_follows_the_numbers():
    cs = [1.0, 5.0, 30.0]
    pruned, weights = C.network_scaling_sentences(
        _net_rows(cs, [0.2 * c**-0.5 for c in cs], [1.0, 2.0, 3.0], [0.1, 0.8, 0.9], [0.5, 0.5, 0.5]))
    assert "c^-0.50" in weights and "grows x3" in weights
    assert pruned.startswith("magnitude worse than random from c = 5 on")
    pruned, weights = C.network_scaling_sentences(
        _net_rows(cs, [0.2 / c for c in cs], [1.0, 0.5, 0.25], [0.1, 0.8, 0.4], [0.5, 0.5, 0.5]))
    assert "c^-1.00" in weights and "shrinks x0.25" in weights
    assert pruned.startswith("magnitude not worse than random at c = 30")


def test_network_init_wording_follows_the_numbers():
    rows = [dict(x=s, metric="weight_change", criterion="", mean=m, sem=0.0) for s, m in ((0.01, 100.0), (10.0, 0.5))]
    assert C.network_init_sentence(rows).startswith("movement falls: 100 at init 0.01, 0.5 at init 10")
    rows[1]["mean"] = 200.0
    assert C.network_init_sentence(rows).startswith("movement does not fall")


def test_covariance_wording_says_flat_only_when_flat():
    rows = [dict(source="theory", kappa=2.0, x=c, criterion=crit, risk=r)
            for c, m in ((0.1, 0.59), (1.0, 0.409), (10.0, 0.339)) for crit, r in (("magnitude", m), ("hessian", 0.409))]
    s = C.covariance_scaling_sentence(rows, 2.0)
    assert "hessian flat at 0.409" in s and "magnitude 0.59 (c = 0.1) -> 0.409 (c = 1) -> 0.339 (c = 10)" in s


# ----------------------------------------------------------------------------- the figures' own CSVs
@pytest.fixture(scope="module")
def pruned_risk_quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("pruned")
    paths = FIGURES["pruned-risk"](out, quick=True, n_jobs=2)
    return {p.suffix: p for p in map(type(out), paths)}


def test_pruned_risk_caption_holds_on_its_csv(pruned_risk_quick):
    rows = _read(pruned_risk_quick[".csv"])
    text = pruned_risk_quick[".txt"].read_text()
    assert text.strip() == C.pruned_risk_caption(rows)          # the CSV alone reproduces the caption
    for kappa in (0.6, 2.0):
        theory = [r for r in rows if r["source"] == "theory" and float(r["kappa"]) == kappa and float(r["keep"]) < 1]
        keeps = sorted({float(r["keep"]) for r in theory})
        crits = sorted({r["criterion"] for r in theory})
        risk = np.array([[next(float(r["risk"]) for r in theory if r["criterion"] == c and float(r["keep"]) == k)
                          for c in crits] for k in keeps])
        sentence = text.split(f"kappa = {kappa:g}: ")[1].split(". kappa = ")[0]
        worst_text, best_text = sentence.split("; best ")
        for part, pick in ((worst_text, np.argmax), (best_text, np.argmin)):
            named = _runs_of(part.split(" (theory")[0])
            assert named
            covered = 0
            for name, lo, hi in named:
                for i, k in enumerate(keeps):
                    if lo - 1e-9 <= k <= hi + 1e-9:
                        assert crits[pick(risk[i])] == name, (kappa, k, name)
                        covered += 1
            assert covered == len(keeps)                           # no tie on this grid: every keep is named


def test_headline_hessian_is_the_worst_at_small_keep_for_min_norm(pruned_risk_quick):
    """The case the old caption got wrong: kappa 0.6, keep 0.1, in theory and in the simulation."""
    rows = _read(pruned_risk_quick[".csv"])
    sim = {r["criterion"]: float(r["risk"]) for r in rows
           if r["source"] == "simulation" and float(r["kappa"]) == 0.6 and float(r["keep"]) == 0.1}
    th = {c: v - float(z) * float(s) for c, v, z, s in
          ((r["criterion"], float(r["risk"]), r["z"], r["sem"]) for r in rows
           if r["source"] == "simulation" and float(r["kappa"]) == 0.6 and float(r["keep"]) == 0.1)}
    assert max(th, key=th.get) == "hessian" and max(sim, key=sim.get) == "hessian"
    assert pruned_risk_quick[".txt"].read_text().startswith("kappa = 0.6: worst hessian at keep 0.02-")


def test_pruned_risk_legend_lists_the_dense_line_and_covers_no_axes(pruned_risk_quick, monkeypatch):
    import simulations.figures.linear as L

    captured = {}
    real = L.finish
    monkeypatch.setattr(L, "finish", lambda fig, *a, **k: captured.setdefault("fig", fig) and real(fig, *a, **k))
    FIGURES["pruned-risk"](pruned_risk_quick[".csv"].parent / "again", quick=True, n_jobs=2)
    fig = captured["fig"]
    fig.draw_without_rendering()
    (legend,) = fig.legends
    assert "dense (theory)" in [t.get_text() for t in legend.get_texts()]
    box = legend.get_window_extent()
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent()), "the legend overlaps a panel"


@pytest.fixture(scope="module")
def linear_small(tmp_path_factory):
    out = tmp_path_factory.mktemp("linear")

    class Out(type(out)):
        returned = {}

    for name in ("hessian-bias", "covariance-scaling", "retraining"):
        Out.returned[name] = FIGURES[name](out / name, quick=True, n_jobs=2)
        for path in Out.returned[name]:
            (out / type(out)(path).name).write_bytes(type(out)(path).read_bytes())   # all in one folder too
    return Out(out)


def test_hessian_bias_caption_holds_on_its_csv(linear_small):
    rows = _read(linear_small / "hessian_bias.csv")
    text = (linear_small / "hessian_bias.txt").read_text()
    for ridge in (0.0, 0.1):
        g = {float(r["kappa"]): float(r["risk"]) - float(r["z"]) * float(r["sem"]) for r in rows
             if r["source"] == "simulation" and float(r["ridge"]) == ridge}
        lo, hi = min(g, key=g.get), max(g, key=g.get)
        assert f"ridge {ridge:g}: {g[lo]:.3g} (kappa {lo:g}) to {g[hi]:.3g} (kappa {hi:g})" in text


def test_covariance_caption_holds_on_its_csv(linear_small):
    rows = _read(linear_small / "covariance_scaling.csv")
    text = (linear_small / "covariance_scaling.txt").read_text()
    for kappa in (0.6, 2.0):
        for c in ("magnitude", "hessian"):
            v = [float(r["risk"]) for r in rows
                 if r["source"] == "theory" and float(r["kappa"]) == kappa and r["criterion"] == c]
            flat = max(v) - min(v) <= 1e-6 * max(v)
            assert (f"{c} flat at" in text.split(f"kappa = {kappa:g}:")[1].split(";")[0]) == flat
    # hessian-pruned OLS is invariant under covariance scaling, magnitude-pruned OLS is not
    assert "kappa = 2: hessian flat at" in text and "magnitude flat" not in text


def test_retraining_caption_holds_on_its_csv(linear_small):
    rows = [r for r in _read(linear_small / "retraining.csv") if r["source"] == "simulation"]
    text = (linear_small / "retraining.txt").read_text()
    for c in ("magnitude", "hessian"):
        get = lambda retrain, theory: {float(r["keep"]): float(r["risk"]) - (float(r["z"]) * float(r["sem"]) if theory else 0)
                                       for r in rows if r["criterion"] == c and r["retrain"] == retrain}
        none_t, fresh_t, none_s, same_s = get("none", True), get("fresh", True), get("none", False), get("same", False)
        n = len(none_t)
        fresh = sum(fresh_t[k] < none_t[k] for k in none_t)
        same = sum(same_s[k] < none_s[k] for k in none_s)
        assert (f"{c}: a fresh-data refit lowers the risk at {fresh} of {n} kept fractions (theory), "
                f"a same-data refit at {same} of {n}") in text


def test_retraining_wording_follows_the_numbers():
    rows = [dict(criterion="hessian", source="simulation", keep=0.3, retrain=t, risk=v, z=0.0, sem=0.1)
            for t, v in (("none", 1.0), ("fresh", 0.8), ("same", 1.2))]
    assert "lowers the risk at 1 of 1 kept fractions (theory), a same-data refit at 0 of 1" in \
        C.retraining_sentence(rows, "hessian")


@pytest.mark.slow
def test_network_scaling_caption_holds_on_its_csv(tmp_path):
    paths = FIGURES["network-scaling"](tmp_path, quick=True, n_jobs=2)
    rows = _read(paths[2])
    text = paths[3].read_text()
    mean = lambda metric, crit="": {float(r["x"]): float(r["mean"]) for r in rows
                                    if r["metric"] == metric and r["criterion"] == crit}
    w, imp = mean("scaled_group_abs_weight"), mean("scaled_group_importance")
    cs = sorted(w)
    expo = math.log(w[cs[-1]] / w[cs[0]]) / math.log(cs[-1] / cs[0])
    assert f"c^{expo:.2f}" in text
    assert "1/c" not in text.split("(1/c: c^-1)")[0]             # no claim that |W| goes like 1/c
    ratio = imp[cs[-1]] / imp[cs[0]]
    assert (("grows" if ratio > 1 else "shrinks") + f" x{ratio:.3g}") in text
    mag, rnd = mean("relative_loss", "magnitude"), mean("relative_loss", "random")
    if mag[cs[-1]] > rnd[cs[-1]]:
        first = min(c for c in cs if all(mag[d] > rnd[d] for d in cs if d >= c))
        assert (f"magnitude worse than random from c = {first:g} on" in text
                or (first == cs[0] and "magnitude worse than random at every c" in text))
    else:
        assert "magnitude not worse than random" in text


@pytest.mark.slow
def test_network_init_and_hessian_captions_hold_on_their_csvs(tmp_path):
    init = FIGURES["network-init"](tmp_path, quick=True, n_jobs=2)
    wc = {float(r["x"]): float(r["mean"]) for r in _read(init[2]) if r["metric"] == "weight_change"}
    s = sorted(wc)
    assert ("movement falls" if wc[s[-1]] < wc[s[0]] else "movement does not fall") in init[3].read_text()
    hess = FIGURES["network-hessian"](tmp_path, quick=True, n_jobs=2)
    rows = [r for r in _read(hess[2]) if r["x_name"] == "init"]
    text = hess[3].read_text()
    for c in ("hessian", "magnitude"):
        v = {float(r["x"]): float(r["mean"]) for r in rows if r["criterion"] == c}
        assert f"{c} {v[min(v)]:.2f} -> {v[max(v)]:.2f}" in text


def test_readme_caption_quotes_the_computed_titles(pruned_risk_quick):
    """The README's headline caption quotes the titles; the theory curves (the same in quick and full mode)
    give exactly those sentences, and its keep-0.1 numbers are the limit's."""
    from pathlib import Path

    from asymptotics import pruned_risk
    from simulations.figures.linear import HEADLINE_NOISE, HEADLINE_SPECTRUM

    readme = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text().split())
    for sentence in C.pruned_risk_sentences(_read(pruned_risk_quick[".csv"])).values():
        assert f'"{sentence}"' in readme, sentence
    numbers = {c: float(pruned_risk(HEADLINE_SPECTRUM, 0.6, HEADLINE_NOISE, keep=0.1, criterion=c))
               for c in ("magnitude", "hessian", "random")}
    assert "(magnitude {magnitude:.2f}, hessian {hessian:.2f}, random {random:.2f})".format(**numbers) in readme
    assert max(numbers, key=numbers.get) == "hessian"


def test_a_figure_returns_every_file_it_writes(linear_small):
    for name, paths in linear_small.returned.items():
        folder = linear_small / name
        assert sorted(p.name for p in folder.iterdir()) == sorted(type(folder)(p).name for p in paths), name


def _alloc_rows(table, kept=None):
    """Rows of the network-allocation figure: ``table[criterion][keep] = (global loss, layer loss)``."""
    rows = []
    for c, per_keep in table.items():
        for k, (g, l) in per_keep.items():
            for scope, v in (("global", g), ("layer", l)):
                rows.append(dict(x=scope, criterion=c, keep=k, metric="relative_loss", mean=v))
                rows.append(dict(x=scope, criterion=c, keep=k, metric="second_layer_kept",
                                 mean=(kept or {}).get(c, 0.5)))
    return rows


def test_allocation_wording_follows_the_numbers():
    text = C.allocation_sentences(_alloc_rows({"magnitude": {0.1: (1.0, 0.5), 0.5: (0.2, 0.1)},
                                               "obs": {0.1: (0.3, 0.9), 0.5: (0.4, 0.4)}}, {"magnitude": 0.0}))
    assert "one global selection: obs at keep 0.1;" in text
    assert "per layer: magnitude at keep 0.1-0.5." in text              # the tie at obs 0.5 names neither
    assert "keeps 0% by magnitude, 50% by obs of the second layer" in text
    flipped = C.allocation_sentences(_alloc_rows({"magnitude": {0.1: (0.5, 1.0), 0.5: (0.1, 0.2)}}))
    assert "global selection: magnitude at keep 0.1-0.5; with the same fraction per layer: nowhere" in flipped


@pytest.mark.slow
def test_allocation_caption_holds_on_its_csv(tmp_path):
    paths = FIGURES["network-allocation"](tmp_path, quick=True, n_jobs=2)
    rows = _read(paths[2])
    text = paths[3].read_text()
    loss = {(r["x"], r["criterion"], float(r["keep"])): float(r["mean"]) for r in rows
            if r["metric"] == "relative_loss" and r["criterion"] != "dense"}
    for (scope, c, k), v in loss.items():
        if scope != "global":
            continue
        other = loss[("layer", c, k)]
        if abs(v - other) <= C.TIE_RTOL * max(abs(v), abs(other)):
            continue                                                    # a tie names neither scope
        better = "global" if v < other else "layer"
        part = text.split("with the same fraction per layer:")[0 if better == "global" else 1]
        # the criterion is named on the better side, at a keep range that contains k
        number = r"\d+(?:\.\d+)?"
        ranges = [(float(a), float(b or a)) for a, b in re.findall(rf"{c} at keep ({number})(?:-({number}))?", part)]
        assert any(lo <= k <= hi for lo, hi in ranges), (c, k, better, text)
    # the second-layer share of the global selection at the smallest keep, as the masks give it
    k0 = min(k for _, _, k in loss)
    for r in rows:
        if r["metric"] == "second_layer_kept" and r["x"] == "global" and float(r["keep"]) == k0:
            assert f"{100 * float(r['mean']):.0f}% by {r['criterion']}" in text
