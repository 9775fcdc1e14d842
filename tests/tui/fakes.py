"""A dashboard source with fixed, hand-written data, for snapshot and key-handling tests: no
store, no clock but the one given, so a screen changes only when the code that draws it does."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta

from zapjobs import ZapJobs
from zapjobs.errors import RunNotFoundError, StoreError
from zapjobs.models import (
    ErrorGroup,
    FlowLimit,
    JobDefinition,
    JobRun,
    LimitScope,
    LogEntry,
    LogLevel,
    Page,
    ParentFailure,
    Progress,
    QueueInfo,
    QueueStats,
    RateLimit,
    RunError,
    RunFilter,
    RunLinks,
    RunStatus,
    Schedule,
    ScheduleKind,
    Stats,
    ThroughputPoint,
    UniqueSettings,
    WorkerInfo,
)
from zapjobs.stores.memory_records import RunRecord, job_type_stats_of, matches, page_of_runs
from zapjobs_cli.tui.source import input_problem
from zapjobs_cli.tui.viewmodels import (
    CHART_RANGES,
    WORKFLOW_NODES,
    ChartRange,
    JobRow,
    LogLine,
    Overview,
    RunDetail,
    RunsPage,
    WorkerRow,
    job_row,
    last_hour,
    log_line,
    minute_series,
    next_recurring,
    run_detail,
    run_row,
    worker_row,
)

NOW = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
TRACEBACK = """Traceback (most recent call last):
  File "/srv/app/jobs.py", line 42, in send_email
    await smtp.send(message)
  File "/srv/app/smtp.py", line 17, in send
    raise TimeoutError("SMTP server did not answer within 30s")
TimeoutError: SMTP server did not answer within 30s"""


def _at(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def _runs() -> list[JobRun]:
    runs: list[JobRun] = []
    job_types = ("email-sender", "generate-report", "sync-inventory", "cleanup")
    queues = {"email-sender": "default", "generate-report": "low", "sync-inventory": "default"}
    errors = (
        RunError("TimeoutError", "SMTP server did not answer within 30s", TRACEBACK),
        RunError("KeyError", "'customer_id'", "Traceback ...\nKeyError: 'customer_id'"),
        RunError("ConnectionError", "inventory API refused the connection", None),
    )
    for i in range(1, 41):
        job_type = job_types[i % 4]
        created = _at(120 - i * 3)
        status = RunStatus.SUCCEEDED
        error = None
        if i % 7 == 0:
            status, error = RunStatus.FAILED, errors[i % 3]
        elif i % 11 == 0:
            status = RunStatus.CANCELLED
        started = created + timedelta(seconds=2)
        finished = started + timedelta(seconds=5 + i)
        if i >= 37:
            status, started, finished = RunStatus.PENDING, None, None
        if i == 36:
            status, finished = RunStatus.RUNNING, None
        if i == 14:  # created early, failed last: latest failures go by finish time
            finished = NOW - timedelta(minutes=1)
        attempt = _attempts(status, job_type, error)
        if i == 32:  # succeeded on its second attempt; the first one's error is still stored
            error, attempt = errors[1], 2
        run_at = created
        if i == 40:  # its first attempt failed; waiting to retry in 4 minutes
            status, attempt, error = RunStatus.PENDING, 1, errors[2]
            started, finished = created + timedelta(seconds=2), created + timedelta(seconds=9)
            run_at = NOW + timedelta(minutes=4)
        runs.append(
            JobRun(
                id=i,
                job_type=job_type,
                queue=queues.get(job_type, "maintenance"),
                priority=5 if job_type == "generate-report" else 0,
                status=status,
                input={"to": f"user{i}@example.com", "subject": "Your invoice", "n": i},
                attempt=attempt,
                max_attempts=_definition(job_type).effective_max_retries + 1,
                run_at=run_at,
                created_at=created,
                started_at=started,
                finished_at=finished,
                worker_id=None if started is None else "web-1-1234-ab12",
                output={"sent": True, "message_id": f"<m{i}@mail>"}
                if status is RunStatus.SUCCEEDED
                else None,
                error=error,
                progress=Progress(total=200, processed=140, succeeded=133, failed=7)
                if i == 36
                else Progress(),
            )
        )
    return runs


DEFINITIONS = (
    JobDefinition("cleanup", queue="maintenance", max_retries=0, timeout_seconds=600.0,
                  schedule=Schedule(ScheduleKind.CRON, "30 3 * * *"),
                  next_due_at=NOW + timedelta(hours=15, minutes=30)),
    JobDefinition("email-sender", queue="default", max_retries=5, timeout_seconds=120.0,
                  unique=UniqueSettings(by_input=True, period_seconds=600.0)),
    JobDefinition("generate-report", queue="low", max_retries=3, max_retries_override=1,
                  schedule=Schedule(ScheduleKind.CRON, "0 * * * *", timezone="Europe/Paris"),
                  next_due_at=NOW + timedelta(minutes=60)),
    JobDefinition("sync-inventory", queue="default", enabled=False,
                  schedule=Schedule(ScheduleKind.INTERVAL, "900"),
                  next_due_at=NOW + timedelta(minutes=7)),
)  # fmt: skip

#: concurrency caps and rate limits (the Jobs view's Limits column, shown from 130 columns)
LIMITS = {
    "email-sender": FlowLimit(LimitScope.JOB, "email-sender", rate_limit=RateLimit(10, 1)),
    "generate-report": FlowLimit(
        LimitScope.JOB, "generate-report", max_concurrency=1, max_concurrency_override=2
    ),
}

WORKERS = (
    WorkerInfo("web-1-1234-ab12", "web-1", 1234, ("critical", "default"), NOW - timedelta(hours=3),
               NOW - timedelta(seconds=12), running=1, concurrency=8),
    WorkerInfo("web-2-5678-cd34", "web-2", 5678, ("default", "low"), NOW - timedelta(hours=5),
               NOW - timedelta(minutes=9), running=0, concurrency=4),
    WorkerInfo("batch-1-91-ef56", "batch-1", 91, ("low",), NOW - timedelta(days=1),
               NOW - timedelta(hours=2), dead_at=NOW - timedelta(hours=1, minutes=55)),
)  # fmt: skip

#: the Queues view's data: active and served (with runs waiting for parents), paused, and one
#: no live worker serves
QUEUES = (
    QueueInfo("critical", pending=0, running=1, workers=("web-1-1234-ab12",),
              finished_last_minute=12),
    QueueInfo("default", pending=3, scheduled=1, running=1, lag=timedelta(seconds=42),
              workers=("web-1-1234-ab12", "web-2-5678-cd34"), finished_last_minute=57,
              waiting=2),
    QueueInfo("low", paused=True, pending=120, lag=timedelta(minutes=14),
              workers=("web-2-5678-cd34",)),
    QueueInfo("reports", pending=7, lag=timedelta(hours=2, minutes=5)),
)  # fmt: skip


def _attempts(status: RunStatus, job_type: str, error: RunError | None) -> int:
    """Attempts so far: none while pending, all of them for a failure, else one."""
    if status is RunStatus.PENDING:
        return 0
    if error is None:
        return 1
    return _definition(job_type).effective_max_retries + 1


def _definition(job_type: str) -> JobDefinition:
    return next(d for d in DEFINITIONS if d.job_type == job_type)


class FakeSource:
    """Fixed data plus a record of every action asked for (``calls``)."""

    def __init__(self, *, id_base: int = 0, typed: ZapJobs | None = None) -> None:
        """``id_base`` is added to every run id (ids of a store with a million runs); job
        types registered on ``typed`` have their inputs checked as the real source does."""
        self.all_runs = [replace(r, id=r.id + id_base) for r in _runs()]
        self.typed = typed
        self.calls: list[tuple[str, object]] = []
        self.fail_with: Exception | None = None  # set to make every read raise
        self.closed = False
        self.queue_rows = QUEUES

    def describe(self) -> str:
        return "postgresql://ops:***@db.internal/jobs"

    def now(self) -> datetime:
        return NOW

    def explain(self, exc: BaseException) -> str:
        return str(exc)

    async def close(self) -> None:
        self.closed = True

    def _check(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    def _matching(self, selection: RunFilter, now: datetime) -> list[JobRun]:
        """The memory store's own matching, so this fake cannot drift from the stores."""
        return sorted(
            (r for r in self.all_runs if matches(_record(r), selection, now)), key=lambda r: -r.id
        )

    async def overview(self, now: datetime, chart: ChartRange = CHART_RANGES[0]) -> Overview:
        self._check()
        runs = self.all_runs

        def count(status: RunStatus, scheduled: bool | None = None) -> int:
            return sum(
                1
                for r in runs
                if r.status is status and (scheduled is None or r.is_scheduled(now) == scheduled)
            )

        stats = Stats(
            pending=count(RunStatus.PENDING, False),
            scheduled=count(RunStatus.PENDING, True),
            running=count(RunStatus.RUNNING),
            succeeded=count(RunStatus.SUCCEEDED),
            failed=count(RunStatus.FAILED),
            cancelled=count(RunStatus.CANCELLED),
            by_queue=(
                QueueStats("default", pending=2, running=1, succeeded=14, failed=3),
                QueueStats("low", pending=1, scheduled=1, succeeded=9, failed=2),
                QueueStats("maintenance", succeeded=8, failed=1, cancelled=3),
            ),
        )
        points = [
            ThroughputPoint(_at(m).replace(second=0), succeeded=(m * 7) % 13, failed=m % 5 // 4)
            for m in range(0, 60, 2)
        ]
        failures = self._matching(RunFilter(statuses=(RunStatus.FAILED,)), now)[:20]
        return Overview(
            stats=stats,
            throughput=minute_series(points, now, chart),
            finished_last_hour=last_hour(points, now),
            chart=chart,
            workers=await self.workers(now),
            next_recurring=next_recurring([job_row(d, None) for d in DEFINITIONS]),
            latest_failures=tuple(
                run_row(r, now)
                for r in sorted(failures, key=lambda r: (r.finished_at, r.id), reverse=True)[:5]
            ),
            error_groups=(
                ErrorGroup("TimeoutError", 12, 35, "SMTP server did not answer within 30s"),
                ErrorGroup("KeyError", 4, 28, "'customer_id'"),
                ErrorGroup("ConnectionError", 1, 14, "inventory API refused the connection"),
            ),
            queues=self.queue_rows,
        )

    async def jobs(self, now: datetime) -> tuple[JobRow, ...]:
        self._check()
        rows = []
        records = [_record(r) for r in self.all_runs]
        recent = {s.job_type: s for s in job_type_stats_of(records, now - timedelta(hours=1), now)}
        for definition in DEFINITIONS:
            last = self._matching(RunFilter(job_types=(definition.job_type,)), now)[:1]
            limits = LIMITS.get(definition.job_type)
            last_row = run_row(last[0], now) if last else None
            rows.append(job_row(definition, last_row, limits, recent.get(definition.job_type)))
        return tuple(rows)

    async def runs(self, selection: RunFilter, page: Page, now: datetime) -> RunsPage:
        self._check()
        # The memory store's own ordering and keyset paging, one extra row as the source asks.
        found = page_of_runs(self._matching(selection, now), replace(page, limit=page.limit + 1))
        rows = tuple(run_row(r, now) for r in found[: page.limit])
        if len(found) <= page.limit:
            return RunsPage(rows, selection, page, has_more=False)
        after = page.following(found[page.limit - 1]).after
        return RunsPage(rows, selection, page, has_more=True, next_after=after)

    async def count_runs(self, selection: RunFilter) -> int:
        self._check()
        return len(self._matching(selection, NOW))

    async def run_detail(self, run_id: int, now: datetime) -> RunDetail:
        self._check()
        for run in self.all_runs:
            if run.id == run_id:
                definition = next(d for d in DEFINITIONS if d.job_type == run.job_type)
                return run_detail(run, definition, now)
        raise RunNotFoundError(run_id)

    def _log_entries(self, run_id: int) -> list[LogEntry]:
        return [
            LogEntry(run_id * 100 + n, run_id, level, message, _at(30 - n), fields)
            for n, (level, message, fields) in enumerate(
                [
                    (LogLevel.DEBUG, "connecting to smtp.example.com:587", {}),
                    (LogLevel.INFO, "sending invoice", {"to": "user@example.com", "pages": 3}),
                    (LogLevel.WARNING, "slow answer from the SMTP server", {"seconds": 12.5}),
                    (LogLevel.ERROR, "gave up waiting for the SMTP server", {}),
                ]
            )
        ]

    async def logs(
        self,
        run_id: int,
        *,
        after_id: int | None = None,
        before_id: int | None = None,
        min_level: LogLevel | None = None,
        search: str | None = None,
        newest_first: bool = False,
        limit: int = 500,
    ) -> tuple[LogLine, ...]:
        self._check()
        found = [
            e
            for e in self._log_entries(run_id)
            if (after_id is None or e.id > after_id)
            and (before_id is None or e.id < before_id)
            and (min_level is None or e.level >= min_level)
            and (not search or search.lower() in (e.message + json.dumps(e.fields)).lower())
        ]
        if newest_first:
            found.reverse()
        return tuple(log_line(e) for e in found[:limit])

    async def log_count(self, run_id: int, min_level: LogLevel | None) -> int:
        self._check()
        entries = self._log_entries(run_id)
        return sum(1 for e in entries if min_level is None or e.level >= min_level)

    async def workers(self, now: datetime) -> tuple[WorkerRow, ...]:
        self._check()
        return tuple(worker_row(w, now, timedelta(minutes=5)) for w in WORKERS)

    async def _act(self, name: str, selection: RunFilter, allowed: set[RunStatus]) -> list[int]:
        self._check()
        self.calls.append((name, selection))
        ids = [r.id for r in self._matching(selection, NOW) if r.status in allowed]
        return ids

    async def retry_runs(self, selection: RunFilter) -> list[int]:
        return await self._act("retry", selection, {RunStatus.FAILED, RunStatus.CANCELLED})

    async def cancel_runs(self, selection: RunFilter) -> list[int]:
        return await self._act("cancel", selection, {RunStatus.PENDING, RunStatus.RUNNING})

    async def delete_runs(self, selection: RunFilter) -> list[int]:
        allowed = set(RunStatus) - {RunStatus.RUNNING}
        ids = await self._act("delete", selection, allowed)
        self.all_runs = [r for r in self.all_runs if r.id not in ids]
        return ids

    async def trigger(self, job_type: str, input_json: str | None = None) -> int:
        self.calls.append(("trigger", job_type if input_json is None else (job_type, input_json)))
        return 41

    def input_problem(self, job_type: str, input_json: str) -> str | None:
        return None if self.typed is None else input_problem(self.typed, job_type, input_json)

    def expected_input(self, job_type: str) -> str:
        if self.typed is None:
            return "JSON"
        return self.typed.registration(job_type).input_codec.expected

    async def pause(self, job_type: str) -> None:
        self.calls.append(("pause", job_type))

    async def resume(self, job_type: str) -> None:
        self.calls.append(("resume", job_type))

    async def queues(self, now: datetime) -> tuple[QueueInfo, ...]:
        self._check()
        return self.queue_rows

    async def pause_queue(self, queue: str) -> None:
        self.calls.append(("pause_queue", queue))
        self._set_queue(queue, paused=True)

    async def resume_queue(self, queue: str) -> None:
        self.calls.append(("resume_queue", queue))
        self._set_queue(queue, paused=False)

    async def purge_queue(self, queue: str) -> int:
        self.calls.append(("purge_queue", queue))
        [info] = [q for q in self.queue_rows if q.name == queue]
        self._set_queue(queue, pending=0, scheduled=0, lag=None)
        return info.pending + info.scheduled

    def _set_queue(self, queue: str, **changes: object) -> None:
        self.queue_rows = tuple(
            replace(q, **changes) if q.name == queue else q  # type: ignore[arg-type]
            for q in self.queue_rows
        )


def _record(run: JobRun) -> RunRecord:
    """The memory store's record of ``run``: every field of the same name, JSON as text."""
    values = {f.name: getattr(run, f.name) for f in fields(RunRecord) if hasattr(run, f.name)}
    values["input_json"] = json.dumps(run.input)
    values["output_json"] = None if run.output is None else json.dumps(run.output)
    return RunRecord(**values)


def disconnected() -> StoreError:
    return StoreError("cannot reach the database at db.internal:5432 (connection refused)")


class LongLogSource(FakeSource):
    """FakeSource whose runs have ``count`` log lines ("line 1".."line N", one a second), the
    attempt ``k`` starting at line ``starts[k - 1]``; the last line of each earlier attempt is
    the ERROR entry its failure left."""

    def __init__(self, count: int, starts: tuple[int, ...] = (1,)) -> None:
        super().__init__()
        self.count = count
        self.starts = starts

    def _attempt(self, n: int) -> int:
        return sum(1 for start in self.starts if start <= n)

    def _entry(self, run_id: int, n: int) -> LogEntry:
        attempt = self._attempt(n)
        at = NOW - timedelta(seconds=self.count - n)
        if n + 1 in self.starts:
            message = f"attempt {attempt} failed: TimeoutError: no answer in 30s"
            return LogEntry(n, run_id, LogLevel.ERROR, message, at, {}, attempt)
        return LogEntry(n, run_id, LogLevel.INFO, f"line {n}", at, {"n": n}, attempt)

    async def logs(
        self,
        run_id: int,
        *,
        after_id: int | None = None,
        before_id: int | None = None,
        min_level: LogLevel | None = None,
        search: str | None = None,
        newest_first: bool = False,
        limit: int = 500,
    ) -> tuple[LogLine, ...]:
        self._check()
        ids = range((after_id or 0) + 1, min(before_id or self.count + 1, self.count + 1))
        chosen: list[LogEntry] = []
        for n in reversed(ids) if newest_first else ids:
            entry = self._entry(run_id, n)
            if (min_level is None or entry.level >= min_level) and (
                not search or search.lower() in entry.message.lower()
            ):
                chosen.append(entry)
                if len(chosen) == limit:
                    break
        return tuple(log_line(e) for e in chosen)

    async def log_count(self, run_id: int, min_level: LogLevel | None) -> int:
        self._check()
        return self.count


class WorkflowSource(FakeSource):
    """FakeSource plus a workflow: runs 41-43 (sync-inventory: two succeeded, one running) are
    the parents of 44 (generate-report, waiting for one more), which 45-99 (email-sender,
    waiting) wait for: more children than the detail shows (WORKFLOW_NODES)."""

    CALLBACK = 44

    def __init__(self) -> None:
        super().__init__()
        self.edges = [(self.CALLBACK, p) for p in (41, 42, 43)]
        self.edges += [(c, self.CALLBACK) for c in range(45, 100)]
        base = self.all_runs[0]
        for i in range(41, 100):
            job_type = "sync-inventory" if i < 44 else "email-sender"
            status = RunStatus.SUCCEEDED if i < 43 else RunStatus.WAITING
            if i == 44:
                job_type = "generate-report"
            if i == 43:
                status = RunStatus.RUNNING
            self.all_runs.append(
                replace(
                    base,
                    id=i,
                    job_type=job_type,
                    status=status,
                    input={"n": i},
                    attempt=0 if status is RunStatus.WAITING else 1,
                    created_at=_at(10),
                    run_at=_at(10),
                    started_at=None if status is RunStatus.WAITING else _at(9),
                    worker_id=None if status is RunStatus.WAITING else base.worker_id,
                    finished_at=_at(8) if status is RunStatus.SUCCEEDED else None,
                    output={"rows": i} if status is RunStatus.SUCCEEDED else None,
                    error=None,
                    parents_left=1 if i >= 44 else None,
                    on_parent_failure=ParentFailure.CANCEL if i >= 44 else None,
                )
            )

    async def run_detail(self, run_id: int, now: datetime) -> RunDetail:
        """The detail with its links read as ZapJobs.run_links(limit=WORKFLOW_NODES) does."""
        self._check()
        runs = {r.id: r for r in self.all_runs}
        if run_id not in runs:
            raise RunNotFoundError(run_id)
        parents = sorted(p for c, p in self.edges if c == run_id)
        children = sorted(c for c, p in self.edges if p == run_id)
        limit = WORKFLOW_NODES
        links = RunLinks(
            parents=tuple(runs[i] for i in parents[:limit]),
            children=tuple(runs[i] for i in children[:limit]),
            more_parents=max(len(parents) - limit, 0),
            more_children=max(len(children) - limit, 0),
        )
        run = runs[run_id]
        return run_detail(run, _definition(run.job_type), now, links)
