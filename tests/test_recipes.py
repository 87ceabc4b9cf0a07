"""The README's three recipes, end to end through the real CLI, on smaller configurations."""

import re
import tomllib

import pytest

from tests.helpers import ROOT, cli, write

pytestmark = pytest.mark.slow

README = (ROOT / "README.md").read_text()
FAST = ("--time-budget", "0.02", "--warmup-rounds", "1", "--no-progress")


def test_recipe_1_cost_at_my_size():
    assert "rnnbench compare --hidden 256 --layers 2 --seq-len 100 --batch 32 --cells rnn,lstm,gru" in README
    proc = cli("compare", "--hidden", "16", "--layers", "2", "--seq-len", "10", "--batch", "4", "--cells",
               "rnn,lstm,gru", "--threads", "1", "--time-budget", "0.05")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for cell in ("lstm", "gru"):
        assert re.search(rf"{cell}\b.*\d+(\.\d+)?x \[\d", proc.stdout), proc.stdout  # a ratio with its interval


def test_recipe_2_time_to_solve_cell_against_cell(tmp_path):
    block = re.search(r"```toml\n(# adding50\.toml\n.*?)```", README, re.S).group(1)
    assert tomllib.loads(block)["seq_len"] == 50
    suite = write(tmp_path / "adding50.toml", block)
    out = tmp_path / "run"
    proc = cli("run", str(suite), "--out", str(out), "--seeds", "0", "--set", "seq_len=10", "--set", "max_epochs=3",
               "--set", "hidden=16", *FAST)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    show = cli("show", str(out))
    assert show.returncode == 0, show.stderr
    assert "time to solve (each cell at its best lr" in show.stdout and "budget 3 epochs x 50 steps" in show.stdout
    report = cli("report", str(out), "-o", str(tmp_path / "r.html"))
    assert report.returncode == 0, report.stderr
    assert "Time to solve" in (tmp_path / "r.html").read_text()


def test_recipe_3_a_ci_gate_for_my_change(tmp_path):
    assert "rnnbench gate /tmp/runs/base /tmp/runs/head --normalize machine" in README and "set -e" in README
    suite = write(tmp_path / "s.toml", 'name = "s"\ntask = "hello"\ncell = ["rnn", "lstm"]\nmax_epochs = 3\n'
                  "threads = 1\nencoding = \"embedding\"\n")  # fmt: skip
    for name in ("base", "head"):
        assert cli("run", str(suite), "--out", str(tmp_path / name), *FAST).returncode == 0
    slow = cli("run", str(suite), "--out", str(tmp_path / "slow"), "--inject-slowdown", "1.0", *FAST)
    assert slow.returncode == 0, slow.stderr
    for normalize in ("machine", "rnn"):
        proc = cli("gate", str(tmp_path / "base"), str(tmp_path / "head"), "--normalize", normalize)
        assert proc.returncode in (0, 1) and ("PASS" in proc.stdout or "FAIL" in proc.stdout), proc.stderr
    doubled = cli("gate", str(tmp_path / "base"), str(tmp_path / "slow"), "--normalize", "machine")
    assert doubled.returncode == 1 and "FAIL" in doubled.stdout, doubled.stdout  # every step twice as slow
