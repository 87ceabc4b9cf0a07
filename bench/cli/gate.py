"""`rnnbench gate` (issue 4: placeholder until the gate module lands)."""

from __future__ import annotations

import argparse

from bench.errors import BenchError


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("gate", help="compare two runs (not yet built)")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    return p


def run(args: argparse.Namespace) -> int:
    raise BenchError("rnnbench gate is not built yet")
