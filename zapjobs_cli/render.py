"""Output in one place: the stable JSON shapes of ``--json``, rich tables, and password masking.

JSON shapes (snake_case keys, times ISO-8601 UTC with a ``Z``, ids as integers, absent values
``null``); new keys may be added, existing ones keep their meaning:

run::

    {"id": 12, "job_type": "email-sender", "queue": "default", "priority": 0,
     "status": "failed", "scheduled": false, "attempt": 3, "max_attempts": 4,
     "input": {...}, "output": null,
     "error": {"type": "SMTPError", "message": "...", "traceback": "..."} | null,
     "progress": {"total": 10 | null, "processed": 4, "succeeded": 4, "failed": 0},
     "run_at": "...Z", "created_at": "...Z", "started_at": "...Z" | null,
     "finished_at": "...Z" | null, "duration_seconds": 1.25 | null, "worker_id": "..." | null,
     "cancel_requested": false, "schedule_due_at": "...Z" | null,
     "trace_context": "{\"traceparent\": \"00-...\"}" | null,
     "unique_key": "invoice-42" | null, "snoozes": 0}

``snoozes``: times the job snoozed the run (each gave its attempt back).

``status`` is the stored state; ``scheduled`` is true for a pending run due later.

job (a job type as stored)::

    {"job_type": "email-sender", "queue": "default", "schedule_paused": false,
     "paused": false (deprecated alias of schedule_paused),
     "max_retries": 3, "timeout_seconds": 60.0 | null,
     "max_retries_override": null, "timeout_seconds_override": null,
     "effective_max_retries": 3, "effective_timeout_seconds": 60.0 | null,
     "schedule": {"kind": "cron" | "interval", "expression": "0 * * * *",
                  "timezone": "UTC", "catch_up": "latest", "input": ...} | null,
     "next_due_at": "...Z" | null, "last_due_at": "...Z" | null, "last_run_id": 7 | null,
     "updated_at": "...Z" | null,
     "unique": {"by_input": true, "period_seconds": 600.0 | null,
                "states": ["pending", "running"]} | null}

``unique``: the uniqueness the job type's code declared (null: none).

worker::

    {"id": "host-123-ab12", "host": "host", "pid": 123, "queues": ["default"],
     "state": "alive" | "stale" | "dead" | "stopped", "concurrency": 10, "running": 2,
     "started_at": "...Z", "last_seen_at": "...Z", "stopped_at": null, "dead_at": null}

log entry::

    {"id": 5, "run_id": 12, "level": "info", "message": "sent", "logged_at": "...Z",
     "fields": {...}}

Listings print a JSON array of these; ``status --json``, ``health --json``, ``config show
--json`` and ``migrate --status --json`` print the objects documented at their functions below.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from zapjobs import RetryPolicy
from zapjobs.config import ResolvedSettings
from zapjobs.models import (
    ErrorGroup,
    JobDefinition,
    JobRun,
    JobTypeStats,
    LogEntry,
    MigrationStatus,
    RunError,
    RunStatus,
    Stats,
    ThroughputPoint,
    UniqueSettings,
    WorkerInfo,
    WorkerState,
)
from zapjobs.settings import Settings, format_duration, mask_dsn
from zapjobs_cli.display import (
    SHOWN_CHARS,
    attempt_text,
    clipped_json,
    display_status,
    due_text,
    duration_text,
    error_label,
    fold_zapjobs_frames,
    level_style,
    one_line,
    one_line_text,
    relative,
    run_duration,
    schedule_state_text,
    setting_duration,
    status_text,
    untrusted,
    when_text,
    with_cut_note,
    worker_state_text,
    zone_name,
    zoned_text,
)

PIPE_WIDTH = 160


def display_dsn(url: str) -> str:
    """A connection string fit to print: the password masked; file URLs shown as they are."""
    if url.strip().lower().startswith(("sqlite:", "memory:")):
        return url.strip()  # no password, and mask_dsn would drop a slash of sqlite:////abs
    return mask_dsn(url)


# --- values ------------------------------------------------------------------------------------
def iso(when: datetime | None) -> str | None:
    """ISO-8601 UTC with a ``Z``, or None."""
    if when is None:
        return None
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- JSON shapes -------------------------------------------------------------------------------
def run_dict(run: JobRun, now: datetime) -> dict[str, Any]:
    error = None
    if run.error is not None:
        error = {
            "type": run.error.type,
            "message": run.error.message,
            "traceback": run.error.traceback,
        }
    return {
        "id": run.id,
        "job_type": run.job_type,
        "queue": run.queue,
        "priority": run.priority,
        "status": run.status.value,
        "scheduled": run.is_scheduled(now),
        "attempt": run.attempt,
        "max_attempts": run.max_attempts,
        "input": run.input,
        "output": run.output,
        "error": error,
        "progress": {
            "total": run.progress.total,
            "processed": run.progress.processed,
            "succeeded": run.progress.succeeded,
            "failed": run.progress.failed,
        },
        "run_at": iso(run.run_at),
        "created_at": iso(run.created_at),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "duration_seconds": run_duration(run.started_at, run.finished_at),
        "worker_id": run.worker_id,
        "cancel_requested": run.cancel_requested,
        "schedule_due_at": iso(run.schedule_due_at),
        "trace_context": run.trace_context,
        "unique_key": run.unique_key,
        "snoozes": run.snoozes,
    }


def job_dict(definition: JobDefinition, default_timeout: float) -> dict[str, Any]:
    """A job type as JSON; ``default_timeout`` (settings.default_timeout, in seconds) makes
    ``effective_timeout_seconds`` the timeout a worker enforces, never null."""
    schedule = None
    if definition.schedule is not None:
        s = definition.schedule
        schedule = {
            "kind": s.kind.value,
            "expression": s.expression,
            "timezone": s.timezone,
            "catch_up": s.catch_up.value,
            "input": json.loads(s.input_json),
        }
    return {
        "job_type": definition.job_type,
        "queue": definition.queue,
        "schedule_paused": definition.schedule_paused,
        "paused": definition.schedule_paused,  # deprecated alias of schedule_paused
        "max_retries": definition.max_retries,
        "timeout_seconds": definition.timeout_seconds,
        "max_retries_override": definition.max_retries_override,
        "timeout_seconds_override": definition.timeout_seconds_override,
        "effective_max_retries": definition.effective_max_retries,
        "effective_timeout_seconds": definition.timeout_seconds_enforced(default_timeout),
        "schedule": schedule,
        "next_due_at": iso(definition.next_due_at),
        "last_due_at": iso(definition.last_due_at),
        "last_run_id": definition.last_run_id,
        "updated_at": iso(definition.updated_at),
        "unique": unique_dict(definition.unique),
    }


def recent_dict(recent: JobTypeStats | None) -> dict[str, Any]:
    """A job type's runs finished in a recent window as JSON (zeros and nulls when none)."""
    recent = recent or JobTypeStats("")
    return {
        "succeeded": recent.succeeded,
        "failed": recent.failed,
        "success_rate": recent.success_rate,
        "p50_seconds": recent.p50_seconds,
        "p95_seconds": recent.p95_seconds,
    }


def unique_dict(unique: UniqueSettings | None) -> dict[str, Any] | None:
    if unique is None:
        return None
    return {
        "by_input": unique.by_input,
        "period_seconds": unique.period_seconds,
        "states": [s.value for s in RunStatus if s in unique.states],
    }


def worker_state(worker: WorkerInfo, now: datetime, settings: Settings) -> WorkerState:
    return worker.state(now, settings.stale_worker_threshold.total_seconds())


def worker_dict(worker: WorkerInfo, now: datetime, settings: Settings) -> dict[str, Any]:
    return {
        "id": worker.id,
        "host": worker.host,
        "pid": worker.pid,
        "queues": list(worker.queues),
        "state": worker_state(worker, now, settings).value,
        "concurrency": worker.concurrency,
        "running": worker.running,
        "started_at": iso(worker.started_at),
        "last_seen_at": iso(worker.last_seen_at),
        "stopped_at": iso(worker.stopped_at),
        "dead_at": iso(worker.dead_at),
    }


def log_dict(entry: LogEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "run_id": entry.run_id,
        "level": entry.level.name.lower(),
        "message": entry.message,
        "logged_at": iso(entry.logged_at),
        "fields": entry.fields,
        "attempt": entry.attempt,
    }


def stats_dict(stats: Stats) -> dict[str, Any]:
    """``{"waiting", "pending", "scheduled", "running", "succeeded", "failed", "cancelled", "total",
    "by_queue": [{"queue", "pending", ...}]}``"""
    counts = {name: getattr(stats, name) for name in _STAT_NAMES}
    return {
        **counts,
        "total": stats.total,
        "by_queue": [
            {"queue": q.queue, **{name: getattr(q, name) for name in _STAT_NAMES}}
            for q in stats.by_queue
        ],
    }


_STAT_NAMES = ("waiting", "pending", "scheduled", "running", "succeeded", "failed", "cancelled")


def throughput_dict(point: ThroughputPoint) -> dict[str, Any]:
    return {"minute": iso(point.minute), "succeeded": point.succeeded, "failed": point.failed}


def error_group_dict(group: ErrorGroup) -> dict[str, Any]:
    return {
        "error_type": group.error_type,
        "count": group.count,
        "last_run_id": group.last_run_id,
        "last_message": group.last_message,
    }


def migration_dict(status: MigrationStatus) -> dict[str, Any]:
    """``migrate --status --json``: ``{"applied": [1], "pending": [3], "up_to_date": bool,
    "migrations": [{"version", "name", "state": "applied" | "pending"}]}``: the version lists
    are alike (numbers), the names are in ``migrations``."""
    pending = {m.version for m in status.pending}
    names = {m.version: m.name for m in status.available}
    return {
        "applied": list(status.applied),
        "pending": sorted(pending),
        "up_to_date": not status.pending,
        "migrations": [
            {
                "version": version,
                "name": names.get(version),  # None: applied by a newer zapjobs
                "state": "pending" if version in pending else "applied",
            }
            for version in sorted(set(status.applied) | set(names))
        ],
    }


def setting_text(name: str, value: Any) -> str:
    """A setting for the ``config show`` table."""
    shown = setting_value(name, value)
    if shown is None:
        return "-"
    if isinstance(shown, list):
        return ", ".join(map(str, shown))
    if isinstance(shown, dict):
        return ", ".join(f"{k}={v}" for k, v in shown.items())
    if isinstance(shown, bool):
        return str(shown).lower()
    return str(shown)


def setting_value(name: str, value: Any) -> Any:
    """A setting as JSON: durations as ``15s`` text, the database URL masked."""
    if name == "database_url" and isinstance(value, str):
        return display_dsn(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, RetryPolicy):
        return {f.name: setting_value(f.name, getattr(value, f.name)) for f in fields(value)}
    return value


def config_dict(resolved: ResolvedSettings) -> dict[str, Any]:
    """``config show --json``: ``{"config_file": path | null, "settings": {name: value},
    "sources": {name: "flag" | "env ZAPJOBS_X" | "file /path" | "default"}}``"""
    settings = resolved.settings
    return {
        "config_file": str(resolved.config_path) if resolved.config_path else None,
        "settings": {
            f.name: setting_value(f.name, getattr(settings, f.name)) for f in fields(settings)
        },
        "sources": dict(resolved.sources),
    }


# --- printing ----------------------------------------------------------------------------------
def print_json(value: Any) -> None:
    """JSON on stdout (never through rich: no markup, no wrapping)."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def print_json_line(value: Any) -> None:
    """One compact JSON object per line (streams: ``runs logs --follow --json``)."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def new_table(*columns: str, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold", box=None, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def runs_table(runs: Sequence[JobRun], now: datetime, *, local: bool = False) -> Table:
    created = f"CREATED ({zone_name(local=local)})"
    table = new_table("ID", "JOB TYPE", "QUEUE", "STATUS", "ATTEMPT", created, "DURATION", "ERROR")
    for run in runs:
        error = Text()
        if run.error:
            error = one_line_text(f"{run.error.type}: {one_line(run.error.message, 60)}", 200)
            label = error_label(run)
            if label != "error":  # not what ended the run: say which attempt it was
                error = Text(f"{label.removeprefix('error of ')}: ", style="dim").append(error)
        table.add_row(
            str(run.id),
            untrusted(run.job_type),
            untrusted(run.queue),
            status_text(display_status(run, now)),
            attempt_text(run),
            when_text(run.created_at, local=local),
            duration_text(run.started_at, run.finished_at),
            error,
        )
    return table


def timeout_text(definition: JobDefinition, default_timeout: float) -> str:
    """The timeout a worker enforces, marked when it is the settings' default."""
    enforced = setting_duration(definition.timeout_seconds_enforced(default_timeout))
    return enforced if definition.effective_timeout_seconds is not None else f"{enforced} (default)"


def jobs_table(
    definitions: Iterable[JobDefinition], now: datetime, default_timeout: float
) -> Table:
    table = new_table(
        "JOB TYPE", "QUEUE", "SCHED. STATE", "RETRIES", "TIMEOUT", "SCHEDULE", "NEXT RUN"
    )
    for d in definitions:
        table.add_row(
            untrusted(d.job_type),
            untrusted(d.queue),
            schedule_state_text(d.schedule is not None, d.enabled),
            str(d.effective_max_retries),
            timeout_text(d, default_timeout),
            untrusted(schedule_text(d)),
            due_text(d.next_due_at, now) if d.schedule is not None else "-",
        )
    return table


def schedule_text(definition: JobDefinition) -> str:
    s = definition.schedule
    if s is None:
        return "-"
    if s.kind.value == "interval":
        return f"every {setting_duration(float(s.expression))}"
    return f"cron {s.expression} ({s.timezone})"


def workers_table(workers: Iterable[WorkerInfo], now: datetime, settings: Settings) -> Table:
    table = new_table("ID", "STATE", "QUEUES", "RUNNING", "STARTED", "LAST SEEN")
    for w in workers:
        table.add_row(
            untrusted(w.id),
            worker_state_text(worker_state(w, now, settings).value),
            untrusted(",".join(w.queues)),
            f"{w.running}/{w.concurrency}",
            when_text(w.started_at),
            relative(w.last_seen_at, now),
        )
    return table


def log_line(entry: LogEntry, *, local: bool = False) -> Text:
    """One log entry on one line: the message and fields as literal text, escapes visible;
    the time with its zone (``Z`` for UTC, else the offset)."""
    at = entry.logged_at.astimezone() if local else entry.logged_at.astimezone(UTC)
    zone = "Z" if not local else f"{at:%z}"
    text = Text(f"{at:%Y-%m-%d %H:%M:%S}{zone} ")
    text.append(f"{entry.level.name.lower():<7}", style=level_style(entry.level))
    text.append(" ").append(untrusted(entry.message))
    if entry.fields and entry.attempt_error is None:  # its traceback: `runs show`
        fields_json, _ = clipped_json(entry.fields)
        text.append(" ").append(untrusted(fields_json, style="dim"))
    return text


def run_detail(
    run: JobRun,
    now: datetime,
    *,
    local: bool = False,
    attempt_errors: Sequence[tuple[int | None, RunError]] = (),
) -> RenderableType:
    """``runs show``: the fields, every failed attempt's error, then the traceback; every value
    literal and bounded, and a last line saying how to get a value that was cut short whole
    (``--json``)."""
    cut = False

    def json_value(value: object) -> Text:
        nonlocal cut
        shown, hidden = clipped_json(value)
        cut = cut or hidden > 0
        return with_cut_note(untrusted(shown), hidden)

    def text_value(value: str, style: str = "", *, multiline: bool = False) -> Text:
        nonlocal cut
        cut = cut or len(value) > SHOWN_CHARS
        return untrusted(value, style, multiline=multiline)

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    rows: list[tuple[str, Text | str]] = [
        ("run", str(run.id)),
        ("job type", untrusted(run.job_type)),
        ("status", status_text(display_status(run, now))),
        ("queue", untrusted(run.queue).append(f" (priority {run.priority})")),
        ("attempt", attempt_text(run)),
        *([("snoozed", f"{run.snoozes} times (attempts not counted)")] if run.snoozes else []),
        ("created", zoned_text(run.created_at, local=local)),
        ("due", f"{zoned_text(run.run_at, local=local)} ({relative(run.run_at, now)})"),
        ("started", zoned_text(run.started_at, local=local)),
        ("finished", zoned_text(run.finished_at, local=local)),
        ("duration", duration_text(run.started_at, run.finished_at)),
        ("worker", untrusted(run.worker_id or "-")),
        ("input", json_value(run.input)),
    ]
    if run.unique_key is not None:
        rows.append(("unique key", text_value(run.unique_key)))
    if run.progress.total is not None or run.progress.processed:
        p = run.progress
        total = "?" if p.total is None else str(p.total)
        rows.append(("progress", f"{p.processed}/{total} ({p.succeeded} ok, {p.failed} failed)"))
    if run.output is not None:
        rows.append(("output", json_value(run.output)))
    if run.cancel_requested and not run.status.is_final:
        rows.append(("cancel", "requested"))
    if run.error is not None:
        label = error_label(run)
        style = "red" if label == "error" else "yellow"  # red only for what ended the run
        rows.append((label, text_value(f"{run.error.type}: {run.error.message}", style)))
    for attempt, error in attempt_errors:
        label = f"attempt {attempt if attempt is not None else '?'} error"
        rows.append((label, text_value(f"{error.type}: {error.message}", "yellow")))
    for label, value in rows:
        table.add_row(label, value)
    parts: list[RenderableType] = [table]
    if run.error is not None and run.error.traceback:
        if error_label(run) != "error":
            parts.append(Text(f"traceback ({error_label(run)}):", style="dim"))
        traceback = fold_zapjobs_frames(run.error.traceback).rstrip()
        parts.append(text_value(traceback, "dim", multiline=True))
    if cut:
        parts.append(
            Text(
                f"(values longer than {SHOWN_CHARS:,} characters are cut: "
                f"`zapjobs runs show {run.id} --json` prints them whole)",
                style="dim",
            )
        )
    return Group(*parts)


def consoles(no_color: bool) -> tuple[Console, Console]:
    """(stdout, stderr) consoles; NO_COLOR and non-terminals give plain text (rich's rules)."""
    kwargs: dict[str, Any] = {"highlight": False}
    if no_color:
        kwargs["no_color"] = True
    out, err = Console(**kwargs), Console(stderr=True, **kwargs)
    for console in (out, err):
        if not console.is_terminal and "COLUMNS" not in os.environ:
            console.width = PIPE_WIDTH  # piped output: no folding at 80 columns
    return out, err
