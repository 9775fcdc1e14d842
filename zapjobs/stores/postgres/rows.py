"""Rows to model values and model values to typed query parameters (arrays for unnest)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

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

Row = Mapping[str, Any]


def run_from_row(row: Row) -> JobRun:
    error = None
    if row["error_type"] is not None:
        error = RunError(row["error_type"], row["error_message"] or "", row["error_traceback"])
    return JobRun(
        id=row["id"],
        job_type=row["job_type"],
        queue=row["queue"],
        priority=row["priority"],
        status=RunStatus(row["status"]),
        input=row["input"],
        attempt=row["attempt"],
        run_at=row["run_at"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        worker_id=row["worker_id"],
        output=row["output"],
        error=error,
        progress=Progress(
            total=row["progress_total"],
            processed=row["progress_processed"],
            succeeded=row["progress_succeeded"],
            failed=row["progress_failed"],
        ),
        cancel_requested=row["cancel_requested"],
        schedule_due_at=row["schedule_due_at"],
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
        enabled=row["enabled"],
        schedule=schedule,
        next_due_at=row["next_due_at"],
        last_due_at=row["last_due_at"],
        last_run_id=row["last_run_id"],
        updated_at=row["updated_at"],
    )


def log_from_row(row: Row) -> LogEntry:
    return LogEntry(
        id=row["id"],
        run_id=row["run_id"],
        level=LogLevel(row["level"]),
        message=row["message"],
        logged_at=row["logged_at"],
        fields=row["fields"],
    )


def worker_from_row(row: Row) -> WorkerInfo:
    return WorkerInfo(
        id=row["id"],
        host=row["host"],
        pid=row["pid"],
        queues=tuple(row["queues"]),
        started_at=row["started_at"],
        last_seen_at=row["last_seen_at"],
        running=row["running"],
        concurrency=row["concurrency"],
        stopped_at=row["stopped_at"],
        dead_at=row["dead_at"],
    )


def new_run_params(runs: Sequence[NewRun]) -> dict[str, Any]:
    """Column arrays for the unnest of enqueue_runs / insert_scheduled_runs."""
    return {
        "job_types": [r.job_type for r in runs],
        "inputs": [r.input_json for r in runs],
        "queues": [r.queue for r in runs],
        "priorities": [r.priority for r in runs],
        "run_ats": [r.run_at for r in runs],
        "due_ats": [r.schedule_due_at for r in runs],
    }


def one_run_params(run: NewRun) -> dict[str, Any]:
    """The parameters of enqueue_run (a single run)."""
    return {
        "job_type": run.job_type,
        "input": run.input_json,
        "queue": run.queue,
        "priority": run.priority,
        "run_at": run.run_at,
        "due_at": run.schedule_due_at,
    }


def definition_params(definitions: Sequence[JobDefinition]) -> dict[str, Any]:
    """Column arrays for register_definitions; a later duplicate of a job type wins."""
    latest = list({d.job_type: d for d in definitions}.values())
    schedules = [d.schedule for d in latest]
    return {
        "job_types": [d.job_type for d in latest],
        "queues": [d.queue for d in latest],
        "max_retries": [d.max_retries for d in latest],
        "timeouts": [d.timeout_seconds for d in latest],
        "kinds": [s.kind.value if s else None for s in schedules],
        "expressions": [s.expression if s else None for s in schedules],
        "timezones": [s.timezone if s else None for s in schedules],
        "catch_ups": [s.catch_up.value if s else None for s in schedules],
        "inputs": [s.input_json if s else None for s in schedules],
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


def filter_params(selection: RunFilter, now: datetime | None) -> dict[str, Any]:
    """The run_filter fragment's parameters; None leaves a field unconstrained."""

    def listed(values: Sequence[Any] | None) -> list[Any] | None:
        return None if values is None else list(values)

    statuses = (
        None if selection.statuses is None else [RunStatus(s).value for s in selection.statuses]
    )
    params: dict[str, Any] = {"f_ids": listed(selection.ids)}
    drive: str | None = None
    for one, many, values in (
        ("status", "statuses", statuses),
        ("job_type", "job_types", listed(selection.job_types)),
        ("queue", "queues", listed(selection.queues)),
    ):
        # One value goes in a scalar (the first as the drive) so an (x, id) index serves it.
        single = values is not None and len(set(values)) == 1
        if single and drive is None:
            drive = one
        scalar = values[0] if single and values is not None else None
        params[f"d_{one}"] = scalar if drive == one else None
        params[f"f_{one}"] = scalar if drive != one else None
        params[f"f_{many}"] = None if single else values
    return {
        **params,
        "f_created_after": selection.created_after,
        "f_created_before": selection.created_before,
        "f_search": selection.search or None,
        "f_scheduled": selection.scheduled,
        "f_now": selection.now if selection.now is not None else now,
    }
