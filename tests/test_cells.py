"""Cells: minGRU/minLSTM (both implementations), users' cells by import path, [cells.NAME] tables and entry
points, and every bad-input case through the CLI (exit 2, the message, nothing written)."""

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench import cells
from bench.cells.mincells import MinGRULayer, MinLSTMLayer, parallel_scan_log
from bench.cells.probe import cell_problem
from bench.errors import BenchError
from bench.models import RecurrentNet, count_params
from tests.helpers import ROOT, cli, write

FAST = ("--time-budget", "0.01", "--warmup-rounds", "1", "--no-progress")
PEEPHOLE = "examples.peephole:PeepholeLSTM"
BAD_CELLS = """
import torch

def two_arguments(input_size, hidden):
    return torch.nn.RNN(input_size, hidden)

def wide(input_size, hidden, layers):
    return torch.nn.RNN(input_size, 2 * hidden, layers)

def not_a_module(input_size, hidden, layers):
    return torch.zeros(1)

NOT_CALLABLE = 3

def big_fails(input_size, hidden, layers):
    if hidden > 8:
        raise RuntimeError("this cell refuses hidden > 8")
    return torch.nn.GRU(input_size, hidden, layers)
"""


def _env(tmp_path: Path) -> dict:
    write(tmp_path / "badcells.py", BAD_CELLS)
    return {"PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}", "TMPDIR": str(tmp_path)}


def _suite(tmp_path: Path, cell: str, extra: str = "") -> Path:
    return write(tmp_path / "s.toml", f'name = "s"\ntask = "hello"\nmax_epochs = 2\ncell = {cell}\n{extra}')


# --- minGRU and minLSTM -----------------------------------------------------------------------------------


def test_parallel_scan_log_solves_the_linear_recurrence():
    torch.manual_seed(0)
    a, b, h0 = torch.rand(50, 3, 4), torch.rand(50, 3, 4), torch.rand(1, 3, 4)
    h, expected = h0[0], []
    for t in range(50):
        h = a[t] * h + b[t]
        expected.append(h)
    got = parallel_scan_log(a.log(), torch.cat([h0, b]).log())
    torch.testing.assert_close(got, torch.stack(expected), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("layer", [MinGRULayer, MinLSTMLayer])
@pytest.mark.parametrize("seq_len", [1, 7, 300])
def test_sequential_and_parallel_compute_the_same_function(layer, seq_len):
    torch.manual_seed(seq_len)
    scan, loop = layer(5, 6, parallel=True), layer(5, 6, parallel=False)
    loop.load_state_dict(scan.state_dict())
    x = torch.randn(seq_len, 3, 5) * 3  # large pre-activations reach both branches of g
    out_scan, out_loop = scan(x), loop(x)
    assert out_scan.shape == (seq_len, 3, 6)
    torch.testing.assert_close(out_scan, out_loop, rtol=1e-4, atol=1e-5)
    # Gradients in float64, where the two orders of summation agree to 1e-9 (float32's sums over 300 steps
    # drift apart by about 1e-3 relative).
    scan, loop, x = scan.double(), loop.double(), x.double()
    scan(x).square().sum().backward()
    loop(x).square().sum().backward()
    for p, q in zip(scan.parameters(), loop.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("impl", ["fused", "cell"])
def test_whole_models_agree_across_impls(impl):
    torch.manual_seed(1)
    for cell in ("mingru", "minlstm"):
        a = RecurrentNet(cell, "fused", "embedding", "linear", 4, 10, 8, 2, 4)
        b = RecurrentNet(cell, impl, "embedding", "linear", 4, 10, 8, 2, 4)
        b.load_state_dict(a.state_dict())
        x = torch.randint(0, 4, (9, 2))
        torch.testing.assert_close(a(x), b(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("impl", ["fused", "cell"])
def test_min_cell_parameter_counts(impl):
    # minGRU: 2 (H*I + H) per layer, minLSTM: 3 (H*I + H); deeper layers read H.
    def params(cell: str, inp: int, hidden: int, layers: int) -> int:
        return count_params(RecurrentNet(cell, impl, "dense", "none", inp, 1, hidden, layers, hidden))

    assert params("mingru", 4, 8, 1) == 2 * (8 * 4 + 8) == 80
    assert params("mingru", 10, 8, 2) == 2 * (8 * 10 + 8) + 2 * (8 * 8 + 8) == 320
    assert params("minlstm", 4, 8, 1) == 3 * (8 * 4 + 8) == 120
    assert params("minlstm", 3, 32, 3) == 3 * (32 * 3 + 32) + 2 * 3 * (32 * 32 + 32) == 6720
    # the tutorial's model with embedding 4 x 10, two layers of 8, head 8 -> 4
    assert count_params(RecurrentNet("mingru", impl, "embedding", "linear", 4, 10, 8, 2, 4)) == 40 + 320 + 36


# --- the registry and the contract ------------------------------------------------------------------------


def test_registry_names_and_the_unknown_cell_error():
    assert cells.names()[:5] == ["rnn", "lstm", "gru", "mingru", "minlstm"]
    with pytest.raises(BenchError, match="unknown cell 'lstn'; choose one of: rnn, lstm, gru, mingru, minlstm"):
        cells.resolve("lstn")


def test_a_user_cell_has_one_implementation():
    spec = cells.resolve(PEEPHOLE)
    assert list(spec.impls) == ["fused"]
    with pytest.raises(BenchError, match="has no impl 'cell'; it has: fused"):
        RecurrentNet(PEEPHOLE, "cell", "dense", "none", 3, 1, 4, 1, 4)
    model = RecurrentNet(PEEPHOLE, "fused", "dense", "none", 3, 1, 4, 2, 4)
    assert model(torch.randn(6, 2, 3)).shape == (6, 2, 4)  # its (output, state) tuple: the output is kept
    assert count_params(model) == 4 * (4 * 3 + 16 + 4) + 12 + 4 * (4 * 4 + 16 + 4) + 12


@pytest.mark.parametrize(
    "path,message",
    [
        ("no_such_module_xyz:Cell", "cannot import module 'no_such_module_xyz': ModuleNotFoundError"),
        ("examples.peephole:Nope", "module 'examples.peephole' has no attribute 'Nope'"),
        ("badcells:two_arguments", "cannot be called as factory(input_size, hidden, layers)"),
        ("badcells:wide", "to (5, 2, 8), not (T, B, H) = (5, 2, 4)"),
        ("badcells:not_a_module", "returned Tensor, not a torch.nn.Module"),
        ("badcells:NOT_CALLABLE", "'NOT_CALLABLE' is not callable"),
        (":Cell", "is not module:attribute"),
    ],
)
def test_cell_problems_name_the_underlying_error(path, message, tmp_path, monkeypatch):
    write(tmp_path / "badcells.py", BAD_CELLS)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert message in cell_problem(path)
    assert cell_problem(PEEPHOLE) == ""


# --- through the CLI ----------------------------------------------------------------------------------------

BAD_SUITES = [
    ('"no_such_module_xyz:Cell"', "", "field 'cell': cell 'no_such_module_xyz:Cell': cannot import module"),
    ('["rnn", "examples.peephole:Nope"]', "", "field 'cell': cell 'examples.peephole:Nope': module"),
    ('"badcells:two_arguments"', "", "field 'cell': factory 'badcells:two_arguments' cannot be called as"),
    ('"badcells:wide"', "", "field 'cell': cell 'badcells:wide' maps a probe batch"),
    ('"lstn"', "", "field 'cell': unknown cell 'lstn'; choose one of: rnn, lstm, gru, mingru, minlstm"),
    (f'"{PEEPHOLE}"', 'impl = "cell"', f"field 'impl': cell '{PEEPHOLE}' has no impl 'cell'; it has: fused"),
    ('"mine"', '[cells.mine]\nfactory = "badcells:wide"', "[cells.mine], field 'factory': cell 'badcells:wide' maps"),
    ('"mine"', '[cells.mine]\nfactory = "nocolon"', "[cells.mine], field 'factory': 'nocolon' is not"),
    ('"mine"', '[cells.mine]\nfactory = "badcells:wide"\ngates = 4', "[cells.mine]: unknown key 'gates'"),
    ('"lstm"', '[cells.lstm]\nfactory = "badcells:wide"', "[cells.lstm]: the name 'lstm' is a built-in cell"),
]


@pytest.mark.parametrize("cell,extra,message", BAD_SUITES)
def test_bad_cells_exit_2_before_any_trial(cell, extra, message, tmp_path):
    suite = _suite(tmp_path, cell, extra)
    out = tmp_path / "run"
    proc = cli("run", str(suite), "--out", str(out), *FAST, env=_env(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and str(suite) in proc.stderr
    assert message in proc.stderr
    assert not out.exists()
    assert not (ROOT / "results" / "s").exists()


def test_a_cell_table_and_an_entry_point_name_cells(tmp_path):
    dist = tmp_path / "epcells-0.1.dist-info"
    dist.mkdir()
    write(dist / "METADATA", "Metadata-Version: 2.1\nName: epcells\nVersion: 0.1\n")
    write(dist / "entry_points.txt", f"[rnnbench.cells]\npeep = {PEEPHOLE}\n")
    suite = _suite(tmp_path, '["rnn", "mine", "peep", "mingru"]', f'[cells.mine]\nfactory = "{PEEPHOLE}"')
    proc = cli("run", str(suite), "--dry-run", env=_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert PEEPHOLE in proc.stdout and " peep " in proc.stdout and " mine " not in proc.stdout
    proc = cli("run", str(_suite(tmp_path, '"lstn"')), "--dry-run", env=_env(tmp_path))
    assert "choose one of: rnn, lstm, gru, mingru, minlstm, peep" in proc.stderr


@pytest.mark.slow
def test_a_cell_outside_bench_runs_resumes_reports_and_gates(tmp_path):
    suite = _suite(tmp_path, f'["rnn", "lstm", "{PEEPHOLE}", "mingru", "minlstm", "gru"]', 'encoding = "embedding"')
    out = tmp_path / "run"
    proc = cli("run", str(suite), "--out", str(out), *FAST, env=_env(tmp_path))  # the crash-isolated child
    assert proc.returncode == 0, proc.stderr
    trials = pd.read_csv(out / "trials.csv", dtype={"trial_id": str})
    row = trials[trials["cell"] == PEEPHOLE].iloc[0]
    assert row["status"] in ("ok", "not_converged") and row["params"] == 708
    assert row["flops_per_step"] > 0 and row["time_ratio_vs_rnn"] > 0
    resolved = json.loads((out / "suite.resolved.json").read_text())
    assert PEEPHOLE in json.dumps(resolved)
    again = cli("run", str(suite), "--out", str(out), *FAST, env=_env(tmp_path))
    assert again.returncode == 0 and "0 trials run, 6 already complete" in again.stderr
    report = tmp_path / "r.html"
    proc = cli("report", str(out), "-o", str(report), env=_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert PEEPHOLE in report.read_text() and "MINLSTM" in report.read_text().upper()
    verdict = tmp_path / "g.json"
    proc = cli("gate", str(out), str(out), "--normalize", "rnn", "--json", str(verdict), env=_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    findings = json.loads(verdict.read_text())["findings"]
    assert {f["metric"] for f in findings if f["trial_id"] == row["trial_id"]} >= {"time", "final_loss"}


@pytest.mark.slow
def test_a_factory_that_raises_in_one_trial_is_a_failed_row(tmp_path):
    suite = _suite(tmp_path, '["rnn", "badcells:big_fails"]', "hidden = [4, 16]")
    out = tmp_path / "run"
    proc = cli("run", str(suite), "--out", str(out), *FAST, "--executor", "in-process", env=_env(tmp_path))
    assert proc.returncode == 1, proc.stderr
    trials = pd.read_csv(out / "trials.csv").set_index(["cell", "hidden"])
    assert trials.loc[("badcells:big_fails", 16), "status"] == "failed"
    assert "RuntimeError: this cell refuses hidden > 8" in trials.loc[("badcells:big_fails", 16), "error"]
    assert trials.loc[("badcells:big_fails", 4), "status"] in ("ok", "not_converged")
    assert trials.loc[("rnn", 16), "status"] in ("ok", "not_converged")
