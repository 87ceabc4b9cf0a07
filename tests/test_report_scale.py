"""The report on a synthetic 1,000-trial run (no torch): every section renders at that size.

`write_synthetic_run` is also how the README's render time was measured:
    PYTHONPATH=tests python -c "from test_report_scale import write_synthetic_run; write_synthetic_run('/tmp/s1k')"
    time python -m bench report /tmp/s1k -o /tmp/s1k.html
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench.analysis import with_sibling_ratios
from bench.report.build import render_report
from bench.results import CURVE_COLUMNS, TRIAL_COLUMNS, benchmark_entry, curve_rows, trial_row
from bench.trial import EpochRecord, Trial, TrialResult

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def synthetic_result(trial: Trial, rng: np.random.Generator) -> TrialResult:
    """Step time = 50 us overhead per time step + gate matmul work at 2 GFLOP/s, with 5% lognormal noise."""
    flops = 6.0 * GATES[trial.cell] * trial.hidden**2 * trial.batch * trial.seq_len * trial.layers
    median = trial.seq_len * trial.layers * 5e-5 + flops / 2e9
    drift = rng.lognormal(0.0, 0.05, 20)  # the machine's state in each round, shared by the paired RNN step
    data = (median * drift * rng.lognormal(0.0, 0.01, 20)).tolist()
    rnn = trial.seq_len * trial.layers * 5e-5 + flops / GATES[trial.cell] / 2e9
    reference = data if trial.cell == "rnn" else (rnn * drift).tolist()
    rate = {"rnn": 0.25, "lstm": 0.4, "gru": 0.45}[trial.cell] * rng.uniform(0.5, 1.5)
    losses = [1 / 6 * np.exp(-rate * e) for e in range(1, trial.max_epochs + 1)]
    curve = tuple(EpochRecord(e, loss, loss, "", loss <= 0.01, median * 50) for e, loss in enumerate(losses, 1))
    status = "ok" if curve[-1].solved else "not_converged"
    params = GATES[trial.cell] * trial.hidden * (trial.hidden + 3)
    return TrialResult(trial, status, params=params, length=trial.seq_len, baseline_loss=1 / 6, curve=curve,
                       samples=tuple(data), reference_samples=tuple(reference), reference_cell="rnn",
                       flops_per_step=flops)  # fmt: skip


def write_synthetic_run(out: str | Path, trials: int = 1000, seed: int = 0) -> Path:
    """A run folder of `trials` synthetic adding trials over cell, hidden, seq_len, batch, layers and seed."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    grid = itertools.product([16, 32, 64, 128, 256], [10, 20, 50, 100], [1, 16], [1, 2], range(5), GATES)
    configs = [Trial(task="adding", cell=c, hidden=h, seq_len=t, batch=b, layers=n, seed=s, max_epochs=20)
               for h, t, b, n, s, c in grid][:trials]  # fmt: skip
    results = [synthetic_result(trial, rng) for trial in configs]
    table = with_sibling_ratios(pd.DataFrame([trial_row(r) for r in results]))
    table.to_csv(out / "trials.csv", index=False, columns=list(TRIAL_COLUMNS))
    pd.DataFrame([row for r in results for row in curve_rows(r)]).to_csv(
        out / "curves.csv", index=False, columns=list(CURVE_COLUMNS)
    )
    samples = [benchmark_entry(r, "synthetic") for r in results]
    (out / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    env = {"schema_version": 1, "suite": "synthetic", "torch_version": "none", "devices": {"cpu": "synthetic"}}
    (out / "env.json").write_text(json.dumps(env))
    return out


def test_report_renders_1000_trials(tmp_path):
    html = render_report([write_synthetic_run(tmp_path / "run", 1000)])
    assert "1000 trials from 1 run(s)" in html
    assert html.count("<img ") >= 12  # 4 time sweeps, 4 ratio sweeps, heatmap, 2 convergence, benefit, GFLOP/s
    assert "a training step costs" in html and "LSTM" in html
