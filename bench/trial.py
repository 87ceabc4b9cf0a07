"""`Trial` (what to run: frozen, hashable, the key) and `TrialResult` (what happened)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field


def _axis(default, help: str, choices: tuple = (), minimum: float | None = None, registry: str = ""):
    meta = {"help": help, "choices": choices, "min": minimum, "registry": registry}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Trial:
    """One configuration to train and time. Every field is a suite axis."""

    task: str = _axis("hello", "learning task", registry="task")
    cell: str = _axis("rnn", "recurrent cell", registry="cell")
    impl: str = _axis("fused", "fused torch.nn.RNN/LSTM/GRU, or a Python loop over the *Cell", ("fused", "cell"))
    encoding: str = _axis(
        "onehot", "token input encoding (feature tasks always use dense)", ("onehot", "embedding", "dense")
    )
    head: str = _axis("linear", "output head; none = hidden state is the logits", ("linear", "none"))
    hidden: int = _axis(8, "hidden size", minimum=1)
    layers: int = _axis(1, "stacked recurrent layers", minimum=1)
    embed: int = _axis(10, "embedding size (encoding = embedding)", minimum=1)
    input_size: int = _axis(0, "input features of the synthetic task; 0 = hidden", minimum=0)
    seq_len: int = _axis(5, "sequence length T (hello is fixed at 5)", minimum=1)
    batch: int = _axis(1, "batch size B (hello is fixed at 1)", minimum=1)
    device: str = _axis("cpu", "device", ("cpu", "cuda", "mps"))
    dtype: str = _axis("float32", "compute dtype (reduced ones via autocast)", ("float32", "bfloat16", "float16"))
    mode: str = _axis("eager", "execution mode of the training step", ("eager", "graph", "compile"))
    optimizer: str = _axis("adam", "optimizer", ("adam", "sgd", "rmsprop"))
    lr: float = _axis(0.05, "learning rate", minimum=0.0)
    loss: str = _axis("mean", "reduction of the loss over time steps", ("mean", "sum"))
    clip: float = _axis(0.0, "gradient-norm clipping after backward(); 0 = off", minimum=0.0)
    max_epochs: int = _axis(15, "training epochs (a budget)", minimum=1)
    steps_per_epoch: int = _axis(
        1, "training steps per epoch: the evaluation cadence (each epoch ends with one evaluation)", minimum=1
    )
    max_steps: int = _axis(0, "training-step budget (the last epoch may be cut short); 0 = no limit", minimum=0)
    max_time_s: float = _axis(0.0, "training wall-time budget in s (evaluation excluded); 0 = no limit", minimum=0.0)
    patience: int = _axis(3, "stop once solved at this many consecutive evaluations; 0 = never stop early", minimum=0)
    forget_bias: float = _axis(
        0.0, "LSTM forget-gate bias at init (b_ih + b_hh of the forget gate); 0 = torch's init; lstm only"
    )
    solve_at: float = _axis(0.0, "solved threshold (copy: accuracy, adding: MSE); 0 = task default", minimum=0.0)
    seed: int = _axis(0, "random seed (weights and data)", minimum=0)
    threads: int = _axis(0, "torch intra-op threads on cpu; 0 = torch's default", minimum=0)

    @property
    def trial_id(self) -> str:
        """A stable hash of the configuration: the key for resume and for matching runs."""
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    @property
    def group_id(self) -> str:
        """The timing group: trials whose configuration differs only in `cell` are timed together."""
        blob = json.dumps({k: v for k, v in dataclasses.asdict(self).items() if k != "cell"}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    def label(self) -> str:
        return (
            f"{self.task}-{self.cell}-{self.impl}-H{self.hidden}-L{self.layers}-T{self.seq_len}"
            f"-B{self.batch}-{self.device}-{self.dtype}-{self.mode}-s{self.seed}"
        )

    def replace(self, **changes) -> Trial:
        return dataclasses.replace(self, **changes)


AXES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Trial))
AXIS_FIELDS = {f.name: f for f in dataclasses.fields(Trial)}


@dataclass(frozen=True)
class EpochRecord:
    epoch: int  # 1-based
    loss: float  # held-out loss after this epoch's training steps
    metric: float  # task metric (accuracy for classification, MSE for regression)
    predicted: str  # what the model predicts for the first held-out sample
    solved: bool
    train_time_s: float  # wall time of this epoch's training steps only
    steps: int = 0  # training steps run up to the end of this epoch (cumulative)
    beside: bool = False  # another process's training epoch ran beside it (`--train-processes`)


@dataclass(frozen=True)
class TrialResult:
    """Raw outcome of one trial: training record plus raw per-round timing samples (seconds)."""

    trial: Trial
    status: str
    error: str = ""
    params: int = 0
    length: int = 0  # time steps the network ran per sample (copy: seq_len + 20)
    baseline_loss: float = float("nan")
    curve: tuple[EpochRecord, ...] = ()
    stopped_by: str = ""  # what ended training: max_epochs, max_steps, max_time_s, early_stop, diverged
    samples: tuple[float, ...] = ()  # this trial's step, seconds per timed round
    reference_samples: tuple[float, ...] = ()  # the reference cell's step in the same rounds
    reference_cell: str = ""
    machine_samples: tuple[float, ...] = ()  # the fixed machine workload in the same rounds
    rewarmed: tuple[bool, bool, bool] = (False, False, False)  # untimed call before each timed one: own, ref, machine
    group_size: int = 0  # trials timed together in this timing group (the reference aside)
    timing_slot: int = -1  # position of its timing group in the sweep's shuffled order
    warmup_rounds: int = 0
    peak_mem_bytes: int = 0
    flops_per_step: float = 0.0
    torch_threads: int = 0
    compile_time_s: float = float("nan")
    peak_tflops: float = float("nan")  # this device's measured matmul peak at this dtype
    shared_host: bool = False  # timed beside other trials on one host (dask --allow-shared-host)
    worker: str = ""  # where it ran: '' in-process, else the Dask worker's address
