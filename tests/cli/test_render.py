"""The documented JSON shapes (render.py) on fixed values, and display masking."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from zapjobs import Settings
from zapjobs.models import (
    JobDefinition,
    JobRun,
    LogEntry,
    LogLevel,
    Progress,
    RunError,
    RunStatus,
    Schedule,
    ScheduleKind,
    WorkerInfo,
)
from zapjobs_cli.render import (
    display_dsn,
    iso,
    job_dict,
    log_dict,
    run_dict,
    setting_value,
    worker_dict,
)

NOW = datetime(2026, 1, 31, 12, 0, 0, tzinfo=UTC)

RUN_KEYS = {
    "id", "job_type", "queue", "priority", "status", "scheduled", "attempt", "max_attempts",
    "input", "output", "error", "progress", "run_at", "created_at", "started_at", "finished_at",
    "duration_seconds", "worker_id", "cancel_requested", "schedule_due_at", "trace_context",
    "unique_key", "snoozes",
}  # fmt: skip


def test_run_shape() -> None:
    run = JobRun(
        id=12,
        job_type="email-sender",
        queue="default",
        priority=5,
        status=RunStatus.FAILED,
        input={"to": "a@b.c"},
        attempt=3,
        run_at=NOW - timedelta(minutes=5),
        created_at=NOW - timedelta(minutes=5),
        started_at=NOW - timedelta(seconds=3),
        finished_at=NOW - timedelta(seconds=1, milliseconds=750),
        worker_id="host-1-ab",
        error=RunError("SMTPError", "refused", "Traceback ..."),
        progress=Progress(total=10, processed=4, succeeded=3, failed=1),
        max_attempts=4,
        trace_context='{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}',
    )
    data = run_dict(run, NOW)
    assert set(data) == RUN_KEYS
    assert (data["attempt"], data["max_attempts"]) == (3, 4)
    assert data["id"] == 12 and isinstance(data["id"], int)
    assert data["status"] == "failed" and data["scheduled"] is False
    assert data["error"] == {
        "type": "SMTPError",
        "message": "refused",
        "traceback": "Traceback ...",
    }
    assert data["progress"] == {"total": 10, "processed": 4, "succeeded": 3, "failed": 1}
    assert data["created_at"] == "2026-01-31T11:55:00Z"
    assert data["finished_at"] == "2026-01-31T11:59:58.250000Z"
    assert data["duration_seconds"] == 1.25
    assert data["schedule_due_at"] is None
    assert data["trace_context"] == run.trace_context  # the stored W3C context, as text
    json.dumps(data)  # serialisable as is


def test_pending_run_due_later_is_scheduled() -> None:
    run = JobRun(
        id=1, job_type="x", queue="q", priority=0, status=RunStatus.PENDING, input=None,
        attempt=0, run_at=NOW + timedelta(hours=1), created_at=NOW,
    )  # fmt: skip
    data = run_dict(run, NOW)
    assert data["status"] == "pending" and data["scheduled"] is True
    assert data["started_at"] is None and data["duration_seconds"] is None and data["error"] is None


def test_job_shape() -> None:
    definition = JobDefinition(
        job_type="report",
        queue="reports",
        max_retries=3,
        timeout_seconds=60.0,
        max_retries_override=5,
        enabled=False,
        schedule=Schedule(ScheduleKind.CRON, "0 3 * * *", "Europe/Paris", input_json='{"a": 1}'),
        next_due_at=NOW,
    )
    data = job_dict(definition, 3600.0)
    assert data == {
        "job_type": "report",
        "queue": "reports",
        "schedule_paused": True,
        "paused": True,
        "max_retries": 3,
        "timeout_seconds": 60.0,
        "max_retries_override": 5,
        "timeout_seconds_override": None,
        "effective_max_retries": 5,
        "effective_timeout_seconds": 60.0,
        "schedule": {
            "kind": "cron",
            "expression": "0 3 * * *",
            "timezone": "Europe/Paris",
            "catch_up": "latest",
            "input": {"a": 1},
        },
        "next_due_at": "2026-01-31T12:00:00Z",
        "last_due_at": None,
        "last_run_id": None,
        "updated_at": None,
        "unique": None,
    }


def test_worker_shape_and_state() -> None:
    settings = Settings(stale_worker_threshold=timedelta(minutes=5))
    worker = WorkerInfo(
        id="h-1-ab", host="h", pid=1, queues=("critical", "default"),
        started_at=NOW - timedelta(hours=1), last_seen_at=NOW - timedelta(minutes=6),
        running=2, concurrency=10,
    )  # fmt: skip
    data = worker_dict(worker, NOW, settings)
    assert data == {
        "id": "h-1-ab",
        "host": "h",
        "pid": 1,
        "queues": ["critical", "default"],
        "state": "stale",
        "concurrency": 10,
        "running": 2,
        "started_at": "2026-01-31T11:00:00Z",
        "last_seen_at": "2026-01-31T11:54:00Z",
        "stopped_at": None,
        "dead_at": None,
    }


def test_log_shape() -> None:
    entry = LogEntry(7, 12, LogLevel.WARNING, "slow", NOW, {"ms": 900})
    assert log_dict(entry) == {
        "id": 7,
        "run_id": 12,
        "level": "warning",
        "message": "slow",
        "logged_at": "2026-01-31T12:00:00Z",
        "fields": {"ms": 900},
        "attempt": None,
    }


def test_iso_converts_to_utc() -> None:
    from zoneinfo import ZoneInfo

    paris = datetime(2026, 7, 1, 14, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert iso(paris) == "2026-07-01T12:00:00Z"
    assert iso(None) is None


def test_display_masks_passwords_and_keeps_file_urls() -> None:
    assert display_dsn("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert display_dsn("host=h password=pw dbname=db") == "host=h password=*** dbname=db"
    assert display_dsn("sqlite:////abs/path.db") == "sqlite:////abs/path.db"
    assert setting_value("database_url", "postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert setting_value("polling_interval", timedelta(seconds=90)) == "90s"
