"""The `rnnbench` command: the only place that prints, writes reports and exits."""

from __future__ import annotations

import argparse
import importlib
import sys

from bench.errors import BenchError

# Each module has add_parser(subparsers) and run(args) -> exit status.
COMMANDS = ("run", "show", "report", "gate")


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
        return args.handler(args)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
