"""Train one trial to convergence (or not), then time its training step.

The only module that runs a trial; it returns a `TrialResult` and never writes files.
"""

from __future__ import annotations

import math
import os
import random
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch

from bench import devices
from bench.convergence import convergence_epoch, stop_reason
from bench.flops import step_flops
from bench.machine_gate import MachineGate, NoGate
from bench.memory import PeakMemory
from bench.models import RecurrentNet, count_params
from bench.tasks import TASKS, Batch, Task
from bench.timing import MACHINE, TimingPlan, machine_workload, time_paired, with_slowdown
from bench.trial import EpochRecord, Trial, TrialResult

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop}
_default_threads = 0  # what `threads = 0` means here; see default_threads()
_gate: MachineGate | NoGate = NoGate()  # see use_gate()
Step = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TrialOptions:
    plan: TimingPlan = TimingPlan()
    slowdown: dict[str, float] = field(default_factory=dict)  # cell -> extra fraction of each timed step
    on_epoch: Callable[[Trial, EpochRecord], None] | None = None  # e.g. the CLI's --verbose line
    suite: str = ""
    peaks: dict[str, float] = field(default_factory=dict)  # 'device/dtype' -> measured matmul TFLOP/s
    deterministic: bool = False  # torch.use_deterministic_algorithms for every trial
    reference_cell: str = "rnn"  # timed beside every timing group; paired ratios are against it
    order_seed: int = 0  # seeds the shuffled order of the members inside each timing round


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
    )
    if trial.cell == "lstm" and trial.forget_bias:
        set_forget_bias(model, trial.hidden, trial.forget_bias)
    model = model.to(trial.device)
    kwargs = {"capturable": True} if trial.mode == "graph" and trial.optimizer != "sgd" else {}
    return model, OPTIMIZERS[trial.optimizer](model.parameters(), lr=trial.lr, **kwargs)


def set_forget_bias(model: torch.nn.Module, hidden: int, value: float) -> None:
    """Start every LSTM forget gate's bias (b_ih + b_hh) at `value` (Jozefowicz et al. 2015 recommend 1).

    torch orders an LSTM's gates i, f, g, o: the forget gate is rows hidden..2*hidden of each bias."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "bias_ih" in name:
                p[hidden : 2 * hidden] = value
            elif "bias_hh" in name:
                p[hidden : 2 * hidden] = 0.0


def trial_flops(trial: Trial, task: Task) -> float:
    """Matmul FLOPs of one training step, measured with FlopCounterMode (`bench.flops`)."""
    return step_flops(trial, task)


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


def set_default_threads(n: int) -> None:
    """The thread count `threads = 0` means in this process (a Dask worker's share of its host's cores)."""
    global _default_threads
    _default_threads = n


def use_gate(gate: MachineGate | NoGate) -> None:
    """This process works beside others (`bench.machine_gate`): its work shares the machine, timing has it alone."""
    global _gate
    _gate = gate


def _busy(trial: Trial, epoch: bool = False):
    """This process's share of the machine for work outside a timing phase (`bench.machine_gate`)."""
    return _gate.share(torch.get_num_threads(), on_cpu=trial.device == "cpu", epoch=epoch)


def default_threads() -> int:
    """torch's own default, read the first time it is needed, unless a worker set its share."""
    global _default_threads
    if not _default_threads:
        _default_threads = torch.get_num_threads()
    return _default_threads


@dataclass
class _Trained:
    """A trial after training: its outcome so far, and its timed step if it is to be timed."""

    result: TrialResult
    step: Callable[[], None] | None = None


def run_trial(trial: Trial, options: TrialOptions = TrialOptions()) -> TrialResult:
    """Run one trial alone (its timing group holds it and the reference); see `run_group`."""
    return run_group([trial], options)[0]


def run_group(trials: list[Trial], options: TrialOptions = TrialOptions(), on_start=None) -> list[TrialResult]:
    """Train each trial of one timing group (same configuration, different cells), then time their steps
    together round-robin with the reference cell's step and the machine workload (`bench.timing`).

    Any exception in one trial (out of memory included) makes that trial's `failed` result; the others
    go on. `on_start(trial_id)` is called before each trial trains and `on_start('')` before the timing
    (the runner's in-flight markers)."""
    trained = []
    for trial in trials:
        if on_start is not None:
            on_start(trial.trial_id)
        trained.append(_guarded(trial, lambda t=trial: _train_trial(t, options)))
    timed = [t for t in trained if t.step is not None]
    if not timed:
        return [t.result for t in trained]
    first = timed[0].result.trial
    if on_start is not None:
        on_start("")  # '' = the group's timing phase
    try:
        samples = _time_group(timed, options)
    except Exception as e:  # timing failed for the whole group (e.g. no memory for the reference)
        error = "timing: " + traceback.format_exception_only(type(e), e)[-1].strip()[:480]
        return [replace(t.result, status="failed", error=error) if t.step else t.result for t in trained]
    finally:
        if first.device == "cuda":
            torch.cuda.empty_cache()
    members, rewarmed = iter(samples.members), iter(samples.rewarmed[0])
    out = []
    for t in trained:
        if t.step is None:
            out.append(t.result)
            continue
        own = next(members)
        out.append(replace(t.result, samples=own, reference_samples=samples.reference,
                           reference_cell=options.reference_cell, machine_samples=samples.machine,
                           rewarmed=(next(rewarmed), *samples.rewarmed[1:]),
                           group_size=len(timed), warmup_rounds=options.plan.warmup_rounds))  # fmt: skip
    return out


def _guarded(trial: Trial, body: Callable[[], _Trained]) -> _Trained:
    reason = devices.skip_reason(trial)
    if reason:
        return _Trained(TrialResult(trial, "skipped", error=reason))
    try:
        return body()
    except Exception as e:  # a failing trial is a row, never the end of the sweep
        detail = traceback.format_exception_only(type(e), e)[-1].strip()
        return _Trained(TrialResult(trial, "failed", error=detail[:500]))
    finally:
        if trial.device == "cuda":
            torch.cuda.empty_cache()


def _set_threads(trial: Trial) -> int:
    if trial.device == "cpu":  # every cpu trial sets it: a previous trial's count must not carry over
        torch.set_num_threads(trial.threads or default_threads())
    return torch.get_num_threads()


def _train_trial(trial: Trial, options: TrialOptions) -> _Trained:
    task = TASKS.get(trial.task)()
    problem = task.check(trial)
    if problem:
        raise ValueError(problem)
    if options.deterministic:
        set_deterministic()
    threads = _set_threads(trial)
    torch.manual_seed(trial.seed)
    data_gen = torch.Generator().manual_seed(trial.seed * 7919 + 1)
    with PeakMemory(trial.device) as mem:
        with _busy(trial):
            eval_gen = torch.Generator().manual_seed(trial.seed + 10**6)
            eval_set = _to(task.batch(trial, max(task.eval_size, 1), eval_gen), trial)
            model, opt = build(trial, task)
            params = count_params(model)
            first = _to(task.batch(trial, trial.batch, data_gen), trial)
            step, compile_time = _make_step(model, opt, task, trial, first)
        curve, stopped_by = _train(model, step, task, trial, data_gen, eval_set, options) if task.learns else ((), "")
    with _busy(trial):
        flops = trial_flops(trial, task)
    result = TrialResult(
        trial,
        "ok",
        params=params,
        length=task.length(trial),
        baseline_loss=task.baseline_loss(trial),
        curve=curve,
        stopped_by=stopped_by,
        peak_mem_bytes=max(0, mem.peak_bytes),
        flops_per_step=flops,
        torch_threads=threads,
        compile_time_s=compile_time,
        peak_tflops=options.peaks.get(f"{trial.device}/{trial.dtype}", float("nan")),
    )
    if any(not math.isfinite(r.loss) for r in curve):
        return _Trained(replace(result, status="diverged", error="loss became NaN or inf"))
    converged = convergence_epoch([r.solved for r in curve]) is not None
    status = "ok" if converged or not task.learns else "not_converged"
    timed = with_slowdown(_synced(step, first, trial.device), options.slowdown.get(trial.cell, 0.0))
    return _Trained(replace(result, status=status), timed)


@dataclass(frozen=True)
class _GroupSamples:
    members: tuple[tuple[float, ...], ...]  # per timed trial, in order
    reference: tuple[float, ...]
    machine: tuple[float, ...]
    rewarmed: tuple[tuple[bool, ...], bool, bool]  # per member, the reference, the machine (`Paired.rewarmed`)


def _time_group(timed: list[_Trained], options: TrialOptions) -> _GroupSamples:
    """Time the trained steps with the reference cell's step (the group's own trial of that cell, else a
    fresh untrained model of it: its speed does not depend on its weights) and the machine workload."""
    trial = timed[0].result.trial
    _set_threads(trial)
    steps = {f"member{i}": t.step for i, t in enumerate(timed)}
    own = [key for key, t in zip(steps, timed, strict=True) if t.result.trial.cell == options.reference_cell]
    if not own:
        with _busy(trial):
            steps["reference"] = _reference_step(trial, options)
    steps[MACHINE] = machine_workload()
    with _gate.alone():
        paired = time_paired(steps, options.plan, random.Random(f"{options.order_seed}:{trial.group_id}"))
    keys = [f"member{i}" for i in range(len(timed))]
    reference = own[0] if own else "reference"
    warm = paired.rewarmed
    return _GroupSamples(tuple(paired.samples[k] for k in keys), paired.samples[reference], paired.samples[MACHINE],
                         (tuple(warm[k] for k in keys), warm[reference], warm[MACHINE]))  # fmt: skip


def _reference_step(trial: Trial, options: TrialOptions) -> Callable[[], None]:
    """The reference cell's training step for `trial`'s configuration, with fresh weights."""
    sibling = trial.replace(cell=options.reference_cell)
    task = TASKS.get(sibling.task)()
    torch.manual_seed(trial.seed)
    gen = torch.Generator().manual_seed(trial.seed * 7919 + 1)
    model, opt = build(sibling, task)
    batch = _to(task.batch(sibling, sibling.batch, gen), sibling)
    step, _ = _make_step(model, opt, task, sibling, batch)
    return with_slowdown(_synced(step, batch, sibling.device), options.slowdown.get(sibling.cell, 0.0))


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
    with _gate.alone():
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
    """Train epoch by epoch (`steps_per_epoch` steps, then one evaluation) until early stopping on stable
    convergence or a budget (`bench.convergence.stop_reason`); (curve, what stopped it)."""
    curve: list[EpochRecord] = []
    steps, spent = 0, 0.0  # training steps and training seconds so far
    for epoch in range(1, trial.max_epochs + 1):
        with _busy(trial, epoch=True) as hold:
            done, train_time, loss = _epoch_steps(step, task, trial, gen, steps, spent)
            model.eval()
            with torch.no_grad(), devices.autocast(trial):
                score = task.score(model(eval_set.x).float(), eval_set.y, trial)
            model.train()
        steps += done
        spent += train_time
        lost = loss is not None and not math.isfinite(loss.item()) or not math.isfinite(score.loss)
        solved = score.solved and not lost
        curve.append(EpochRecord(epoch, float("nan") if lost else score.loss, score.metric, score.predicted,
                                 solved, train_time, steps, hold.beside))  # fmt: skip
        if options.on_epoch is not None:
            options.on_epoch(trial, curve[-1])
        if lost:
            return tuple(curve), "diverged"
        reason = stop_reason([r.solved for r in curve], steps, spent, trial.patience, trial.max_epochs,
                             trial.max_steps, trial.max_time_s)  # fmt: skip
        if reason:
            return tuple(curve), reason
    return tuple(curve), "max_epochs"


def _epoch_steps(step: Step, task: Task, trial: Trial, gen, steps: int, spent: float):
    """One epoch's training steps, cut short where `max_steps` or `max_time_s` (training time only) runs
    out: (steps run, their wall time in s, the last loss or None)."""
    todo = trial.steps_per_epoch if trial.max_steps <= 0 else min(trial.steps_per_epoch, trial.max_steps - steps)
    start = time.perf_counter()
    loss, done = None, 0
    while done < todo:
        b = _to(task.batch(trial, trial.batch, gen), trial)
        loss = step(b.x, b.y)
        done += 1
        if trial.max_time_s > 0 and spent + time.perf_counter() - start >= trial.max_time_s:
            break
    devices.synchronize(trial.device)
    return done, time.perf_counter() - start, loss


def warm_up_process() -> None:
    """Run one tiny untimed trial so the first real trial does not pay for torch's lazy start-up
    (thread pools, oneDNN primitives, allocator pools) in its timing or its memory figure."""
    run_trial(Trial(cell="lstm", encoding="embedding", max_epochs=2), TrialOptions(plan=TimingPlan(0.001, 1, 1, 1)))
