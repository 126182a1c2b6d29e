"""The README's Python examples run as written (in the order they appear, sharing one namespace)."""

import re
from pathlib import Path

from linear_models import criterion_names, unregister_criterion

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    added = set()
    try:
        namespace = {}
        before = set(criterion_names())
        for block in blocks:
            exec(compile(block, str(README), "exec"), namespace)
        added = set(criterion_names()) - before
    finally:
        for name in added:
            unregister_criterion(name)
