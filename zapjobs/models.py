"""Values that cross the boundary between the engine, the stores and the CLI.

Every value here is a frozen dataclass or an Enum: stores return them, nothing mutates them.
JSON payloads travel to a store as already-serialised text (``*_json`` fields) and come back
decoded (``input``/``output``), so serialisation and validation happen once, in the engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum, StrEnum
from typing import Any

from zapjobs.errors import ValidationError


class RunStatus(StrEnum):
    """The stored state of a run. "Scheduled" is not a state: it is a pending run due later.
    "Waiting" is a run enqueued ``after`` other runs (its parents) that some are still holding
    back; it becomes pending, once, when the last of them finishes (workflows)."""

    WAITING = "waiting"
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})

#: The states in which a run holds its unique key by default: pending (due now or later) and
#: running. A run that finished frees its key for the next enqueue.
DEFAULT_UNIQUE_STATES = frozenset({RunStatus.PENDING, RunStatus.RUNNING})
#: The bit of each state in a run's stored ``unique_states`` mask: the database's unique index
#: checks the bit of the run's current status (the same numbers in every store's index).
UNIQUE_STATE_BITS = {
    RunStatus.PENDING: 1,
    RunStatus.RUNNING: 2,
    RunStatus.SUCCEEDED: 4,
    RunStatus.FAILED: 8,
    RunStatus.CANCELLED: 16,
    # a waiting run (workflows) has no unique key: the bit exists so a mask of every state is
    # well-formed; the unique index gives 'waiting' no bit, so it never holds a key
    RunStatus.WAITING: 32,
}
#: The most parents one run may wait for (``after=``); a larger fan-in goes through intermediate
#: callbacks (a group of ``group([...]).then(step)`` chains, each waiting for its own group).
MAX_PARENTS = 1000


class ParentFailure(StrEnum):
    """What a waiting run does when one of its parents fails for good or is cancelled: CANCEL
    it (the default; its own dependents then follow their policies), or RUN it anyway once
    every parent is final."""

    CANCEL = "cancel"
    RUN = "run"


class InputFrom(StrEnum):
    """Where a workflow step's input comes from, read when it runs: its only parent's output
    (a chain's next step) or the list of its parents' outputs, in parent order (a group's
    callback)."""

    PARENT = "parent"
    PARENTS = "parents"


#: The longest unique key accepted (characters).
MAX_UNIQUE_KEY_LENGTH = 255


def unique_states_mask(states: Iterable[RunStatus]) -> int:
    return sum(UNIQUE_STATE_BITS[RunStatus(s)] for s in frozenset(states))


def unique_states_from_mask(mask: int | None) -> frozenset[RunStatus]:
    if not mask:
        return frozenset()
    return frozenset(s for s, bit in UNIQUE_STATE_BITS.items() if mask & bit)


class LogLevel(int, Enum):
    """Per-run log levels; the numbers match the standard library's logging levels."""

    DEBUG = 10
    INFO = 20
    WARNING = 30
    ERROR = 40

    @classmethod
    def parse(cls, name: str) -> LogLevel:
        key = name.strip().upper()
        try:
            return cls[{"WARN": "WARNING"}.get(key, key)]  # "warn", as logging spells it too
        except KeyError:
            raise ValueError(
                f"unknown log level {name!r}: use one of debug, info, warning, error"
            ) from None


class ScheduleKind(StrEnum):
    CRON = "cron"
    INTERVAL = "interval"


class CatchUp(StrEnum):
    """What a schedule does with due times missed while no scheduler ran.

    LATEST (the default) enqueues one run for the most recent missed due time, then continues;
    SKIP enqueues nothing for missed due times and continues from now.
    """

    LATEST = "latest"
    SKIP = "skip"


#: retries of a job type that declares none (the default RetryPolicy's)
DEFAULT_MAX_RETRIES = 3


class WorkerState(StrEnum):
    ALIVE = "alive"
    STALE = "stale"  # heartbeat older than the threshold, not yet marked dead by maintenance
    DEAD = "dead"  # marked dead by maintenance; its runs were rescued
    STOPPED = "stopped"  # shut down cleanly


@dataclass(frozen=True)
class RunError:
    """What a failed attempt raised: exception type, message and formatted traceback."""

    type: str
    message: str
    traceback: str | None = None


@dataclass(frozen=True)
class Progress:
    total: int | None = None
    processed: int = 0
    succeeded: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Schedule:
    """A recurring schedule: a CRON expression in a time zone, or a fixed interval in seconds."""

    kind: ScheduleKind
    expression: str  # the CRON expression, or the interval in seconds as text
    timezone: str = "UTC"
    catch_up: CatchUp = CatchUp.LATEST
    input_json: str = "null"


@dataclass(frozen=True)
class UniqueSettings:
    """A job type's declared uniqueness, as stored with its definition (zapjobs.core.unique):
    ``by_input`` (the input is the key), ``period_seconds`` (one run per window of that length)
    and the effective ``states`` a run holds its key in."""

    by_input: bool = False
    period_seconds: float | None = None
    states: frozenset[RunStatus] = DEFAULT_UNIQUE_STATES


@dataclass(frozen=True)
class JobDefinition:
    """A job type as stored: code defaults, operator overrides and the recurring schedule.

    ``max_retries`` and ``timeout_seconds`` are the values the code declared; the ``*_override``
    values are set by an operator and win over the code when present.
    """

    job_type: str
    queue: str = "default"
    max_retries: int = DEFAULT_MAX_RETRIES
    timeout_seconds: float | None = None
    max_retries_override: int | None = None
    timeout_seconds_override: float | None = None
    enabled: bool = True  # False: the recurring schedule is paused (see schedule_paused)
    schedule: Schedule | None = None
    next_due_at: datetime | None = None
    last_due_at: datetime | None = None
    last_run_id: int | None = None
    updated_at: datetime | None = None
    #: the uniqueness its code declared (shown to operators); None: none declared
    unique: UniqueSettings | None = None

    @property
    def schedule_paused(self) -> bool:
        """The recurring schedule is paused (``pause_schedule``): it enqueues nothing; runs
        already enqueued still execute. (Stored as ``enabled``, its opposite.)"""
        return not self.enabled

    @property
    def effective_max_retries(self) -> int:
        if self.max_retries_override is not None:
            return self.max_retries_override
        return self.max_retries

    @property
    def max_attempts(self) -> int:
        """The retry budget a new run of this job type carries: the first attempt and every
        retry. Enqueues resolve it here once; the worker and the rescue read it off the run."""
        return self.effective_max_retries + 1

    @property
    def effective_timeout_seconds(self) -> float | None:
        if self.timeout_seconds_override is not None:
            return self.timeout_seconds_override
        return self.timeout_seconds

    def timeout_seconds_enforced(self, default_seconds: float) -> float:
        """The timeout a worker enforces on this job type's attempts: the operator's override,
        else the code's, else the worker's ``default_timeout`` (``default_seconds``)."""
        declared = self.effective_timeout_seconds
        return default_seconds if declared is None else declared


@dataclass(frozen=True)
class NewRun:
    """A run to insert. ``run_at`` None means due now (by the store's clock)."""

    job_type: str
    input_json: str = "null"
    queue: str = "default"
    priority: int = 0
    run_at: datetime | None = None
    schedule_due_at: datetime | None = None  # set only by the scheduler: unique per job type
    max_attempts: int = DEFAULT_MAX_RETRIES + 1  # JobDefinition.max_attempts of its job type
    #: the W3C trace context of the enqueuing span, as JSON text ({"traceparent": ...,
    #: "tracestate": ...}); None outside a traced enqueue (zapjobs.tracing)
    trace_context: str | None = None
    #: with a unique key, the run is inserted only if no run of its job type holding the same key
    #: is in one of the states of ``unique_states_mask`` (unique_states_mask()); else the
    #: enqueue returns that run's id. Enforced by a unique index of the database.
    unique_key: str | None = None
    unique_states: int = 3  # unique_states_mask(DEFAULT_UNIQUE_STATES); used only with a key
    #: the runs this one waits for (existing run ids, deduplicated, at most MAX_PARENTS): it is
    #: WAITING until all of them succeeded, then pending (see ParentFailure for the rest)
    parents: tuple[int, ...] = ()
    on_parent_failure: ParentFailure = ParentFailure.CANCEL
    #: set only with parents: the input is read from them when the run starts (input_json is
    #: then "null")
    input_from: InputFrom | None = None

    def alike(self, inputs: Iterable[str]) -> list[NewRun]:
        """Runs equal to this one but for their input JSON text, one per text. Copied field by
        field, the fields checked once (here): about a quarter of the constructor's cost per run,
        which was the largest piece of a bulk enqueue's client CPU."""
        fields = self.__dict__
        runs = []
        for text in inputs:
            run = object.__new__(NewRun)
            copied = run.__dict__
            copied.update(fields)
            copied["input_json"] = text
            runs.append(run)
        return runs

    def __post_init__(self) -> None:
        if not self.parents:
            if self.input_from is not None:
                raise ValidationError("a run without parents has no parent output to read")
            return
        parents = sequence_argument(self.parents, name="after", example="[12, 13]")
        if any(isinstance(p, bool) or not isinstance(p, int) or p < 1 for p in parents):
            raise ValidationError(
                f"after= takes run ids (whole numbers from 1), got {list(parents)!r}"
            )
        unique = tuple(dict.fromkeys(parents))  # a parent named twice is waited for once
        if len(unique) > MAX_PARENTS:
            raise ValidationError(
                f"a run may wait for at most {MAX_PARENTS} parents, got {len(unique)}",
                hint="wait for intermediate runs that each wait for a part of them",
            )
        if self.unique_key is not None:
            raise ValidationError("a run enqueued after= other runs cannot have a unique key")
        try:
            policy = ParentFailure(self.on_parent_failure)
        except ValueError:
            raise ValidationError(
                f"on_parent_failure must be 'cancel' or 'run', got {self.on_parent_failure!r}"
            ) from None
        object.__setattr__(self, "parents", unique)
        object.__setattr__(self, "on_parent_failure", policy)


@dataclass(frozen=True)
class RunLink:
    """One edge of a workflow: ``run_id`` waits for (or waited for) ``parent_id``."""

    run_id: int
    parent_id: int


@dataclass(frozen=True)
class RunLinkPage:
    """One run's edges, bounded for a screen: its first parents and first children by id (at
    most a limit of each) and how many of each it has."""

    parents: tuple[int, ...]
    children: tuple[int, ...]
    parent_count: int
    child_count: int


@dataclass(frozen=True)
class RunLinks:
    """A run's place in a workflow: the runs it waits (or waited) for and the runs that wait
    (or waited) for it, by id; ``deleted_parents`` were deleted since (their edges stay).
    ``more_parents`` / ``more_children``: runs left out by a ``limit`` (the ones after it)."""

    parents: tuple[JobRun, ...] = ()
    children: tuple[JobRun, ...] = ()
    deleted_parents: tuple[int, ...] = ()
    more_parents: int = 0
    more_children: int = 0


@dataclass(frozen=True)
class EnqueueResult:
    """What an enqueue did: ``created`` False when a run holding the same unique key already
    existed, whose id is ``run_id``."""

    run_id: int
    created: bool


@dataclass(frozen=True)
class JobRun:
    id: int
    job_type: str
    queue: str
    priority: int
    status: RunStatus
    input: Any
    attempt: int  # attempts started so far (0 until first claimed)
    run_at: datetime  # when it is (or was) due
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    worker_id: str | None = None
    output: Any = None
    error: RunError | None = None
    progress: Progress = field(default_factory=Progress)
    cancel_requested: bool = False
    schedule_due_at: datetime | None = None
    #: attempts allowed in all (1 + retries), fixed at enqueue; an operator's override of the
    #: job type's max_retries also updates its unfinished runs
    max_attempts: int = DEFAULT_MAX_RETRIES + 1
    #: the W3C trace context the run was enqueued under (JSON text), the parent of each
    #: attempt's span; None if the enqueue was not traced
    trace_context: str | None = None
    #: the unique key the run holds while its status is one of ``unique_states``; None if none
    unique_key: str | None = None
    unique_states: frozenset[RunStatus] = frozenset()
    #: workflows: None for a run enqueued without parents; else how many of its parents it
    #: still waits for, its policy, and the parent whose failure or cancellation cancelled it
    parents_left: int | None = None
    on_parent_failure: ParentFailure | None = None
    cancelled_by: int | None = None
    input_from: InputFrom | None = None
    #: times the job snoozed the run (``Snooze``): back to pending, the attempt not consumed
    snoozes: int = 0
    #: workflows: the parents' outputs by parent id, when the claim that returned the run read
    #: them with it (PostgreSQL: no read of its own as the step starts); None otherwise
    parent_outputs: Mapping[int, Any] | None = field(default=None, compare=False, repr=False)

    def is_scheduled(self, now: datetime) -> bool:
        return self.status is RunStatus.PENDING and self.run_at > now


class CancelledRuns(list[int]):
    """The ids ``cancel_runs`` changed (sorted), as the store's one statement reported them:
    ``stop_requested`` are the runs that were running (their worker is asked to stop them),
    the others were pending and are cancelled already. A list, so callers that only want the
    ids keep working; read the split here, never from a status read afterwards (by then a
    worker may have moved the run on)."""

    def __init__(self, cancelled: Iterable[int] = (), stop_requested: Iterable[int] = ()) -> None:
        self.cancelled: tuple[int, ...] = tuple(sorted(cancelled))
        self.stop_requested: tuple[int, ...] = tuple(sorted(stop_requested))
        super().__init__(sorted(self.cancelled + self.stop_requested))


@dataclass(frozen=True)
class RunOutcome:
    """The end of one attempt, written by the worker that holds the run.

    ``status`` is SUCCEEDED, FAILED, CANCELLED, or PENDING for "retry ``retry_delay`` after now".
    A store applies it only while the run is still running under ``worker_id`` and ``attempt``.
    """

    run_id: int
    worker_id: str
    attempt: int
    status: RunStatus
    output_json: str | None = None
    error: RunError | None = None
    retry_delay: timedelta | None = None
    #: with PENDING: the job snoozed (``Snooze``), not a failure: the run is due after
    #: ``retry_delay``, its attempt is given back (not counted against max_attempts) and its
    #: ``snoozes`` count grows by one
    snoozed: bool = False

    def __post_init__(self) -> None:
        if self.snoozed and self.status is not RunStatus.PENDING:
            raise ValueError(f"a snoozed attempt ends as pending, not {self.status.value}")


@dataclass(frozen=True)
class ProgressUpdate:
    """Absolute progress counters of a running run (the latest value wins)."""

    run_id: int
    progress: Progress


@dataclass(frozen=True)
class NewLogEntry:
    run_id: int
    level: LogLevel
    message: str
    logged_at: datetime
    fields_json: str = "{}"
    attempt: int | None = None  # the attempt that wrote it (None: unknown, or not a job's)


@dataclass(frozen=True)
class LogEntry:
    id: int  # increasing per store: the cursor for "logs after"
    run_id: int
    level: LogLevel
    message: str
    logged_at: datetime
    fields: dict[str, Any] = field(default_factory=dict)
    attempt: int | None = None  # the attempt that wrote it; None before migration 0012

    @property
    def attempt_error(self) -> RunError | None:
        """The error of a failed attempt, when this is the entry the worker wrote for it (a
        run keeps only its last error; these entries keep every attempt's)."""
        value = self.fields.get(ATTEMPT_ERROR_FIELD)
        if self.level is not LogLevel.ERROR or not isinstance(value, dict):
            return None
        traceback = value.get("traceback")
        return RunError(
            type=str(value.get("type", "")),
            message=str(value.get("message", "")),
            traceback=traceback if isinstance(traceback, str) else None,
        )


#: The field of the ERROR log entry a worker writes for each failed attempt: {type, message,
#: traceback} (zapjobs.job.attempt_error_entry).
ATTEMPT_ERROR_FIELD = "attempt_error"


@dataclass(frozen=True)
class WorkerInfo:
    """A worker as stored (one row of the ``heartbeats`` table, refreshed at each heartbeat)."""

    id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    started_at: datetime
    last_seen_at: datetime
    running: int = 0
    concurrency: int = 0
    stopped_at: datetime | None = None
    dead_at: datetime | None = None

    def state(self, now: datetime, stale_after_seconds: float) -> WorkerState:
        if self.stopped_at is not None:
            return WorkerState.STOPPED
        if self.dead_at is not None:
            return WorkerState.DEAD
        if (now - self.last_seen_at).total_seconds() > stale_after_seconds:
            return WorkerState.STALE
        return WorkerState.ALIVE


def sequence_argument(value: Iterable[Any], *, name: str, example: str) -> tuple[Any, ...]:
    """The items of a list passed to a call; a bare string (or bytes, or a non-iterable) is
    refused, since iterating it would yield its characters ("critical" -> c, r, i, ...)."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError(
            f"{name} must be a list, got {value!r}", hint=f"pass a list, e.g. {name}={example}"
        )
    return tuple(value)


_FILTER_LISTS = (
    ("ids", "(1, 2)"),
    ("statuses", "(RunStatus.FAILED,)"),
    ("job_types", "('email-sender',)"),
    ("queues", "('default',)"),
    ("worker_ids", "('host-4242-ab12',)"),
)


#: How many of the newest runs a free-text search looks at (``RunFilter.search``).
SEARCH_WINDOW = 100_000


@dataclass(frozen=True)
class RunFilter:
    """A typed filter over runs; every field narrows (AND). Stores turn it into parameters."""

    ids: tuple[int, ...] | None = None
    statuses: tuple[RunStatus, ...] | None = None
    job_types: tuple[str, ...] | None = None
    queues: tuple[str, ...] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    #: the workers that claimed the runs (the last attempt's worker; never-claimed runs have none)
    worker_ids: tuple[str, ...] | None = None
    #: finish time: from (inclusive) and before (exclusive); unfinished runs never match
    finished_after: datetime | None = None
    finished_before: datetime | None = None
    # A case-insensitive substring of the job type, the error type, the error message or the
    # input's JSON text, looked for among the newest ``search_window`` runs only (by id), so a
    # search costs the same however long the history is; the other fields are exact.
    search: str | None = None
    scheduled: bool | None = None  # with PENDING: True only due later, False only due now
    now: datetime | None = None  # the "now" that ``scheduled`` compares with
    search_window: int = SEARCH_WINDOW

    def __post_init__(self) -> None:
        for name, example in _FILTER_LISTS:  # a list becomes a tuple; a bare string is refused
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, sequence_argument(value, name=name, example=example))
        if isinstance(self.search_window, bool) or not isinstance(self.search_window, int):
            raise ValidationError("search_window must be a whole number of runs")
        if self.search_window < 1:
            raise ValidationError("search_window must be at least 1")


class RunSort(StrEnum):
    """The orders runs are listed in; each is the walk of an index, never a sort of the table.
    Ties (and runs without the value) go by id, in the same direction."""

    CREATED = "created"  # by id: ids are given in the order runs are created
    FINISHED = "finished"  # by finish time; runs not finished come after, by id
    JOB_TYPE = "job"  # by job type, then by id

    @property
    def ascending_first(self) -> bool:
        """The direction an operator starts with: job types A to Z, times newest first."""
        return self is RunSort.JOB_TYPE

    @property
    def label(self) -> str:
        return {"created": "created", "finished": "finish time", "job": "job type"}[self.value]

    def key(self, run: JobRun) -> int | str | datetime | None:
        """The value a run is ordered by (a keyset cursor holds it)."""
        if self is RunSort.CREATED:
            return run.id
        if self is RunSort.FINISHED:
            return run.finished_at
        return run.job_type


@dataclass(frozen=True)
class RunCursor:
    """Where a keyset page ends: the last run's sort value (``RunSort.key``) and its id."""

    value: int | str | datetime | None
    id: int


@dataclass(frozen=True)
class Page:
    """Keyset paging: ``limit`` runs in ``sort`` order (descending unless ``ascending``), after
    ``after``, the cursor of the previous page's last run (``Page.following``). ``before_id``
    is that cursor for the default order, newest first (``RunSort.CREATED``, descending)."""

    limit: int = 100
    before_id: int | None = None
    sort: RunSort = RunSort.CREATED
    ascending: bool = False
    after: RunCursor | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sort", RunSort(self.sort))
        if self.before_id is not None:
            if self.sort is not RunSort.CREATED or self.ascending:
                raise ValidationError("before_id pages newest first; use after= for other orders")
            if self.after is not None and self.after.id != self.before_id:
                raise ValidationError("give before_id or after, not both")
            object.__setattr__(self, "after", RunCursor(self.before_id, self.before_id))
        elif self.after is not None and self.sort is RunSort.CREATED and not self.ascending:
            object.__setattr__(self, "before_id", self.after.id)

    def following(self, last: JobRun) -> Page:
        """The next page, after ``last`` (the last run of this one), in the same order."""
        cursor = RunCursor(self.sort.key(last), last.id)
        before_id = cursor.id if self.sort is RunSort.CREATED and not self.ascending else None
        return Page(self.limit, before_id, self.sort, self.ascending, cursor)


@dataclass(frozen=True)
class QueueStats:
    """One queue's counts by status, and the earliest due time of its pending runs (how long the
    oldest has waited; None: none pending), read with the counts."""

    queue: str
    waiting: int = 0
    pending: int = 0
    scheduled: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    oldest_due_at: datetime | None = None


@dataclass(frozen=True)
class Stats:
    """Counts by status (pending means due now; scheduled means pending and due later), all
    exact. Pending, scheduled and running runs are counted from the live rows (bounded by the
    workload); succeeded, failed and cancelled ones from counts kept with the writes, so reading
    them costs the same however long the history (runs written finished by hand, bypassing
    zapjobs, are not counted)."""

    waiting: int = 0
    pending: int = 0
    scheduled: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    by_queue: tuple[QueueStats, ...] = ()

    @property
    def total(self) -> int:
        return (
            self.waiting
            + self.pending
            + self.scheduled
            + self.running
            + self.succeeded
            + self.failed
            + self.cancelled
        )


@dataclass(frozen=True)
class JobTypeStats:
    """The runs of one job type that finished (succeeded or failed) in a recent window
    (``ZapJobs.job_type_stats``): how many of each, and the median and 95th percentile of their
    durations in seconds (the last attempt's start to the finish), interpolated between ranks
    as PostgreSQL's ``percentile_cont`` does; None when no run in the window has a start."""

    job_type: str
    succeeded: int = 0
    failed: int = 0
    p50_seconds: float | None = None
    p95_seconds: float | None = None

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed

    @property
    def success_rate(self) -> float | None:
        """Succeeded over finished (0 to 1); None when none finished."""
        return self.succeeded / self.finished if self.finished else None


@dataclass(frozen=True)
class ThroughputPoint:
    minute: datetime  # start of the minute, UTC
    succeeded: int = 0
    failed: int = 0


@dataclass(frozen=True)
class ErrorGroup:
    error_type: str
    count: int
    last_run_id: int
    last_message: str


@dataclass(frozen=True)
class Backlog:
    """The unfinished runs of one queue and job type: ``pending`` are due now, ``scheduled``
    due later; ``oldest_due_at`` is the earliest due time of the pending ones (None: none);
    ``waiting`` wait for parents (workflows): not claimable, counted apart."""

    queue: str
    job_type: str
    pending: int = 0
    scheduled: int = 0
    running: int = 0
    oldest_due_at: datetime | None = None
    waiting: int = 0


@dataclass(frozen=True)
class QueueInfo:
    """One queue as operators see it (``ZapJobs.list_queues``): whether it is paused (its runs
    are not claimed), its pending (due now), scheduled and running runs, ``lag`` (how long the
    oldest pending run has been due; None: none pending), the live workers serving it, and the
    runs that finished (succeeded or failed) in the last minute; its effective concurrency cap
    and rate limit (None: none); ``waiting``: runs waiting for their parents (workflows), not
    claimable yet, so neither pending nor in the lag."""

    name: str
    paused: bool = False
    pending: int = 0
    scheduled: int = 0
    running: int = 0
    lag: timedelta | None = None
    workers: tuple[str, ...] = ()
    finished_last_minute: int = 0
    max_concurrency: int | None = None
    rate_limit: RateLimit | None = None
    waiting: int = 0

    @property
    def served(self) -> bool:
        """Whether a live worker claims from this queue."""
        return bool(self.workers)


@dataclass(frozen=True)
class FailureCount:
    """Runs of one queue and job type that failed (for good) in a window."""

    queue: str
    job_type: str
    count: int


@dataclass(frozen=True)
class RescueResult:
    workers_marked_dead: tuple[str, ...] = ()
    runs_retried: tuple[int, ...] = ()
    runs_failed: tuple[int, ...] = ()


@dataclass(frozen=True)
class PruneResult:
    runs_deleted: int = 0
    logs_deleted: int = 0
    workers_deleted: int = 0


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@dataclass(frozen=True)
class MigrationStatus:
    applied: tuple[int, ...]
    pending: tuple[Migration, ...]
    available: tuple[Migration, ...]


@dataclass(frozen=True)
class DueRun:
    """A pending run by its identity and due time, as every worker reads it from the store: the
    workers agree from ``id`` which of them claims it when it becomes due (runtime/peers.py)."""

    id: int
    queue: str
    due_in: timedelta


@dataclass(frozen=True)
class NextDue:
    """``Store.next_due``'s answer. ``due_in``: how long until the earliest pending run the caller
    may claim is due (zero or less: due already), flow control included. ``runs``: the earliest
    pending runs, earliest first (up to the limit asked), each with its own ``due_in``; may be
    empty while flow control applies (a held-back job type's due time is not a run's): every
    idle worker then looks at ``due_in``."""

    due_in: timedelta
    runs: tuple[DueRun, ...] = ()


@dataclass(frozen=True)
class Notification:
    """A wake-up delivered by a store's listener.

    kind "runs": runs became pending in ``queue`` (``queue`` None: in any queue, something may
    have changed, look again); kind "cancel": ``run_id`` was asked to stop.

    ``due_in``: for "runs", how long after the write the earliest of those runs becomes due, by
    the writer's clock (None: due at once). A relative time, so a worker whose clock differs from
    the database server's still arms its timer right.

    ``count`` and ``token`` (runs due at once: enqueued, retried, rescued, released): how many
    runs, and a number every listener sees alike, from which the workers of the queue agree which
    ``count`` of them claim (see runtime/peers.py). None: every idle worker of the queue looks.

    ``shard``: the notification came on that shard channel (PostgreSQL, a run enqueued alone):
    the worker ranked first for the shard claims, not the one ranked first for ``token``.
    """

    kind: str
    queue: str | None = None
    run_id: int | None = None
    # What the wake-up says, not which one it is: left out of equality.
    due_in: timedelta | None = field(default=None, compare=False)
    count: int | None = field(default=None, compare=False)
    token: int | None = field(default=None, compare=False)
    shard: int | None = field(default=None, compare=False)


# --- diagnosis facts (``zapjobs doctor``): what stores report; core/diagnosis.py judges them ----


@dataclass(frozen=True)
class ConnectionBudget:
    """The most connections a process's store opens to the server: the general and hot pools
    (shared by the process), and per worker its LISTEN and its heartbeat connection."""

    general: int
    hot: int
    listen_per_worker: int
    heartbeat_per_worker: int

    def per_process(self, workers: int = 1) -> int:
        per_worker = self.listen_per_worker + self.heartbeat_per_worker
        return self.general + self.hot + per_worker * workers


@dataclass(frozen=True)
class ServerFacts:
    """Settings and state of a database server that matter for a queue (PostgreSQL)."""

    now: datetime  # the server's clock at the time of asking
    max_connections: int
    reserved_connections: int  # for superusers and roles with pg_use_reserved_connections
    connections_in_use: int
    autovacuum: bool  # the server runs autovacuum (autovacuum and track_counts on)
    runs_autovacuum: bool  # ... and the runs table does not opt out
    runs_vacuum_threshold: int  # effective for the runs table (its own option, else the server's)
    runs_vacuum_scale_factor: float
    idle_in_transaction_timeout_seconds: float  # 0: none
    oldest_transaction_started_at: datetime | None  # another session's, in this database


@dataclass(frozen=True)
class TableFacts:
    """One table of the installation: estimated rows, sizes, invalid indexes."""

    name: str
    live_rows: int
    dead_rows: int
    table_bytes: int
    index_bytes: int
    invalid_indexes: tuple[str, ...] = ()
    last_vacuum_at: datetime | None = None


@dataclass(frozen=True)
class QueueBacklog:
    """Pending runs of one queue: all, due now, and due for longer than the overdue margin."""

    queue: str
    pending: int
    due: int
    overdue: int
    oldest_due_at: datetime | None


@dataclass(frozen=True)
class RunningJobType:
    """Running runs of one job type, with the one that started first."""

    job_type: str
    running: int
    oldest_run_id: int
    oldest_started_at: datetime


@dataclass(frozen=True)
class RetentionFacts:
    """The oldest finished run and the oldest log entry still stored."""

    oldest_finished_at: datetime | None
    oldest_log_at: datetime | None


@dataclass(frozen=True)
class NotifyRoundTrip:
    """A notification sent through the server to a fresh listening connection."""

    delivered: bool
    seconds: float  # until it arrived, or the time waited in vain


# --- flow control (zapjobs.core.flow): concurrency caps and rate limits ----------------------

#: The period of a rate limit (seconds) as it is written: "10/s", "600/m", "1000/h".
RATE_PERIOD_NAMES = {1: "s", 60: "m", 3600: "h"}


class LimitScope(StrEnum):
    """What a limit applies to: the runs of one job type, or of one queue."""

    JOB = "job"
    QUEUE = "queue"


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` starts per window of ``period_seconds``."""

    count: int
    period_seconds: int

    def __str__(self) -> str:
        unit = RATE_PERIOD_NAMES.get(self.period_seconds, f"{self.period_seconds}s")
        return f"{self.count}/{unit}"

    @property
    def period(self) -> timedelta:
        return timedelta(seconds=self.period_seconds)


@dataclass(frozen=True)
class FlowLimit:
    """The limits of one job type or queue: declared (code or settings) and the operator's
    overrides, which win when set. None: no such limit."""

    scope: LimitScope
    name: str
    max_concurrency: int | None = None
    rate_limit: RateLimit | None = None
    max_concurrency_override: int | None = None
    rate_limit_override: RateLimit | None = None

    @property
    def effective_max_concurrency(self) -> int | None:
        if self.max_concurrency_override is not None:
            return self.max_concurrency_override
        return self.max_concurrency

    @property
    def effective_rate_limit(self) -> RateLimit | None:
        if self.rate_limit_override is not None:
            return self.rate_limit_override
        return self.rate_limit

    @property
    def limited(self) -> bool:
        return self.effective_max_concurrency is not None or self.effective_rate_limit is not None
