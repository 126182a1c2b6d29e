"""Titles and captions computed from a figure's own numbers.

A figure that makes a comparison (which criterion is worst, how fast weights shrink, whether the
first layer moves) does not hard-code the sentence: it computes it here from the tidy rows it
writes to its CSV, sets it as its title, and writes it to ``<stem>.txt`` beside the CSV. The
functions accept the rows as the figure builds them (numbers) or as read back from the CSV
(strings), so a test can recompute every sentence from the CSV alone
(``tests/test_figure_captions.py``).

Example
-------
>>> rows = [dict(source="theory", kappa=2.0, keep=k, criterion=c, risk=r)
...         for k, rs in ((0.1, (3.0, 1.0)), (0.5, (2.0, 1.5))) for c, r in zip(("magnitude", "hessian"), rs)]
>>> pruned_risk_sentences(rows)[2.0]
'kappa = 2: worst magnitude at keep 0.1-0.5; best hessian at keep 0.1-0.5'
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

#: risks closer than this (relative) are a tie: no criterion is named worst or best there
TIE_RTOL = 1e-9


def _num(value):
    """A CSV cell or a number as a float (``""`` is NaN)."""
    if value == "" or value is None:
        return math.nan
    return float(value)


def runs(xs, labels):
    """Contiguous runs of equal labels over sorted ``xs``: a list of ``(label, first x, last x)``.

    ``None`` labels (ties) end a run and are not reported.

    >>> runs([0.1, 0.2, 0.3, 0.4], ["a", "a", None, "b"])
    [('a', 0.1, 0.2), ('b', 0.4, 0.4)]
    """
    out = []
    for x, lab in zip(xs, labels):
        if out and lab is not None and out[-1][0] == lab and out[-1][3]:
            out[-1] = (lab, out[-1][1], x, True)
        elif lab is not None:
            out.append((lab, x, x, True))
        elif out:
            out[-1] = out[-1][:3] + (False,)
    return [r[:3] for r in out]


def _range(lo, hi):
    return f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"


def extreme_per_x(table, worst=True):
    """Per x of ``table`` (``{x: {name: value}}``) the name with the largest (``worst``) or smallest value, or
    ``None`` where the two leading values tie (relative :data:`TIE_RTOL`); returns ``(xs, names)``."""
    xs = sorted(table)
    names = []
    for x in xs:
        vals = sorted(table[x].items(), key=lambda kv: kv[1], reverse=worst)
        if len(vals) < 2 or abs(vals[0][1] - vals[1][1]) <= TIE_RTOL * max(abs(vals[0][1]), 1e-300):
            names.append(None)
        else:
            names.append(vals[0][0])
    return xs, names


def _describe(table, worst):
    xs, names = extreme_per_x(table, worst)
    parts = [f"{name} at keep {_range(lo, hi)}" for name, lo, hi in runs(xs, names)]
    return ", ".join(parts) if parts else "none (all tied)"


def pruned_risk_extremes(rows, source="theory"):
    """Per ``kappa``: which criterion has the highest and the lowest risk at each kept fraction below 1.

    ``rows`` are the pruned-risk figure's tidy rows; ``source`` picks the theory curves or the simulated
    means. Returns ``{kappa: (worst, best)}``, each a text such as ``"hessian at keep 0.02-0.15, magnitude
    at keep 0.16-0.53"``.
    """
    tables = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if r["source"] != source or r["criterion"] == "dense":
            continue
        keep = _num(r["keep"])
        if keep < 1.0:
            tables[_num(r["kappa"])][keep][r["criterion"]] = _num(r["risk"])
    return {kappa: (_describe(t, True), _describe(t, False)) for kappa, t in sorted(tables.items())}


def pruned_risk_sentences(rows, source="theory"):
    """Per ``kappa`` one sentence of :func:`pruned_risk_extremes`: ``{kappa: "kappa = ...: worst ...; best ..."}``."""
    return {kappa: f"kappa = {kappa:g}: worst {w}; best {b}"
            for kappa, (w, b) in pruned_risk_extremes(rows, source).items()}


def agreement(rows):
    """Per ``kappa``: ``(agreeing, total)`` simulated kept fractions at which the simulated means name the same
    worst criterion as the theory at that kept fraction (the pruned-risk figure's rows)."""
    sim = defaultdict(lambda: defaultdict(dict))
    th = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if r["criterion"] == "dense" or r["source"] != "simulation" or _num(r["keep"]) >= 1.0:
            continue
        key = (_num(r["kappa"]), _num(r["keep"]))
        sim[key[0]][key[1]][r["criterion"]] = _num(r["risk"])
        # the simulation row carries the theory value at its own kept fraction only through z and sem
        th[key[0]][key[1]][r["criterion"]] = _num(r["risk"]) - _num(r["z"]) * _num(r["sem"])
    out = {}
    for kappa in sorted(sim):
        xs, s_names = extreme_per_x(sim[kappa], True)
        _, t_names = extreme_per_x(th[kappa], True)
        out[kappa] = (sum(a == b for a, b in zip(s_names, t_names)), len(xs))
    return out


def pruned_risk_caption(rows):
    """The pruned-risk figure's caption: the theory's worst and best criterion per kept fraction and ``kappa``,
    and at how many simulated kept fractions the simulation names the same worst criterion."""
    agree = agreement(rows)
    parts = []
    for kappa, sentence in pruned_risk_sentences(rows).items():
        a, n = agree.get(kappa, (0, 0))
        parts.append(f"{sentence} (theory; the simulated means name the same worst criterion at {a} of {n} "
                     "simulated kept fractions)")
    return ". ".join(parts) + "."


# ----------------------------------------------------------------------------- network figures
def _metric(rows, metric, criterion=None):
    """``{x: (mean, sem)}`` of one metric (and criterion) of a network figure's rows."""
    out = {}
    for r in rows:
        if r["metric"] == metric and (criterion is None or r["criterion"] == criterion):
            out[_num(r["x"])] = (_num(r["mean"]), _num(r["sem"]))
    return dict(sorted(out.items()))


def power_law_exponent(xs, ys):
    """``log(y_last / y_first) / log(x_last / x_first)``: the exponent ``e`` of ``y ~ x^e`` between the ends."""
    return float(np.log(ys[-1] / ys[0]) / np.log(xs[-1] / xs[0]))


def network_scaling_sentences(rows):
    """The network-scaling figure's two panel titles, from its rows: ``(pruned panel, weights panel)``.

    The weights panel gives the exponent of the mean ``|W|`` of the scaled group against ``c`` between the
    smallest and the largest ``c`` (``1/c`` is ``-1``) and how its mean ablation importance changes; the pruned
    panel says from which ``c`` on magnitude pruning is worse than random at every larger ``c``.
    """
    w = _metric(rows, "scaled_group_abs_weight")
    imp = _metric(rows, "scaled_group_importance")
    cs = list(w)
    expo = power_law_exponent(cs, [w[c][0] for c in cs])
    ratio = imp[cs[-1]][0] / imp[cs[0]][0]
    trend = "grows" if ratio > 1 else "shrinks"
    weights = (f"|W| of the scaled group ~ c^{expo:.2f} (1/c: c^-1); its importance {trend} x{ratio:.3g} "
               f"(c {cs[0]:g} -> {cs[-1]:g})")
    mag = _metric(rows, "relative_loss", "magnitude")
    rnd = _metric(rows, "relative_loss", "random")
    worse = [mag[c][0] > rnd[c][0] for c in cs]
    if all(worse):
        pruned = "magnitude worse than random at every c"
    elif not worse[-1]:
        pruned = f"magnitude not worse than random at c = {cs[-1]:g}"
    else:
        first = next(i for i in range(len(cs)) if all(worse[i:]))
        pruned = f"magnitude worse than random from c = {cs[first]:g} on"
    c = cs[-1]
    pruned += f" (c = {c:g}: magnitude {mag[c][0]:.3g}, random {rnd[c][0]:.3g})"
    return pruned, weights


def network_init_sentence(rows):
    """The network-init figure's movement panel title: the first layer's relative movement at the smallest
    and the largest initialization scale, and whether it falls."""
    wc = _metric(rows, "weight_change")
    s = list(wc)
    trend = "falls" if wc[s[-1]][0] < wc[s[0]][0] else "does not fall"
    return (f"movement {trend}: {wc[s[0]][0]:.3g} at init {s[0]:g}, {wc[s[-1]][0]:.3g} at init {s[-1]:g}")


def network_hessian_sentence(rows, criteria=("hessian", "magnitude")):
    """The network-hessian figure's right panel title: the final Spearman correlations with ablation
    importance, per criterion, at the smallest and the largest initialization scale."""
    parts = []
    for c in criteria:
        v = {_num(r["x"]): _num(r["mean"]) for r in rows if r["x_name"] == "init" and r["criterion"] == c}
        s = sorted(v)
        parts.append(f"{c} {v[s[0]]:.2f} -> {v[s[-1]]:.2f}")
    lo = min(_num(r["x"]) for r in rows if r["x_name"] == "init")
    hi = max(_num(r["x"]) for r in rows if r["x_name"] == "init")
    return f"Spearman at init {lo:g} -> {hi:g}: " + ", ".join(parts)


# ----------------------------------------------------------------------------- other linear figures
def hessian_bias_sentence(rows, source="theory"):
    """The hessian-bias figure's title: the range of ``risk(magnitude) - risk(hessian)`` over ``kappa`` per ridge
    (simulated points and their theory, the figure's rows)."""
    by = defaultdict(dict)
    for r in rows:
        if r["source"] == "simulation":
            value = _num(r["risk"]) if source == "simulation" else _num(r["risk"]) - _num(r["z"]) * _num(r["sem"])
            by[_num(r["ridge"])][_num(r["kappa"])] = value
    parts = []
    for ridge, g in sorted(by.items()):
        k = sorted(g, key=g.get)
        parts.append(f"ridge {ridge:g}: {g[k[0]]:.3g} (kappa {k[0]:g}) to {g[k[-1]]:.3g} (kappa {k[-1]:g})")
    return "magnitude minus hessian, " + "; ".join(parts)


def covariance_scaling_sentence(rows, kappa):
    """A covariance-scaling panel title: each criterion's theory risk at the smallest, unit and largest simulated
    scale ``c`` (``flat at`` when it does not change, relative ``1e-6``)."""
    by = defaultdict(dict)
    for r in rows:
        if r["source"] == "theory" and _num(r["kappa"]) == kappa:
            by[r["criterion"]][_num(r["x"])] = _num(r["risk"])
    parts = []
    for c, v in sorted(by.items()):
        lo, hi = min(v.values()), max(v.values())
        if hi - lo <= 1e-6 * hi:
            parts.append(f"{c} flat at {lo:.3g}")
        else:
            xs = sorted(v)
            shown = [x for x in xs if x in (xs[0], 1.0, xs[-1])]
            parts.append(f"{c} " + " -> ".join(f"{v[x]:.3g} (c = {x:g})" for x in shown))
    return f"kappa = {kappa:g}: " + ", ".join(parts)


def retraining_sentence(rows, criterion):
    """A retraining panel title: at how many simulated kept fractions a fresh-data refit lowers the risk below no
    refit (theory), and a same-data refit (simulated means)."""
    th = defaultdict(dict)
    sim = defaultdict(dict)
    for r in rows:
        if r["criterion"] != criterion or r["source"] != "simulation":
            continue
        keep, retrain = _num(r["keep"]), r["retrain"]
        sim[retrain][keep] = _num(r["risk"])
        if retrain in ("none", "fresh"):
            th[retrain][keep] = _num(r["risk"]) - _num(r["z"]) * _num(r["sem"])
    keeps = sorted(th["none"])
    fresh = sum(th["fresh"][k] < th["none"][k] for k in keeps)
    same = sum(sim["same"][k] < sim["none"][k] for k in keeps)
    return (f"{criterion}: a fresh-data refit lowers the risk at {fresh} of {len(keeps)} kept fractions (theory), "
            f"a same-data refit at {same} of {len(keeps)} (simulation)")


def allocation_sentences(rows):
    """The network-allocation figure's title, from its rows: per criterion the kept fractions at which one
    global selection, or the same fraction per layer, gives the lower test loss (ties and non-finite values
    name neither), and the fraction of the second layer the global selection keeps at the smallest keep."""
    loss, kept_v, criteria = {}, {}, []
    for r in rows:
        if r["criterion"] == "dense":
            continue
        key = (r["x"], r["criterion"], _num(r["keep"]))
        if r["metric"] == "relative_loss":
            loss[key] = _num(r["mean"])
            if r["criterion"] not in criteria:
                criteria.append(r["criterion"])
        elif r["metric"] == "second_layer_kept":
            kept_v[key] = _num(r["mean"])
    parts = {"global": [], "layer": []}
    keeps = sorted({k for _, _, k in loss})
    for c in criteria:
        labels = []
        for k in keeps:
            g, l = loss.get(("global", c, k), math.nan), loss.get(("layer", c, k), math.nan)
            if not (np.isfinite(g) and np.isfinite(l)) or abs(g - l) <= TIE_RTOL * max(abs(g), abs(l)):
                labels.append(None)
            else:
                labels.append("global" if g < l else "layer")
        for lab, lo, hi in runs(keeps, labels):
            parts[lab].append(f"{c} at keep {_range(lo, hi)}")
    k0 = keeps[0]
    second = ", ".join(f"{100 * kept_v[('global', c, k0)]:.0f}% by {c}" for c in criteria
                       if ('global', c, k0) in kept_v)
    return (f"lower loss with one global selection: {', '.join(parts['global']) or 'nowhere'}; with the same "
            f"fraction per layer: {', '.join(parts['layer']) or 'nowhere'}. At keep {k0:g} the global selection "
            f"keeps {second} of the second layer")
