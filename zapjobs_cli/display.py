"""How values look on a screen, for every presentation layer (CLI tables, the worker console, the
dashboard): statuses, levels, times, durations, progress, and untrusted text.

Every string that comes from the database (job names, inputs, outputs, errors, tracebacks, log
messages and fields, worker ids and hosts, queue names) is untrusted: jobs wrote it. It goes
through ``untrusted`` (a ``rich.text.Text``, never parsed as markup) or ``visible`` (a plain
string), which make control characters visible as escapes (``\\x1b``, ``\\r``, ``\\u202e``) so
that nothing a job wrote can style, retitle, move or hyperlink the operator's terminal, and which
show a bounded prefix of huge values (a 50 MB output is cut, with a note saying how much).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from rich.text import Text

from zapjobs.models import JobRun, JobTypeStats, LogLevel, Progress, RunStatus, UniqueSettings
from zapjobs.settings import format_duration

STATUS_STYLES = {
    "waiting": "cyan",
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
#: How much of one untrusted value is shown; the rest is counted, not rendered.
SHOWN_CHARS = 10_000
_BAR_EIGHTHS = " ▁▂▃▄▅▆▇█"

# C0 and C1 controls, DEL, bidirectional overrides and isolates (they reorder what follows),
# zero-width and line/paragraph separators, and lone surrogates (not printable at all).
_UNSAFE = "\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff"
_UNSAFE_RE = re.compile(f"[\x00-\x1f{_UNSAFE}]")
_UNSAFE_KEEP_NEWLINES_RE = re.compile(f"[\x00-\x09\x0b-\x1f{_UNSAFE}]")
# A traceback's frame line, and the files of zapjobs' runtime (in a checkout or site-packages).
_FRAME_RE = re.compile(r'^  File "([^"]*)", line \d+')
_RUNTIME_PATH_RE = re.compile(r"[/\\]zapjobs[/\\]runtime[/\\][^/\\]+$")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


# --- untrusted text ----------------------------------------------------------------------------
def visible(text: str, *, multiline: bool = False) -> str:
    """``text`` with every control character shown as an escape (``\\x1b`` as four characters);
    with ``multiline`` line feeds stay (tracebacks), everything else is escaped all the same."""
    pattern = _UNSAFE_KEEP_NEWLINES_RE if multiline else _UNSAFE_RE
    return pattern.sub(_escape, text)


def clip(text: str, limit: int = SHOWN_CHARS) -> tuple[str, int]:
    """A prefix of at most ``limit`` characters and how many characters are left out."""
    if len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit


def untrusted(
    text: str | None, style: str = "", *, multiline: bool = False, limit: int = SHOWN_CHARS
) -> Text:
    """The one way untrusted text reaches a screen: a literal Text (never markup), control
    characters visible, at most ``limit`` characters followed by a note of what is cut."""
    shown, hidden = clip(text or "", limit)
    return with_cut_note(Text(visible(shown, multiline=multiline), style=style, end=""), hidden)


def with_cut_note(text: Text, hidden: int) -> Text:
    """``text`` followed by ``… 1,234 more characters not shown`` if ``hidden``."""
    if hidden:
        text.append(f" … {hidden:,} more characters not shown", style="dim italic")
    return text


def one_line(text: str | None, limit: int = 120) -> str:
    """The first non-blank line of ``text``, cut to ``limit`` characters (visible escapes
    included); reads only the start of a huge text."""
    if not text:
        return ""
    head = text[: 4 * limit + 4096].strip()
    first = visible(head.split("\n", 1)[0].rstrip("\r")) if head else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


def one_line_text(text: str | None, limit: int, style: str = "") -> Text:
    """``one_line`` as a literal Text (for table cells)."""
    return Text(one_line(text, limit), style=style, end="")


def clipped_json(
    value: object, limit: int = SHOWN_CHARS, *, indent: int | None = None
) -> tuple[str, int]:
    """``value`` as JSON text, cut to ``limit`` characters, and how many are left out. Huge
    values are not pretty-printed (only encoded compactly, once, by the C encoder)."""
    compact = json.dumps(value, ensure_ascii=False, default=str)
    if len(compact) > limit or indent is None:
        return clip(compact, limit)
    return clip(json.dumps(value, ensure_ascii=False, default=str, indent=indent), limit)


# --- statuses and levels -----------------------------------------------------------------------
def fold_zapjobs_frames(traceback_text: str) -> str:
    """A job's traceback with the frames of zapjobs' own runtime (the executor calling the job)
    folded into one line, ``  … 3 zapjobs frames``, so the first frame shown is the user's
    (``runs show`` and the dashboard's run detail; ``--json`` keeps the text whole). A frame
    that raised is never folded: an error inside zapjobs stays visible."""
    lines = traceback_text.splitlines(keepends=True)
    blocks: list[list[str]] = []  # a frame's lines together; any other line alone
    for line in lines:
        if blocks and _FRAME_RE.match(blocks[-1][0]) and line.startswith("    "):
            blocks[-1].append(line)
        else:
            blocks.append([line])
    out: list[str] = []
    run: list[list[str]] = []

    def flush(folded: bool) -> None:
        if folded and run:
            noun = "frame" if len(run) == 1 else "frames"
            out.append(f"  … {len(run)} zapjobs {noun}\n")
        else:
            out.extend(line for block in run for line in block)
        run.clear()

    for block in blocks:
        frame = _FRAME_RE.match(block[0])
        if frame and _RUNTIME_PATH_RE.search(frame.group(1)):
            run.append(block)
            continue
        flush(folded=frame is not None)  # folded only when another frame follows
        out.extend(block)
    flush(folded=False)
    return "".join(out)


def display_status(run: JobRun, now: datetime) -> str:
    """A run's status as screens name it: ``scheduled`` for a pending run due later."""
    return "scheduled" if run.is_scheduled(now) else run.status.value


def attempt_text(run: JobRun) -> str:
    """``2 of 4``: attempts started so far out of the budget stored on the run."""
    return f"{run.attempt} of {run.max_attempts}"


def unique_text(unique: UniqueSettings | None) -> str:
    """A job type's declared uniqueness in one line, e.g. "by input, one per 10m window; a run
    holds its key while pending, running"; "-" when it declares none."""
    if unique is None:
        return "-"
    parts = ["by input" if unique.by_input else "by unique_key only"]
    if unique.period_seconds is not None:
        parts.append(f"one per {setting_duration(unique.period_seconds)} window")
    held = ", ".join(s.value for s in RunStatus if s in unique.states)
    return f"{', '.join(parts)}; a run holds its key while {held}"


def attempt_separator(previous: int | None, current: int | None, first: bool) -> str | None:
    """The line shown before a log entry that starts another attempt ("— attempt 2 —"), or
    None. ``previous`` is the attempt of the entry shown before it; the first entry shown
    gets one only when it is not attempt 1 (a one-attempt log stays unmarked). Entries of
    unknown attempt (written before migration 0012) never start one."""
    if current is None or current == previous:
        return None
    if first and current <= 1:
        return None
    return f"— attempt {current} —"


def error_is_from_earlier_attempt(status: str) -> bool:
    """A run's stored error is its outcome only when it failed or was cancelled; on any other run
    (succeeded, running, waiting to retry) an earlier attempt left it behind."""
    return status not in (RunStatus.FAILED.value, RunStatus.CANCELLED.value)


def error_label(run: JobRun) -> str:
    """What a run's stored error is: the error that ended it (``error``), or one an earlier
    attempt left behind on a run that went on (retried, waiting to retry, or succeeded)."""
    if not error_is_from_earlier_attempt(run.status.value):
        return "error"
    if run.status is RunStatus.PENDING:
        attempt, after = run.attempt, "will retry"
    else:  # running or succeeded: the current attempt is past the one that failed
        attempt, after = run.attempt - 1, "retried"
    if attempt < 1:  # an operator's retry reset the count: it came from an earlier budget
        return "error of an earlier attempt (retried)"
    return f"error of attempt {attempt} ({after})"


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def worker_state_text(state: str) -> Text:
    return Text(state, style=WORKER_STYLES.get(state, ""))


def schedule_state_text(has_schedule: bool, active: bool) -> Text:
    """A job type's recurring schedule, in the one word every screen uses: ``active`` or
    ``paused`` (``-`` without a schedule). The model calls it ``enabled``, JSON
    ``schedule_paused``; screens never say "enabled"."""
    if not has_schedule:
        return Text("-", style="dim")
    return Text("active", style="green") if active else Text("paused", style="bold yellow")


def level_style(level: LogLevel) -> str:
    return LEVEL_STYLES.get(level, "")


# --- times and durations -----------------------------------------------------------------------
def span(seconds: float, *, tenths: bool = True) -> str:
    """A short human duration, rounded down to two units: ``850ms``, ``4.2s`` (``4s`` without
    ``tenths``), ``42s``, ``3m05s``, ``2h10m``, ``4d03h``; a whole unit alone is written as a
    setting is (``format_duration``): ``5m``, ``1h``, ``2d``, never ``5m00s``. Settings (a
    timeout, an interval) are written exactly with ``zapjobs.settings.format_duration``."""
    value = abs(seconds)
    if value < 1:
        text = f"{round(value * 1000)}ms"
    elif value < 60:
        text = f"{value:.1f}s" if tenths and value < 10 else f"{int(value)}s"
    elif value < 3600:
        text = _two_units(int(value // 60), "m", int(value % 60), "s")
    elif value < 86400:
        text = _two_units(int(value // 3600), "h", int(value % 3600 // 60), "m")
    else:
        text = _two_units(int(value // 86400), "d", int(value % 86400 // 3600), "h")
    return f"-{text}" if seconds < 0 else text


def _two_units(whole: int, unit: str, rest: int, rest_unit: str) -> str:
    return f"{whole}{unit}" if rest == 0 else f"{whole}{unit}{rest:02d}{rest_unit}"


def setting_duration(seconds: float) -> str:
    """A configured duration (timeout, interval, period) as it is written in settings, exact:
    ``10m``, ``90m``, ``1.5s``."""
    return format_duration(timedelta(seconds=seconds))


def coarse_span(delta: timedelta) -> str:
    """``span`` without the seconds past ten minutes: ``42s``, ``3m05s``, ``14m``, ``2h10m``."""
    seconds = abs(delta.total_seconds())
    if seconds < 1:
        return "0s"
    if 600 <= seconds < 3600:
        return f"{int(seconds // 60)}m"
    return span(seconds, tenths=False)


def lag_text(lag: timedelta | None) -> str:
    """How long a queue's oldest pending run has waited (``queues list``, the Queues view, the
    Overview): ``42s``, ``14m``; ``-`` when nothing is pending."""
    return "-" if lag is None else span(lag.total_seconds(), tenths=False)


def run_duration(
    started: datetime | None, finished: datetime | None, now: datetime | None = None
) -> float | None:
    """Seconds from start to finish (to ``now`` while running, if given); None if unknown."""
    end = finished or now
    if started is None or end is None:
        return None
    return (end - started).total_seconds()


def duration_text(
    started: datetime | None,
    finished: datetime | None,
    now: datetime | None = None,
    *,
    tenths: bool = True,
) -> str:
    seconds = run_duration(started, finished, now)
    return "-" if seconds is None else span(seconds, tenths=tenths)


def when_text(when: datetime | None, *, local: bool = False) -> str:
    """``2026-01-31 12:04:05`` (UTC, or this machine's zone with ``local``), compact for
    tables: say which zone once, in the header (``zone_name``)."""
    if when is None:
        return "-"
    return f"{(when.astimezone() if local else when.astimezone(UTC)):%Y-%m-%d %H:%M:%S}"


def zone_name(*, local: bool = False) -> str:
    """The zone ``when_text`` writes in: ``UTC``, or this machine's (e.g. ``CET``)."""
    return (datetime.now().astimezone().tzname() or "local") if local else "UTC"


def zoned_text(when: datetime | None, *, local: bool = False) -> str:
    """``2026-01-31 12:04:05 UTC``: a time that stands alone, with its zone."""
    return "-" if when is None else f"{when_text(when, local=local)} {zone_name(local=local)}"


def full_timestamp(when: datetime | None, *, local: bool = False) -> str:
    """``2026-01-31 12:04:05 UTC``, or in this machine's zone with ``local`` (the dashboard's
    ``z`` toggle), named either way."""
    return zoned_text(when, local=local)


def timestamp(when: datetime | None) -> str:
    """UTC wall time, compact: ``01-31 12:04:05``."""
    return "-" if when is None else f"{when.astimezone(UTC):%m-%d %H:%M:%S}"


def minute_timestamp(when: datetime | None, *, local: bool = False) -> str:
    """``01-31 12:04``: where the column is narrow and the minute is enough."""
    return "-" if when is None else f"{_zoned(when, local):%m-%d %H:%M}"


def clock_time(when: datetime | None, *, local: bool = False) -> str:
    """``12:04:05``: for times that are recent by nature (heartbeats)."""
    return "-" if when is None else f"{_zoned(when, local):%H:%M:%S}"


def _zoned(when: datetime, local: bool) -> datetime:
    return when.astimezone() if local else when.astimezone(UTC)


def relative(when: datetime | None, now: datetime) -> str:
    """``in 12s`` / ``3m05s ago`` / ``-``."""
    if when is None:
        return "-"
    seconds = (when - now).total_seconds()
    return f"in {span(seconds)}" if seconds > 0 else f"{span(-seconds)} ago"


def age(when: datetime | None, now: datetime) -> str:
    """``12s ago`` / ``in 3m05s``, coarser past ten minutes (the dashboard's columns)."""
    if when is None:
        return "-"
    delta = now - when
    if delta >= timedelta(0):
        return f"{coarse_span(delta)} ago"
    return f"in {coarse_span(delta)}"


def due_text(when: datetime | None, now: datetime) -> str:
    """When a schedule fires next: ``in 12s``, or ``overdue 3m05s`` (no scheduler running)."""
    if when is None:
        return "-"
    seconds = (when - now).total_seconds()
    return f"in {span(seconds)}" if seconds > 0 else f"overdue {span(-seconds)}"


# --- counts and charts -------------------------------------------------------------------------
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


def success_rate_text(recent: JobTypeStats) -> Text:
    """``80.0%`` of the finished runs succeeded: yellow below 100%, red below 90%."""
    rate = recent.success_rate
    style = "" if rate is None or rate >= 1 else "yellow" if rate >= 0.9 else "bold red"
    return Text(percent(recent.succeeded, recent.finished), style=style)


def recent_runs_text(recent: JobTypeStats | None) -> Text:
    """A job type's recently finished runs in words (``jobs show``, the Jobs view's detail
    line): ``8 ok, 2 failed (80.0%), p50 5.5s, p95 9.6s``."""
    if recent is None:
        return Text("none finished", style="dim")
    text = Text(f"{recent.succeeded} ok, ")
    text.append(f"{recent.failed} failed", style="red" if recent.failed else "")
    text.append(" (").append_text(success_rate_text(recent)).append(")")
    if recent.p50_seconds is not None and recent.p95_seconds is not None:
        text.append(f", p50 {span(recent.p50_seconds)}, p95 {span(recent.p95_seconds)}")
    return text
