"""Train one trial to convergence (or not), then time its training step.

The only module that runs a trial; it returns a `TrialResult` and never writes files.
"""

from __future__ import annotations

import math
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from bench import devices
from bench.convergence import convergence_epoch
from bench.memory import PeakMemory
from bench.models import CELLS, RecurrentNet, count_params, flops_per_step
from bench.tasks import TASKS, Batch, Task
from bench.timing import TimingPlan, time_step, with_slowdown
from bench.trial import EpochRecord, Trial, TrialResult

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop}
DEFAULT_THREADS = torch.get_num_threads()  # torch's own default in this process, for threads = 0
Step = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TrialOptions:
    plan: TimingPlan = TimingPlan()
    slowdown: dict[str, float] = field(default_factory=dict)  # cell -> extra fraction of each timed step
    on_epoch: Callable[[Trial, EpochRecord], None] | None = None  # e.g. the CLI's --verbose line
    suite: str = ""
    peaks: dict[str, float] = field(default_factory=dict)  # 'device/dtype' -> measured matmul TFLOP/s
    deterministic: bool = False  # torch.use_deterministic_algorithms for every trial


def build(trial: Trial, task: Task) -> tuple[RecurrentNet, torch.optim.Optimizer]:
    model = RecurrentNet(
        trial.cell,
        trial.impl,
        trial.encoding,
        trial.head,
        task.in_features(trial),
        trial.embed,
        trial.hidden,
        trial.layers,
        task.out_features(trial),
    ).to(trial.device)
    kwargs = {"capturable": True} if trial.mode == "graph" and trial.optimizer != "sgd" else {}
    return model, OPTIMIZERS[trial.optimizer](model.parameters(), lr=trial.lr, **kwargs)


def trial_flops(trial: Trial, task: Task) -> float:
    rnn_in = trial.embed if trial.encoding == "embedding" else task.in_features(trial)
    out = task.out_features(trial) if trial.head == "linear" else 0
    gates = CELLS.get(trial.cell).gates
    return flops_per_step(gates, rnn_in, trial.hidden, trial.layers, out, task.length(trial), trial.batch)


def eager_step(model: RecurrentNet, opt: torch.optim.Optimizer, task: Task, trial: Trial) -> Step:
    """zero_grad, forward (under autocast for reduced dtypes), float32 loss, backward, clip, step."""

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        with devices.autocast(trial):
            out = model(x)
        loss = task.loss(out.float(), y, trial.loss)
        loss.backward()
        if trial.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), trial.clip)  # after backward, before step
        opt.step()
        return loss

    return step


def graphed_step(model: RecurrentNet, opt: torch.optim.Optimizer, task: Task, trial: Trial, sample: Batch) -> Step:
    """Capture one whole training step in a CUDA graph; replays copy fresh data into static inputs."""
    step = eager_step(model, opt, task, trial)
    saved = [p.detach().clone() for p in model.parameters()]
    static_x, static_y = sample.x.clone(), sample.y.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):  # warm-up on a side stream, as capture requires
            step(static_x, static_y)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        with devices.autocast(trial):
            out = model(static_x)
        static_loss = task.loss(out.float(), static_y, trial.loss)
        static_loss.backward()
        if trial.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), trial.clip)
        opt.step()
    with torch.no_grad():  # undo the warm-up's updates so training starts from the seed's weights
        for p, p0 in zip(model.parameters(), saved, strict=True):
            p.copy_(p0)
        for state in opt.state.values():
            for value in state.values():
                if torch.is_tensor(value):
                    value.zero_()

    def replay(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        static_x.copy_(x)
        static_y.copy_(y)
        graph.replay()
        return static_loss

    return replay


def set_deterministic() -> None:
    """Deterministic kernels everywhere; cuBLAS needs its workspace pinned before first use."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def run_trial(trial: Trial, options: TrialOptions = TrialOptions()) -> TrialResult:
    """Run one trial; any exception (out of memory included) becomes a `failed` result."""
    reason = devices.skip_reason(trial)
    if reason:
        return TrialResult(trial, "skipped", error=reason)
    try:
        return _run(trial, options)
    except Exception as e:  # a failing trial is a row, never the end of the sweep
        detail = traceback.format_exception_only(type(e), e)[-1].strip()
        return TrialResult(trial, "failed", error=detail[:500])
    finally:
        if trial.device == "cuda":
            torch.cuda.empty_cache()


def _run(trial: Trial, options: TrialOptions) -> TrialResult:
    task = TASKS.get(trial.task)()
    problem = task.check(trial)
    if problem:
        raise ValueError(problem)
    if options.deterministic:
        set_deterministic()
    if trial.device == "cpu":  # every cpu trial sets it: a previous trial's count must not carry over
        torch.set_num_threads(trial.threads or DEFAULT_THREADS)
    threads = torch.get_num_threads()
    torch.manual_seed(trial.seed)
    data_gen = torch.Generator().manual_seed(trial.seed * 7919 + 1)
    eval_set = _to(task.batch(trial, max(task.eval_size, 1), torch.Generator().manual_seed(trial.seed + 10**6)), trial)
    with PeakMemory(trial.device) as mem:
        model, opt = build(trial, task)
        params = count_params(model)
        first = _to(task.batch(trial, trial.batch, data_gen), trial)
        step, compile_time = _make_step(model, opt, task, trial, first)
        curve = _train(model, step, task, trial, data_gen, eval_set, options) if task.learns else ()
    diverged = any(not math.isfinite(r.loss) for r in curve)
    common = dict(
        params=params,
        length=task.length(trial),
        baseline_loss=task.baseline_loss(trial),
        curve=curve,
        peak_mem_bytes=max(0, mem.peak_bytes),
        flops_per_step=trial_flops(trial, task),
        torch_threads=threads,
        compile_time_s=compile_time,
        peak_tflops=options.peaks.get(f"{trial.device}/{trial.dtype}", float("nan")),
    )
    if diverged:
        return TrialResult(trial, "diverged", error="loss became NaN or inf", **common)
    timed = with_slowdown(_synced(step, first, trial.device), options.slowdown.get(trial.cell, 0.0))
    try:
        reference = _rnn_reference(trial, task, first, options)
    except Exception:  # e.g. no memory left for a second model: time the trial without its reference
        reference = None
    record = time_step(timed, trial.label(), f"{options.suite}::{trial.trial_id}", options.plan, reference)
    converged = convergence_epoch([r.solved for r in curve]) is not None
    status = "ok" if converged or not task.learns else "not_converged"
    return TrialResult(
        trial,
        status,
        samples=tuple(record["stats"]["data"]),
        warmup_rounds=options.plan.warmup_rounds,
        timing_json=record,
        **common,
    )


def _rnn_reference(trial: Trial, task: Task, batch: Batch, options: TrialOptions) -> Callable[[], None] | None:
    """The RNN sibling's training step (fresh weights: its speed does not depend on their values), to be
    timed interleaved with this trial's rounds so machine drift cancels in the ratio. Eager mode only."""
    if trial.cell == "rnn" or trial.mode != "eager":
        return None
    sibling = trial.replace(cell="rnn")
    torch.manual_seed(trial.seed)
    model, opt = build(sibling, task)
    step = _synced(eager_step(model, opt, task, sibling), batch, trial.device)
    return with_slowdown(step, options.slowdown.get("rnn", 0.0))  # a uniform slowdown slows it too


def _to(batch: Batch, trial: Trial) -> Batch:
    return Batch(batch.x.to(trial.device), batch.y.to(trial.device))


def _make_step(model, opt, task: Task, trial: Trial, sample: Batch) -> tuple[Step, float]:
    if trial.mode == "graph":
        return graphed_step(model, opt, task, trial, sample), float("nan")
    step = eager_step(model, opt, task, trial)
    if trial.mode != "compile":
        return step, float("nan")
    compiled = torch.compile(step)
    # The first call traces and compiles, and also trains one step on the first batch; that
    # wall time is the compile time, kept out of every time-per-step figure.
    start = time.perf_counter()
    compiled(sample.x, sample.y)
    devices.synchronize(trial.device)
    return compiled, time.perf_counter() - start


def _synced(step: Step, batch: Batch, device: str) -> Callable[[], None]:
    def timed() -> None:
        step(batch.x, batch.y)
        devices.synchronize(device)  # inside the timed call: the device's work counts

    return timed


def _train(model, step: Step, task: Task, trial: Trial, gen, eval_set: Batch, options: TrialOptions):
    curve = []
    for epoch in range(1, trial.max_epochs + 1):
        start = time.perf_counter()
        for _ in range(trial.steps_per_epoch):
            b = _to(task.batch(trial, trial.batch, gen), trial)
            loss = step(b.x, b.y)
        devices.synchronize(trial.device)
        train_time = time.perf_counter() - start
        model.eval()
        with torch.no_grad(), devices.autocast(trial):
            score = task.score(model(eval_set.x).float(), eval_set.y, trial)
        model.train()
        lost = not math.isfinite(loss.item()) or not math.isfinite(score.loss)
        curve.append(
            EpochRecord(
                epoch,
                float("nan") if lost else score.loss,
                score.metric,
                score.predicted,
                score.solved and not lost,
                train_time,
            )
        )
        if options.on_epoch is not None:
            options.on_epoch(trial, curve[-1])
        if lost:
            break
    return tuple(curve)
