"""A test hook that makes the process running a trial die as the kernel's OOM killer would.

RNNBENCH_TEST_KILL_ON is a comma-separated list of trial ids, each optionally with ':once'. A
process starting a listed trial sends itself SIGKILL; with ':once' only on the first attempt (a
marker file in the temp folder records it), so the retry runs. tests/test_isolation.py and
tests/test_distributed.py use it; never set it in a real run.
"""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path

TEST_KILL_ENV = "RNNBENCH_TEST_KILL_ON"


def maybe_kill_for_test(trial_id: str) -> None:
    for item in os.environ.get(TEST_KILL_ENV, "").split(","):
        target, _, mode = item.strip().partition(":")
        if not target or target != trial_id:
            continue
        if mode == "once":
            try:
                (Path(tempfile.gettempdir()) / f"rnnbench-test-kill-{trial_id}").touch(exist_ok=False)
            except FileExistsError:
                return
        os.kill(os.getpid(), signal.SIGKILL)
