"""`run --dry-run`'s time estimate, from step costs measured on this machine (cached per machine).

A training step is modelled per device, cell and implementation as
    step(T, L, F) = a + b * T * L + F / r
(a fixed cost per step, a cost per time step and layer, the matmul FLOPs at rate r). The three
constants are fitted, per cell, to real training steps of three probe configurations timed here;
the fit is cached in the user's cache folder keyed by the host, CPU, core count and torch version,
so it is remeasured when any of those change. A trial then costs its training steps (the budget:
early stopping can only make it shorter), one evaluation per epoch, and its share of the timing
window; a sweep adds the measured start-up of its worker process and the device calibration.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from bench import SCHEMA_VERSION
from bench.timing import TimingPlan

PROBES = ((32, 10, 1, 16), (32, 80, 1, 16), (256, 10, 1, 64))  # hidden, seq_len, layers, batch
CELL_IMPLS = tuple((c, i) for c in ("rnn", "lstm", "gru") for i in ("fused", "cell"))
EVAL_FRACTION = 0.5  # an evaluation (forward only, on the held-out batch) costs about half a step here
STARTUP_FALLBACK_S = 6.0


@dataclass(frozen=True)
class StepModel:
    a: float  # s per step
    b: float  # s per time step and layer
    rate: float  # FLOP/s

    def seconds(self, length: int, layers: int, flops: float) -> float:
        return self.a + self.b * length * layers + flops / self.rate


def cache_path() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rnnbench"
    import torch

    key = json.dumps([platform.node(), platform.processor(), os.cpu_count(), torch.__version__, _cpu_model()])
    return base / f"estimate-{hashlib.sha1(key.encode()).hexdigest()[:12]}.json"


def _cpu_model() -> str:
    from bench.devices import device_names

    return device_names().get("cpu", "")


def profile(refresh: bool = False) -> dict:
    """The cached step models of this machine ({'cell/impl': StepModel fields, 'startup_s': s}); measured
    (about 15 s) when there is no cache for this host, CPU and torch version, or when `refresh`."""
    path = cache_path()
    if path.exists() and not refresh:
        try:
            doc = json.loads(path.read_text())
            if doc.get("schema_version") == SCHEMA_VERSION:
                return doc
        except (OSError, ValueError):
            pass
    doc = {"schema_version": SCHEMA_VERSION, "measured_at": time.time(), "threads": 1, **_measure()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, path)
    except OSError:
        pass  # an estimate without a cache is still an estimate
    return doc


def _measure() -> dict:
    import subprocess
    import sys

    import torch

    from bench.tasks import TASKS
    from bench.train import TrialOptions, _train_trial, trial_flops
    from bench.trial import Trial

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = {}
    try:
        for cell, impl in CELL_IMPLS:
            rows = []
            for hidden, seq_len, layers, batch in PROBES:
                trial = Trial(task="synthetic", encoding="dense", cell=cell, impl=impl, hidden=hidden, seq_len=seq_len,
                              layers=layers, batch=batch, threads=1)  # fmt: skip
                step = _train_trial(trial, TrialOptions()).step
                for _ in range(3):
                    step()
                start = time.perf_counter()
                n = 0
                while time.perf_counter() - start < 0.15 or n < 5:
                    step()
                    n += 1
                rows.append((seq_len * layers, trial_flops(trial, TASKS.get("synthetic")()),
                             (time.perf_counter() - start) / n))  # fmt: skip
            out[f"cpu/{cell}/{impl}"] = vars(_fit(rows))
    finally:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, bench.train"], capture_output=True, timeout=120)
    out["startup_s"] = time.perf_counter() - start
    return out


def _fit(rows: list[tuple[float, float, float]]) -> StepModel:
    """Solve a + b x + F / r = t exactly on the three probes (x = T L); clamp to non-negative costs."""
    import numpy as np

    matrix = np.array([[1.0, x, f] for x, f, _ in rows])
    times = np.array([t for _, _, t in rows])
    a, b, inv_rate = np.linalg.lstsq(matrix, times, rcond=None)[0]
    a, b = max(float(a), 1e-5), max(float(b), 0.0)
    inv_rate = max(float(inv_rate), 1e-12)
    return StepModel(a, b, 1.0 / inv_rate)


def trial_seconds(trial, models: dict, time_budget: float) -> float:
    """Estimated wall time of one trial: its training budget, evaluations and timing (not early stopping)."""
    from bench.tasks import TASKS
    from bench.train import trial_flops

    task = TASKS.get(trial.task)()
    key = f"{trial.device}/{trial.cell}/{trial.impl}"
    model = (
        StepModel(**models[key])
        if key in models
        else StepModel(2e-3 if trial.device != "cpu" else 4e-4, 4e-5, 2e13 if trial.device != "cpu" else 4e9)
    )
    step = model.seconds(task.length(trial), trial.layers, trial_flops(trial, task))
    steps = trial.max_epochs * trial.steps_per_epoch if task.learns else 0
    if getattr(trial, "max_steps", 0):
        steps = min(steps, trial.max_steps)
    train = steps * step
    if getattr(trial, "max_time_s", 0.0):
        train = min(train, trial.max_time_s)
    evals = (math.ceil(steps / trial.steps_per_epoch) if task.learns else 0) * step * EVAL_FRACTION
    rewarm = 2 if step < TimingPlan.rewarm_below_s else 1  # a short step's untimed call before each timed one
    timing = max(time_budget, TimingPlan.min_rounds * step) * rewarm + 10 * step  # rounds, calibration, warm-up
    compile_s = 30.0 if trial.mode == "compile" else 0.0
    return train + evals + timing + compile_s + 0.02


def sweep_seconds(trials, time_budget: float, models: dict) -> tuple[float, float]:
    """(estimated wall time of the sweep, of which start-up): trials, each group's reference and machine
    workload rounds, the worker's start-up and the device calibration."""
    per_trial = sum(trial_seconds(t, models, time_budget) for t in trials)
    groups = {t.group_id for t in trials}
    reference = len(groups) * time_budget * 2 * 2  # the reference step and the (re-warmed) machine workload per group
    startup = float(models.get("startup_s", STARTUP_FALLBACK_S)) * 2 + 2.0  # driver + child, warm-up, calibration
    return per_trial + reference + startup, startup
