"""The storage protocol, in domain words. Every store (PostgreSQL, SQLite, memory) implements it
and one behavioural suite (tests/stores) runs against each.

Time: every operation that depends on "now" takes ``now``; ``None`` means the store's own clock
(the database server's for PostgreSQL), which is the production default. Tests pass a fake time.

Ownership: a run that a worker claimed is changed by that worker only while it is still running
under the same ``worker_id`` and ``attempt``; an outcome for a run that was rescued, cancelled or
deleted meanwhile is ignored (and reported as not applied).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from zapjobs.errors import ValidationError
from zapjobs.models import (
    Backlog,
    CancelledRuns,
    ConnectionBudget,
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
    RunFilter,
    RunLink,
    RunLinkPage,
    RunningJobType,
    RunOutcome,
    Schedule,
    ServerFacts,
    Stats,
    TableFacts,
    ThroughputPoint,
    WorkerInfo,
)

NotificationHandler = Callable[[Notification], None]


class Listener(Protocol):
    async def close(self) -> None: ...


@runtime_checkable
class ShardedListener(Protocol):
    """A listener that also takes targeted wake-ups on ``shard_count`` shard channels
    (PostgreSQL: a run enqueued alone notifies one, its id modulo ``shard_count``); it listens
    to every shard until told which (runtime/peers.py)."""

    shard_count: int

    async def close(self) -> None: ...

    async def follow_shards(self, shards: frozenset[int] | None) -> None: ...


@runtime_checkable
class Store(Protocol):
    """What the engine, the CLI and the dashboard may ask of storage."""

    #: "postgres", "sqlite" or "memory"
    backend: str
    #: True when ``listen`` delivers notifications from other processes (PostgreSQL NOTIFY);
    #: False when only same-process wake-ups exist and other processes must poll.
    cross_process_notify: bool

    # --- lifecycle and schema ------------------------------------------------------------------
    async def open(self) -> None:
        """Connect (create the pool). Raises ConnectionFailedError with a masked, one-line cause."""
        ...

    async def close(self) -> None: ...

    def sibling(self) -> Store:
        """A store on the same database and installation with connections of its own (one
        for PostgreSQL and SQLite), not yet opened: a worker's heartbeat thread opens, uses and
        closes it on its own event loop, so its liveness never waits on the worker's loop or
        pool. A store whose state is this process's memory returns itself (already usable from
        any thread); the caller then neither opens nor closes it."""
        ...

    async def migrate(self) -> list[int]:
        """Apply pending migrations in order, each in a transaction, under a lock so that two
        concurrent callers apply each migration once. Returns the versions applied now."""
        ...

    async def migration_status(self) -> MigrationStatus: ...

    async def uninstall(self) -> None:
        """Drop every table of this installation (this prefix, and schema for PostgreSQL):
        runs, logs, workers, definitions and the migrations record. Irreversible; meant for
        throwaway installations such as the ones ``zapjobs bench`` makes."""
        ...

    async def check_ready(self) -> None:
        """Raise NotMigratedError unless every known migration is applied."""
        ...

    async def server_version(self) -> str:
        """A human-readable version of the backend, e.g. "PostgreSQL 15.19"."""
        ...

    # --- job definitions and schedules ---------------------------------------------------------
    async def register_definitions(self, definitions: Sequence[JobDefinition]) -> None:
        """Insert or update the code-declared part of each definition (queue, max_retries,
        timeout_seconds, the unique settings (replaced, None too), and the schedule when one
        is given). Operator overrides, ``enabled``
        and a schedule's next/last due times are kept; a changed schedule expression resets
        ``next_due_at`` to None so the scheduler recomputes it."""
        ...

    async def get_definition(self, job_type: str) -> JobDefinition | None: ...

    async def list_definitions(self) -> list[JobDefinition]:
        """All definitions, ordered by job type."""
        ...

    async def set_overrides(
        self,
        job_type: str,
        *,
        max_retries: int | None,
        timeout_seconds: float | None,
    ) -> JobDefinition:
        """Set (or with None clear) the operator's overrides. Creates the definition if absent."""
        ...

    async def set_enabled(self, job_type: str, enabled: bool) -> JobDefinition:
        """Pause (False) or resume (True). Raises UnknownJobTypeError if there is no definition."""
        ...

    async def set_schedule(
        self, job_type: str, schedule: Schedule | None, next_due_at: datetime | None
    ) -> JobDefinition:
        """Attach, replace or (with None) remove a recurring schedule. Creates the definition if
        absent (queue "default")."""
        ...

    async def due_schedules(self, now: datetime | None = None) -> list[JobDefinition]:
        """Enabled definitions with a schedule whose ``next_due_at`` is None or <= now."""
        ...

    async def fire_schedule(
        self,
        job_type: str,
        expected_next_due_at: datetime | None,
        new_next_due_at: datetime,
        runs: Sequence[NewRun],
    ) -> list[int]:
        """Atomically advance a schedule and enqueue its runs.

        Only if the stored ``next_due_at`` still equals ``expected_next_due_at`` (compare and
        set; another scheduler may have advanced it): set ``next_due_at`` to
        ``new_next_due_at`` and, for each run (each has ``schedule_due_at`` set), insert it unless
        a run with the same (job_type, schedule_due_at) exists. The uniqueness is enforced by
        the database, so two schedulers never enqueue one due time twice. Sets ``last_due_at``
        and ``last_run_id`` when a run was inserted. Returns the ids inserted (maybe none).
        """
        ...

    # --- runs: writing -------------------------------------------------------------------------
    async def enqueue(
        self, runs: Sequence[NewRun], *, now: datetime | None = None, connection: Any = None
    ) -> list[int]:
        """Insert pending runs in one round trip and wake listeners of their queues: one
        notification per queue, carrying ``due_in`` when none of its runs is due yet.

        Workflows: a run with ``parents`` (existing run ids; an unknown one raises
        ValidationError and nothing is written) starts WAITING until every parent is final and
        then becomes pending exactly once, in the statement or transaction that ends its last
        parent (see ParentFailure for a parent that fails or is cancelled); pending at once if
        every parent succeeded already, cancelled at once under policy CANCEL if one failed or
        was cancelled. Each of complete, cancel_runs and rescue_stale applies the end of a run
        to the runs waiting for it, transitively; retry_runs re-arms the runs its run cancelled
        (``JobRun.cancelled_by``); delete_runs and prune keep a run while a child of it is
        unfinished, and prune deletes a run only once each child is past retention too.

        ``connection``: the caller's own open database connection (psycopg for PostgreSQL,
        sqlite3 for SQLite); the runs are then written inside the caller's transaction and
        become visible only if it commits. Returns ids in the order given: for a run with a
        ``unique_key`` already held, the id of the run holding it (see enqueue_results).
        """
        ...

    async def enqueue_results(
        self, runs: Sequence[NewRun], *, now: datetime | None = None, connection: Any = None
    ) -> list[EnqueueResult]:
        """enqueue, telling for each run whether it was created. A run with a ``unique_key`` is
        not inserted while a run of its job type holding that key is in one of that run's unique
        states (a unique index of the database decides, so concurrent enqueuers of one key get
        one run); its result is then the holder's id with ``created`` False. A key repeated
        within ``runs`` is inserted once."""
        ...

    async def claim(
        self,
        worker_id: str,
        queues: Sequence[str],
        job_types: Sequence[str],
        limit: int,
        *,
        now: datetime | None = None,
    ) -> list[JobRun]:
        """Claim up to ``limit`` due pending runs of the given job types: queues in the given
        priority order (earlier first), then higher ``priority``, then earlier ``run_at``, then
        lower id. Claimed runs become running under ``worker_id`` with ``attempt`` incremented
        and ``started_at`` = now. Safe under any number of concurrent claimers: a run is
        claimed by one of them only.

        Flow control: no run starts while its job type or queue is at its concurrency cap (runs
        running, across every worker) or has no start left in its rate window; the runs behind
        it (other job types, other queues) are claimed instead. Enforced by the database under
        any number of concurrent claimers."""
        ...

    async def next_due(
        self,
        queues: Sequence[str],
        job_types: Sequence[str],
        *,
        now: datetime | None = None,
        runs: int = 1,
    ) -> NextDue | None:
        """How long from now until the earliest pending run of the given queues and job types
        becomes due: zero or negative when one is due already (a run that became due after the
        caller's claim, or one another worker is claiming); None when none is pending. With
        it the ``runs`` earliest pending runs (id, queue, due_in: ordered by run_at, then id),
        which the workers rank to agree who claims each when it becomes due (none while a
        cap or rate limit applies to the queues or job types: flow control decides). A worker
        sleeps until then when a claim came back short. Runs held back by flow control do not
        count as due: one whose rate window is used up counts as due when the window ends,
        one at its cap after ``core.flow.CAP_RECHECK`` (the worker whose run frees the cap
        claims at once; the others look again then).
        Served by the claim index: a few entries per priority, never a due backlog or finished
        runs."""
        ...

    async def complete(
        self, outcomes: Sequence[RunOutcome], *, now: datetime | None = None
    ) -> list[int]:
        """Apply outcomes in one round trip; returns the run ids actually changed.

        SUCCEEDED/FAILED/CANCELLED set ``finished_at`` = now; PENDING (a retry) sets
        ``run_at`` = now + ``retry_delay`` and clears ``worker_id``, and wakes listeners of its
        queue with its due time; a ``snoozed`` one also gives the attempt back (``attempt`` - 1,
        so it does not count against ``max_attempts``) and adds one to ``snoozes``. Output and
        error are stored. Applied only while the run is running under the outcome's worker and
        attempt.
        """
        ...

    async def save_progress(self, updates: Sequence[ProgressUpdate]) -> None:
        """Store the latest progress of running runs in one round trip."""
        ...

    async def append_logs(self, entries: Sequence[NewLogEntry]) -> None:
        """Store log entries in one round trip."""
        ...

    # --- runs: operator actions ----------------------------------------------------------------
    async def retry_runs(self, selection: RunFilter, *, now: datetime | None = None) -> list[int]:
        """Put FAILED or CANCELLED runs matching the filter back to pending, due now, with a
        fresh attempt budget (attempt reset to 0, error kept until the next attempt). Other
        runs are left alone, and so is a run whose unique key another run holds, or a newer
        run this retry puts back holds (of several with one key, only the newest is retried).
        Returns the ids changed."""
        ...

    async def cancel_runs(
        self, selection: RunFilter, *, now: datetime | None = None
    ) -> CancelledRuns:
        """Cancel matching runs: PENDING ones become CANCELLED at once; RUNNING ones get
        ``cancel_requested`` set and their worker is notified (it ends them as CANCELLED).
        Final runs are left alone. Returns the ids changed, split by what the same statement
        did to each (cancelled, or stop requested)."""
        ...

    async def run_links(self, run_ids: Sequence[int]) -> list[RunLink]:
        """Workflows: every edge (child, parent) to or from the runs, by child then parent. An
        edge stays while its child exists, even once its parent was deleted."""
        ...

    async def run_link_page(self, run_id: int, limit: int) -> RunLinkPage:
        """Workflows, for a screen: the run's first ``limit`` parents and first ``limit``
        children (lowest ids) and how many it has of each; reads at most ``limit`` edges of
        each side however many there are (a fan-out of thousands)."""
        ...

    async def parent_outputs(self, run_ids: Sequence[int]) -> dict[int, dict[int, Any]]:
        """Workflows: for each of the runs that has parents, their outputs (JSON values) by
        parent id, in id order; a parent deleted since is left out. One read for many runs:
        what the steps a claim took read when they start."""
        ...

    async def delete_runs(self, selection: RunFilter) -> list[int]:
        """Delete matching runs that are not RUNNING, with their logs. Returns the ids deleted."""
        ...

    async def cancel_requested(self, worker_id: str) -> list[int]:
        """Ids of runs running under ``worker_id`` whose cancellation was requested."""
        ...

    # --- runs: reading -------------------------------------------------------------------------
    async def get_run(self, run_id: int) -> JobRun | None: ...

    async def get_runs(self, run_ids: Sequence[int]) -> list[JobRun]:
        """The runs that exist among ``run_ids``, in no particular order."""
        ...

    async def latest_runs(self, job_types: Sequence[str]) -> list[JobRun]:
        """The newest run (highest id) of each of ``job_types`` that has one, in one statement
        served by the (job_type, id) index: the Jobs view's "last run" column."""
        ...

    async def latest_failures(self, limit: int) -> list[JobRun]:
        """The failed runs that finished last, newest finish first (ties: higher id first), at
        most ``limit``: a backward walk of the failed runs' finish-time index (migration 0005),
        however long the history. The Overview's and ``zapjobs status``'s latest failures."""
        ...

    async def list_runs(self, selection: RunFilter, page: Page) -> list[JobRun]:
        """Matching runs, newest (highest id) first, at most ``page.limit``, ids below
        ``page.before_id`` when given. Served by an index: never reads the whole table."""
        ...

    async def count_runs(self, selection: RunFilter) -> int: ...

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
        """At most ``limit`` of a run's log entries with ids between the cursors ``after_id``
        and ``before_id`` (both excluded), in the order written (by id), or newest first: the
        last lines, then ``before_id`` = the oldest one seen for the page before. ``search``
        keeps entries whose message or fields contain the text (case-insensitive). Served by
        the (run_id, id) index: the walk never leaves the run's own entries."""
        ...

    async def count_logs(self, run_id: int, *, min_level: LogLevel | None = None) -> int:
        """How many log entries the run has (at or above ``min_level``)."""
        ...

    async def stats(self, *, now: datetime | None = None) -> Stats:
        """Exact counts by queue and status. Never reads the finished history: live runs come
        from their partial indexes, finished ones from the counts the writing statements keep
        (migration 0005)."""
        ...

    async def throughput(
        self, *, since: datetime, now: datetime | None = None
    ) -> list[ThroughputPoint]:
        """Runs finished per minute (succeeded, failed) from ``since`` to now, one point per
        minute with finished runs (minutes without are omitted), oldest first."""
        ...

    async def job_type_stats(
        self, *, since: datetime, now: datetime | None = None
    ) -> list[JobTypeStats]:
        """Per job type, the runs that succeeded or failed from ``since`` to now: their counts
        and the 50th and 95th percentile of their durations (finish minus the last attempt's
        start; runs without a start are counted, not timed), interpolated as
        ``zapjobs.core.percentile.percentile_cont``; only job types with such runs, by name. One
        statement over a range of the finish-time index (the Jobs view's recent health)."""
        ...

    async def error_groups(self, *, since: datetime, limit: int = 10) -> list[ErrorGroup]:
        """Failed runs finished since ``since`` grouped by error type, most frequent first."""
        ...

    async def backlog(self, *, now: datetime | None = None) -> list[Backlog]:
        """Pending (due by ``now``), scheduled and running runs per queue and job type, with the
        oldest due time of the pending ones; only pairs with such runs, by queue then job type.
        Reads only unfinished runs (the metrics exporter runs it at every scrape)."""
        ...

    async def failures_since(self, *, since: datetime) -> list[FailureCount]:
        """Runs that failed (for good) and finished at or after ``since``, per queue and job
        type, by queue then job type."""
        ...

    # --- queues ------------------------------------------------------------------------------
    async def set_queue_paused(
        self, queue: str, paused: bool, *, now: datetime | None = None
    ) -> None:
        """Pause (True) or resume (False) a queue, recorded in the database: no claim takes a
        paused queue's runs (the claim reads the pause in the same statement); running runs
        are left alone. Resuming wakes the queue's listeners (as an enqueue does)."""
        ...

    async def queue_states(self) -> dict[str, bool]:
        """Every queue with a recorded pause state: name -> paused."""
        ...

    async def finished_per_queue(
        self, *, since: datetime, now: datetime | None = None
    ) -> dict[str, int]:
        """Runs that succeeded or failed from ``since`` to now, per queue (queues without any
        are left out). A range of the finished-time index, never a scan of the table."""
        ...

    # --- flow control: concurrency caps and rate limits (zapjobs.core.flow) ---------------------
    async def declare_flow_limits(
        self, limits: Sequence[FlowLimit], *, now: datetime | None = None
    ) -> None:
        """Record the declared limits (code for job types, settings for queues) of each given
        job type or queue: its declared cap and rate become the given ones (None clears them);
        the operator's overrides are kept. A given one without limits and without a row gets no
        row, so the claims of unlimited job types and queues never read one. A changed rate
        starts a new count of its window."""
        ...

    async def set_flow_override(
        self,
        scope: LimitScope,
        name: str,
        *,
        max_concurrency: int | None,
        rate_limit: RateLimit | None,
        now: datetime | None = None,
    ) -> FlowLimit:
        """Set (or with None clear) the operator's overrides of one job type's or queue's cap
        and rate limit, which win over the declared ones; takes effect at every worker's next
        claim. Running runs above a lowered cap are left to finish."""
        ...

    async def list_flow_limits(self) -> list[FlowLimit]:
        """Every job type and queue with a limits row (limited or not), by scope then name."""
        ...

    # --- workers -------------------------------------------------------------------------------
    async def heartbeat(self, worker: WorkerInfo, *, now: datetime | None = None) -> bool:
        """Insert or update the worker's row; ``last_seen_at`` = now, alive again.

        Returns True when the row said the worker was dead: a rescuer took its running runs
        meanwhile (their late outcomes are ignored), and the worker should stop them. Exact under
        a concurrent rescue: the rescue's mark is either seen here or comes after this beat."""
        ...

    async def worker_stopped(self, worker_id: str, *, now: datetime | None = None) -> None: ...

    async def list_workers(self) -> list[WorkerInfo]:
        """Every known worker (alive, stale, dead, stopped), most recently seen first."""
        ...

    async def get_worker(self, worker_id: str) -> WorkerInfo | None: ...

    # --- maintenance ---------------------------------------------------------------------------
    async def rescue_stale(
        self, *, stale_after: timedelta, now: datetime | None = None
    ) -> RescueResult:
        """Mark workers not seen for ``stale_after`` as dead, and rescue their running runs
        exactly once (safe with many concurrent callers): runs with attempts left (attempt <=
        the definition's effective max_retries) go back to pending, due now; the others become
        FAILED with error type "WorkerLost". Running runs whose worker row is missing are
        rescued too, once they started more than ``stale_after`` ago."""
        ...

    async def prune(
        self,
        *,
        run_retention: timedelta,
        log_retention: timedelta,
        worker_retention: timedelta,
        batch_size: int = 1000,
        now: datetime | None = None,
    ) -> PruneResult:
        """Delete, in batches of ``batch_size`` (short transactions, no long locks): final runs
        finished before now - run_retention (with their logs); log entries logged before
        now - log_retention; stopped or dead workers last seen before now - worker_retention.
        Pending and running runs are never touched."""
        ...

    # --- notifications -------------------------------------------------------------------------
    async def wake(self, queue: str) -> None:
        """Wake every listening worker of ``queue`` to look for due runs (a "runs" notification
        without count): what a worker chosen by a targeted wake-up sends on when it cannot
        claim (busy, stopping)."""
        ...

    async def listen(self, handler: NotificationHandler) -> Listener:
        """Deliver notifications (new runs in a queue, cancellation requests) to ``handler``
        until the returned listener is closed. The handler runs on the event loop and must not
        block. A store without cross-process notifications still delivers its own process's."""
        ...

    # --- diagnosis (zapjobs doctor): facts only; zapjobs.core.diagnosis judges them ------------
    def connection_budget(self) -> ConnectionBudget | None:
        """The connections a worker process on this store opens to the server at most; None
        when the store has no server (SQLite, memory)."""
        ...

    async def server_facts(self) -> ServerFacts | None:
        """The server's clock and the settings that matter for a queue; None without a server."""
        ...

    async def table_facts(self) -> list[TableFacts] | None:
        """Each table of this installation (rows, dead rows, sizes, invalid indexes) from the
        server's statistics, never by reading the tables; None when the backend keeps none."""
        ...

    async def queue_backlog(
        self, *, overdue_after: timedelta, now: datetime | None = None
    ) -> list[QueueBacklog]:
        """Per queue with pending runs, ordered by queue: pending runs, those due (run_at <=
        now), and those due before now - ``overdue_after``. Reads pending runs only."""
        ...

    async def running_by_job_type(self) -> list[RunningJobType]:
        """Per job type with running runs, ordered by job type: how many, and the one that
        started first (lowest id among equals). Reads running runs only."""
        ...

    async def retention_facts(self) -> RetentionFacts:
        """The oldest ``finished_at`` of a final run and the oldest log entry, from indexes."""
        ...

    async def notify_round_trip(self, *, timeout: timedelta) -> NotifyRoundTrip | None:
        """Send a notification and wait up to ``timeout`` for a fresh connection listening on
        a channel of its own to receive it (the path a worker's wake-up takes). None when the
        store has no cross-process notifications."""
        ...


def unknown_parent(run_id: int) -> ValidationError:
    """The error every store raises for an ``after=`` id it does not hold (nothing written)."""
    return ValidationError(
        f"unknown parent run {run_id}: after= takes ids of runs of this database",
        hint="enqueue the parent first (zapjobs runs list shows the ids)",
    )
