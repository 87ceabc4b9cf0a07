"""The storage boundary: `TrialResult` records -> crash-safe CSV/JSON files, and back as tables.

Per run folder: trials.csv (one row per trial), curves.csv (per trial and epoch),
samples.jsonl (pytest-benchmark records, one line per timed trial), benchmark.json
(pytest-benchmark's format, rebuilt atomically after each trial), env.json, suite.toml.
Rows are appended whole with a single write and fsync, curves and samples before the trial
row, so a trial counts as complete exactly when its trials.csv row exists. This module and
`bench.analysis` never import torch: the report and the gate read runs through them.
"""

from __future__ import annotations

import contextlib
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
from bench import stats as timing_stats
from bench.analysis import DERIVED, with_sibling_ratios
from bench.convergence import convergence_epoch, first_hit_epoch, stuck_at_baseline, time_to_solve
from bench.errors import BenchError
from bench.trial import AXES, Trial, TrialResult

TRIALS = "trials.csv"
CURVES = "curves.csv"
MACHINE_WORKLOAD_UNNAMED = "numpy-matmul/0"  # what a run that does not name its machine workload timed
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
    "rounds", "warmup_rounds", "train_time_s", "trained_beside", "time_to_converge_s",
    "steps_run", "steps_to_solve", "time_to_solve_s", "solve_censored", "budget", "steps_per_s", "samples_per_s",
    "tokens_per_s", "peak_mem_bytes", "flops_per_step", "gflops", "tflops", "peak_tflops", "peak_fraction",
    "torch_threads", "compile_time_s", "shared_host", "worker", "group_id", "group_size", "timing_slot",
    "reference_cell", "reference_median_s", "paired_ratio", "paired_ratio_lo", "paired_ratio_hi",
    "machine_median_s", "machine_ratio",
)  # fmt: skip
RATIO_COLUMNS = DERIVED  # filled from the RNN sibling by bench.analysis
TRIAL_COLUMNS = ("schema_version",) + AXES + OUTCOME_COLUMNS + RATIO_COLUMNS
CURVE_COLUMNS = (
    "schema_version", "trial_id", "epoch", "loss", "metric", "predicted", "solved", "train_time_s", "steps",
    "beside",
)  # fmt: skip


def trial_row(result: TrialResult) -> dict:
    """Flatten one result into its trials.csv row (ratio columns are filled by `finalize`)."""
    t = result.trial
    solved = [r.solved for r in result.curve]
    conv = convergence_epoch(solved)
    final_loss = result.curve[-1].loss if result.curve else float("nan")
    stats = timing_stats.summary(result.samples)
    median = stats["median"]
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
        time_per_step_iqr_s=stats["iqr"],
        time_per_step_min_s=stats["min"],
        time_per_step_mean_s=stats["mean"],
        rounds=stats["rounds"],
        warmup_rounds=result.warmup_rounds,
        train_time_s=sum(r.train_time_s for r in result.curve),
        trained_beside=sum(r.beside for r in result.curve) / len(result.curve) if result.curve else None,
        time_to_converge_s=sum(r.train_time_s for r in result.curve[:conv]) if conv else None,
        **_solve(result),
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
        group_id=t.group_id,
        group_size=result.group_size,
        timing_slot=result.timing_slot,
        **_paired(result),
    )
    return row


def _solve(result: TrialResult) -> dict:
    """Time to solve (training steps and seconds up to the convergence epoch), censored when the trial did
    not solve within its budget: the values stay empty, `solve_censored` True, `budget` says what stopped it."""
    if not result.curve:
        return {"steps_run": None, "steps_to_solve": None, "time_to_solve_s": None, "solve_censored": None,
                "budget": result.stopped_by or None}  # fmt: skip
    c = result.curve
    steps, seconds = time_to_solve([r.solved for r in c], [r.steps for r in c], [r.train_time_s for r in c])
    return {"steps_run": c[-1].steps, "steps_to_solve": steps, "time_to_solve_s": seconds,
            "solve_censored": steps is None, "budget": result.stopped_by or None}  # fmt: skip


def _paired(result: TrialResult) -> dict:
    """The reference cell's median and this step's paired ratio to it (median of per-round ratios, with its
    95% interval), and the paired ratio to the machine workload; empty where the trial was not timed."""
    ratio, lo, hi = timing_stats.paired_ratio(result.samples, result.reference_samples)
    machine = timing_stats.paired_ratios(result.samples, result.machine_samples)
    return {
        "reference_cell": result.reference_cell or None,
        "reference_median_s": timing_stats.summary(result.reference_samples)["median"],
        "paired_ratio": ratio, "paired_ratio_lo": lo, "paired_ratio_hi": hi,
        "machine_median_s": timing_stats.summary(result.machine_samples)["median"],
        "machine_ratio": float(statistics.median(machine)) if len(machine) else None,
    }  # fmt: skip


def benchmark_entry(result: TrialResult, suite: str = "") -> dict:
    """pytest-benchmark's record of one timed trial (raw rounds in stats.data), paired rounds in extra_info."""
    from bench.timing import MACHINE_WORKLOAD, TimingPlan, benchmark_record

    t = result.trial
    own, reference, machine = result.rewarmed
    record = benchmark_record(result.samples, t.label(), f"{suite}::{t.trial_id}", TimingPlan())
    record.update(params=dataclasses.asdict(t), param=t.trial_id, group=t.task)
    record["extra_info"] = {"schema_version": SCHEMA_VERSION, "trial_id": t.trial_id, "status": result.status,
                            "reference_cell": result.reference_cell, "reference_data": list(result.reference_samples),
                            "machine_data": list(result.machine_samples), "rewarmed": own,
                            "reference_rewarmed": reference, "machine_rewarmed": machine, "group_id": t.group_id,
                            "machine_workload": MACHINE_WORKLOAD if result.machine_samples else None,
                            "timing_slot": result.timing_slot}  # fmt: skip
    return record


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
    # The csv module quotes a field holding "\n" (the line terminator) but not a bare "\r", which readers
    # take for a line end: write carriage returns as newlines, inside the quoted field.
    writer.writerows([{k: _no_cr(v) for k, v in row.items()} for row in rows])
    return buf.getvalue()


def _no_cr(value: object) -> object:
    return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else value


def _cannot_write(path: Path, e: OSError) -> BenchError:
    return BenchError(f"cannot write {path}: {e.strerror or e}")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _append(path: Path, text: str) -> None:
    """Append `text` with one write and fsync: a kill leaves whole rows or, at worst, one torn tail.

    A failed write (disk full) is cut back to the old end of the file, so no partial row is left."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as e:
        raise _cannot_write(path, e) from None
    start = os.fstat(fd).st_size
    try:
        _write_all(fd, text.encode())
        os.fsync(fd)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, start)
        raise _cannot_write(path, e) from None
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    """Write a whole file through `NAME.tmp` and a rename; on any OSError the tmp is removed and the
    old file stays as it was (BenchError 'cannot write PATH: reason')."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise _cannot_write(path, e) from None


def _empty(path: Path) -> bool:
    """No file, or an empty one (a crash between creating and first writing it): write the header."""
    return not path.exists() or path.stat().st_size == 0


def _drop_torn_tail(path: Path) -> None:
    """Remove a last line without its newline (a write cut by a crash)."""
    if not path.exists():
        return
    data = _read_bytes(path)
    if data and not data.endswith(b"\n"):
        try:
            os.truncate(path, data.rfind(b"\n") + 1)
        except OSError as e:
            raise _cannot_write(path, e) from None


# --- reading: every reader validates what it reads -------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise BenchError(f"cannot read {path}: {e.strerror or e}") from None


def _read_text(path: Path) -> str:
    data = _read_bytes(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise BenchError(
            f"{path}, line {line}: not UTF-8 text (byte {data[e.start]:#04x}); rnnbench writes UTF-8: "
            "restore the file or re-run the suite into another folder"
        ) from None


def _version_error(where: object, key: str, value: object) -> BenchError:
    if value is None:
        return BenchError(
            f"{where}: no {key}; this rnnbench reads version {SCHEMA_VERSION} files, which all carry it: "
            "re-run the suite, or use the rnnbench that wrote this file"
        )
    shown = str(value) if isinstance(value, list) else repr(value)
    return BenchError(
        f"{where}: {key} {shown} is not {SCHEMA_VERSION}, the version this rnnbench reads; re-run the suite "
        "with this version or use the rnnbench that wrote it"
    )


def _check_json_version(where: object, value: object, key: str = "schema_version") -> None:
    if type(value) is not int or value != SCHEMA_VERSION:
        raise _version_error(where, key, value)


def read_json(path: Path, key: str = "schema_version") -> dict:
    """A JSON object file whose `key` is SCHEMA_VERSION; BenchError naming the file otherwise."""
    try:
        doc = json.loads(_read_text(path))
    except json.JSONDecodeError as e:
        raise BenchError(
            f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}); restore it or re-run the suite"
        ) from None
    if not isinstance(doc, dict):
        raise BenchError(f"{path}: a JSON {type(doc).__name__}, not an object; not an rnnbench {path.name}")
    _check_json_version(path, doc.get(key), key)
    return doc


def _json_doc(path: Path) -> dict | None:
    """A JSON object file of this schema_version, or None when absent; BenchError when unreadable."""
    return read_json(path) if path.exists() else None


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


@dataclass(frozen=True)
class _Csv:
    header: list[str]
    rows: list[list[str]]  # every row has len(header) fields
    lines: list[int]  # the file line each row ends on (1-based)
    text: str


def _read_csv(path: Path) -> _Csv:
    """Parse a CSV file strictly: UTF-8, every row with the header's field count.

    A last line without its newline is a write cut by a crash and is left out, as resume would drop it."""
    text = _read_text(path)
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, [])
        rows, lines = [], []
        for fields in reader:
            if not fields:
                continue  # a blank line
            if len(fields) != len(header):
                what = "a cut row" if len(fields) < len(header) else "an extra field"
                raise BenchError(
                    f"{path}, line {reader.line_num}: {len(fields)} fields where the header has {len(header)} "
                    f"({what}); fix or delete that line"
                )
            rows.append(fields)
            lines.append(reader.line_num)
    except csv.Error as e:
        raise BenchError(f"{path}, line {reader.line_num}: unreadable CSV: {e}") from None
    return _Csv(header, rows, lines, text)


def _csv_file_text(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *rows])
    return buf.getvalue()


def _numeric_axes() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(Trial) if f.type in ("int", "float", int, float))


NOT_NUMERIC = {
    "trial_id",
    "status",
    "error",
    "stuck_at_baseline",
    "solve_censored",
    "budget",
    "shared_host",
    "worker",
    "group_id",
    "reference_cell",
}
TRIAL_NUMERIC = _numeric_axes() + tuple(c for c in OUTCOME_COLUMNS + RATIO_COLUMNS if c not in NOT_NUMERIC)
CURVE_NUMERIC = ("epoch", "loss", "metric", "train_time_s", "steps")
STATUSES = ("ok", "not_converged", "diverged", "failed", "skipped")


def _table(path: Path, parsed: _Csv, required: tuple[str, ...], numeric: tuple[str, ...]) -> pd.DataFrame:
    """The parsed rows as a table: required columns present, schema_version checked, numbers numeric."""
    missing = [c for c in required if c not in parsed.header]
    if missing:
        raise BenchError(f"{path}: missing columns {missing}; not an rnnbench {path.name} file")
    if not parsed.rows:
        return pd.DataFrame(columns=parsed.header)
    table = pd.read_csv(
        io.StringIO(parsed.text),
        dtype={
            "trial_id": str,
            "schema_version": str,
            "predicted": str,
            "group_id": str,
            "reference_cell": str,
            "budget": str,
        },
    )
    check_schema(path, table, parsed.lines)
    for column in numeric:
        if column in table.columns:
            table[column] = _numbers(path, table[column], parsed.lines)
    if table["trial_id"].isna().any():
        raise BenchError(f"{path}, line {parsed.lines[int(table['trial_id'].isna().argmax())]}: empty trial_id")
    return table


def _numbers(path: Path, column: pd.Series, lines: list[int]) -> pd.Series:
    values = pd.to_numeric(column, errors="coerce")
    bad = column.notna() & values.isna()
    if bad.any():
        i = int(bad.to_numpy().argmax())
        raise BenchError(
            f"{path}, line {lines[i]}: column {column.name!r} holds {column.iloc[i]!r}, not a number "
            "(empty means no value); fix or delete that line"
        )
    return values


def check_schema(path: Path, table: pd.DataFrame, lines: list[int] | None = None) -> None:
    """Every row's schema_version is SCHEMA_VERSION (an integer); BenchError naming the values otherwise."""
    if "schema_version" not in table:
        raise _version_error(path, "schema_version", None)
    found = [
        _version_value(v) for v in table["schema_version"].astype(object).where(table["schema_version"].notna(), "")
    ]
    bad = [i for i, v in enumerate(found) if type(v) is not int or v != SCHEMA_VERSION]
    if bad:
        where = f"{path}, line {lines[bad[0]]}" if lines else path
        raise _version_error(where, "schema_version", sorted({found[i] for i in bad}, key=str))


def _version_value(value: object) -> object:
    """'1' -> 1; anything that is not an integer literal ('abc', '1.5', '') stays as it is."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def read_trials(path: Path) -> pd.DataFrame:
    """trials.csv, validated: field counts, schema_version, statuses, numeric columns, ids as strings."""
    table = _table(path, _read_csv(path), ("schema_version", "trial_id", "status"), TRIAL_NUMERIC)
    bad = ~table["status"].isin(STATUSES)
    if bad.any():
        i = int(bad.to_numpy().argmax())
        raise BenchError(f"{path}: column 'status' holds {table['status'].iloc[i]!r} (trial "
                         f"{table['trial_id'].iloc[i]}); valid: {', '.join(STATUSES)}")  # fmt: skip
    return table.assign(schema_version=SCHEMA_VERSION)


def read_curves(path: Path) -> pd.DataFrame:
    """curves.csv, validated like trials.csv; an absent or empty file is an empty table."""
    if _empty(path):
        return pd.DataFrame(columns=CURVE_COLUMNS)
    table = _table(path, _read_csv(path), ("schema_version", "trial_id", "epoch", "loss"), CURVE_NUMERIC)
    return table.assign(schema_version=SCHEMA_VERSION) if len(table) else table


def _sample_lines(path: Path) -> list[tuple[str, dict]]:
    """samples.jsonl as (line, record) pairs, each record checked; a torn last line (no newline) is left out."""
    if not path.exists():
        return []
    lines = _read_text(path).split("\n")
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        torn = n == len(lines)  # the text did not end with a newline
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            if torn:
                continue  # a write cut by a crash
            raise BenchError(
                f"{path}, line {n}: not JSON ({e.msg} at column {e.colno}); fix or delete that line"
            ) from None
        out.append((line, _check_sample(f"{path}, line {n}", record)))
    return out


def _check_sample(where: str, record: object) -> dict:
    """One pytest-benchmark record as rnnbench writes it: extra_info.trial_id, schema_version, stats.data."""
    if not isinstance(record, dict):
        raise BenchError(f"{where}: a JSON {type(record).__name__}, not a benchmark record (an object)")
    extra = record.get("extra_info")
    if not isinstance(extra, dict) or not isinstance(extra.get("trial_id"), str) or not extra["trial_id"]:
        raise BenchError(f"{where}: no extra_info.trial_id (a string); every record names its trial")
    _check_json_version(where, extra.get("schema_version"), "extra_info.schema_version")
    stats = record.get("stats")
    data = stats.get("data") if isinstance(stats, dict) else None
    for name, values in (("stats.data", data), ("extra_info.reference_data", extra.get("reference_data", [])),
                         ("extra_info.machine_data", extra.get("machine_data", []))):  # fmt: skip
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            raise BenchError(f"{where}: {name} is {str(values)[:60]!r}, not a list of numbers (seconds per round)")
    workload = extra.get("machine_workload")
    if workload is not None and not (isinstance(workload, str) and workload):
        raise BenchError(f"{where}: extra_info.machine_workload is {str(workload)[:60]!r}, not a workload name "
                         f"(a string such as {MACHINE_WORKLOAD_UNNAMED!r}) or null")  # fmt: skip
    return record


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_samples(path: Path) -> list[dict]:
    """Every pytest-benchmark record of samples.jsonl, validated; [] when the file is absent."""
    return [record for _, record in _sample_lines(path)]


class RunWriter:
    """Appends results to a run folder; reopening a folder resumes it (after validating what is there)."""

    def __init__(self, out_dir: Path, env: dict, suite_text: str, benchmark_meta: dict) -> None:
        self.dir = Path(out_dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BenchError(f"cannot create {self.dir}: {e.strerror or e}") from None
        self.env = env
        self.benchmark_meta = benchmark_meta
        check_sweep(self.dir)  # before any work, not at the end of the run
        read_env(self.dir)
        self._benchmarks: list[dict] = []
        self._repair()
        self.done = self._completed()
        write_atomic(self.dir / ENV, json.dumps(env, indent=2, default=str) + "\n")
        write_atomic(self.dir / SUITE, suite_text)

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

    def _repair(self) -> None:
        """Drop torn tails, then rows of a trial that was in flight (no trials.csv row)."""
        for name in (TRIALS, CURVES, SAMPLES):
            _drop_torn_tail(self.dir / name)
        done = self._completed()
        curves = self.dir / CURVES
        if not _empty(curves):
            parsed = _read_csv(curves)
            _resumable_header(curves, parsed.header, CURVE_COLUMNS)
            _table(curves, parsed, CURVE_COLUMNS, CURVE_NUMERIC)
            keep = [row for row in parsed.rows if row[parsed.header.index("trial_id")] in done]
            if len(keep) != len(parsed.rows):
                write_atomic(curves, _csv_file_text(parsed.header, keep))
        samples = _sample_lines(self.dir / SAMPLES)
        keep_s = [(line, r) for line, r in samples if r["extra_info"]["trial_id"] in done]
        if len(keep_s) != len(samples):
            write_atomic(self.dir / SAMPLES, "".join(line + "\n" for line, _ in keep_s))
        self._benchmarks = [r for _, r in keep_s]

    def _completed(self) -> set[str]:
        path = self.dir / TRIALS
        if _empty(path):
            return set()
        _resumable_header(path, _read_csv(path).header, TRIAL_COLUMNS)
        return set(read_trials(path)["trial_id"])

    def append(self, result: TrialResult) -> None:
        trial_id = result.trial.trial_id
        if trial_id in self.done:
            return
        curves = self.dir / CURVES
        if result.curve:
            _append(curves, _csv_text(CURVE_COLUMNS, curve_rows(result), header=_empty(curves)))
        if result.samples:
            record = benchmark_entry(result, self.env.get("suite", ""))
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
        table = with_sibling_ratios(read_trials(path))
        write_atomic(path, table.to_csv(index=False, columns=list(TRIAL_COLUMNS), lineterminator="\n"))
        if not (self.dir / BENCHMARK).exists():
            self._write_benchmark()
        return table


def _resumable_header(path: Path, header: list[str], columns: tuple[str, ...]) -> None:
    """New rows are appended in this rnnbench's column order: refuse a file whose header differs."""
    if tuple(header) != columns:
        missing = [c for c in columns if c not in header]
        extra = [c for c in header if c not in columns]
        raise BenchError(
            f"{path}: its columns are not the ones this rnnbench writes (missing {missing}, unknown {extra}); "
            "resume it with the rnnbench that wrote it, or choose another --out"
        )


# --- sweep.json: one entry per invocation ------------------------------------------------------------


def _read_sweep(run_dir: Path) -> dict:
    path = Path(run_dir) / SWEEP
    if not path.exists():
        return {"schema_version": SCHEMA_VERSION, "sessions": []}
    doc = read_json(path)
    sessions = doc.get("sessions")
    if not isinstance(sessions, list) or not all(isinstance(s, dict) for s in sessions):
        raise BenchError(f"{path}: field 'sessions' is {str(sessions)[:60]!r}, not a list of objects")
    return doc


def check_sweep(run_dir: Path) -> None:
    """BenchError now, before any work, when a run folder's sweep.json could not be updated at its end."""
    _read_sweep(run_dir)


def open_session(run_dir: Path, session: dict) -> int:
    """Append this invocation to sweep.json with "ended": false (a killed run keeps it so); its index."""
    doc = _read_sweep(run_dir)
    doc["sessions"].append({**session, "ended": False})
    write_atomic(Path(run_dir) / SWEEP, json.dumps(doc, indent=2, default=str) + "\n")
    return len(doc["sessions"]) - 1


def close_session(run_dir: Path, index: int, session: dict) -> None:
    """Replace session `index` (from `open_session`) by its final figures, with "ended": true."""
    doc = _read_sweep(run_dir)
    if not 0 <= index < len(doc["sessions"]):
        raise BenchError(f"{Path(run_dir) / SWEEP}: no session {index} to close (it has {len(doc['sessions'])})")
    doc["sessions"][index] = {**session, "ended": True}
    write_atomic(Path(run_dir) / SWEEP, json.dumps(doc, indent=2, default=str) + "\n")


def record_session(run_dir: Path, session: dict) -> None:
    """Append one finished invocation's wall time and counts to sweep.json (a resumed run has several)."""
    close_session(run_dir, open_session(run_dir, session), session)


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

    def machine_workloads(self) -> set[str]:
        """Which machine workloads the run's machine rounds timed (`bench.timing.MACHINE_WORKLOAD`; runs
        from before it was recorded timed `numpy-matmul/0`)."""
        return {b["extra_info"].get("machine_workload") or MACHINE_WORKLOAD_UNNAMED for b in self.benchmarks
                if b["extra_info"].get("machine_data")}  # fmt: skip

    def machine_samples(self) -> dict[str, list[float]]:
        """The fixed machine workload's rounds (s, `bench.timing.machine_workload`) by trial_id, where timed."""
        return {
            b["extra_info"]["trial_id"]: b["extra_info"]["machine_data"]
            for b in self.benchmarks
            if b["extra_info"].get("machine_data")
        }


def load_run(run_dir: str | Path) -> Run:
    """Read a run folder, validating every file in it; BenchError when it is missing, empty, malformed
    or of another schema."""
    d = Path(run_dir)
    if not d.is_dir():
        raise BenchError(f"results folder {str(d)!r} not found")
    path = d / TRIALS
    if not path.exists():
        raise BenchError(f"{d}: no {TRIALS}; is this a run folder (results/<suite>/<run-id>)?")
    if _empty(path):
        raise BenchError(f"{path}: empty, unreadable: no header and no trials (a run that stopped before its first)")
    trials = read_trials(path)
    if trials.empty:
        raise BenchError(f"{path}: no trials recorded yet")
    env = read_env(d) or {}
    benchmarks = read_samples(d / SAMPLES)
    check_sweep(d)
    _json_doc(d / RESOLVED)
    if (d / BENCHMARK).exists():
        read_json(d / BENCHMARK, "rnnbench_schema_version")
    return Run(d, with_sibling_ratios(trials), read_curves(d / CURVES), env, benchmarks)
