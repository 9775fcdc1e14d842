"""Percentiles of run durations by one rule on every store: PostgreSQL's ``percentile_cont``
(linear interpolation between the closest ranks). PostgreSQL computes it in SQL, SQLite in SQL
with the same arithmetic (queries.sql: job_type_stats), the memory store here."""

from __future__ import annotations

from collections.abc import Iterable


def percentile_cont(values: Iterable[float], fraction: float) -> float | None:
    """The ``fraction`` (0 to 1) percentile of ``values``: the value at rank
    ``fraction * (n - 1)`` of the sorted values, interpolated between its two neighbours; None
    when there are no values."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be between 0 and 1, not {fraction}")
    ordered = sorted(values)
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low = int(position)
    if low + 1 >= len(ordered):
        return ordered[low]
    return ordered[low] + (position - low) * (ordered[low + 1] - ordered[low])
