"""The memory store's answers to the diagnosis questions of the Store protocol (zapjobs doctor),
computed from its records; the store calls them under its lock."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from zapjobs.models import QueueBacklog, RetentionFacts, RunningJobType, RunStatus
from zapjobs.stores.memory_records import LogRecord, RunRecord


def queue_backlog(
    runs: Iterable[RunRecord], *, overdue_after: timedelta, now: datetime
) -> list[QueueBacklog]:
    by_queue: dict[str, list[RunRecord]] = {}
    for r in runs:
        if r.status is RunStatus.PENDING:
            by_queue.setdefault(r.queue, []).append(r)
    found = []
    for queue in sorted(by_queue):
        due = [r.run_at for r in by_queue[queue] if r.run_at <= now]
        overdue = sum(1 for at in due if at < now - overdue_after)
        found.append(
            QueueBacklog(queue, len(by_queue[queue]), len(due), overdue, min(due, default=None))
        )
    return found


def running_by_job_type(runs: Iterable[RunRecord]) -> list[RunningJobType]:
    by_type: dict[str, list[RunRecord]] = {}
    for r in runs:
        if r.status is RunStatus.RUNNING and r.started_at is not None:
            by_type.setdefault(r.job_type, []).append(r)
    found = []
    for job_type in sorted(by_type):
        group = by_type[job_type]
        first = min(group, key=lambda r: (r.started_at, r.id))
        assert first.started_at is not None
        found.append(RunningJobType(job_type, len(group), first.id, first.started_at))
    return found


def retention_facts(runs: Iterable[RunRecord], logs: Iterable[LogRecord]) -> RetentionFacts:
    finished = (r.finished_at for r in runs if r.status.is_final and r.finished_at is not None)
    return RetentionFacts(
        oldest_finished_at=min(finished, default=None),
        oldest_log_at=min((log.logged_at for log in logs), default=None),
    )
