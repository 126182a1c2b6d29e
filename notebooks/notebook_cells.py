"""Cells and the registry of the figure notebooks (:mod:`build_notebooks` writes them): ``@notebook(stem)``
registers a function returning a notebook's cells, :func:`figure_notebook` is the layout of a notebook that
runs a registered figure."""

from __future__ import annotations

import nbformat


def md(text):
    return nbformat.v4.new_markdown_cell(text.strip())


def code(text):
    return nbformat.v4.new_code_cell(text.strip())


NOTEBOOKS = {}


def notebook(stem):
    def register(fn):
        NOTEBOOKS[stem] = fn
        return fn
    return register


FIG_SETUP = """\
import os
from pathlib import Path

from IPython.display import Image, Markdown, display

QUICK = os.environ.get("PRUNING_MECHANICS_QUICK") == "1"      # the tests run every notebook in quick mode
OUT = Path(os.environ.get("PRUNING_MECHANICS_OUT", "output"))"""

#: Shows what a figure wrote (``paths``): its images, tables and computed caption, then the file names.
SHOW_PATHS = """\
for path in paths:
    path = Path(path)
    if path.suffix == ".png":
        display(Image(filename=str(path)))
    elif path.suffix == ".md":
        display(Markdown(path.read_text()))
    elif path.suffix == ".txt":
        print("caption (computed from the figure's numbers):", path.read_text())
print("\\n".join(map(str, paths)))"""

FIG_SHOW = "paths = {call}\n" + SHOW_PATHS


def figure_notebook(title, intro, api, call, outro, your_turn):
    """A notebook that shows the public API call behind a figure, then runs the figure exactly as the CLI does."""
    return [md(f"# {title}\n\n{intro.strip()}"), code(FIG_SETUP), code(api), code(FIG_SHOW.format(call=call)),
            md(outro), code(your_turn)]
