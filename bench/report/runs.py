"""Run folders -> one trials table and one curves table, each row tagged with its run.

Reads through `bench.results.load_run` only (it validates the schema and adds the ratio
columns). Several runs are stacked: a trial of the same configuration in two runs counts
twice, like another seed, and each device is labelled with its name from env.json so that
two machines' 'cpu' stay apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bench import stats
from bench.analysis import TIMED
from bench.errors import BenchError
from bench.results import Run, load_run

PROVENANCE_KEYS = (
    "suite", "started_at", "torch_version", "devices", "torch_threads", "cpu_count", "git_commit",
    "python", "platform", "hostname", "cuda_version", "cudnn_version", "rnnbench_version", "executor",
)  # fmt: skip


@dataclass(frozen=True)
class Results:
    trials: pd.DataFrame  # trials.csv rows + run, device_label, time_per_step_q25_s, time_per_step_q75_s
    curves: pd.DataFrame  # curves.csv rows + run
    environment: pd.DataFrame  # one column per run, one row per env.json field (as text)
    paired: dict = field(default_factory=dict)  # (run, trial_id) -> per-round ratios to the reference's step


def load_results(run_dirs: Sequence[str | Path]) -> Results:
    """Read and stack run folders; BenchError (naming the folder) for a missing or unreadable one."""
    if not run_dirs:
        raise BenchError("no results folder given")
    runs = [load_run(d) for d in dict.fromkeys(Path(d) for d in run_dirs)]
    labels = run_labels([r.dir for r in runs])
    trials = pd.concat([_trials(r, label) for r, label in zip(runs, labels, strict=True)], ignore_index=True)
    curves = pd.concat([r.curves.assign(run=label) for r, label in zip(runs, labels, strict=True)], ignore_index=True)
    environment = pd.DataFrame({label: environment_column(r.env) for r, label in zip(runs, labels, strict=True)})
    paired = {}
    for r, label in zip(runs, labels, strict=True):
        paired.update(paired_rounds(label, r.benchmarks))
    return Results(trials, curves, environment.fillna("-"), paired)


def paired_rounds(run_label: str, benchmarks: list[dict]) -> dict[tuple[str, str], np.ndarray]:
    """(run, trial_id) -> per-round ratios of the trial's step to its reference's, from samples.jsonl records."""
    out = {}
    for b in benchmarks:
        extra = b.get("extra_info", {})
        ratios = stats.paired_ratios(b.get("stats", {}).get("data", []), extra.get("reference_data", []))
        if len(ratios):
            out[(run_label, str(extra.get("trial_id")))] = ratios
    return out


def run_labels(dirs: Sequence[Path]) -> list[str]:
    """'suite/run-id' for each folder (its last two path parts), made unique by a '#n' suffix."""
    labels: list[str] = []
    for d in dirs:
        base = "/".join(d.resolve().parts[-2:])
        label, n = base, 1
        while label in labels:
            n += 1
            label = f"{base} #{n}"
        labels.append(label)
    return labels


def _trials(run: Run, label: str) -> pd.DataFrame:
    t = run.trials.copy()
    t.insert(0, "run", label)
    names = run.env.get("devices", {}) if isinstance(run.env.get("devices"), dict) else {}
    t["device_label"] = [f"{d} ({names[d]})" if names.get(d) else str(d) for d in t["device"]]
    q25, q75 = timing_quartiles(t, run.samples())
    t["time_per_step_q25_s"] = q25
    t["time_per_step_q75_s"] = q75
    return t


def timing_quartiles(trials: pd.DataFrame, samples: dict[str, list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Per trial, the 25th and 75th percentile (s) of its raw per-round step times.

    A trial without raw samples falls back to median -/+ IQR/2 from trials.csv.
    """
    median = pd.to_numeric(trials["time_per_step_median_s"], errors="coerce").to_numpy(dtype=float)
    half = pd.to_numeric(trials["time_per_step_iqr_s"], errors="coerce").to_numpy(dtype=float) / 2
    q25, q75 = median - half, median + half
    for i, trial_id in enumerate(trials["trial_id"].astype(str)):
        data = samples.get(trial_id)
        if data:
            q25[i], q75[i] = np.percentile(np.asarray(data, dtype=float), [25, 75])
    return q25, q75


def environment_column(env: dict) -> pd.Series:
    """env.json as text, provenance fields first; nested values as compact JSON."""
    keys = [k for k in PROVENANCE_KEYS if k in env] + sorted(k for k in env if k not in PROVENANCE_KEYS)
    return pd.Series({k: _text(env[k]) for k in keys}, dtype=object)


def _text(value: object) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return " ".join(_text(v) for v in value)
    return "-" if value is None else str(value)


def timed(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials whose time per step was measured (status ok or not_converged, median > 0)."""
    median = pd.to_numeric(trials["time_per_step_median_s"], errors="coerce")
    return trials[trials["status"].isin(TIMED) & (median > 0)]
