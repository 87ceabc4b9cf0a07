"""Units chosen by magnitude, so every number reads as '1.2 ms' rather than '0.0012 s'."""

from __future__ import annotations

import math
from collections.abc import Iterable

TIME_UNITS = (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9))


def time_unit(seconds: Iterable[float]) -> tuple[str, float]:
    """The unit (name, seconds per unit) that puts the median of finite `seconds` at or above 1."""
    finite = sorted(s for s in seconds if s == s and math.isfinite(s) and s > 0)
    if not finite:
        return "s", 1.0
    mid = finite[len(finite) // 2]
    for name, scale in TIME_UNITS:
        if mid >= scale:
            return name, scale
    return TIME_UNITS[-1]


def fmt_time(seconds: float | None) -> str:
    """One time in its own unit, 3 significant digits; '-' for a missing value."""
    if seconds is None or seconds != seconds:
        return "-"
    name, scale = time_unit([seconds])
    return f"{seconds / scale:.3g} {name}"


def fmt_number(value: object, digits: int = 4) -> str:
    """A table cell: floats to `digits` significant digits, NaN/None as '-', the rest as str."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "-"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.{digits}g}"
    return str(value)


def fmt_ratio(value: float, lo: float = math.nan, hi: float = math.nan) -> str:
    """'2.13x', or '2.13x [1.90, 2.41]' with an interval."""
    if value != value:
        return "-"
    text = f"{value:.3g}x"
    if lo == lo and hi == hi:
        text += f" [{lo:.3g}, {hi:.3g}]"
    return text
