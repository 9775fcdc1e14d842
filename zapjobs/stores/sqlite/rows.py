"""Rows to model values and model values to bound parameters.

Timestamps are stored as INTEGER microseconds since the Unix epoch (UTC): exact comparisons and
indexes, no text formats; they come back as aware UTC datetimes. JSON is stored as the caller's
text and decoded on the way out. Lists travel as one JSON array parameter (read by json_each).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from zapjobs.errors import ConfigurationError, ValidationError
from zapjobs.models import (
    CatchUp,
    JobDefinition,
    JobRun,
    LogEntry,
    LogLevel,
    NewRun,
    Progress,
    RunError,
    RunFilter,
    RunStatus,
    Schedule,
    ScheduleKind,
    WorkerInfo,
)

Row = sqlite3.Row
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


# --- time ----------------------------------------------------------------------------------------


def to_us(when: datetime) -> int:
    """An aware datetime as microseconds since the epoch; a naive one is refused."""
    if when.tzinfo is None:
        raise ConfigurationError(f"the time {when.isoformat()} has no time zone", hint="use UTC")
    return (when - EPOCH) // _MICROSECOND


def opt_us(when: datetime | None) -> int | None:
    return None if when is None else to_us(when)


def now_us(now: datetime | None) -> int:
    """``now`` in microseconds; None is this process's clock (SQLite has no server clock)."""
    return to_us(datetime.now(UTC) if now is None else now)


def duration_us(duration: timedelta) -> int:
    return duration // _MICROSECOND


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def opt_from_us(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)


# --- JSON ----------------------------------------------------------------------------------------


def check_json(text: str, what: str) -> str:
    """Refuse what the table's json_valid() check would refuse, with a clearer message."""
    try:
        json.loads(text)
    except (TypeError, ValueError):
        raise ValidationError(f"the {what} is not valid JSON", hint="pass JSON text") from None
    return text


def json_list(values: Sequence[Any] | None) -> str | None:
    """A list parameter for json_each; None stays None (the filter does not narrow)."""
    return None if values is None else json.dumps(list(values), ensure_ascii=False)


# --- rows to values ------------------------------------------------------------------------------


def run_from_row(row: Row) -> JobRun:
    error = None
    if row["error_type"] is not None:
        error = RunError(row["error_type"], row["error_message"] or "", row["error_traceback"])
    output = row["output"]
    return JobRun(
        id=row["id"],
        job_type=row["job_type"],
        queue=row["queue"],
        priority=row["priority"],
        status=RunStatus(row["status"]),
        input=json.loads(row["input"]),
        attempt=row["attempt"],
        run_at=from_us(row["run_at"]),
        created_at=from_us(row["created_at"]),
        started_at=opt_from_us(row["started_at"]),
        finished_at=opt_from_us(row["finished_at"]),
        worker_id=row["worker_id"],
        output=None if output is None else json.loads(output),
        error=error,
        progress=Progress(
            total=row["progress_total"],
            processed=row["progress_processed"],
            succeeded=row["progress_succeeded"],
            failed=row["progress_failed"],
        ),
        cancel_requested=bool(row["cancel_requested"]),
        schedule_due_at=opt_from_us(row["schedule_due_at"]),
    )


def definition_from_row(row: Row) -> JobDefinition:
    schedule = None
    if row["schedule_kind"] is not None:
        schedule = Schedule(
            kind=ScheduleKind(row["schedule_kind"]),
            expression=row["schedule_expression"],
            timezone=row["schedule_timezone"] or "UTC",
            catch_up=CatchUp(row["schedule_catch_up"] or CatchUp.LATEST.value),
            input_json=row["schedule_input_json"] or "null",
        )
    return JobDefinition(
        job_type=row["job_type"],
        queue=row["queue"],
        max_retries=row["max_retries"],
        timeout_seconds=row["timeout_seconds"],
        max_retries_override=row["max_retries_override"],
        timeout_seconds_override=row["timeout_seconds_override"],
        enabled=bool(row["enabled"]),
        schedule=schedule,
        next_due_at=opt_from_us(row["next_due_at"]),
        last_due_at=opt_from_us(row["last_due_at"]),
        last_run_id=row["last_run_id"],
        updated_at=opt_from_us(row["updated_at"]),
    )


def log_from_row(row: Row) -> LogEntry:
    return LogEntry(
        id=row["id"],
        run_id=row["run_id"],
        level=LogLevel(row["level"]),
        message=row["message"],
        logged_at=from_us(row["logged_at"]),
        fields=json.loads(row["fields"]),
    )


def worker_from_row(row: Row) -> WorkerInfo:
    return WorkerInfo(
        id=row["id"],
        host=row["host"],
        pid=row["pid"],
        queues=tuple(json.loads(row["queues"])),
        started_at=from_us(row["started_at"]),
        last_seen_at=from_us(row["last_seen_at"]),
        running=row["running"],
        concurrency=row["concurrency"],
        stopped_at=opt_from_us(row["stopped_at"]),
        dead_at=opt_from_us(row["dead_at"]),
    )


# --- values to parameters ------------------------------------------------------------------------


def new_runs_param(runs: Sequence[NewRun]) -> str:
    """The ``:runs`` JSON array of enqueue_runs / insert_scheduled_runs; inputs stay text."""
    return json.dumps(
        [
            {
                "job_type": r.job_type,
                "queue": r.queue,
                "priority": r.priority,
                "input": check_json(r.input_json, "input"),
                "run_at": opt_us(r.run_at),
                "schedule_due_at": opt_us(r.schedule_due_at),
            }
            for r in runs
        ],
        ensure_ascii=False,
    )


def definition_params(definition: JobDefinition, now: int) -> dict[str, Any]:
    return {
        "job_type": definition.job_type,
        "queue": definition.queue,
        "max_retries": definition.max_retries,
        "timeout_seconds": definition.timeout_seconds,
        "now": now,
        **schedule_params(definition.schedule),
    }


def schedule_params(schedule: Schedule | None) -> dict[str, Any]:
    if schedule is None:
        return dict.fromkeys(("kind", "expression", "timezone", "catch_up", "input_json"))
    return {
        "kind": schedule.kind.value,
        "expression": schedule.expression,
        "timezone": schedule.timezone,
        "catch_up": schedule.catch_up.value,
        "input_json": schedule.input_json,
    }


def filter_params(selection: RunFilter, now: int) -> dict[str, Any]:
    """The run_filter fragment's parameters (None leaves a field unconstrained) and the driving
    term's (``d_*``); ``now`` is what ``scheduled`` compares with unless the filter says."""
    statuses = None
    if selection.statuses is not None:
        statuses = [RunStatus(s).value for s in selection.statuses]
    return {
        "f_ids": json_list(selection.ids),
        "f_statuses": json_list(statuses),
        "f_job_types": json_list(selection.job_types),
        "f_queues": json_list(selection.queues),
        "f_created_after": opt_us(selection.created_after),
        "f_created_before": opt_us(selection.created_before),
        "f_search": selection.search or None,
        "f_scheduled": None if selection.scheduled is None else int(selection.scheduled),
        "f_now": now if selection.now is None else to_us(selection.now),
        "d_status": statuses[0] if statuses and len(set(statuses)) == 1 else None,
        "d_job_type": _single(selection.job_types),
        "d_queue": _single(selection.queues),
    }


def drive_variant(selection: RunFilter) -> str:
    """The ``{drive}`` variant whose index serves this filter best (see queries.sql)."""
    if selection.ids is not None:
        return "ids"
    if selection.statuses is not None and len(set(selection.statuses)) == 1:
        return "status"
    if _single(selection.job_types) is not None:
        return "job_type"
    if _single(selection.queues) is not None:
        return "queue"
    return "all"


def _single(values: Sequence[str] | None) -> str | None:
    if values is None or len(set(values)) != 1:
        return None
    return values[0]
