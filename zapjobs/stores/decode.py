"""Stored rows to model values, shared by the SQL stores. A backend says only how its columns
decode (timestamps, JSON, booleans): PostgreSQL's driver hands back datetimes and decoded jsonb,
SQLite stores integer microseconds and JSON text."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from zapjobs.models import (
    CatchUp,
    InputFrom,
    JobDefinition,
    JobRun,
    LogEntry,
    LogLevel,
    ParentFailure,
    Progress,
    RunError,
    RunStatus,
    Schedule,
    ScheduleKind,
    UniqueSettings,
    WorkerInfo,
    unique_states_from_mask,
)

T = TypeVar("T")


class Row(Protocol):
    """A row addressable by column name (psycopg's dict rows, sqlite3.Row)."""

    def __getitem__(self, key: str, /) -> Any: ...


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Decoders:
    """How one backend's column values become Python values (never called with None)."""

    time: Callable[[Any], datetime] = _same
    json: Callable[[Any], Any] = _same
    flag: Callable[[Any], bool] = bool

    def opt_time(self, value: Any) -> datetime | None:
        return None if value is None else self.time(value)

    def opt_json(self, value: Any) -> Any:
        return None if value is None else self.json(value)

    # The row readers of a backend, bound to its decoders (rows.py: ``run_from_row = ...``).
    def run(self, row: Row, parent_outputs: Mapping[int, Any] | None = None) -> JobRun:
        return run_from_row(row, self, parent_outputs)

    def definition(self, row: Row) -> JobDefinition:
        return definition_from_row(row, self)

    def log(self, row: Row) -> LogEntry:
        return log_from_row(row, self)

    def worker(self, row: Row) -> WorkerInfo:
        return worker_from_row(row, self)


def assembled(cls: type[T], fields: dict[str, Any]) -> T:
    """An instance of the frozen dataclass ``cls`` from every one of its fields, by name, without
    its ``__init__``, which sets each field through ``object.__setattr__``: JobRun's 28 take 3.4
    us that way, about a twentieth of a no-op job's worker CPU, and 0.4 us as one dict. No
    defaults, no ``__post_init__``: ``fields`` names every field (tests/stores check the readers
    against ``dataclasses.fields``)."""
    instance = object.__new__(cls)
    object.__setattr__(instance, "__dict__", fields)
    return instance


#: RunStatus by stored value: a dict lookup, not the Enum's __call__ (a claim decodes each run)
_STATUSES: dict[str, RunStatus] = {s.value: s for s in RunStatus}
#: the progress of a run that never reported any (every run a claim returns, nearly)
_NO_PROGRESS = Progress()


def run_from_row(row: Row, d: Decoders, parent_outputs: Mapping[int, Any] | None = None) -> JobRun:
    error = None
    if row["error_type"] is not None:
        error = RunError(row["error_type"], row["error_message"] or "", row["error_traceback"])
    progress = _NO_PROGRESS
    total, processed = row["progress_total"], row["progress_processed"]
    succeeded, failed = row["progress_succeeded"], row["progress_failed"]
    if total is not None or processed or succeeded or failed:
        progress = Progress(total=total, processed=processed, succeeded=succeeded, failed=failed)
    on_parent_failure = row["on_parent_failure"]
    input_from = row["input_from"]
    return assembled(
        JobRun,
        {
            "id": row["id"],
            "job_type": row["job_type"],
            "queue": row["queue"],
            "priority": row["priority"],
            "status": _STATUSES[row["status"]],
            "input": d.opt_json(row["input"]),
            "attempt": row["attempt"],
            "run_at": d.time(row["run_at"]),
            "created_at": d.time(row["created_at"]),
            "started_at": d.opt_time(row["started_at"]),
            "finished_at": d.opt_time(row["finished_at"]),
            "worker_id": row["worker_id"],
            "output": d.opt_json(row["output"]),
            "error": error,
            "progress": progress,
            "cancel_requested": d.flag(row["cancel_requested"]),
            "schedule_due_at": d.opt_time(row["schedule_due_at"]),
            "max_attempts": row["max_attempts"],
            "trace_context": row["trace_context"],
            "unique_key": row["unique_key"],
            "unique_states": unique_states_from_mask(row["unique_states"]),
            "parents_left": row["parents_left"],
            "on_parent_failure": (
                None if on_parent_failure is None else ParentFailure(on_parent_failure)
            ),
            "cancelled_by": row["cancelled_by"],
            "input_from": None if input_from is None else InputFrom(input_from),
            "snoozes": row["snoozes"],
            "parent_outputs": parent_outputs,
        },
    )


def definition_from_row(row: Row, d: Decoders) -> JobDefinition:
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
        enabled=d.flag(row["enabled"]),
        schedule=schedule,
        next_due_at=d.opt_time(row["next_due_at"]),
        last_due_at=d.opt_time(row["last_due_at"]),
        last_run_id=row["last_run_id"],
        updated_at=d.opt_time(row["updated_at"]),
        unique=unique_settings_from_row(row, d),
    )


def unique_settings_from_row(row: Row, d: Decoders) -> UniqueSettings | None:
    if row["unique_by_input"] is None:
        return None
    return UniqueSettings(
        by_input=d.flag(row["unique_by_input"]),
        period_seconds=row["unique_for_seconds"],
        states=unique_states_from_mask(row["unique_states"]),
    )


def log_from_row(row: Row, d: Decoders) -> LogEntry:
    return LogEntry(
        id=row["id"],
        run_id=row["run_id"],
        level=LogLevel(row["level"]),
        message=row["message"],
        logged_at=d.time(row["logged_at"]),
        fields=d.json(row["fields"]),
        attempt=row["attempt"],
    )


def worker_from_row(row: Row, d: Decoders) -> WorkerInfo:
    return WorkerInfo(
        id=row["id"],
        host=row["host"],
        pid=row["pid"],
        queues=tuple(d.json(row["queues"])),
        started_at=d.time(row["started_at"]),
        last_seen_at=d.time(row["last_seen_at"]),
        running=row["running"],
        concurrency=row["concurrency"],
        stopped_at=d.opt_time(row["stopped_at"]),
        dead_at=d.opt_time(row["dead_at"]),
    )
