"""Optional extras: check that an extra's package is installed before any work starts.

The toolkit's optional extras (``setup.cfg``) and the module each provides. :func:`require` raises one
line naming the extra to install, so a command that needs it fails at once instead of after minutes of
computation.

Example
-------
>>> require("digits", "cbs-table") is None or True      # scikit-learn is installed with the test extra
True
"""

from __future__ import annotations

import importlib

#: extra -> (module to import, the package's name)
EXTRAS = {"digits": ("sklearn", "scikit-learn"), "dask": ("dask.distributed", "dask[distributed]"),
          "mnist1d": ("mnist1d", "mnist1d")}


def require(extra, what):
    """Raise :class:`ImportError` (one line: ``what needs package: pip install -e '.[extra]'``) if ``extra``'s
    module cannot be imported; ``what`` names the figure or function that needs it."""
    if extra not in EXTRAS:
        raise ValueError(f"extra == {extra!r}, must be one of {', '.join(map(repr, sorted(EXTRAS)))}.")
    module, package = EXTRAS[extra]
    try:
        importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{what} needs {package}, which is not installed: pip install -e '.[{extra}]'") from None
