"""Theory as lines, Monte Carlo as markers with standard-error bars.

One colour per criterion across every figure of the toolkit; functions return
matplotlib objects (built on :class:`matplotlib.figure.Figure`, so no GUI
backend is needed) and :func:`save_figure` writes PNG and PDF.

Example
-------
>>> import numpy as np
>>> from simulations.plotting import new_figure, plot_curves
>>> fig, axes = new_figure(1)
>>> x = np.linspace(0.1, 1, 5)
>>> _ = plot_curves(axes[0], x, {"hessian": x**2})
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from matplotlib.figure import Figure

from linear_models.criteria import criterion_names, plot_style

from .runtime.files import write_tidy_csv


class _StyleTable(Mapping):
    """A read-only view of one column of the criterion registry's plot styles (label, colour or marker);
    names that are not criteria (``dense``, ``magnitude+update``, ...) get a neutral fixed style."""

    def __init__(self, column):
        self._column = column

    def __getitem__(self, name):
        return plot_style(name)[self._column]

    def __iter__(self):
        return iter(criterion_names() + ("dense",))

    def __len__(self):
        return len(criterion_names()) + 1


#: Per criterion name (from :mod:`linear_models.criteria`): legend label, colour, marker.
LABELS, COLORS, MARKERS = _StyleTable(0), _StyleTable(1), _StyleTable(2)


def color(name):
    """The toolkit-wide colour of a criterion (its registry entry; a fixed fallback cycle for other names)."""
    return COLORS[name]


def new_figure(ncols=1, nrows=1, width=4.2, height=3.4, sharey=False):
    """A figure with a grid of axes, returned as ``(fig, flat list of axes)``."""
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharey=sharey, squeeze=False)
    return fig, list(axes.ravel())


def plot_points(ax, x, mean, sem, color_, label, fmt="o"):
    """Simulated means as open markers with standard-error bars (the toolkit-wide style)."""
    return ax.errorbar(x, mean, yerr=sem, fmt=fmt, color=color_, ms=4.5, mfc="white", capsize=2.5, lw=1.0,
                       label=label)


def plot_curves(ax, x, theory=None, sim_x=None, sim_mean=None, sim_sem=None, *, xlabel="kept fraction",
                ylabel="test risk", title=None, logy=False, legend=True):
    """Draw theory curves (lines) and simulation means with standard-error bars (markers).

    Parameters
    ----------
    ax : matplotlib Axes
    x : array_like
        Abscissa of the theory curves.
    theory : dict of str -> array_like, optional
        Curve per criterion name.
    sim_x : array_like, optional
        Abscissa of the simulated points (defaults to ``x``).
    sim_mean, sim_sem : dict of str -> array_like, optional
        Monte Carlo means and standard errors per criterion.
    """
    theory = theory or {}
    sim_mean = sim_mean or {}
    sim_sem = sim_sem or {}
    sim_x = x if sim_x is None else sim_x
    for name, y in theory.items():
        ax.plot(x, y, color=color(name), lw=1.8, label=f"{LABELS.get(name, name)} (theory)")
    for name, y in sim_mean.items():
        plot_points(ax, sim_x, y, sim_sem.get(name), color(name), f"{LABELS.get(name, name)} (simulation)",
                    MARKERS.get(name, "o"))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=7, frameon=False)
    return ax


def save_figure(fig, stem):
    """Write ``stem.png`` (150 dpi) and ``stem.pdf``; return the two paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = (stem.with_suffix(".png"), stem.with_suffix(".pdf"))
    fig.savefig(paths[0], dpi=150)
    fig.savefig(paths[1])
    return paths


def save_with_csv(fig, rows, out_dir, stem, columns):
    """Save ``fig`` as ``<stem>.png`` and ``.pdf`` and ``rows`` as the tidy ``<stem>.csv`` in ``out_dir``;
    returns ``(png, pdf, csv)``."""
    out = Path(out_dir)
    return (*save_figure(fig, out / stem), write_tidy_csv(out / f"{stem}.csv", rows, columns))
