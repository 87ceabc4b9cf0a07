"""The `rnnbench` command: the only place that prints, writes reports and exits."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from bench.errors import BenchError

# Each module has add_parser(subparsers) and run(args) -> exit status.
COMMANDS = ("run", "compare", "show", "report", "gate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnbench",
        description="Benchmark recurrent cells (RNN, LSTM, GRU): time per step, convergence, cost ratios.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"bench.cli.{name}")
        module.add_parser(subparsers).set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's own flush at exit
        return status
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `rnnbench show RUN | head -1`: the reader left. Python's recipe: point stdout at devnull so the
        # flush at exit does not fail again, and exit quietly with the shell's status for SIGPIPE.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE
