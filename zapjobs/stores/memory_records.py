"""The memory store's private records and the pure functions that read them.

Kept apart from ``memory.py`` so the store there is only locking, state changes and wake-ups;
everything here is plain computation over records, with "now" passed in.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from zapjobs.core.percentile import percentile_cont
from zapjobs.errors import ConfigurationError, ValidationError
from zapjobs.models import (
    Backlog,
    ErrorGroup,
    FailureCount,
    InputFrom,
    JobRun,
    JobTypeStats,
    LogEntry,
    LogLevel,
    Page,
    ParentFailure,
    Progress,
    QueueStats,
    RunError,
    RunFilter,
    RunStatus,
    Schedule,
    Stats,
    ThroughputPoint,
    unique_states_from_mask,
)


@dataclass
class RunRecord:
    """The mutable private record behind a JobRun; JSON stays text, as in a database."""

    id: int
    job_type: str
    queue: str
    priority: int
    input_json: str
    run_at: datetime
    created_at: datetime
    schedule_due_at: datetime | None
    max_attempts: int
    status: RunStatus = RunStatus.PENDING
    attempt: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    worker_id: str | None = None
    output_json: str | None = None
    error: RunError | None = None
    progress: Progress = field(default_factory=Progress)
    cancel_requested: bool = False
    trace_context: str | None = None
    unique_key: str | None = None
    snoozes: int = 0
    unique_states: int = 0  # the mask of models.UNIQUE_STATE_BITS; 0 without a key
    parents_left: int | None = None
    on_parent_failure: ParentFailure | None = None
    cancelled_by: int | None = None
    input_from: InputFrom | None = None

    def view(self) -> JobRun:
        """A fresh frozen copy; the decoded JSON is new on every call, so never shared."""
        return JobRun(
            id=self.id,
            job_type=self.job_type,
            queue=self.queue,
            priority=self.priority,
            status=self.status,
            input=json.loads(self.input_json),
            attempt=self.attempt,
            run_at=self.run_at,
            created_at=self.created_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            worker_id=self.worker_id,
            output=None if self.output_json is None else json.loads(self.output_json),
            error=self.error,
            progress=self.progress,
            cancel_requested=self.cancel_requested,
            schedule_due_at=self.schedule_due_at,
            max_attempts=self.max_attempts,
            trace_context=self.trace_context,
            unique_key=self.unique_key,
            snoozes=self.snoozes,
            unique_states=unique_states_from_mask(self.unique_states),
            parents_left=self.parents_left,
            on_parent_failure=self.on_parent_failure,
            cancelled_by=self.cancelled_by,
            input_from=self.input_from,
        )

    def is_scheduled(self, now: datetime) -> bool:
        return self.status is RunStatus.PENDING and self.run_at > now


@dataclass(frozen=True)
class LogRecord:
    id: int
    run_id: int
    level: LogLevel
    message: str
    logged_at: datetime
    fields_json: str
    attempt: int | None = None

    def view(self) -> LogEntry:
        return LogEntry(
            id=self.id,
            run_id=self.run_id,
            level=self.level,
            message=self.message,
            logged_at=self.logged_at,
            fields=json.loads(self.fields_json),
            attempt=self.attempt,
        )


def utc(when: datetime | None) -> datetime:
    """``when`` in UTC; None means the wall clock (the memory store's own "now")."""
    if when is None:
        return datetime.now(UTC)
    if when.tzinfo is None:
        raise ConfigurationError(f"the time {when.isoformat()} has no time zone", hint="use UTC")
    return when.astimezone(UTC)


def opt_utc(when: datetime | None) -> datetime | None:
    return None if when is None else utc(when)


def check_json(text: str, what: str) -> str:
    """Refuse what a database's JSON column would refuse."""
    try:
        json.loads(text)
    except (TypeError, ValueError):
        raise ValidationError(f"the {what} is not valid JSON", hint="pass JSON text") from None
    return text


def schedule_timing(schedule: Schedule) -> tuple[str, str, str]:
    """The parts of a schedule that decide its due times."""
    return (schedule.kind.value, schedule.expression, schedule.timezone)


def _found_by_search(r: RunRecord, search: str, above_id: int) -> bool:
    """Among the newest runs only (ids above ``above_id``), as the SQL stores bound it."""
    if r.id <= above_id:
        return False
    needle = search.lower()
    texts = [r.job_type, r.input_json]
    if r.error is not None:
        texts += [r.error.type, r.error.message]
    return any(needle in text.lower() for text in texts)


def matches(r: RunRecord, f: RunFilter, now: datetime, newest_id: int = 0) -> bool:
    """Every field of the filter narrows; *_after is inclusive, *_before is not.
    ``newest_id`` is the highest run id stored (the free-text search's window ends there)."""
    if f.ids is not None and r.id not in f.ids:
        return False
    if f.statuses is not None and r.status not in f.statuses:
        return False
    if f.job_types is not None and r.job_type not in f.job_types:
        return False
    if f.queues is not None and r.queue not in f.queues:
        return False
    if f.created_after is not None and r.created_at < utc(f.created_after):
        return False
    if f.created_before is not None and r.created_at >= utc(f.created_before):
        return False
    if f.worker_ids is not None and r.worker_id not in f.worker_ids:
        return False
    if f.finished_after is not None and (
        r.finished_at is None or r.finished_at < utc(f.finished_after)
    ):
        return False
    if f.finished_before is not None and (
        r.finished_at is None or r.finished_at >= utc(f.finished_before)
    ):
        return False
    if f.search and not _found_by_search(r, f.search, newest_id - f.search_window):
        return False
    if f.scheduled is not None:
        at = now if f.now is None else utc(f.now)
        if r.is_scheduled(at) != f.scheduled:
            return False
    return True


def page_of_runs(runs: Iterable[JobRun], page: Page) -> list[JobRun]:
    """A keyset page of ``runs``: in ``page.sort`` order, ties by id in the same direction,
    runs without the value (not finished) after the others; after ``page.after``."""

    def key(value: object, run_id: int) -> tuple[Any, ...]:
        missing = value is None
        if page.ascending:
            return (missing, value, run_id)
        return (not missing, value, run_id)

    ordered = sorted(runs, key=lambda r: key(page.sort.key(r), r.id), reverse=not page.ascending)
    if page.after is not None:
        cursor = key(page.after.value, page.after.id)
        if page.ascending:
            ordered = [r for r in ordered if key(page.sort.key(r), r.id) > cursor]
        else:
            ordered = [r for r in ordered if key(page.sort.key(r), r.id) < cursor]
    return ordered[: max(page.limit, 0)]


def stats_of(runs: Iterable[RunRecord], now: datetime) -> Stats:
    counts: Counter[tuple[str, str]] = Counter()
    oldest: dict[str, datetime] = {}
    for r in runs:
        bucket = "scheduled" if r.is_scheduled(now) else r.status.value
        counts[(r.queue, bucket)] += 1
        if bucket == "pending" and (r.queue not in oldest or r.run_at < oldest[r.queue]):
            oldest[r.queue] = r.run_at
    by_queue = tuple(
        QueueStats(
            queue=q,
            **{b: n for (qq, b), n in counts.items() if qq == q},
            oldest_due_at=oldest.get(q),
        )
        for q in sorted({queue for queue, _ in counts})
    )
    totals: Counter[str] = Counter()
    for (_, bucket), n in counts.items():
        totals[bucket] += n
    return Stats(**totals, by_queue=by_queue)


def throughput_of(
    runs: Iterable[RunRecord], since: datetime, now: datetime
) -> list[ThroughputPoint]:
    counts: Counter[tuple[datetime, RunStatus]] = Counter()
    for r in runs:
        finished = r.finished_at
        if r.status not in (RunStatus.SUCCEEDED, RunStatus.FAILED) or finished is None:
            continue
        if since <= finished <= now:
            counts[(finished.replace(second=0, microsecond=0), r.status)] += 1
    return [
        ThroughputPoint(
            minute=m,
            succeeded=counts[(m, RunStatus.SUCCEEDED)],
            failed=counts[(m, RunStatus.FAILED)],
        )
        for m in sorted({minute for minute, _ in counts})
    ]


def job_type_stats_of(
    runs: Iterable[RunRecord], since: datetime, now: datetime
) -> list[JobTypeStats]:
    counts: Counter[tuple[str, RunStatus]] = Counter()
    took: dict[str, list[float]] = {}
    for r in runs:
        finished = r.finished_at
        if r.status not in (RunStatus.SUCCEEDED, RunStatus.FAILED) or finished is None:
            continue
        if since <= finished <= now:
            counts[(r.job_type, r.status)] += 1
            durations = took.setdefault(r.job_type, [])
            if r.started_at is not None:
                durations.append((finished - r.started_at).total_seconds())
    return [
        JobTypeStats(
            job_type,
            succeeded=counts[(job_type, RunStatus.SUCCEEDED)],
            failed=counts[(job_type, RunStatus.FAILED)],
            p50_seconds=percentile_cont(took[job_type], 0.5),
            p95_seconds=percentile_cont(took[job_type], 0.95),
        )
        for job_type in sorted(took)
    ]


def backlog_of(runs: Iterable[RunRecord], now: datetime) -> list[Backlog]:
    pending: Counter[tuple[str, str]] = Counter()
    scheduled: Counter[tuple[str, str]] = Counter()
    running: Counter[tuple[str, str]] = Counter()
    waiting: Counter[tuple[str, str]] = Counter()
    oldest: dict[tuple[str, str], datetime] = {}
    for r in runs:
        key = (r.queue, r.job_type)
        if r.status is RunStatus.RUNNING:
            running[key] += 1
        elif r.status is RunStatus.WAITING:
            waiting[key] += 1
        elif r.status is RunStatus.PENDING and r.run_at > now:
            scheduled[key] += 1
        elif r.status is RunStatus.PENDING:
            pending[key] += 1
            oldest[key] = min(oldest.get(key, r.run_at), r.run_at)
    keys = sorted({*pending, *scheduled, *running, *waiting})
    return [
        Backlog(
            q,
            j,
            pending[(q, j)],
            scheduled[(q, j)],
            running[(q, j)],
            oldest.get((q, j)),
            waiting=waiting[(q, j)],
        )
        for q, j in keys
    ]


def failures_of(runs: Iterable[RunRecord], since: datetime) -> list[FailureCount]:
    counts: Counter[tuple[str, str]] = Counter()
    for r in runs:
        finished = r.finished_at
        if r.status is RunStatus.FAILED and finished is not None and finished >= since:
            counts[(r.queue, r.job_type)] += 1
    return [FailureCount(q, j, counts[(q, j)]) for q, j in sorted(counts)]


def error_groups_of(runs: Iterable[RunRecord], since: datetime, limit: int) -> list[ErrorGroup]:
    """Most frequent first; ties go to the type that failed most recently."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for r in runs:
        finished = r.finished_at
        if r.status is RunStatus.FAILED and r.error and finished is not None and finished >= since:
            groups.setdefault(r.error.type, []).append((r.id, r.error.message))
    result = []
    for error_type, members in groups.items():
        last_id, last_message = max(members)
        result.append(ErrorGroup(error_type, len(members), last_id, last_message))
    result.sort(key=lambda g: (-g.count, -g.last_run_id))
    return result[: max(limit, 0)]
