"""Owning a run folder: one writer at a time (an OS lock), names that cannot collide, in-flight markers.

The lock is `fcntl.flock` on `.lock` inside the folder, held for the whole sweep and released by
the kernel when the process ends however it ends, so a kill -9 never leaves a stale lock. The
in-flight log (`inflight.jsonl`) records, before each trial trains, that it is in flight; a clean
end (finished or interrupted) clears this session's markers, so markers that survive belong to
sessions that were killed whole (the machine, or the driver). A trial in flight at two such kills
is not tried a third time.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import platform
import sys
from collections import Counter
from pathlib import Path

from bench import SCHEMA_VERSION
from bench.errors import BenchError

LOCK = ".lock"
INFLIGHT = "inflight.jsonl"
KILLS_BEFORE_GIVING_UP = 2


def new_run_folder(parent: Path, stamp: str | None = None) -> Path:
    """Create a fresh folder `parent/<UTC date-time>` (suffix -2, -3, ... when taken): mkdir is atomic, so
    two runs started in the same second get different folders."""
    stamp = stamp or datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BenchError(f"cannot create results folder {str(parent)!r}: {e.strerror or e}") from None
    for n in range(1, 1000):
        path = parent / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
        except OSError as e:
            raise BenchError(f"cannot create run folder {str(path)!r}: {e.strerror or e}") from None
    raise BenchError(f"{parent}: 999 run folders named {stamp}*; choose --out")


class RunLock:
    """Exclusive ownership of a run folder for this process; BenchError naming the holder when taken."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise BenchError(f"cannot lock {str(run_dir)!r}: {e.strerror or e}") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._holder()
            os.close(self.fd)
            raise BenchError(
                f"{run_dir}: another rnnbench run is writing this folder ({holder}); wait for it to finish, or "
                f"choose another --out"
            ) from None

    def claim(self) -> None:
        """Write who holds the lock (read by a refused second run); called once the run has passed its checks,
        so that a refused resume leaves the folder byte for byte as it was."""
        info = {"schema_version": SCHEMA_VERSION, "pid": os.getpid(), "host": platform.node(),
                "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "argv": sys.argv}  # fmt: skip
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, (json.dumps(info) + "\n").encode(), 0)

    def _holder(self) -> str:
        try:
            info = json.loads(os.pread(self.fd, 65536, 0).decode() or "{}")
            return f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started_at')}"
        except (OSError, ValueError, AttributeError):
            return "holder unknown"

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing drops the flock
            self.fd = -1


class InflightLog:
    """`inflight.jsonl`: one line per trial as it starts training, tagged with this session."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / INFLIGHT
        self.session = f"{platform.node()}:{os.getpid()}:{datetime.datetime.now(datetime.UTC).isoformat()}"

    def _read(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for n, line in enumerate(self.path.read_bytes().splitlines(), 1):
            try:
                doc = json.loads(line)
            except ValueError:
                continue  # a torn line: a write cut by the very kill it records
            if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION:
                raise BenchError(f"{self.path}: line {n} is not an in-flight marker of schema_version "
                                 f"{SCHEMA_VERSION}; delete the file to resume")  # fmt: skip
            out.append(doc)
        return out

    def killed_twice(self, done: set[str]) -> dict[str, int]:
        """trial_id -> killed sessions it was in flight in, for trials with no row and >= 2 such sessions."""
        sessions: dict[str, set[str]] = {}
        for doc in self._read():
            if doc.get("trial_id") not in done:
                sessions.setdefault(str(doc.get("trial_id")), set()).add(str(doc.get("session")))
        counts = Counter({t: len(s) for t, s in sessions.items()})
        return {t: n for t, n in counts.items() if n >= KILLS_BEFORE_GIVING_UP}

    def mark(self, trial_id: str) -> None:
        line = json.dumps({"schema_version": SCHEMA_VERSION, "session": self.session, "trial_id": trial_id})
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def clear_session(self, done: set[str]) -> None:
        """A clean end: drop this session's markers and those of trials now complete (`done`); the markers
        of killed sessions whose trial still has no row stay."""
        try:
            kept = [d for d in self._read() if d.get("session") != self.session and d.get("trial_id") not in done]
        except BenchError:
            return
        text = "".join(json.dumps(d) + "\n" for d in kept)
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            if kept:
                tmp.write_text(text)
                os.replace(tmp, self.path)
            elif self.path.exists():
                self.path.unlink()
        except OSError:
            tmp.unlink(missing_ok=True)
