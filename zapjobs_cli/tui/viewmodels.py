"""The dashboard's read-model: immutable values the widgets render, built from the library's
models by pure functions (so a fake source in tests can build exactly what the real one does)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from zapjobs.models import (
    ErrorGroup,
    FlowLimit,
    JobDefinition,
    JobRun,
    JobTypeStats,
    LogEntry,
    LogLevel,
    Page,
    Progress,
    QueueInfo,
    RunCursor,
    RunFilter,
    RunLinks,
    RunStatus,
    ScheduleKind,
    Stats,
    ThroughputPoint,
    WorkerInfo,
    WorkerState,
)
from zapjobs_cli.display import (
    clipped_json,
    display_status,
    error_is_from_earlier_attempt,
    setting_duration,
    unique_text,
)
from zapjobs_cli.render import run_dict


@dataclass(frozen=True)
class RunRow:
    id: int
    job_type: str
    queue: str
    status: str  # a RunStatus value, or "scheduled" for a pending run due later
    attempt: int
    priority: int
    created_at: datetime
    run_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: Progress = field(default_factory=Progress)
    error_type: str | None = None
    error_message: str | None = None
    cancel_requested: bool = False
    max_attempts: int | None = None  # first attempt plus retries, stored on the run
    worker_id: str | None = None

    @property
    def error_is_earlier(self) -> bool:
        """The error was written by an earlier attempt: the run succeeded since, or is waiting
        for (or running) its next attempt."""
        return self.error_type is not None and error_is_from_earlier_attempt(self.status)

    @property
    def waiting_to_retry(self) -> bool:
        return self.attempt > 0 and self.status in {"pending", "scheduled"}

    @property
    def finished(self) -> bool:
        return self.status in {"succeeded", "failed", "cancelled"}


@dataclass(frozen=True)
class RunsPage:
    rows: tuple[RunRow, ...]
    selection: RunFilter
    page: Page
    has_more: bool  # another (older) page exists
    #: where the next page starts (the cursor of this page's last run), when there is one
    next_after: RunCursor | None = None


@dataclass(frozen=True)
class RunDetail:
    row: RunRow
    input_json: str
    output_json: str | None
    traceback: str | None
    worker_id: str | None
    max_attempts: int | None  # first attempt plus retries, stored on the run
    schedule_due_at: datetime | None = None
    input_hidden: int = 0  # characters of the input's JSON cut off (a huge value)
    output_hidden: int = 0
    unique_key: str | None = None
    unique: str | None = None  # the job type's declared uniqueness, in words (display)
    snoozes: int = 0  # times the job snoozed the run (attempts not counted)
    run_json: str = "{}"  # the run as `zapjobs runs list --json` gives it, whole (Y copies it)
    workflow: Workflow | None = None  # None: the run has no parents and no children


#: parents, and children, read and shown per run detail (the rest are counted)
WORKFLOW_NODES = 50


@dataclass(frozen=True)
class WorkflowNode:
    id: int
    job_type: str
    status: str  # as RunRow.status


@dataclass(frozen=True)
class Workflow:
    """A run's place in a workflow: its parents and children (the first WORKFLOW_NODES of
    each, by id), how many more there are, and what it still waits for."""

    parents: tuple[WorkflowNode, ...] = ()
    children: tuple[WorkflowNode, ...] = ()
    deleted_parents: tuple[int, ...] = ()
    more_parents: int = 0
    more_children: int = 0
    parents_left: int | None = None  # a waiting run: parents not finished yet
    on_parent_failure: str | None = None  # "cancel" or "run"
    cancelled_by: int | None = None  # the parent whose failure cancelled this run


@dataclass(frozen=True)
class LogLine:
    id: int
    level: LogLevel
    message: str
    logged_at: datetime
    fields: tuple[tuple[str, str], ...] = ()  # (name, JSON text)
    attempt: int | None = None  # the attempt that wrote it (None: not recorded)


@dataclass(frozen=True)
class JobRow:
    job_type: str
    queue: str
    schedule: str | None  # "cron 0 * * * * Europe/Paris" / "every 30m"
    next_due_at: datetime | None
    enabled: bool
    max_retries: int
    retries_overridden: bool
    timeout_seconds: float | None
    last_run: RunRow | None = None
    #: flow control: the effective cap and rate limit ("10/s"), and whether an operator set them
    max_concurrency: int | None = None
    rate_limit: str | None = None
    limits_overridden: bool = False
    #: the declared uniqueness in words (display.unique_text), "-" when none is declared
    unique: str = "-"
    #: the runs that finished in the last hour (ZapJobs.job_type_stats' default window): counts
    #: and p50/p95 durations (None: none did)
    recent: JobTypeStats | None = None


@dataclass(frozen=True)
class WorkerRow:
    id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    started_at: datetime
    last_seen_at: datetime
    state: WorkerState
    running: int
    concurrency: int


@dataclass(frozen=True)
class ChartRange:
    """The Overview chart's span: ``window`` in columns of ``bucket`` each."""

    label: str  # "1h", shown in the chart's title
    window: timedelta
    bucket: timedelta
    per: str  # "minute", "30 min": what one column counts

    @property
    def columns(self) -> int:
        return self.window // self.bucket


CHART_RANGES = (
    ChartRange("1h", timedelta(hours=1), timedelta(minutes=1), "minute"),
    ChartRange("24h", timedelta(hours=24), timedelta(minutes=30), "30 min"),
    ChartRange("7d", timedelta(days=7), timedelta(hours=3), "3 hours"),
)


def next_chart_range(current: ChartRange) -> ChartRange:
    return CHART_RANGES[(CHART_RANGES.index(current) + 1) % len(CHART_RANGES)]


@dataclass(frozen=True)
class Overview:
    stats: Stats
    throughput: tuple[ThroughputPoint, ...]  # one point per chart column, oldest first, zero-filled
    workers: tuple[WorkerRow, ...]
    next_recurring: tuple[JobRow, ...]
    latest_failures: tuple[RunRow, ...]
    error_groups: tuple[ErrorGroup, ...]

    finished_last_hour: tuple[int, int] = (0, 0)  # (succeeded, failed), whatever the chart
    chart: ChartRange = CHART_RANGES[0]
    #: lag and last minute's throughput per queue (built on ``stats``, not read again)
    queues: tuple[QueueInfo, ...] = ()

    def workers_in(self, state: WorkerState) -> int:
        return sum(1 for w in self.workers if w.state is state)


def run_row(run: JobRun, now: datetime) -> RunRow:
    return RunRow(
        id=run.id,
        job_type=run.job_type,
        queue=run.queue,
        status=display_status(run, now),
        attempt=run.attempt,
        priority=run.priority,
        created_at=run.created_at,
        run_at=run.run_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        progress=run.progress,
        error_type=run.error.type if run.error else None,
        error_message=run.error.message if run.error else None,
        cancel_requested=run.cancel_requested,
        max_attempts=run.max_attempts,
        worker_id=run.worker_id,
    )


def run_detail(
    run: JobRun,
    definition: JobDefinition | None,
    now: datetime,
    links: RunLinks | None = None,
) -> RunDetail:
    """The detail of one run; input and output as pretty JSON, a huge value cut (bounded);
    its parents and children from ``links`` (read with a limit: WORKFLOW_NODES)."""
    output, output_hidden = None, 0
    if run.status is RunStatus.SUCCEEDED or run.output is not None:
        output, output_hidden = clipped_json(run.output, indent=2)
    input_json, input_hidden = clipped_json(run.input, indent=2)
    return RunDetail(
        row=run_row(run, now),
        run_json=json.dumps(run_dict(run, now), indent=2, ensure_ascii=False, default=str),
        input_json=input_json,
        output_json=output,
        input_hidden=input_hidden,
        output_hidden=output_hidden,
        traceback=run.error.traceback if run.error else None,
        worker_id=run.worker_id,
        max_attempts=run.max_attempts,
        schedule_due_at=run.schedule_due_at,
        unique_key=run.unique_key,
        unique=None
        if definition is None or definition.unique is None
        else unique_text(definition.unique),
        snoozes=run.snoozes,
        workflow=None if links is None else workflow(run, links, now),
    )


def workflow(run: JobRun, links: RunLinks, now: datetime) -> Workflow | None:
    """The workflow part of a run's detail; None for a run outside any workflow."""
    linked = links.parents or links.children or links.deleted_parents
    if not (linked or links.more_parents or links.more_children):
        return None

    def node(r: JobRun) -> WorkflowNode:
        return WorkflowNode(r.id, r.job_type, display_status(r, now))

    policy = run.on_parent_failure
    return Workflow(
        parents=tuple(node(r) for r in links.parents),
        children=tuple(node(r) for r in links.children),
        deleted_parents=links.deleted_parents,
        more_parents=links.more_parents,
        more_children=links.more_children,
        parents_left=run.parents_left,
        on_parent_failure=None if policy is None else policy.value,
        cancelled_by=run.cancelled_by,
    )


def log_line(entry: LogEntry) -> LogLine:
    fields = tuple(
        (name, json.dumps(value, ensure_ascii=False, default=str))
        for name, value in sorted(entry.fields.items())
        if entry.attempt_error is None  # a failed attempt's traceback: the error panel's
    )
    return LogLine(entry.id, entry.level, entry.message, entry.logged_at, fields, entry.attempt)


def schedule_text(definition: JobDefinition) -> str | None:
    schedule = definition.schedule
    if schedule is None:
        return None
    if schedule.kind is ScheduleKind.INTERVAL:
        return "every " + setting_duration(float(schedule.expression))
    zone = "" if schedule.timezone == "UTC" else f" {schedule.timezone}"
    return f"cron {schedule.expression}{zone}"


def job_row(
    definition: JobDefinition,
    last_run: RunRow | None,
    limits: FlowLimit | None = None,
    recent: JobTypeStats | None = None,
) -> JobRow:
    rate = limits.effective_rate_limit if limits else None
    return JobRow(
        job_type=definition.job_type,
        queue=definition.queue,
        schedule=schedule_text(definition),
        next_due_at=definition.next_due_at if definition.schedule else None,
        enabled=definition.enabled,
        max_retries=definition.effective_max_retries,
        retries_overridden=definition.max_retries_override is not None,
        timeout_seconds=definition.effective_timeout_seconds,
        last_run=last_run,
        max_concurrency=limits.effective_max_concurrency if limits else None,
        rate_limit=None if rate is None else str(rate),
        limits_overridden=limits is not None
        and (limits.max_concurrency_override is not None or limits.rate_limit_override is not None),
        unique=unique_text(definition.unique),
        recent=recent,
    )


def worker_row(worker: WorkerInfo, now: datetime, stale_after: timedelta) -> WorkerRow:
    return WorkerRow(
        id=worker.id,
        host=worker.host,
        pid=worker.pid,
        queues=worker.queues,
        started_at=worker.started_at,
        last_seen_at=worker.last_seen_at,
        state=worker.state(now, stale_after.total_seconds()),
        running=worker.running,
        concurrency=worker.concurrency,
    )


def minute_series(
    points: Sequence[ThroughputPoint], now: datetime, chart: ChartRange = CHART_RANGES[0]
) -> tuple[ThroughputPoint, ...]:
    """``chart.columns`` points, the last one ending with the current minute, each summing the
    store's per-minute points of its ``chart.bucket``; spans without runs become zeros."""
    current = now.replace(second=0, microsecond=0)
    starts = [current - chart.bucket * back for back in reversed(range(chart.columns))]
    ok = [0] * len(starts)
    failed = [0] * len(starts)
    for p in points:
        back = (current - p.minute.replace(second=0, microsecond=0)) // chart.bucket
        if 0 <= back < len(starts):
            ok[-1 - back] += p.succeeded
            failed[-1 - back] += p.failed
    return tuple(ThroughputPoint(s, ok[i], failed[i]) for i, s in enumerate(starts))


def last_hour(points: Sequence[ThroughputPoint], now: datetime) -> tuple[int, int]:
    """(succeeded, failed) of the per-minute ``points`` in the hour up to now."""
    since = now.replace(second=0, microsecond=0) - timedelta(minutes=59)
    recent = [p for p in points if p.minute >= since]
    return sum(p.succeeded for p in recent), sum(p.failed for p in recent)


def next_recurring(rows: Sequence[JobRow], limit: int = 5) -> tuple[JobRow, ...]:
    """Active schedules by their next due time, soonest first (unknown due times last)."""
    scheduled = [r for r in rows if r.schedule and r.enabled]
    scheduled.sort(key=lambda r: (r.next_due_at is None, r.next_due_at or datetime.max, r.job_type))
    return tuple(scheduled[:limit])
