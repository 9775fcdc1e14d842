"""What the two SQL stores (PostgreSQL, SQLite) share above their drivers, written once.

Each backend supplies only what truly differs (how a statement runs, how a value binds); the
protocol methods whose rule is the same live here: migration status and readiness, retention in
short batches, the shape of stats and error groups, the outcome and schedule parameters, and
the listener a store closes with itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from zapjobs.errors import (
    ConfigurationError,
    InvalidStateError,
    NotMigratedError,
    StoreError,
    ValidationError,
)
from zapjobs.models import (
    Backlog,
    CancelledRuns,
    ErrorGroup,
    FailureCount,
    JobDefinition,
    JobRun,
    JobTypeStats,
    MigrationStatus,
    Page,
    PruneResult,
    QueueStats,
    RunLinkPage,
    RunOutcome,
    RunSort,
    RunStatus,
    Schedule,
    Stats,
)
from zapjobs.stores import decode
from zapjobs.stores.migrate import load_migrations, require_migrated

#: the statuses an attempt may end in (PENDING: tried again later)
OUTCOME_STATUSES = frozenset(
    {RunStatus.PENDING, RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}
)


def check_outcomes(outcomes: Iterable[RunOutcome]) -> None:
    for outcome in outcomes:
        if outcome.status not in OUTCOME_STATUSES:
            raise InvalidStateError(f"a run cannot end as {outcome.status.value}")


def schedule_params(schedule: Schedule | None) -> dict[str, Any]:
    """The schedule_* parameters of set_schedule and register_definitions (all None: none)."""
    if schedule is None:
        return dict.fromkeys(("kind", "expression", "timezone", "catch_up", "input_json"))
    return {
        "kind": schedule.kind.value,
        "expression": schedule.expression,
        "timezone": schedule.timezone,
        "catch_up": schedule.catch_up.value,
        "input_json": schedule.input_json,
    }


def upserted_definition(
    row: decode.Row | None, decoders: decode.Decoders, statement: str
) -> JobDefinition:
    """The definition an upsert returned (with RETURNING it always returns its row)."""
    if row is None:
        raise StoreError(f"the store returned no definition from {statement}")
    return decode.definition_from_row(row, decoders)


def stats_from_rows(rows: Iterable[decode.Row], to_time: Callable[[Any], datetime | None]) -> Stats:
    """Stats from the stats statement's (queue, bucket, n, oldest_due_at) rows."""
    totals: Counter[str] = Counter()
    per_queue: dict[str, Counter[str]] = {}
    oldest: dict[str, datetime] = {}
    for row in rows:
        totals[row["bucket"]] += row["n"]
        per_queue.setdefault(row["queue"], Counter())[row["bucket"]] += row["n"]
        due = to_time(row["oldest_due_at"])
        if due is not None and (row["queue"] not in oldest or due < oldest[row["queue"]]):
            oldest[row["queue"]] = due
    by_queue = tuple(
        QueueStats(queue=q, **per_queue[q], oldest_due_at=oldest.get(q)) for q in sorted(per_queue)
    )
    return Stats(**totals, by_queue=by_queue)


def error_groups_from_rows(rows: Iterable[decode.Row]) -> list[ErrorGroup]:
    """Error groups from the error_groups statement's rows."""
    return [
        ErrorGroup(r["error_type"], r["n"], r["last_run_id"], r["last_message"] or "") for r in rows
    ]


def job_type_stats_from_rows(rows: Iterable[decode.Row]) -> list[JobTypeStats]:
    """JobTypeStats from the job_type_stats statement's rows."""
    return [
        JobTypeStats(
            r["job_type"],
            succeeded=int(r["succeeded"]),
            failed=int(r["failed"]),
            p50_seconds=None if r["p50"] is None else float(r["p50"]),
            p95_seconds=None if r["p95"] is None else float(r["p95"]),
        )
        for r in rows
    ]


def backlog_from_rows(
    rows: Iterable[decode.Row], to_time: Callable[[Any], datetime | None]
) -> list[Backlog]:
    """Backlog from the run_backlog statement's rows (a pending, a running and a waiting row
    per pair)."""
    merged: dict[tuple[str, str], Backlog] = {}
    for row in rows:
        key = (row["queue"], row["job_type"])
        old = merged.get(key) or Backlog(queue=key[0], job_type=key[1])
        due = to_time(row["oldest_due_at"])
        merged[key] = Backlog(
            queue=key[0],
            job_type=key[1],
            pending=old.pending + int(row["pending"] or 0),
            scheduled=old.scheduled + int(row["scheduled"] or 0),
            running=old.running + int(row["running"] or 0),
            waiting=old.waiting + int(row["waiting"] or 0),
            oldest_due_at=min(d for d in (old.oldest_due_at, due) if d is not None)
            if (old.oldest_due_at or due)
            else None,
        )
    return [merged[key] for key in sorted(merged)]


def link_page_from_rows(rows: Sequence[decode.Row]) -> RunLinkPage:
    """RunLinkPage from the run_link_page statement's rows (the counts on every row, then an
    edge per row, or one row without an edge: NULL)."""
    if not rows:
        return RunLinkPage((), (), 0, 0)
    first = rows[0]
    ids = [(r["side"], int(r["id"])) for r in rows if r["id"] is not None]
    return RunLinkPage(
        parents=tuple(i for side, i in ids if side == "parent"),
        children=tuple(i for side, i in ids if side == "child"),
        parent_count=int(first["parents"]),
        child_count=int(first["children"]),
    )


def failures_from_rows(rows: Iterable[decode.Row]) -> list[FailureCount]:
    found = [FailureCount(r["queue"], r["job_type"], int(r["n"])) for r in rows]
    return sorted(found, key=lambda f: (f.queue, f.job_type))


class _Closable(Protocol):
    async def close(self) -> None: ...


L = TypeVar("L", bound=_Closable)


class TrackedListener(Generic[L]):
    """Closing it also forgets it, so the store's close() closes only live listeners."""

    def __init__(self, live: set[L], listener: L) -> None:
        self._live = live
        self.listener = listener

    async def close(self) -> None:
        self._live.discard(self.listener)
        await self.listener.close()


class SQLStoreBase:
    """Protocol methods with one rule on both SQL stores, over primitives a backend gives: the
    applied migration versions, one batch of a retention delete, runs by id."""

    backend: str
    prefix: str

    async def _applied_versions(self) -> Sequence[int]:
        raise NotImplementedError

    async def _prune_batch(
        self, name: str, retention: timedelta, batch_size: int, now: datetime | None
    ) -> int:
        """Run the retention statement ``name`` once; how many rows it deleted."""
        raise NotImplementedError

    async def get_runs(self, run_ids: Sequence[int]) -> list[JobRun]:
        raise NotImplementedError

    async def get_run(self, run_id: int) -> JobRun | None:
        found = await self.get_runs([run_id])
        return found[0] if found else None

    async def migration_status(self) -> MigrationStatus:
        available = load_migrations(self.backend, self.prefix)
        try:
            applied = set(await self._applied_versions())
        except NotMigratedError:  # not even the versions table exists yet
            applied = set()
        pending = tuple(m for m in available if m.version not in applied)
        return MigrationStatus(
            applied=tuple(sorted(applied)), pending=pending, available=tuple(available)
        )

    async def check_ready(self) -> None:
        require_migrated(await self.migration_status())

    async def prune(
        self,
        *,
        run_retention: timedelta,
        log_retention: timedelta,
        worker_retention: timedelta,
        batch_size: int = 1000,
        now: datetime | None = None,
    ) -> PruneResult:
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be at least 1, got {batch_size}")
        # Old logs first, so the count covers exactly the entries expired by log retention
        # (the logs of pruned runs go with them by cascade).
        logs = await self._prune_batches("prune_logs", log_retention, batch_size, now)
        runs = await self._prune_batches("prune_runs", run_retention, batch_size, now)
        workers = await self._prune_batches("prune_workers", worker_retention, batch_size, now)
        return PruneResult(runs_deleted=runs, logs_deleted=logs, workers_deleted=workers)

    async def _prune_batches(
        self, name: str, retention: timedelta, batch_size: int, now: datetime | None
    ) -> int:
        """One short statement (transaction) per batch, until a batch comes back short, so
        other writers get their turn in between."""
        total = 0
        while True:
            deleted = await self._prune_batch(name, retention, batch_size, now)
            total += deleted
            if deleted < batch_size:
                return total


def cancelled_runs(changed: Iterable[tuple[int, str]]) -> CancelledRuns:
    """The rows a cancel statement returned (id, status after it) as a CancelledRuns: a run
    still running had a stop requested, the others were pending and are cancelled."""
    cancelled: list[int] = []
    stop_requested: list[int] = []
    for run_id, status in changed:
        (stop_requested if status == RunStatus.RUNNING.value else cancelled).append(run_id)
    return CancelledRuns(cancelled, stop_requested)


def sorted_listing(
    page: Page, stamp: Callable[[datetime], Any]
) -> list[tuple[str, dict[str, Any]]]:
    """The statements that list a page in an order other than newest first, run in turn while
    the page is not full: ``list_runs_<sort>_<asc|desc>`` with the cursor as ``c_value`` and
    ``c_id``; by finish time, the unfinished runs (``list_runs_unfinished_*``) come after the
    finished ones. ``stamp`` binds a time as the backend stores it."""
    direction = "asc" if page.ascending else "desc"
    cursor = page.after
    c_id = None if cursor is None else cursor.id
    if page.sort is RunSort.CREATED:
        return [(f"list_runs_created_{direction}", {"c_id": c_id})]
    if page.sort is RunSort.JOB_TYPE:
        value = None if cursor is None else cursor.value
        if cursor is not None and not isinstance(value, str):
            raise ValidationError("a job type cursor holds a job type")
        return [(f"list_runs_job_{direction}", {"c_value": value, "c_id": c_id})]
    unfinished = (f"list_runs_unfinished_{direction}", {"c_id": None})
    if cursor is not None and cursor.value is None:  # past the finished runs already
        return [(unfinished[0], {"c_id": c_id})]
    if cursor is None:
        return [(f"list_runs_finished_{direction}", {"c_value": None, "c_id": None}), unfinished]
    if not isinstance(cursor.value, datetime):
        raise ValidationError("a finish time cursor holds a time")
    finished = {"c_value": stamp(cursor.value), "c_id": c_id}
    return [(f"list_runs_finished_{direction}", finished), unfinished]
