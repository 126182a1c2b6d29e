"""Command line: ``python -m simulations --help``."""

import sys

from .cli import main

sys.exit(main())
