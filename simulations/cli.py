"""The ``pruning-mechanics`` command line (``python -m simulations`` or ``pruning-mechanics``).

    python -m simulations list                                   # the named figures
    python -m simulations figure pruned-risk --out output [--quick] [--n-jobs 2]
    python -m simulations sweep config.json --store runs/a --csv runs/a.csv [--n-jobs 2] [--scheduler ADDR]

Failures are one line on stderr, never a traceback. Output paths (``--out``, ``--store``, ``--csv``)
are checked first, before the configuration is read or any work runs:

* bad arguments, config values, stores, and any error while computing
  (including ``ArithmeticError``, ``RuntimeError``, ``ImportError`` such as
  ``--scheduler`` without Dask, and ``MemoryError``): one line naming the
  culprit, exit status 2;
* Ctrl-C (SIGINT): ``interrupted``, exit status 130; SIGTERM: ``terminated``,
  exit status 143. Finished sweep points are kept (re-run to resume).

Worker processes forked while a command runs ignore SIGINT (the terminal sends
it to the whole process group; the main process alone decides what to do) and,
on Linux, are sent SIGTERM by the kernel if the main process dies, even by
SIGKILL, so no orphaned workers remain. After a first Ctrl-C the process waits
for the trials in flight (at most one chunk per worker) unless the engine can
stop its pools at once; a second Ctrl-C exits immediately.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings
from pathlib import Path

from .runtime.paths import check_output_dir, check_output_file

PROG = "python -m simulations"
#: Errors reported as one line with exit status 2 (anything a computation may raise on bad input).
REPORTED = (ValueError, TypeError, OSError, ArithmeticError, RuntimeError, ImportError, MemoryError)
#: Exception types whose message alone does not say what went wrong: the type name is printed too.
_NAMED = (ArithmeticError, RuntimeError, ImportError, MemoryError)


class _Parser(argparse.ArgumentParser):
    def error(self, message):            # one line, status 2, no usage dump
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that cleanup runs (exit status 143)."""


def _n_jobs(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--n-jobs == {text!r}, must be an integer") from None
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"--n-jobs == {value}, must be -1 or a positive integer")
    return value


def _nonempty_path(flag):
    def check(text):
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{flag} == '', must not be empty")
        return text
    return check


def build_parser():
    from .figures import FIGURES

    parser = _Parser(prog=PROG, description="Theory and simulation of pruned linear models.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list the named figures")
    fig = sub.add_parser("figure", help="compute a named figure: PNG, PDF and tidy CSV")
    fig.add_argument("name", choices=sorted(FIGURES), help="figure name (see 'list')")
    fig.add_argument("--out", default="output", type=_nonempty_path("--out"), help="output folder (default: output)")
    fig.add_argument("--quick", action="store_true", help="fewer points and trials")
    fig.add_argument("--n-jobs", type=_n_jobs, default=-1, help="worker processes (-1: one per core)")
    sw = sub.add_parser("sweep", help="run or resume a sweep from a JSON/TOML config")
    sw.add_argument("config", help="sweep configuration file (.json or .toml)")
    sw.add_argument("--store", required=True, type=_nonempty_path("--store"),
                    help="folder of finished points (resumes if it exists)")
    sw.add_argument("--csv", type=_nonempty_path("--csv"), help="write the tidy results CSV here (a .csv file)")
    sw.add_argument("--n-jobs", type=_n_jobs, default=-1, help="worker processes (-1: one per core)")
    sw.add_argument("--scheduler", type=_nonempty_path("--scheduler"),
                    help="Dask scheduler address (runs the trials on that cluster)")
    sw.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _check_csv_target(csv, config):
    """Refuse a --csv that would overwrite an input (the config file or any existing non-CSV file) or that
    cannot be written (its folder is a file or not writable), before any work."""
    path = Path(csv)
    if path.is_dir():
        raise ValueError(f"--csv {csv!r} is a folder, must be a .csv file.")
    if path.exists() and Path(config).exists() and path.resolve() == Path(config).resolve():
        raise ValueError(f"--csv {csv!r} is the config file; refusing to overwrite it.")
    if path.suffix.lower() != ".csv":
        raise ValueError(f"--csv {csv!r} must end in .csv (refusing to write a CSV over "
                         f"{'an existing non-CSV file' if path.exists() else 'another kind of file'}).")
    check_output_file(path, "--csv")


def _one_line(exc):
    text = " ".join(str(exc).split())
    if isinstance(exc, _NAMED) or not text:
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text


# --------------------------------------------------------------- signals and workers
_STATE = {"active": False, "parent": None, "prctl": None}


def _after_fork_in_child():
    """In a worker forked while a command runs: ignore SIGINT, die with the main process."""
    if not _STATE["active"]:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if _STATE["prctl"] is not None:
        _STATE["prctl"](1, int(signal.SIGTERM))            # PR_SET_PDEATHSIG
        if os.getppid() != _STATE["parent"]:               # the main process died before prctl took effect
            os._exit(1)


def _prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):           # pragma: no cover - platform dependent
        return None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _on_sigterm(signum, frame):
    raise _Terminated()


def _stop_workers():
    """Stop the worker pools now (their workers exit; finished sweep points are on disk)."""
    from .runtime.workers import shutdown_pools

    shutdown_pools()


def main(argv=None):
    from .figures import FIGURES

    args = build_parser().parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    old_term = signal.signal(signal.SIGTERM, _on_sigterm) if in_main_thread else None
    # PR_SET_PDEATHSIG follows the forking thread: only arm the worker hooks when the main thread forks them
    _STATE.update(active=in_main_thread, parent=os.getpid(), prctl=_STATE["prctl"] or _prctl())
    try:
        with warnings.catch_warnings():
            warnings.showwarning = lambda message, *a, **k: print(f"{PROG}: warning: {message}", file=sys.stderr)
            return _run(args, FIGURES)
    except KeyboardInterrupt as exc:
        if argv is None and in_main_thread:     # the command-line process is exiting: a second Ctrl-C while
            signal.signal(signal.SIGINT, lambda *_: os._exit(130))   # the workers wind down ends it at once
        _stop_workers()
        terminated = isinstance(exc, _Terminated)
        print(f"{PROG}: {'terminated' if terminated else 'interrupted'} (finished sweep points are kept; "
              "re-run to resume)", file=sys.stderr)
        return 143 if terminated else 130
    except REPORTED as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    finally:
        _STATE["active"] = False
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def _run(args, figures):
    if args.command == "list":
        for name, fn in sorted(figures.items()):
            print(f"{name:18s} {fn.summary}")
    elif args.command == "figure":
        check_output_dir(args.out, "--out")             # a file named like the folder fails now, not after the work
        for path in figures[args.name](args.out, quick=args.quick, n_jobs=args.n_jobs):
            print(path)
    elif args.command == "sweep":
        from .runtime.sweep import export_csv, load_config, run_sweep

        check_output_dir(args.store, "--store")         # every output path before the config is even read
        if args.csv:
            _check_csv_target(args.csv, args.config)
        cfg = load_config(args.config)
        results = run_sweep(cfg, args.store, n_jobs=args.n_jobs, client=args.scheduler,
                            progress=not args.no_progress)
        print(f"{len(results)} points in {args.store}")
        if args.csv:
            print(export_csv(results, cfg, args.csv))
    return 0
