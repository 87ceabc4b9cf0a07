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
