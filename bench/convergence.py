"""Convergence detection on a per-epoch solved/not-solved record."""

from __future__ import annotations

from collections.abc import Sequence


def convergence_epoch(solved: Sequence[bool]) -> int | None:
    """First 1-based epoch from which every later epoch of the run is solved; None if never."""
    epoch = None
    for i, ok in enumerate(solved, start=1):
        if not ok:
            epoch = None
        elif epoch is None:
            epoch = i
    return epoch


def first_hit_epoch(solved: Sequence[bool]) -> int | None:
    """First 1-based epoch at which the target was hit, even if it was later lost."""
    for i, ok in enumerate(solved, start=1):
        if ok:
            return i
    return None


def stuck_at_baseline(final_loss: float, baseline_loss: float, tolerance: float = 0.05) -> bool:
    """True when the final loss is within `tolerance` (relative) of the task's trivial baseline."""
    if baseline_loss != baseline_loss or final_loss != final_loss or baseline_loss <= 0:
        return False
    return abs(final_loss - baseline_loss) <= tolerance * baseline_loss


def solved_streak(solved: Sequence[bool]) -> int:
    """How many evaluations in a row, counting back from the last, were solved."""
    streak = 0
    for ok in reversed(solved):
        if not ok:
            break
        streak += 1
    return streak


def stop_reason(
    solved: Sequence[bool], steps: int, train_time_s: float, patience: int, max_epochs: int, max_steps: int,
    max_time_s: float,
) -> str:  # fmt: skip
    """Why training stops after the evaluations `solved` (one per epoch so far), or '' to go on.

    'early_stop' once the last `patience` evaluations were all solved (patience 0: never); else the first
    budget spent: 'max_steps' (training steps), 'max_time_s' (training seconds), 'max_epochs'. A budget of
    0 is no limit. Early stopping wins when both hold: the trial solved within its budget."""
    if patience > 0 and solved_streak(solved) >= patience:
        return "early_stop"
    if max_steps > 0 and steps >= max_steps:
        return "max_steps"
    if max_time_s > 0 and train_time_s >= max_time_s:
        return "max_time_s"
    if len(solved) >= max_epochs:
        return "max_epochs"
    return ""


def time_to_solve(
    solved: Sequence[bool], steps: Sequence[int], train_time_s: Sequence[float]
) -> tuple[int | None, float | None]:
    """Training steps and training seconds (evaluation excluded) up to the end of the convergence epoch.

    `steps` is cumulative per epoch, `train_time_s` per epoch. (None, None) when the run never converged:
    the outcome is censored at the budget, never filled in."""
    epoch = convergence_epoch(solved)
    if epoch is None:
        return None, None
    return int(steps[epoch - 1]), float(sum(train_time_s[:epoch]))
