"""An in-process store for users' own tests: the Store protocol without a database.

It keeps the same semantics as the database stores (the conformance suite in tests/stores runs
against all of them). No method awaits while it holds the state, so a plain threading.Lock is
enough (an asyncio.Lock would guard nothing more) and also covers sync wrappers running their own
event loops on other threads. Values handed out are fresh frozen copies of private records.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from zapjobs.core.flow import budgets, choose_runs, spend
from zapjobs.core.storable import is_storable_json, is_storable_text
from zapjobs.core.unique import superseded_by_newer
from zapjobs.errors import (
    ConfigurationError,
    InvalidStateError,
    StoreDataError,
    UnknownJobTypeError,
    ValidationError,
)
from zapjobs.models import (
    UNIQUE_STATE_BITS,
    Backlog,
    CancelledRuns,
    ConnectionBudget,
    DueRun,
    EnqueueResult,
    ErrorGroup,
    FailureCount,
    FlowLimit,
    JobDefinition,
    JobRun,
    JobTypeStats,
    LimitScope,
    LogEntry,
    LogLevel,
    MigrationStatus,
    NewLogEntry,
    NewRun,
    NextDue,
    Notification,
    NotifyRoundTrip,
    Page,
    ProgressUpdate,
    PruneResult,
    QueueBacklog,
    RateLimit,
    RescueResult,
    RetentionFacts,
    RunError,
    RunFilter,
    RunLink,
    RunLinkPage,
    RunningJobType,
    RunOutcome,
    RunStatus,
    Schedule,
    ServerFacts,
    Stats,
    TableFacts,
    ThroughputPoint,
    WorkerInfo,
)
from zapjobs.settings import validate_prefix
from zapjobs.stores import memory_diagnosis
from zapjobs.stores.base import Listener, NotificationHandler
from zapjobs.stores.memory_flow import FlowBook
from zapjobs.stores.memory_records import (
    LogRecord,
    RunRecord,
    backlog_of,
    check_json,
    error_groups_of,
    failures_of,
    job_type_stats_of,
    matches,
    opt_utc,
    page_of_runs,
    schedule_timing,
    stats_of,
    throughput_of,
    utc,
)
from zapjobs.stores.memory_workflows import WorkflowGraph
from zapjobs.stores.wakeups import runs_notifications


class _MemoryListener:
    def __init__(self, store: MemoryStore, handler: NotificationHandler) -> None:
        self._store = store
        self.handler = handler
        self.loop = asyncio.get_running_loop()

    async def close(self) -> None:
        self._store._remove_listener(self)


class MemoryStore:
    """The Store protocol in process memory; nothing survives the process."""

    backend = "memory"
    cross_process_notify = False

    def __init__(self, *, prefix: str = "zapjobs_") -> None:
        self.prefix = validate_prefix(prefix)
        self._lock = threading.Lock()
        self._runs: dict[int, RunRecord] = {}
        self._logs: dict[int, LogRecord] = {}
        self._definitions: dict[str, JobDefinition] = {}
        self._workers: dict[str, WorkerInfo] = {}
        self._queues: dict[str, bool] = {}  # name -> paused
        self._graph = WorkflowGraph()
        self._flow = FlowBook()
        self._listeners: list[_MemoryListener] = []
        self._next_run_id = 1
        self._next_log_id = 1

    # --- lifecycle and schema ------------------------------------------------------------------
    async def open(self) -> None:
        return None

    async def close(self) -> None:
        with self._lock:
            self._listeners.clear()

    def sibling(self) -> MemoryStore:
        """This store itself: its state is this process's memory, guarded by a thread lock."""
        return self

    async def migrate(self) -> list[int]:
        return []

    async def migration_status(self) -> MigrationStatus:
        return MigrationStatus(applied=(), pending=(), available=())

    async def check_ready(self) -> None:
        return None

    async def uninstall(self) -> None:
        with self._lock:
            self._runs.clear()
            self._logs.clear()
            self._definitions.clear()
            self._workers.clear()
            self._queues.clear()
            self._flow.clear()

    async def server_version(self) -> str:
        return "memory"

    # --- job definitions and schedules ---------------------------------------------------------
    async def register_definitions(self, definitions: Sequence[JobDefinition]) -> None:
        now = utc(None)
        with self._lock:
            for given in definitions:
                old = self._definitions.get(given.job_type)
                if old is None:
                    self._definitions[given.job_type] = JobDefinition(
                        job_type=given.job_type,
                        queue=given.queue,
                        max_retries=given.max_retries,
                        timeout_seconds=given.timeout_seconds,
                        schedule=given.schedule,
                        updated_at=now,
                        unique=given.unique,
                    )
                    continue
                schedule, next_due = old.schedule, old.next_due_at
                if given.schedule is not None:
                    if old.schedule is None or schedule_timing(old.schedule) != schedule_timing(
                        given.schedule
                    ):
                        next_due = None
                    schedule = given.schedule
                self._definitions[given.job_type] = replace(
                    old,
                    queue=given.queue,
                    max_retries=given.max_retries,
                    timeout_seconds=given.timeout_seconds,
                    schedule=schedule,
                    next_due_at=next_due,
                    updated_at=now,
                    unique=given.unique,
                )

    async def get_definition(self, job_type: str) -> JobDefinition | None:
        with self._lock:
            return self._definitions.get(job_type)

    async def list_definitions(self) -> list[JobDefinition]:
        with self._lock:
            return [self._definitions[name] for name in sorted(self._definitions)]

    async def set_overrides(
        self, job_type: str, *, max_retries: int | None, timeout_seconds: float | None
    ) -> JobDefinition:
        with self._lock:
            definition = self._update_definition(
                job_type,
                create=True,
                max_retries_override=max_retries,
                timeout_seconds_override=timeout_seconds,
            )
            for r in self._runs.values():  # unfinished runs take the new budget
                if r.job_type == job_type and not r.status.is_final:
                    r.max_attempts = definition.max_attempts
            return definition

    async def set_enabled(self, job_type: str, enabled: bool) -> JobDefinition:
        with self._lock:
            return self._update_definition(job_type, create=False, enabled=enabled)

    async def set_schedule(
        self, job_type: str, schedule: Schedule | None, next_due_at: datetime | None
    ) -> JobDefinition:
        with self._lock:
            return self._update_definition(
                job_type, create=True, schedule=schedule, next_due_at=opt_utc(next_due_at)
            )

    def _update_definition(self, job_type: str, *, create: bool, **changes: Any) -> JobDefinition:
        old = self._definitions.get(job_type)
        if old is None:
            if not create:
                raise UnknownJobTypeError(job_type, list(self._definitions))
            old = JobDefinition(job_type=job_type)
        new = replace(old, **changes, updated_at=utc(None))
        self._definitions[job_type] = new
        return new

    async def due_schedules(self, now: datetime | None = None) -> list[JobDefinition]:
        at = utc(now)
        with self._lock:
            return [
                d
                for name, d in sorted(self._definitions.items())
                if d.enabled
                and d.schedule is not None
                and (d.next_due_at is None or d.next_due_at <= at)
            ]

    async def fire_schedule(
        self,
        job_type: str,
        expected_next_due_at: datetime | None,
        new_next_due_at: datetime,
        runs: Sequence[NewRun],
    ) -> list[int]:
        now = utc(None)
        with self._lock:
            definition = self._definitions.get(job_type)
            if definition is None or definition.next_due_at != opt_utc(expected_next_due_at):
                return []
            taken = {r.schedule_due_at for r in self._runs.values() if r.job_type == job_type}
            held = self._held_keys() if any(r.unique_key for r in runs) else {}
            fresh: list[NewRun] = []
            for run in runs:
                due = opt_utc(run.schedule_due_at)
                if (due is None or due not in taken) and (
                    run.unique_key is None or (run.job_type, run.unique_key) not in held
                ):
                    fresh.append(run)
                    taken.add(due)
            ids = self._insert(fresh, now)
            changes: dict[str, Any] = {"next_due_at": utc(new_next_due_at)}
            if ids:
                changes["last_due_at"] = self._runs[ids[-1]].schedule_due_at
                changes["last_run_id"] = ids[-1]
            self._definitions[job_type] = replace(definition, **changes, updated_at=now)
            self._notify_pending(ids, now)
            return ids

    # --- runs: writing -------------------------------------------------------------------------
    async def enqueue(
        self, runs: Sequence[NewRun], *, now: datetime | None = None, connection: Any = None
    ) -> list[int]:
        results = await self.enqueue_results(runs, now=now, connection=connection)
        return [r.run_id for r in results]

    async def enqueue_results(
        self, runs: Sequence[NewRun], *, now: datetime | None = None, connection: Any = None
    ) -> list[EnqueueResult]:
        if connection is not None:
            raise ConfigurationError(
                "the memory store has no transactions",
                hint="enqueue without connection=, or use PostgreSQL or SQLite",
            )
        at = utc(now)
        with self._lock:
            taken = {(r.job_type, r.schedule_due_at) for r in self._runs.values()}
            for run in runs:
                due = opt_utc(run.schedule_due_at)
                if due is not None and (run.job_type, due) in taken:
                    raise InvalidStateError(
                        f"a run of {run.job_type!r} for the due time {due.isoformat()} exists"
                    )
                taken.add((run.job_type, due))
            if not any(r.unique_key for r in runs):
                ids = self._insert(runs, at)
                pending = [i for i in ids if self._runs[i].status is RunStatus.PENDING]
                self._notify_pending(pending, at)
                return [EnqueueResult(i, created=True) for i in ids]
            return self._insert_unique(runs, at)

    def _held_keys(self) -> dict[tuple[str, str], int]:
        """(job type, key) -> the run holding it: its status is one of its unique states."""
        return {
            (r.job_type, r.unique_key): r.id
            for r in self._runs.values()
            if r.unique_key is not None and UNIQUE_STATE_BITS[r.status] & r.unique_states
        }

    def _insert_unique(self, runs: Sequence[NewRun], now: datetime) -> list[EnqueueResult]:
        """As the database's unique index does: a run whose key is held is not inserted, and
        the enqueue returns the holder's id."""
        self._check_new(runs)  # all or nothing, as in one INSERT statement
        held = self._held_keys()
        results: list[EnqueueResult] = []
        created: list[int] = []
        for new in runs:
            key = None if new.unique_key is None else (new.job_type, new.unique_key)
            if key is not None and key in held:
                results.append(EnqueueResult(held[key], created=False))
                continue
            [run_id] = self._insert([new], now)
            if key is not None and UNIQUE_STATE_BITS[RunStatus.PENDING] & new.unique_states:
                held[key] = run_id
            results.append(EnqueueResult(run_id, created=True))
            created.append(run_id)
        self._notify_pending(created, now)
        return results

    @staticmethod
    def _check_new(runs: Sequence[NewRun]) -> None:
        for new in runs:
            check_json(new.input_json, "input")
            if new.max_attempts < 1:
                raise ValidationError(f"max_attempts must be at least 1, got {new.max_attempts}")

    def _insert(self, runs: Sequence[NewRun], now: datetime) -> list[int]:
        self._check_new(runs)  # all or nothing, as in one INSERT statement
        self._graph.check(self._runs, runs)
        ids: list[int] = []
        for new in runs:
            record = RunRecord(
                id=self._next_run_id,
                job_type=new.job_type,
                queue=new.queue,
                priority=new.priority,
                input_json=new.input_json,
                run_at=now if new.run_at is None else utc(new.run_at),
                created_at=now,
                schedule_due_at=opt_utc(new.schedule_due_at),
                max_attempts=new.max_attempts,
                trace_context=new.trace_context,
                unique_key=new.unique_key,
                unique_states=new.unique_states if new.unique_key is not None else 0,
            )
            self._graph.attach(self._runs, record, new, now)
            self._runs[record.id] = record
            self._next_run_id += 1
            ids.append(record.id)
        return ids

    async def claim(
        self,
        worker_id: str,
        queues: Sequence[str],
        job_types: Sequence[str],
        limit: int,
        *,
        now: datetime | None = None,
    ) -> list[JobRun]:
        at = utc(now)
        rank = {queue: index for index, queue in enumerate(dict.fromkeys(queues))}
        types = set(job_types)
        with self._lock:
            due = [
                r
                for r in self._runs.values()
                if r.status is RunStatus.PENDING
                and r.queue in rank
                and not self._queues.get(r.queue, False)
                and r.job_type in types
                and r.run_at <= at
            ]
            due.sort(key=lambda r: (rank[r.queue], -r.priority, r.run_at, r.id))
            limits = self._flow.applying(rank, types)
            if limits:
                allowed = budgets(limits, self._running_pairs(), at)
                claimed = choose_runs(
                    due,
                    key=lambda r: (r.job_type, r.queue),
                    job_budgets=allowed.jobs,
                    queue_budgets=allowed.queues,
                    limit=max(limit, 0),
                )
                self._flow.store(spend(limits, ((r.job_type, r.queue) for r in claimed), at))
            else:
                claimed = due[: max(limit, 0)]
            for r in claimed:
                r.status = RunStatus.RUNNING
                r.attempt += 1
                r.started_at = at
                r.finished_at = None
                r.worker_id = worker_id
            return [r.view() for r in claimed]

    def _running_pairs(self) -> list[tuple[str, str]]:
        return [(r.job_type, r.queue) for r in self._runs.values() if r.status is RunStatus.RUNNING]

    async def next_due(
        self,
        queues: Sequence[str],
        job_types: Sequence[str],
        *,
        now: datetime | None = None,
        runs: int = 1,
    ) -> NextDue | None:
        at = utc(now)
        wanted, types = set(queues), set(job_types)
        with self._lock:
            limits = self._flow.applying(wanted, types)
            allowed = budgets(limits, self._running_pairs(), at) if limits else None
            held_jobs = allowed.held_jobs if allowed else frozenset()
            held_queues = allowed.held_queues if allowed else frozenset()
            pending = sorted(
                (r.run_at, r.id, r.queue)
                for r in self._runs.values()
                if r.status is RunStatus.PENDING
                and r.queue in wanted
                and r.job_type in types
                and not self._queues.get(r.queue, False)  # paused: cannot be claimed
                and r.job_type not in held_jobs
                and r.queue not in held_queues
            )
        due = pending[0][0] if pending else None
        if allowed is not None and allowed.reopens is not None:
            due = allowed.reopens if due is None else min(due, allowed.reopens)
        if due is None:
            return None
        earliest = (
            ()
            if limits
            else tuple(DueRun(id=i, queue=q, due_in=r - at) for r, i, q in pending[: max(runs, 0)])
        )
        return NextDue(due_in=due - at, runs=earliest)

    async def complete(
        self, outcomes: Sequence[RunOutcome], *, now: datetime | None = None
    ) -> list[int]:
        at = utc(now)
        changed: list[int] = []
        for outcome in outcomes:  # all or nothing, like a database statement
            _refuse_unstorable_outcome(outcome)
        with self._lock:
            for outcome in outcomes:
                r = self._runs.get(outcome.run_id)
                if (
                    r is None
                    or r.status is not RunStatus.RUNNING
                    or r.worker_id != outcome.worker_id
                    or r.attempt != outcome.attempt
                ):
                    continue
                if outcome.output_json is not None:
                    r.output_json = check_json(outcome.output_json, "output")
                if outcome.error is not None:
                    r.error = outcome.error
                if outcome.status is RunStatus.PENDING:
                    r.status = RunStatus.PENDING
                    r.run_at = at + (outcome.retry_delay or timedelta(0))
                    r.worker_id = None
                    if outcome.snoozed:  # the attempt is given back, counted as a snooze
                        r.attempt -= 1
                        r.snoozes += 1
                elif outcome.status.is_final:
                    r.status = outcome.status
                    r.finished_at = at
                else:
                    raise InvalidStateError(f"a run cannot end as {outcome.status.value}")
                changed.append(r.id)
            retried = [i for i in changed if self._runs[i].status is RunStatus.PENDING]
            ended = [i for i in changed if self._runs[i].status.is_final]
            released = self._graph.settle(self._runs, ended, at)
            self._notify_pending(retried + released, at)
        return changed

    async def save_progress(self, updates: Sequence[ProgressUpdate]) -> None:
        with self._lock:
            for update in updates:
                r = self._runs.get(update.run_id)
                if r is not None:
                    r.progress = update.progress

    async def append_logs(self, entries: Sequence[NewLogEntry]) -> None:
        for entry in entries:
            _refuse_unstorable(entry.message, what="log message")
            _refuse_unstorable(entry.fields_json, what="log fields", json=True)
        with self._lock:
            for entry in entries:
                if entry.run_id not in self._runs:
                    continue  # the run was deleted meanwhile; a database drops these too
                log = LogRecord(
                    id=self._next_log_id,
                    run_id=entry.run_id,
                    level=LogLevel(entry.level),
                    message=entry.message,
                    logged_at=utc(entry.logged_at),
                    fields_json=check_json(entry.fields_json, "log fields"),
                    attempt=entry.attempt,
                )
                self._logs[log.id] = log
                self._next_log_id += 1

    # --- runs: operator actions ----------------------------------------------------------------
    async def retry_runs(self, selection: RunFilter, *, now: datetime | None = None) -> list[int]:
        at = utc(now)
        with self._lock:
            held = self._held_keys()
            retriable = [
                r
                for r in self._select(selection, at)
                if r.status in (RunStatus.FAILED, RunStatus.CANCELLED)
                and (r.unique_key is None or held.get((r.job_type, r.unique_key), r.id) == r.id)
            ]
            superseded = set(
                superseded_by_newer(
                    (r.id, r.job_type, r.unique_key) for r in retriable if r.unique_key is not None
                )
            )
            chosen = [r for r in retriable if r.id not in superseded]
            for r in chosen:
                r.status = RunStatus.PENDING
                r.run_at = at
                r.attempt = 0
                r.finished_at = None
                r.worker_id = None
                r.cancel_requested = False
                r.cancelled_by = None
            self._graph.rearm(self._runs, [r.id for r in chosen])
            self._notify_pending([r.id for r in chosen], at)
            return sorted(r.id for r in chosen)

    async def cancel_runs(
        self, selection: RunFilter, *, now: datetime | None = None
    ) -> CancelledRuns:
        at = utc(now)
        cancelled: list[int] = []
        stop_requested: list[int] = []
        with self._lock:
            for r in self._select(selection, at):
                if r.status in (RunStatus.PENDING, RunStatus.WAITING):
                    r.status = RunStatus.CANCELLED
                    r.finished_at = at
                    cancelled.append(r.id)
                elif r.status is RunStatus.RUNNING and not r.cancel_requested:
                    r.cancel_requested = True
                    self._notify(Notification(kind="cancel", queue=r.queue, run_id=r.id))
                    stop_requested.append(r.id)
            released = self._graph.settle(self._runs, cancelled, at)
            self._notify_pending(released, at)
        return CancelledRuns(cancelled, stop_requested)

    async def delete_runs(self, selection: RunFilter) -> list[int]:
        with self._lock:
            doomed = {
                r.id
                for r in self._select(selection, utc(None))
                if r.status != RunStatus.RUNNING
                and not self._graph.has_unfinished_child(self._runs, r.id)
            }
            self._delete_runs(doomed)
            return sorted(doomed)

    def _delete_runs(self, run_ids: set[int]) -> None:
        for run_id in run_ids:
            del self._runs[run_id]
        self._graph.forget(run_ids)
        for log_id in [i for i, log in self._logs.items() if log.run_id in run_ids]:
            del self._logs[log_id]

    async def cancel_requested(self, worker_id: str) -> list[int]:
        with self._lock:
            return [
                r.id
                for r in self._runs.values()
                if r.status is RunStatus.RUNNING and r.worker_id == worker_id and r.cancel_requested
            ]

    # --- runs: reading -------------------------------------------------------------------------
    async def get_run(self, run_id: int) -> JobRun | None:
        with self._lock:
            r = self._runs.get(run_id)
            return None if r is None else r.view()

    async def run_links(self, run_ids: Sequence[int]) -> list[RunLink]:
        with self._lock:
            return self._graph.links(run_ids)

    async def run_link_page(self, run_id: int, limit: int) -> RunLinkPage:
        with self._lock:
            return self._graph.link_page(run_id, limit)

    async def parent_outputs(self, run_ids: Sequence[int]) -> dict[int, dict[int, Any]]:
        with self._lock:
            found: dict[int, dict[int, Any]] = {}
            for run_id in dict.fromkeys(run_ids):
                parents = sorted(self._graph.parents.get(run_id, ()))
                kept = [self._runs[p] for p in parents if p in self._runs]
                if kept:
                    found[run_id] = {p.id: p.view().output for p in kept}
            return found

    async def get_runs(self, run_ids: Sequence[int]) -> list[JobRun]:
        with self._lock:
            return [self._runs[i].view() for i in dict.fromkeys(run_ids) if i in self._runs]

    async def latest_runs(self, job_types: Sequence[str]) -> list[JobRun]:
        wanted = set(job_types)
        with self._lock:
            newest: dict[str, RunRecord] = {}
            for r in self._runs.values():
                if r.job_type in wanted and (
                    r.job_type not in newest or r.id > newest[r.job_type].id
                ):
                    newest[r.job_type] = r
            return [r.view() for r in newest.values()]

    async def latest_failures(self, limit: int) -> list[JobRun]:
        with self._lock:
            failed = [r for r in self._runs.values() if r.status is RunStatus.FAILED]
            failed.sort(key=lambda r: (r.finished_at or r.created_at, r.id), reverse=True)
            return [r.view() for r in failed[: max(limit, 0)]]

    async def list_runs(self, selection: RunFilter, page: Page) -> list[JobRun]:
        with self._lock:
            runs = [r.view() for r in self._select(selection, utc(None))]
        return page_of_runs(runs, page)

    async def count_runs(self, selection: RunFilter) -> int:
        with self._lock:
            return len(self._select(selection, utc(None)))

    def _select(self, f: RunFilter, now: datetime) -> list[RunRecord]:
        newest = max(self._runs, default=0)
        return [r for r in self._runs.values() if matches(r, f, now, newest)]

    async def list_logs(
        self,
        run_id: int,
        *,
        after_id: int | None = None,
        before_id: int | None = None,
        min_level: LogLevel | None = None,
        search: str | None = None,
        newest_first: bool = False,
        limit: int = 1000,
    ) -> list[LogEntry]:
        needle = search.lower() if search else None
        with self._lock:
            found = [
                log
                for log in self._logs.values()
                if log.run_id == run_id
                and (after_id is None or log.id > after_id)
                and (before_id is None or log.id < before_id)
                and (min_level is None or log.level >= min_level)
                and (
                    needle is None
                    or needle in log.message.lower()
                    or needle in log.fields_json.lower()
                )
            ]
            if newest_first:
                found.reverse()
            return [log.view() for log in found[: max(limit, 0)]]

    async def count_logs(self, run_id: int, *, min_level: LogLevel | None = None) -> int:
        with self._lock:
            return sum(
                1
                for log in self._logs.values()
                if log.run_id == run_id and (min_level is None or log.level >= min_level)
            )

    async def stats(self, *, now: datetime | None = None) -> Stats:
        at = utc(now)
        with self._lock:
            return stats_of(self._runs.values(), at)

    async def throughput(
        self, *, since: datetime, now: datetime | None = None
    ) -> list[ThroughputPoint]:
        start, end = utc(since), utc(now)
        with self._lock:
            return throughput_of(self._runs.values(), start, end)

    async def job_type_stats(
        self, *, since: datetime, now: datetime | None = None
    ) -> list[JobTypeStats]:
        start, end = utc(since), utc(now)
        with self._lock:
            return job_type_stats_of(self._runs.values(), start, end)

    async def backlog(self, *, now: datetime | None = None) -> list[Backlog]:
        at = utc(now)
        with self._lock:
            return backlog_of(self._runs.values(), at)

    async def failures_since(self, *, since: datetime) -> list[FailureCount]:
        start = utc(since)
        with self._lock:
            return failures_of(self._runs.values(), start)

    async def error_groups(self, *, since: datetime, limit: int = 10) -> list[ErrorGroup]:
        start = utc(since)
        with self._lock:
            return error_groups_of(self._runs.values(), start, limit)

    # --- queues ------------------------------------------------------------------------------
    async def set_queue_paused(
        self, queue: str, paused: bool, *, now: datetime | None = None
    ) -> None:
        with self._lock:
            self._queues[queue] = paused
            if not paused:
                self._notify_queues({queue})

    async def declare_flow_limits(
        self, limits: Sequence[FlowLimit], *, now: datetime | None = None
    ) -> None:
        with self._lock:
            self._flow.declare(limits)

    async def set_flow_override(
        self,
        scope: LimitScope,
        name: str,
        *,
        max_concurrency: int | None,
        rate_limit: RateLimit | None,
        now: datetime | None = None,
    ) -> FlowLimit:
        with self._lock:
            changed = self._flow.override(LimitScope(scope), name, max_concurrency, rate_limit)
        if changed.scope is LimitScope.QUEUE:
            self._notify_queues({name})  # a raised limit may let waiting runs start
        return changed

    async def list_flow_limits(self) -> list[FlowLimit]:
        with self._lock:
            return self._flow.limits()

    async def queue_states(self) -> dict[str, bool]:
        with self._lock:
            return dict(sorted(self._queues.items()))

    async def finished_per_queue(
        self, *, since: datetime, now: datetime | None = None
    ) -> dict[str, int]:
        start, end = utc(since), utc(now)
        counts: dict[str, int] = {}
        with self._lock:
            for r in self._runs.values():
                if (
                    r.status in (RunStatus.SUCCEEDED, RunStatus.FAILED)
                    and r.finished_at is not None
                    and start <= r.finished_at <= end
                ):
                    counts[r.queue] = counts.get(r.queue, 0) + 1
        return counts

    # --- workers -------------------------------------------------------------------------------
    async def heartbeat(self, worker: WorkerInfo, *, now: datetime | None = None) -> bool:
        at = utc(now)
        with self._lock:
            old = self._workers.get(worker.id)
            seen = replace(worker, queues=tuple(worker.queues), last_seen_at=at)
            if old is not None:
                seen = replace(
                    seen, started_at=old.started_at, stopped_at=old.stopped_at, dead_at=None
                )
            self._workers[worker.id] = seen
            return old is not None and old.dead_at is not None

    async def worker_stopped(self, worker_id: str, *, now: datetime | None = None) -> None:
        at = utc(now)
        with self._lock:
            old = self._workers.get(worker_id)
            if old is not None:
                self._workers[worker_id] = replace(old, stopped_at=at, last_seen_at=at, running=0)

    async def list_workers(self) -> list[WorkerInfo]:
        with self._lock:
            return sorted(
                self._workers.values(), key=lambda w: (w.last_seen_at, w.id), reverse=True
            )

    async def get_worker(self, worker_id: str) -> WorkerInfo | None:
        with self._lock:
            return self._workers.get(worker_id)

    # --- maintenance ---------------------------------------------------------------------------
    async def rescue_stale(
        self, *, stale_after: timedelta, now: datetime | None = None
    ) -> RescueResult:
        at = utc(now)
        cutoff = at - stale_after
        with self._lock:
            marked: list[str] = []
            for w in list(self._workers.values()):
                if w.stopped_at is None and w.dead_at is None and w.last_seen_at < cutoff:
                    self._workers[w.id] = replace(w, dead_at=at)
                    marked.append(w.id)
            retried: list[int] = []
            failed: list[int] = []
            for r in self._runs.values():
                if r.status is not RunStatus.RUNNING or not self._is_lost(r, cutoff):
                    continue
                r.error = RunError("WorkerLost", f"worker {r.worker_id} stopped sending heartbeats")
                r.worker_id = None
                r.cancel_requested = False
                if r.attempt < r.max_attempts:
                    r.status, r.run_at = RunStatus.PENDING, at
                    retried.append(r.id)
                else:
                    r.status, r.finished_at = RunStatus.FAILED, at
                    failed.append(r.id)
            released = self._graph.settle(self._runs, failed, at)
            self._notify_pending(retried + released, at)
        return RescueResult(tuple(sorted(marked)), tuple(retried), tuple(failed))

    def _is_lost(self, r: RunRecord, cutoff: datetime) -> bool:
        worker = self._workers.get(r.worker_id or "")
        if worker is None:
            return r.started_at is None or r.started_at < cutoff
        return worker.last_seen_at < cutoff

    async def prune(
        self,
        *,
        run_retention: timedelta,
        log_retention: timedelta,
        worker_retention: timedelta,
        batch_size: int = 1000,
        now: datetime | None = None,
    ) -> PruneResult:
        at = utc(now)
        run_cutoff, log_cutoff = at - run_retention, at - log_retention
        worker_cutoff = at - worker_retention
        with self._lock:
            old_logs = [i for i, log in self._logs.items() if log.logged_at < log_cutoff]
            for log_id in old_logs:
                del self._logs[log_id]
            old_runs = {
                r.id
                for r in self._runs.values()
                if r.status.is_final
                and r.finished_at is not None
                and r.finished_at < run_cutoff
                and self._graph.children_finished_before(self._runs, r.id, run_cutoff)
            }
            self._delete_runs(old_runs)
            old_workers = [
                w.id
                for w in self._workers.values()
                if (w.stopped_at is not None or w.dead_at is not None)
                and w.last_seen_at < worker_cutoff
            ]
            for worker_id in old_workers:
                del self._workers[worker_id]
        return PruneResult(len(old_runs), len(old_logs), len(old_workers))

    # --- notifications -------------------------------------------------------------------------
    # --- diagnosis: no server, no statistics, no cross-process notifications ----------------
    def connection_budget(self) -> ConnectionBudget | None:
        return None

    async def server_facts(self) -> ServerFacts | None:
        return None

    async def table_facts(self) -> list[TableFacts] | None:
        return None

    async def queue_backlog(
        self, *, overdue_after: timedelta, now: datetime | None = None
    ) -> list[QueueBacklog]:
        at = utc(now)
        with self._lock:
            return memory_diagnosis.queue_backlog(
                self._runs.values(), overdue_after=overdue_after, now=at
            )

    async def running_by_job_type(self) -> list[RunningJobType]:
        with self._lock:
            return memory_diagnosis.running_by_job_type(self._runs.values())

    async def retention_facts(self) -> RetentionFacts:
        with self._lock:
            return memory_diagnosis.retention_facts(self._runs.values(), self._logs.values())

    async def notify_round_trip(self, *, timeout: timedelta) -> NotifyRoundTrip | None:
        return None

    async def wake(self, queue: str) -> None:
        with self._lock:
            self._notify(Notification(kind="runs", queue=queue))

    async def listen(self, handler: NotificationHandler) -> Listener:
        listener = _MemoryListener(self, handler)
        with self._lock:
            self._listeners.append(listener)
        return listener

    def _remove_listener(self, listener: _MemoryListener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _notify_pending(self, run_ids: Iterable[int], now: datetime) -> None:
        """Called under the lock: wake listeners of the queues of these pending runs."""
        pending = [(self._runs[i].queue, self._runs[i].run_at, i) for i in run_ids]
        for notification in runs_notifications(pending, now):
            self._notify(notification)

    def _notify_queues(self, queues: set[str]) -> None:
        for queue in sorted(queues):
            self._notify(Notification(kind="runs", queue=queue))

    def _notify(self, notification: Notification) -> None:
        """Called under the lock: handlers are scheduled on their loop, never run here."""
        for listener in self._listeners:
            if not listener.loop.is_closed():
                listener.loop.call_soon_threadsafe(listener.handler, notification)


def _refuse_unstorable(text: str | None, *, what: str, json: bool = False) -> None:
    """Refuse what PostgreSQL refuses (NUL, lone surrogates; jsonb: their escapes too), so
    code tested on the memory store does not fail on a database."""
    if text is None:
        return
    if not (is_storable_json(text) if json else is_storable_text(text)):
        raise StoreDataError(
            f"the memory store rejected a value: the {what} holds NUL or a lone "
            "surrogate, which a database cannot store"
        )


def _refuse_unstorable_outcome(outcome: RunOutcome) -> None:
    _refuse_unstorable(outcome.output_json, what="output", json=True)
    error = outcome.error
    if error is not None:
        _refuse_unstorable(error.type, what="error type")
        _refuse_unstorable(error.message, what="error message")
        _refuse_unstorable(error.traceback, what="error traceback")
