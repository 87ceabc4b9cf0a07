"""The commands that read results never import torch, and `--help` stays light (issue 14.6)."""

import subprocess
import sys

import pytest

from tests.helpers import ROOT

FIXTURE = ROOT / "tests" / "data" / "run_small"

PROBE = """
import sys
from bench.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as e:
    code = e.code
print("TORCH" if "torch" in sys.modules else "NO-TORCH", file=sys.stderr)
"""


def _imports_torch(*args: str) -> bool:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    lines = proc.stderr.strip().splitlines()
    assert lines and lines[-1] in ("TORCH", "NO-TORCH"), proc.stderr
    return lines[-1] == "TORCH"


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("run", "--help"),
        ("gate", "--help"),
        ("report", str(FIXTURE), "-o", "{tmp}/r.html"),
        ("gate", str(FIXTURE), str(FIXTURE)),
        ("show", str(FIXTURE)),
    ],
)
def test_reading_commands_and_help_never_import_torch(args, tmp_path):
    assert not _imports_torch(*(a.format(tmp=tmp_path) for a in args))
