"""Readers validate what they read, writers fail cleanly: each case through the real CLI (exit 2, `error: ...`,
no traceback) or, for the storage functions, at the function level."""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import SCHEMA_VERSION
from bench.errors import BenchError
from bench.results import TRIAL_COLUMNS, close_session, load_run, open_session, record_session, write_atomic
from tests.helpers import ROOT, cli, write

FIXTURE = ROOT / "tests" / "data" / "run_small"


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "run"))


def refused(proc, *texts: str) -> None:
    """Exit 2 with a one-line `error: ...` naming every text, and no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and proc.stderr.splitlines()[-1].startswith("error: "), proc.stderr
    for text in texts:
        assert text in proc.stderr, proc.stderr


def edit_line(path: Path, index: int, change) -> None:
    lines = path.read_text().splitlines()
    lines[index] = change(lines[index])
    path.write_text("\n".join(lines) + "\n")


def set_field(path: Path, line: int, column: str, value: str) -> None:
    rows = list(csv.reader(path.open()))
    rows[line - 1][rows[0].index(column)] = value
    with path.open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def edit_sample(path: Path, index: int, change) -> None:
    def apply(line: str) -> str:
        record = json.loads(line)
        change(record)
        return json.dumps(record)

    edit_line(path, index, apply)


# --- JSON files -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("env.json", "{not json", "env.json: not valid JSON (Expecting property name"),
        ("env.json", "[1, 2]", "env.json: a JSON list, not an object"),
        ("env.json", '{"schema_version": 2}', "env.json: schema_version 2 is not 1"),
        ("env.json", '{"schema_version": 1.5}', "env.json: schema_version 1.5 is not 1"),
        ("env.json", '{"schema_version": "1"}', "env.json: schema_version '1' is not 1"),
        ("sweep.json", '{"schema_version": 2, "sessions": []}', "sweep.json: schema_version 2 is not 1"),
        ("sweep.json", '{"schema_version": 1, "sessions": 3}', "sweep.json: field 'sessions' is '3'"),
        ("suite.resolved.json", '{"schema_version": 2, "trials": []}', "suite.resolved.json: schema_version 2"),
        ("benchmark.json", '{"benchmarks": []}', "benchmark.json: no rnnbench_schema_version"),
    ],
)
def test_show_refuses_a_bad_json_file(run: Path, name, text, message):
    write(run / name, text)
    refused(cli("show", str(run)), message)


N = len((FIXTURE / "trials.csv").read_text().splitlines()[0].split(","))  # fields of the fixture's rows


# --- CSV files --------------------------------------------------------------------------------------


def test_curves_not_utf8(run: Path):
    line = len((run / "curves.csv").read_bytes().splitlines()) + 1
    with (run / "curves.csv").open("ab") as f:
        f.write(b"1,6d79ad71cf1e,11,1.0,0.5,\xff\xfe,False,0.01,11\n")
    refused(cli("show", str(run)), f"curves.csv, line {line}: not UTF-8 text (byte 0xff)")


@pytest.mark.parametrize("name, line", [("trials.csv", 2), ("curves.csv", 3)])
@pytest.mark.parametrize("version", ["abc", "1.5", "2", ""])
def test_schema_version_of_every_row(run: Path, name, line, version):
    set_field(run / name, line, "schema_version", version)
    shown = f"[{version}]" if version == "2" else f"[{version!r}]"
    refused(cli("show", str(run)), f"{name}, line {line}: schema_version {shown} is not 1")


@pytest.mark.parametrize(
    "column, value, command",
    [
        ("final_loss", "abc", "gate"),
        ("time_per_step_median_s", "fast", "show"),
        ("convergence_epoch", "five", "report"),
        ("params", "1e3x", "show"),
        ("hidden", "eight", "gate"),
    ],
)
def test_text_in_a_numeric_column(run: Path, tmp_path: Path, column, value, command):
    set_field(run / "trials.csv", 2, column, value)
    args = {"show": [str(run)], "gate": [str(FIXTURE), str(run)], "report": [str(run), "-o", str(tmp_path / "r.html")]}
    refused(cli(command, *args[command]), f"trials.csv, line 2: column {column!r} holds {value!r}, not a number")


def test_text_in_a_curves_number(run: Path, tmp_path: Path):
    set_field(run / "curves.csv", 5, "loss", "low")
    refused(cli("report", str(run), "-o", str(tmp_path / "r.html")), "curves.csv, line 5: column 'loss' holds 'low'")


def test_unknown_status(run: Path):
    set_field(run / "trials.csv", 3, "status", "okay")
    refused(cli("show", str(run)), "column 'status' holds 'okay'", "valid: ok, not_converged, diverged, failed")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda line: line + ",extra", f"trials.csv, line 3: {N + 1} fields where the header has {N} (an extra field)"),
        (lambda line: line.rsplit(",", 3)[0], f"trials.csv, line 3: {N - 3} fields where the header has {N} (a cut"),
    ],
)
def test_a_row_with_the_wrong_field_count_is_an_error_not_dropped(run: Path, change, message):
    edit_line(run / "trials.csv", 2, change)
    refused(cli("show", str(run)), message)
    refused(cli("gate", str(FIXTURE), str(run)), message)


def test_a_torn_last_row_is_a_crash_artefact(run: Path):
    with (run / "trials.csv").open("a") as f:
        f.write("1,hello,lstm,fus")  # no newline: a write cut by a kill
    with (run / "samples.jsonl").open("a") as f:
        f.write('{"group": "hel')
    proc = cli("show", str(run))
    assert proc.returncode == 0, proc.stderr
    assert len(load_run(run).trials) == 61


def test_trial_ids_of_digits_keep_their_curves(run: Path, tmp_path: Path):
    ids = [row["trial_id"] for row in csv.DictReader((run / "trials.csv").open())]
    for name in ("trials.csv", "curves.csv", "samples.jsonl"):
        text = (run / name).read_text()
        for i, old in enumerate(ids):
            text = text.replace(old, f"0{i:011d}")
        (run / name).write_text(text)
    loaded = load_run(run)
    assert set(loaded.curves["trial_id"]) <= set(loaded.trials["trial_id"]) and "000000000000" in set(
        loaded.curves["trial_id"]
    )
    proc = cli("report", str(run), "-o", str(tmp_path / "r.html"))
    assert proc.returncode == 0, proc.stderr
    assert "No loss curves in these results" not in (tmp_path / "r.html").read_text()


# --- samples.jsonl ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r["extra_info"].pop("schema_version"), "samples.jsonl, line 4: no extra_info.schema_version"),
        (lambda r: r["extra_info"].update(schema_version=2), "line 4: extra_info.schema_version 2 is not 1"),
        (lambda r: r.pop("extra_info"), "samples.jsonl, line 4: no extra_info.trial_id (a string)"),
        (lambda r: r["extra_info"].pop("trial_id"), "samples.jsonl, line 4: no extra_info.trial_id"),
        (lambda r: r["extra_info"].update(trial_id=5), "samples.jsonl, line 4: no extra_info.trial_id"),
        (lambda r: r["stats"].update(data="fast"), "samples.jsonl, line 4: stats.data is 'fast', not a list of num"),
        (lambda r: r.pop("stats"), "samples.jsonl, line 4: stats.data is 'None', not a list"),
        (
            lambda r: r["extra_info"].update(machine_workload=5),
            "line 4: extra_info.machine_workload is '5', not a workload name (a string such as 'numpy-matmul/0')",
        ),
    ],
)
def test_a_bad_samples_line(run: Path, change, message):
    edit_sample(run / "samples.jsonl", 3, change)
    refused(cli("gate", str(FIXTURE), str(run)), message)


def test_a_samples_line_that_is_not_json_or_not_an_object(run: Path):
    edit_line(run / "samples.jsonl", 1, lambda line: line[:40])
    refused(cli("show", str(run)), "samples.jsonl, line 2: not JSON")
    edit_line(run / "samples.jsonl", 1, lambda line: "[1, 2]")
    refused(cli("show", str(run)), "samples.jsonl, line 2: a JSON list, not a benchmark record")


# --- resume: `rnnbench run` into a folder -----------------------------------------------------------

TINY = 'name = "tiny"\ntask = "hello"\ncell = ["rnn", "lstm"]\nmax_epochs = 2\n'


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tiny")
    suite = write(d / "tiny.toml", TINY)
    proc = cli("run", str(suite), "--out", str(d / "run"), "--time-budget", "0.01", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return suite, d / "run"


def resume(tiny, tmp_path: Path, corrupt) -> subprocess.CompletedProcess:
    suite, done = tiny
    out = Path(shutil.copytree(done, tmp_path / "resume"))
    corrupt(out)
    return cli("run", str(suite), "--out", str(out), "--time-budget", "0.01", "--no-progress")


@pytest.mark.slow
def test_resume_refuses_a_row_with_an_extra_field(tiny, tmp_path: Path):
    proc = resume(tiny, tmp_path, lambda out: edit_line(out / "trials.csv", 1, lambda line: line + ",x"))
    n = len(TRIAL_COLUMNS)
    refused(proc, f"trials.csv, line 2: {n + 1} fields where the header has {n} (an extra field)")


@pytest.mark.slow
def test_resume_refuses_a_garbage_sweep_json_before_any_work(tiny, tmp_path: Path):
    def corrupt(out: Path) -> None:
        write(out / "sweep.json", "{garbage")
        for name in ("trials.csv", "curves.csv", "samples.jsonl"):  # one trial left to run
            edit_line(out / name, -1, lambda line: "")

    proc = resume(tiny, tmp_path, corrupt)
    refused(proc, "sweep.json: not valid JSON")
    assert (tmp_path / "resume" / "sweep.json").read_text() == "{garbage"
    assert len((tmp_path / "resume" / "trials.csv").read_text().strip().splitlines()) == 2  # nothing ran


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, change, message",
    [
        ("samples.jsonl", lambda line: json.dumps({"extra_info": {}}), "samples.jsonl, line 1: no extra_info.trial_id"),
        ("curves.csv", lambda line: "9" + line, "curves.csv, line 2: schema_version [91] is not 1"),
        (
            "trials.csv",
            lambda line: line.replace(",eager,", ",eager,x,", 1),
            f"trials.csv, line 2: {len(TRIAL_COLUMNS) + 1} fields",
        ),
    ],
)
def test_resume_validates_every_file(tiny, tmp_path: Path, name, change, message):
    index = 0 if name == "samples.jsonl" else 1
    refused(resume(tiny, tmp_path, lambda out: edit_line(out / name, index, change)), message)


def test_samples_carry_schema_version_and_pytest_benchmark_still_reads_them(tiny):
    _, out = tiny
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert records and all(r["extra_info"]["schema_version"] == SCHEMA_VERSION for r in records)
    proc = subprocess.run([sys.executable, "-m", "pytest_benchmark", "compare", str(out / "benchmark.json")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "hello-lstm-fused" in proc.stdout


# --- show: terminal safety --------------------------------------------------------------------------


def test_show_escapes_control_characters(run: Path):
    rows = list(csv.DictReader((run / "trials.csv").open()))
    failed = next(i for i, r in enumerate(rows, 2) if r["status"] == "failed")  # its line; show prints its error
    set_field(run / "trials.csv", failed, "error", "\x1b[31mred\x1b[0m\x07\nnext")
    proc = cli("show", str(run))
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout
    assert "\\x1b[31mred\\x1b[0m\\x07\\nnext" in proc.stdout


def test_a_carriage_return_in_an_error_keeps_trials_csv_readable(tmp_path: Path):
    from bench.results import TRIALS, RunWriter
    from bench.trial import Trial, TrialResult

    w = RunWriter(tmp_path, {"schema_version": SCHEMA_VERSION}, "name = 'x'\n", {"machine_info": {}})
    w.append(TrialResult(Trial(cell="rnn"), "failed", error="line one\rline two\r\nthree"))
    w.finalize()
    assert load_run(tmp_path).trials.loc[0, "error"] == "line one\nline two\nthree"
    assert (tmp_path / TRIALS).exists()


def test_show_into_a_closed_pipe_exits_quietly(run: Path):
    rows = list(csv.reader((run / "trials.csv").open()))
    column = rows[0].index("trial_id")
    many = [rows[1 + i % 61][:column] + [f"{i:012d}"] + rows[1 + i % 61][column + 1 :] for i in range(3000)]
    with (run / "trials.csv").open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([rows[0], *many])
    command = f"set -o pipefail; {sys.executable} -m bench show {run} --all | head -1"
    proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert proc.stdout.startswith("run ") and len(proc.stdout.splitlines()) == 1
    assert proc.stderr == "" and proc.returncode == 141  # 128 + SIGPIPE, as `yes | head -1`


# --- writing ----------------------------------------------------------------------------------------


def test_write_atomic_disk_full_leaves_no_tmp_and_the_old_file(tmp_path: Path, monkeypatch):
    target = write(tmp_path / "env.json", "old\n")

    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(BenchError, match=f"cannot write {target}: No space left on device"):
        write_atomic(target, "new\n")
    monkeypatch.undo()
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["env.json"]


def test_write_atomic_onto_a_folder(tmp_path: Path):
    (tmp_path / "trials.csv").mkdir()
    with pytest.raises(BenchError, match="cannot write .*trials.csv: Is a directory"):
        write_atomic(tmp_path / "trials.csv", "x\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trials.csv"]


def test_append_disk_full_cuts_back_the_partial_row(tmp_path: Path, monkeypatch):
    from bench.results import _append

    path = write(tmp_path / "trials.csv", "a,b\n1,2\n")
    real = os.write

    def half(fd, data):  # half the row lands, then the disk is full
        real(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", half)
    with pytest.raises(BenchError, match="cannot write .*trials.csv: No space left on device"):
        _append(path, "3,4\n")
    monkeypatch.undo()
    assert path.read_text() == "a,b\n1,2\n"


# --- sweep.json sessions ----------------------------------------------------------------------------


def test_open_and_close_session(tmp_path: Path):
    first = open_session(tmp_path, {"started_at": "t0"})
    second = open_session(tmp_path, {"started_at": "t1"})
    assert (first, second) == (0, 1)
    doc = json.loads((tmp_path / "sweep.json").read_text())
    assert doc == {"schema_version": SCHEMA_VERSION, "sessions": [{"started_at": "t0", "ended": False},
                                                                    {"started_at": "t1", "ended": False}]}  # fmt: skip
    close_session(tmp_path, second, {"started_at": "t1", "wall_s": 2.0})
    record_session(tmp_path, {"started_at": "t2"})
    sessions = json.loads((tmp_path / "sweep.json").read_text())["sessions"]
    assert sessions == [{"started_at": "t0", "ended": False}, {"started_at": "t1", "wall_s": 2.0, "ended": True},
                        {"started_at": "t2", "ended": True}]  # fmt: skip
    assert not list(tmp_path.glob("*.tmp"))
    with pytest.raises(BenchError, match="no session 7 to close"):
        close_session(tmp_path, 7, {})


def test_record_session_on_a_garbage_sweep_json_is_a_clear_error(tmp_path: Path):
    write(tmp_path / "sweep.json", "{garbage")
    with pytest.raises(BenchError, match="sweep.json: not valid JSON"):
        record_session(tmp_path, {"started_at": "t0"})
    assert (tmp_path / "sweep.json").read_text() == "{garbage"
