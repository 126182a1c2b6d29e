"""The ``pruning-mechanics`` command line (``python -m simulations`` or ``pruning-mechanics``).

    python -m simulations list                                   # the named figures
    python -m simulations figure pruned-risk --out output [--quick] [--n-jobs 2]
    python -m simulations sweep config.json --store runs/a --csv runs/a.csv [--n-jobs 2] [--scheduler ADDR]

Bad arguments or config values get a one-line error naming the field and exit status 2.
"""

from __future__ import annotations

import argparse
import sys


class _Parser(argparse.ArgumentParser):
    def error(self, message):            # one line, status 2, no usage dump
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _n_jobs(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--n-jobs == {text!r}, must be an integer") from None
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"--n-jobs == {value}, must be -1 or a positive integer")
    return value


def build_parser():
    from .figures import FIGURES

    parser = _Parser(prog="python -m simulations", description="Theory and simulation of pruned linear models.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list the named figures")
    fig = sub.add_parser("figure", help="compute a named figure: PNG, PDF and tidy CSV")
    fig.add_argument("name", choices=sorted(FIGURES), help="figure name (see 'list')")
    fig.add_argument("--out", default="output", help="output folder (default: output)")
    fig.add_argument("--quick", action="store_true", help="fewer points and trials")
    fig.add_argument("--n-jobs", type=_n_jobs, default=-1, help="worker processes (-1: one per core)")
    sw = sub.add_parser("sweep", help="run or resume a sweep from a JSON/TOML config")
    sw.add_argument("config", help="sweep configuration file (.json or .toml)")
    sw.add_argument("--store", required=True, help="folder of finished points (resumes if it exists)")
    sw.add_argument("--csv", help="write the tidy results CSV here")
    sw.add_argument("--n-jobs", type=_n_jobs, default=-1, help="worker processes (-1: one per core)")
    sw.add_argument("--scheduler", help="Dask scheduler address (runs the trials on that cluster)")
    sw.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv=None):
    from .figures import FIGURES

    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            for name, fn in sorted(FIGURES.items()):
                print(f"{name:18s} {fn.__doc__.strip().splitlines()[0]}")
        elif args.command == "figure":
            for path in FIGURES[args.name](args.out, quick=args.quick, n_jobs=args.n_jobs):
                print(path)
        elif args.command == "sweep":
            from .sweep import export_csv, load_config, run_sweep

            cfg = load_config(args.config)
            results = run_sweep(cfg, args.store, n_jobs=args.n_jobs, client=args.scheduler,
                                progress=not args.no_progress)
            print(f"{len(results)} points in {args.store}")
            if args.csv:
                print(export_csv(results, cfg, args.csv))
    except (ValueError, TypeError, OSError) as exc:
        print(f"python -m simulations: error: {exc}", file=sys.stderr)
        return 2
    return 0
