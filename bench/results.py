"""The storage boundary: `TrialResult` records -> crash-safe CSV/JSON files, and back as tables.

Per run folder: trials.csv (one row per trial), curves.csv (per trial and epoch),
samples.jsonl (pytest-benchmark records, one line per timed trial), benchmark.json
(pytest-benchmark's format, rebuilt atomically after each trial), env.json, suite.toml.
Rows are appended whole with a single write and fsync, curves and samples before the trial
row, so a trial counts as complete exactly when its trials.csv row exists. This module and
`bench.analysis` never import torch: the report and the gate read runs through them.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import statistics
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench import SCHEMA_VERSION
from bench.analysis import DERIVED, with_sibling_ratios
from bench.convergence import convergence_epoch, first_hit_epoch, stuck_at_baseline
from bench.errors import BenchError
from bench.trial import AXES, TrialResult

TRIALS = "trials.csv"
CURVES = "curves.csv"
SAMPLES = "samples.jsonl"
BENCHMARK = "benchmark.json"
ENV = "env.json"
SUITE = "suite.toml"
RESOLVED = "suite.resolved.json"
SWEEP = "sweep.json"

OUTCOME_COLUMNS = (
    "trial_id", "status", "error", "params", "baseline_loss", "stuck_at_baseline",
    "convergence_epoch", "first_hit_epoch", "epochs_run", "final_loss", "final_metric",
    "time_per_step_median_s", "time_per_step_iqr_s", "time_per_step_min_s", "time_per_step_mean_s",
    "rounds", "warmup_rounds", "train_time_s", "time_to_converge_s", "steps_per_s", "samples_per_s",
    "tokens_per_s", "peak_mem_bytes", "flops_per_step", "gflops", "tflops", "peak_tflops", "peak_fraction",
    "torch_threads", "compile_time_s", "shared_host", "worker", "rnn_reference_median_s", "interleaved_ratio_vs_rnn",
)  # fmt: skip
RATIO_COLUMNS = DERIVED  # filled from the RNN sibling by bench.analysis
TRIAL_COLUMNS = ("schema_version",) + AXES + OUTCOME_COLUMNS + RATIO_COLUMNS
CURVE_COLUMNS = ("schema_version", "trial_id", "epoch", "loss", "metric", "predicted", "solved", "train_time_s")


def trial_row(result: TrialResult) -> dict:
    """Flatten one result into its trials.csv row (ratio columns are filled by `finalize`)."""
    t = result.trial
    solved = [r.solved for r in result.curve]
    conv = convergence_epoch(solved)
    final_loss = result.curve[-1].loss if result.curve else float("nan")
    stats = result.timing_json.get("stats", {})
    median = stats.get("median", float("nan"))
    steps_per_s = 1.0 / median if median == median and median > 0 else None  # None: not timed
    tflops = result.flops_per_step * steps_per_s / 1e12 if steps_per_s else None
    tokens = t.batch * (result.length or t.seq_len)
    row = {"schema_version": SCHEMA_VERSION, **dataclasses.asdict(t)}
    row.update(
        trial_id=t.trial_id,
        status=result.status,
        error=result.error,
        params=result.params,
        baseline_loss=result.baseline_loss,
        stuck_at_baseline=stuck_at_baseline(final_loss, result.baseline_loss),
        convergence_epoch=conv,
        first_hit_epoch=first_hit_epoch(solved),
        epochs_run=len(result.curve),
        final_loss=final_loss,
        final_metric=result.curve[-1].metric if result.curve else float("nan"),
        time_per_step_median_s=median,
        time_per_step_iqr_s=stats.get("iqr", float("nan")),
        time_per_step_min_s=stats.get("min", float("nan")),
        time_per_step_mean_s=stats.get("mean", float("nan")),
        rounds=stats.get("rounds", 0),
        warmup_rounds=result.warmup_rounds,
        train_time_s=sum(r.train_time_s for r in result.curve),
        time_to_converge_s=sum(r.train_time_s for r in result.curve[:conv]) if conv else None,
        steps_per_s=steps_per_s,
        samples_per_s=t.batch * steps_per_s if steps_per_s else None,
        tokens_per_s=tokens * steps_per_s if steps_per_s else None,
        peak_mem_bytes=result.peak_mem_bytes,
        flops_per_step=result.flops_per_step,
        gflops=tflops * 1e3 if tflops is not None else None,
        tflops=tflops,
        peak_tflops=result.peak_tflops,
        peak_fraction=tflops / result.peak_tflops if tflops and result.peak_tflops > 0 else None,
        torch_threads=result.torch_threads,
        compile_time_s=result.compile_time_s,
        shared_host=result.shared_host,
        worker=result.worker,
        **_interleaved(result),
    )
    return row


def _interleaved(result: TrialResult) -> dict:
    """Median of the RNN reference rounds, and the median of per-round ratios to them (see timing.time_step)."""
    reference = result.timing_json.get("extra_info", {}).get("reference_data", [])
    if not reference or len(reference) != len(result.samples):
        return {"rnn_reference_median_s": None, "interleaved_ratio_vs_rnn": None}
    ratios = sorted(s / r for s, r in zip(result.samples, reference, strict=True))
    return {
        "rnn_reference_median_s": statistics.median(reference),
        "interleaved_ratio_vs_rnn": statistics.median(ratios),
    }


def curve_rows(result: TrialResult) -> list[dict]:
    return [
        {"schema_version": SCHEMA_VERSION, "trial_id": result.trial.trial_id, **dataclasses.asdict(r)}
        for r in result.curve
    ]


def _csv_text(columns: tuple[str, ...], rows: list[dict], header: bool) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="raise", lineterminator="\n")
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _append(path: Path, text: str) -> None:
    """Append `text` with one write and fsync: a kill leaves whole rows or, at worst, one torn tail."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    with open(tmp) as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _empty(path: Path) -> bool:
    """No file, or an empty one (a crash between creating and first writing it): write the header."""
    return not path.exists() or path.stat().st_size == 0


def _drop_torn_tail(path: Path) -> None:
    """Remove a last line without its newline (a write cut by a crash)."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


class RunWriter:
    """Appends results to a run folder; reopening a folder resumes it."""

    def __init__(self, out_dir: Path, env: dict, suite_text: str, benchmark_meta: dict) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.benchmark_meta = benchmark_meta
        self._repair()
        self.done = self._completed()
        write_atomic(self.dir / ENV, json.dumps(env, indent=2, default=str) + "\n")
        write_atomic(self.dir / SUITE, suite_text)
        self._benchmarks = [json.loads(line) for line in self._lines(SAMPLES)]

    def write_resolved(self, name: str, trials: list, order_seed: int = 0, timing_order: list | None = None) -> None:
        """The suite as expanded (CLI overrides applied): every trial's id and axes, in suite order, and
        the shuffled order of timing groups (lists of trial ids) with the seed that drew it."""
        doc = {
            "schema_version": SCHEMA_VERSION,
            "suite": name,
            "order_seed": order_seed,
            "timing_order": timing_order or [],
            "trials": [{"trial_id": t.trial_id, **dataclasses.asdict(t)} for t in trials],
        }
        write_atomic(self.dir / RESOLVED, json.dumps(doc, indent=1) + "\n")

    def _lines(self, name: str) -> list[str]:
        path = self.dir / name
        return path.read_text().splitlines() if path.exists() else []

    def _repair(self) -> None:
        """Drop torn tails, then rows of a trial that was in flight (no trials.csv row)."""
        for name in (TRIALS, CURVES, SAMPLES):
            _drop_torn_tail(self.dir / name)
        existing = self.dir / TRIALS
        if not _empty(existing):
            check_schema(existing, pd.read_csv(existing, usecols=["schema_version"]))
        done = self._completed()
        curves = self.dir / CURVES
        if not _empty(curves):
            lines = curves.read_text().splitlines(keepends=True)
            keep = lines[:1] + [ln for ln in lines[1:] if ln.split(",")[1] in done]
            if len(keep) != len(lines):
                write_atomic(curves, "".join(keep))
        samples = self._lines(SAMPLES)
        keep_s = [ln for ln in samples if json.loads(ln)["extra_info"]["trial_id"] in done]
        if len(keep_s) != len(samples):
            write_atomic(self.dir / SAMPLES, "".join(ln + "\n" for ln in keep_s))

    def _completed(self) -> set[str]:
        path = self.dir / TRIALS
        if _empty(path):
            return set()
        return set(pd.read_csv(path, usecols=["trial_id"], dtype=str)["trial_id"])

    def append(self, result: TrialResult) -> None:
        trial_id = result.trial.trial_id
        if trial_id in self.done:
            return
        curves = self.dir / CURVES
        if result.curve:
            _append(curves, _csv_text(CURVE_COLUMNS, curve_rows(result), header=_empty(curves)))
        if result.timing_json:
            extra = {**result.timing_json.get("extra_info", {}), "trial_id": trial_id, "status": result.status}
            record = {**result.timing_json, "extra_info": extra}
            record["params"] = dataclasses.asdict(result.trial)
            record["param"] = trial_id
            record["group"] = result.trial.task
            _append(self.dir / SAMPLES, json.dumps(record) + "\n")
            self._benchmarks.append(record)
            self._write_benchmark()
        trials = self.dir / TRIALS
        _append(trials, _csv_text(TRIAL_COLUMNS, [trial_row(result)], header=_empty(trials)))
        self.done.add(trial_id)

    def _write_benchmark(self) -> None:
        doc = {**self.benchmark_meta, "benchmarks": self._benchmarks, "rnnbench_schema_version": SCHEMA_VERSION}
        write_atomic(self.dir / BENCHMARK, json.dumps(doc) + "\n")

    def finalize(self) -> pd.DataFrame:
        """Rewrite trials.csv atomically with the sibling-ratio columns filled in."""
        path = self.dir / TRIALS
        if _empty(path):
            return pd.DataFrame(columns=TRIAL_COLUMNS)
        table = with_sibling_ratios(pd.read_csv(path, dtype={"trial_id": str}))
        write_atomic(path, table.to_csv(index=False, columns=list(TRIAL_COLUMNS), lineterminator="\n"))
        if not (self.dir / BENCHMARK).exists():
            self._write_benchmark()
        return table


def record_session(run_dir: Path, session: dict) -> None:
    """Append one invocation's wall time and counts to sweep.json (a resumed run has several)."""
    path = Path(run_dir) / SWEEP
    doc = json.loads(path.read_text()) if path.exists() else {"schema_version": SCHEMA_VERSION, "sessions": []}
    doc["sessions"].append(session)
    write_atomic(path, json.dumps(doc, indent=2) + "\n")


def check_schema(path: Path, table: pd.DataFrame) -> None:
    versions = set(table["schema_version"].dropna().astype(int)) if "schema_version" in table else {None}
    if versions - {SCHEMA_VERSION}:
        raise BenchError(
            f"{path}: schema_version {sorted(versions, key=str)} is not {SCHEMA_VERSION}, the version this "
            f"rnnbench reads; re-run the suite with this version or use the rnnbench that wrote it"
        )


@dataclass(frozen=True)
class Run:
    dir: Path
    trials: pd.DataFrame
    curves: pd.DataFrame
    env: dict
    benchmarks: list[dict]

    def samples(self) -> dict[str, list[float]]:
        """Raw per-round step times (s) by trial_id, as pytest-benchmark recorded them."""
        return {b["extra_info"]["trial_id"]: b["stats"]["data"] for b in self.benchmarks}

    def reference_samples(self) -> dict[str, list[float]]:
        """The interleaved RNN reference's rounds (s) by trial_id, for trials that timed one."""
        return {
            b["extra_info"]["trial_id"]: b["extra_info"]["reference_data"]
            for b in self.benchmarks
            if b["extra_info"].get("reference_data")
        }


def load_run(run_dir: str | Path) -> Run:
    """Read a run folder; BenchError when it is missing, empty, unreadable or of another schema."""
    d = Path(run_dir)
    if not d.is_dir():
        raise BenchError(f"results folder {str(d)!r} not found")
    path = d / TRIALS
    if not path.exists():
        raise BenchError(f"{d}: no {TRIALS}; is this a run folder (results/<suite>/<run-id>)?")
    try:
        trials = pd.read_csv(path, on_bad_lines="skip", dtype={"trial_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise BenchError(f"{path}: unreadable: {e}") from None
    missing = [c for c in ("schema_version", "trial_id", "status") if c not in trials.columns]
    if missing:
        raise BenchError(f"{path}: missing columns {missing}; not an rnnbench trials file")
    check_schema(path, trials)
    if trials.empty:
        raise BenchError(f"{path}: no trials recorded yet")
    trials = with_sibling_ratios(trials)
    curves_path = d / CURVES
    curves = (
        pd.read_csv(curves_path, on_bad_lines="skip") if curves_path.exists() else pd.DataFrame(columns=CURVE_COLUMNS)
    )
    env = json.loads((d / ENV).read_text()) if (d / ENV).exists() else {}
    samples = d / SAMPLES
    benchmarks = []
    if samples.exists():
        for line in samples.read_text().splitlines():
            try:
                benchmarks.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line
    return Run(d, trials, curves, env, benchmarks)


def _json_doc(path: Path) -> dict | None:
    """A JSON object file of this schema_version, or None when absent; BenchError when unreadable."""
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise BenchError(f"{path}: unreadable: {e}") from None
    if not isinstance(doc, dict):
        raise BenchError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    version = doc.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise BenchError(f"{path}: schema_version {version!r} is not {SCHEMA_VERSION}, the version this rnnbench "
                         f"reads; use the rnnbench that wrote it, or another folder")  # fmt: skip
    return doc


def read_env(run_dir: Path) -> dict | None:
    """env.json of a run folder, or None when it has none yet."""
    return _json_doc(Path(run_dir) / ENV)


def read_resolved(run_dir: Path) -> list | None:
    """The trials suite.resolved.json describes, or None when the folder has none."""
    from bench.trial import AXIS_FIELDS, Trial

    path = Path(run_dir) / RESOLVED
    doc = _json_doc(path)
    if doc is None:
        return None
    try:
        return [Trial(**{k: v for k, v in t.items() if k in AXIS_FIELDS}) for t in doc["trials"]]
    except (KeyError, TypeError, AttributeError) as e:
        raise BenchError(f"{path}: field 'trials' is not a list of trials: {e}") from None
