"""The ``pruning-mechanics`` command line.

    python -m simulations list                       # the named figures
    python -m simulations figure pruned-risk --out output [--quick]

Bad arguments get a one-line error naming the field and exit status 2.
"""

from __future__ import annotations

import argparse
import sys


class _Parser(argparse.ArgumentParser):
    def error(self, message):            # one line, status 2, no usage dump
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser():
    from .figures import FIGURES

    parser = _Parser(prog="python -m simulations", description="Theory and simulation of pruned linear models.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list the named figures")
    fig = sub.add_parser("figure", help="compute a named figure: PNG, PDF and tidy CSV")
    fig.add_argument("name", choices=sorted(FIGURES), help="figure name (see 'list')")
    fig.add_argument("--out", default="output", help="output folder (default: output)")
    fig.add_argument("--quick", action="store_true", help="fewer points / trials")
    return parser


def main(argv=None):
    from .figures import FIGURES

    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            for name, fn in sorted(FIGURES.items()):
                print(f"{name:16s} {fn.__doc__.strip().splitlines()[0]}")
            return 0
        if args.command == "figure":
            for path in FIGURES[args.name](args.out, quick=args.quick):
                print(path)
            return 0
    except (ValueError, TypeError) as exc:
        print(f"python -m simulations: error: {exc}", file=sys.stderr)
        return 2
    return 0
