"""Output paths checked before any work: a folder that is a file, or cannot be created, fails first.

Example
-------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> check_output_dir(d / "new" / "figures", "--out") == d / "new" / "figures"
True
"""

from __future__ import annotations

import os
from pathlib import Path


def _as_path(path, name):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(path).__name__}.")
    if not str(path).strip():
        raise ValueError(f"{name} == {str(path)!r}, must not be empty.")
    return Path(path)


def _existing_ancestor(path, name):
    """The nearest existing ancestor of ``path`` (a folder that would hold it, created as needed)."""
    for parent in path.parents:
        if parent.exists() or parent == Path(parent.anchor or "."):
            if not parent.is_dir():
                raise ValueError(f"{name} == {str(path)!r}: {str(parent)!r} is a file, not a folder.")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ValueError(f"{name} == {str(path)!r}: folder {str(parent)!r} is not writable.")
            return parent
    return Path(".")


def check_output_dir(path, name="out_dir"):
    """``path`` as a ``Path`` if it is a writable folder or can be created as one, else one line naming ``name``."""
    path = _as_path(path, name)
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{name} == {str(path)!r} is a file, must be a folder (or a path where one can be "
                             "created).")
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"{name} == {str(path)!r} is not writable.")
        return path
    _existing_ancestor(path, name)
    return path


def check_output_file(path, name):
    """``path`` as a ``Path`` if it can be written as a file (not a folder; its folder exists or can be created)."""
    path = _as_path(path, name)
    if path.is_dir():
        raise ValueError(f"{name} == {str(path)!r} is a folder, must be a file.")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise ValueError(f"{name} == {str(path)!r} is not writable.")
        if not path.parent.is_dir():         # pragma: no cover - an existing file has a folder
            raise ValueError(f"{name} == {str(path)!r}: its folder does not exist.")
        return path
    _existing_ancestor(path, name)
    return path
