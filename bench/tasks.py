"""Learning tasks: the tutorial's hello -> ohlol, copy memory, adding, and a timing-only synthetic."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bench.registry import Registry
from bench.trial import Trial

TASKS: Registry[type[Task]] = Registry("task")


@dataclass(frozen=True)
class Batch:
    x: torch.Tensor  # (T, B) token ids, or (T, B, features)
    y: torch.Tensor  # task-specific target


@dataclass(frozen=True)
class Score:
    loss: float
    metric: float
    solved: bool
    predicted: str


class Task:
    """A task makes data from a seed, scores outputs, and knows its trivial baseline."""

    name = ""
    tokens = True  # token ids in (onehot / embedding), else dense features
    learns = True  # False: timing only, no training or convergence
    eval_size = 256
    reduces_over_time = True  # False: `loss` ignores the mean/sum reduction, so the `loss` axis is pinned

    def normalize(self, trial: Trial) -> Trial:
        """Pin the axes the task fixes, so variants it would run identically collapse into one trial id.

        Dense tasks always use dense encoding; a task whose loss ignores the reduction pins loss = mean.
        """
        if not self.tokens:
            trial = trial.replace(encoding="dense")
        if not self.reduces_over_time:
            trial = trial.replace(loss="mean")
        return trial

    def check(self, trial: Trial) -> str:
        """Why this trial cannot run on this task, or '' when it can."""
        if self.tokens and trial.encoding == "dense":
            return f"task {self.name!r} feeds token ids; encoding must be onehot or embedding"
        if trial.head == "none" and trial.hidden != self.out_features(trial):
            return (
                f"head 'none' uses the hidden state as the {self.out_features(trial)} outputs of task "
                f"{self.name!r}, so hidden must be {self.out_features(trial)} (got {trial.hidden})"
            )
        return ""

    def in_features(self, trial: Trial) -> int:
        raise NotImplementedError

    def out_features(self, trial: Trial) -> int:
        raise NotImplementedError

    def length(self, trial: Trial) -> int:
        """Time steps the network actually runs (the copy task adds 20 to T)."""
        return trial.seq_len

    def baseline_loss(self, trial: Trial) -> float:
        return float("nan")

    def batch(self, trial: Trial, size: int, gen: torch.Generator) -> Batch:
        raise NotImplementedError

    def loss(self, out: torch.Tensor, y: torch.Tensor, reduction: str) -> torch.Tensor:
        raise NotImplementedError

    def score(self, out: torch.Tensor, y: torch.Tensor, trial: Trial) -> Score:
        raise NotImplementedError


def _sequence_ce(out: torch.Tensor, y: torch.Tensor, reduction: str) -> torch.Tensor:
    # out (T, B, C), y (T, B): mean over the batch at each step, then mean or sum over time.
    per_step = F.cross_entropy(out.transpose(1, 2), y, reduction="none").mean(dim=1)  # (T,)
    return per_step.sum() if reduction == "sum" else per_step.mean()


@TASKS.register("hello")
class Hello(Task):
    """The tutorial's toy: map 'hello' to 'ohlol' over the vocabulary e, h, l, o."""

    name = "hello"
    idx2char = ("e", "h", "l", "o")
    x_data = (1, 0, 2, 2, 3)  # hello
    y_data = (3, 1, 2, 3, 2)  # ohlol

    def normalize(self, trial: Trial) -> Trial:
        return trial.replace(seq_len=5, batch=1)

    def in_features(self, trial: Trial) -> int:
        return 4

    def out_features(self, trial: Trial) -> int:
        return 4

    def baseline_loss(self, trial: Trial) -> float:
        return math.log(4) * (5 if trial.loss == "sum" else 1)

    def batch(self, trial: Trial, size: int, gen: torch.Generator) -> Batch:
        x = torch.tensor(self.x_data).unsqueeze(1)  # (5, 1)
        y = torch.tensor(self.y_data).unsqueeze(1)
        return Batch(x, y)

    def loss(self, out: torch.Tensor, y: torch.Tensor, reduction: str) -> torch.Tensor:
        return _sequence_ce(out, y, reduction)

    def score(self, out: torch.Tensor, y: torch.Tensor, trial: Trial) -> Score:
        pred = out.argmax(dim=-1)  # (T, B)
        text = "".join(self.idx2char[int(i)] for i in pred[:, 0])
        accuracy = (pred == y).float().mean().item()
        loss = self.loss(out.float(), y, trial.loss).item()
        return Score(loss, accuracy, bool((pred == y).all()), text)


@TASKS.register("copy")
class Copy(Task):
    """Copy memory: 10 symbols in 1..8, T-1 blanks, a delimiter, 10 blanks; recall the symbols at the end.

    Tokens: 0 blank, 1..8 symbols, 9 delimiter. Outputs: 9 classes (blank and the 8 symbols).
    """

    name = "copy"
    recall = 10

    def in_features(self, trial: Trial) -> int:
        return 10

    def out_features(self, trial: Trial) -> int:
        return 9

    def length(self, trial: Trial) -> int:
        return trial.seq_len + 2 * self.recall

    def baseline_loss(self, trial: Trial) -> float:
        # Blanks predicted perfectly, the 10 recalled symbols guessed uniformly among 8.
        per_step = self.recall * math.log(8) / self.length(trial)
        return per_step * (self.length(trial) if trial.loss == "sum" else 1)

    def batch(self, trial: Trial, size: int, gen: torch.Generator) -> Batch:
        T = trial.seq_len
        symbols = torch.randint(1, 9, (self.recall, size), generator=gen)
        x = torch.zeros(self.length(trial), size, dtype=torch.long)
        x[: self.recall] = symbols
        x[self.recall + T - 1] = 9  # the delimiter after T-1 blanks
        y = torch.zeros_like(x)
        y[-self.recall :] = symbols
        return Batch(x, y)

    def loss(self, out: torch.Tensor, y: torch.Tensor, reduction: str) -> torch.Tensor:
        return _sequence_ce(out, y, reduction)

    def score(self, out: torch.Tensor, y: torch.Tensor, trial: Trial) -> Score:
        pred = out[-self.recall :].argmax(dim=-1)  # (10, B)
        accuracy = (pred == y[-self.recall :]).float().mean().item()
        loss = self.loss(out.float(), y, trial.loss).item()
        threshold = trial.solve_at or 0.99
        return Score(loss, accuracy, accuracy >= threshold, "".join(str(int(i)) for i in pred[:, 0]))


@TASKS.register("adding")
class Adding(Task):
    """Adding problem: values in [0, 1] and a marker channel; predict the sum of the two marked values."""

    name = "adding"
    tokens = False
    reduces_over_time = False  # one output per sequence: the last step's

    def check(self, trial: Trial) -> str:
        if trial.seq_len < 2:
            return f"task 'adding' needs seq_len >= 2 (one marker in each half), got {trial.seq_len}"
        return super().check(trial)

    def in_features(self, trial: Trial) -> int:
        return 2

    def out_features(self, trial: Trial) -> int:
        return 1

    def baseline_loss(self, trial: Trial) -> float:
        return 1.0 / 6.0  # always predicting 1: the variance of the sum of two U(0, 1)

    def batch(self, trial: Trial, size: int, gen: torch.Generator) -> Batch:
        T, half = trial.seq_len, trial.seq_len // 2
        values = torch.rand(T, size, generator=gen)
        first = torch.randint(0, half, (size,), generator=gen)
        second = torch.randint(half, T, (size,), generator=gen)
        marks = torch.zeros(T, size)
        cols = torch.arange(size)
        marks[first, cols] = 1.0
        marks[second, cols] = 1.0
        y = (values * marks).sum(dim=0, keepdim=True).T  # (B, 1)
        return Batch(torch.stack([values, marks], dim=-1), y)  # x: (T, B, 2)

    def loss(self, out: torch.Tensor, y: torch.Tensor, reduction: str) -> torch.Tensor:
        return F.mse_loss(out[-1], y)  # only the last step's output counts

    def score(self, out: torch.Tensor, y: torch.Tensor, trial: Trial) -> Score:
        mse = self.loss(out.float(), y, trial.loss).item()
        threshold = trial.solve_at or 0.01
        return Score(mse, mse, mse <= threshold, f"{out[-1, 0, 0].item():.3f} vs {y[0, 0].item():.3f}")


@TASKS.register("synthetic")
class Synthetic(Task):
    """Random inputs and targets of a given size, for kernel-size sweeps: timing only, no learning."""

    name = "synthetic"
    tokens = False
    learns = False
    reduces_over_time = False  # MSE over every element; timing only
    eval_size = 1

    def in_features(self, trial: Trial) -> int:
        return trial.input_size or trial.hidden

    def out_features(self, trial: Trial) -> int:
        return self.in_features(trial)

    def batch(self, trial: Trial, size: int, gen: torch.Generator) -> Batch:
        features = self.in_features(trial)
        x = torch.randn(trial.seq_len, size, features, generator=gen)
        return Batch(x, torch.randn(trial.seq_len, size, features, generator=gen))

    def loss(self, out: torch.Tensor, y: torch.Tensor, reduction: str) -> torch.Tensor:
        return F.mse_loss(out, y)

    def score(self, out: torch.Tensor, y: torch.Tensor, trial: Trial) -> Score:
        return Score(self.loss(out.float(), y, trial.loss).item(), float("nan"), False, "")
