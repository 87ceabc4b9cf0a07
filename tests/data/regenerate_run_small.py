"""Regenerate tests/data/run_small, the small committed run behind the report tests.

    python tests/data/regenerate_run_small.py

Runs tests/data/report_fixture.toml through the real CLI, drops benchmark.json (the report does not
read it; the fixture stays small), and appends the hand-made failed trial (adding, lstm, hidden 64)
whose error text holds a <script> tag for the escaping tests.
"""

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = HERE / "run_small"


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from bench.results import TRIAL_COLUMNS, TRIALS, _append, _csv_text, trial_row
    from bench.suite import parse_suite
    from bench.trial import TrialResult

    shutil.rmtree(OUT, ignore_errors=True)
    cmd = [sys.executable, "-m", "bench", "run", str(HERE / "report_fixture.toml"), "--out", str(OUT),
           "--time-budget", "0.02", "--no-progress"]  # fmt: skip
    subprocess.run(cmd, cwd=ROOT, check=False)
    (OUT / "benchmark.json").unlink(missing_ok=True)
    for name in (".lock", "sweep.json"):
        (OUT / name).unlink(missing_ok=True)
    centre = next(t for t in parse_suite(HERE / "report_fixture.toml").trials
                  if t.task == "adding" and t.cell == "lstm" and t.hidden == 16 and t.seq_len == 10 and t.seed == 0
                  and t.layers == 1 and t.batch == 16)  # fmt: skip
    trial = centre.replace(hidden=64)
    error = 'RuntimeError: simulated failure <script>window.__pwned = 1</script> & "quotes"'
    _append(OUT / TRIALS, _csv_text(TRIAL_COLUMNS, [trial_row(TrialResult(trial, "failed", error=error))], False))
    print(f"regenerated {OUT}; failed trial {trial.trial_id}")


if __name__ == "__main__":
    main()
