"""How values look on screen: times, ages, durations, statuses and progress bars, in one place
so every view says the same thing the same way."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from rich.text import Text

from zapjobs.models import LogLevel, Progress

STATUS_STYLES = {
    "pending": "bold cyan",
    "scheduled": "blue",
    "running": "bold yellow",
    "succeeded": "green",
    "failed": "bold red",
    "cancelled": "magenta",
}
WORKER_STYLES = {"alive": "green", "stale": "bold yellow", "dead": "bold red", "stopped": "dim"}
LEVEL_STYLES = {
    LogLevel.DEBUG: "dim",
    LogLevel.INFO: "cyan",
    LogLevel.WARNING: "bold yellow",
    LogLevel.ERROR: "bold red",
}
_BAR_EIGHTHS = " ▁▂▃▄▅▆▇█"


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def timestamp(when: datetime | None) -> str:
    """UTC wall time, compact: ``01-31 12:04:05``."""
    if when is None:
        return "-"
    return f"{when.astimezone(UTC):%m-%d %H:%M:%S}"


def minute_timestamp(when: datetime | None) -> str:
    """``01-31 12:04``: where the column is narrow and the minute is enough."""
    if when is None:
        return "-"
    return f"{when.astimezone(UTC):%m-%d %H:%M}"


def clock_time(when: datetime | None) -> str:
    """``12:04:05``: for times that are recent by nature (heartbeats)."""
    if when is None:
        return "-"
    return f"{when.astimezone(UTC):%H:%M:%S}"


def full_timestamp(when: datetime | None) -> str:
    if when is None:
        return "-"
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def span(delta: timedelta) -> str:
    """A short human duration: ``850ms``, ``42s``, ``3m05s``, ``2h10m``, ``4d03h``."""
    seconds = delta.total_seconds()
    negative = seconds < 0
    seconds = abs(seconds)
    if seconds < 1:
        text = f"{round(seconds * 1000)}ms"
    elif seconds < 60:
        text = f"{int(seconds)}s"
    elif seconds < 3600:
        text = f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    elif seconds < 86400:
        text = f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    else:
        text = f"{int(seconds // 86400)}d{int(seconds % 86400 // 3600):02d}h"
    return f"-{text}" if negative else text


def coarse_span(delta: timedelta) -> str:
    """``span`` without the seconds past ten minutes: ``42s``, ``3m05s``, ``14m``, ``2h10m``."""
    seconds = abs(delta.total_seconds())
    if seconds < 1:
        return "0s"
    if 600 <= seconds < 3600:
        return f"{int(seconds // 60)}m"
    return span(abs(delta))


def age(when: datetime | None, now: datetime) -> str:
    """``12s ago`` / ``in 3m05s``."""
    if when is None:
        return "-"
    delta = now - when
    if delta >= timedelta(0):
        return f"{coarse_span(delta)} ago"
    return f"in {coarse_span(delta)}"


def run_duration(started: datetime | None, finished: datetime | None, now: datetime) -> str:
    if started is None:
        return "-"
    return span((finished or now) - started)


def progress_bar(progress: Progress, width: int = 10) -> Text:
    """``███████░░░ 70/100 ✓65 ✗5``; only counters when the total is unknown."""
    text = Text()
    if progress.total:
        filled = min(width, round(width * progress.processed / progress.total))
        text.append("█" * filled, style="green")
        text.append("░" * (width - filled), style="dim")
        text.append(f" {progress.processed}/{progress.total}")
    elif progress.processed:
        text.append(f"{progress.processed} done")
    else:
        return text
    if progress.succeeded:
        text.append(f" ✓{progress.succeeded}", style="green")
    if progress.failed:
        text.append(f" ✗{progress.failed}", style="red")
    return text


def bar_rows(values: Sequence[int], height: int) -> list[str]:
    """A column chart of ``values`` ``height`` rows tall (top row first), scaled from 0 to the
    maximum with eighth blocks, one character per value."""
    peak = max(values, default=0)
    rows = []
    for row in reversed(range(height)):
        line = []
        for value in values:
            eighths = 0 if peak == 0 else round(value * height * 8 / peak)
            if value > 0:
                eighths = max(eighths, 1)
            cell = min(max(eighths - row * 8, 0), 8)
            line.append(_BAR_EIGHTHS[cell])
        rows.append("".join(line))
    return rows


def percent(part: int, whole: int) -> str:
    return "-" if whole == 0 else f"{100 * part / whole:.1f}%"


def one_line(text: str | None, limit: int = 80) -> str:
    if not text:
        return ""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"
