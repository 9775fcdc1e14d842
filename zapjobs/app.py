"""ZapJobs: the job-type registry plus a store; enqueue, schedule, recurring, query and act.

Every operation is async and goes through the store protocol; the ``*_sync`` twins run the same
coroutines on a private loop in a background thread (zapjobs.portal). Validation and JSON
serialisation of inputs happen here, once, at the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from zapjobs import tracing
from zapjobs.clock import SYSTEM_CLOCK, Clock
from zapjobs.core.diagnosis import Diagnosis, diagnose, unreachable
from zapjobs.core.flow import check_max_concurrency, parse_rate_limit
from zapjobs.core.queues import queue_infos
from zapjobs.core.retry import RetryPolicy, validate_max_retries
from zapjobs.core.schedule import next_due_after
from zapjobs.core.unique import NO_UNIQUENESS, check_unique_key, run_uniqueness
from zapjobs.doctor import gather_facts
from zapjobs.errors import (
    ConfigurationError,
    NotMigratedError,
    RunNotFoundError,
    StoreError,
    UnknownJobTypeError,
    ValidationError,
    WaitTimeoutError,
)
from zapjobs.models import (
    Backlog,
    CancelledRuns,
    CatchUp,
    EnqueueResult,
    ErrorGroup,
    FailureCount,
    FlowLimit,
    InputFrom,
    JobDefinition,
    JobRun,
    JobTypeStats,
    LimitScope,
    LogEntry,
    LogLevel,
    MigrationStatus,
    NewRun,
    Page,
    ParentFailure,
    PruneResult,
    QueueInfo,
    RateLimit,
    RescueResult,
    RunFilter,
    RunLinks,
    RunStatus,
    Stats,
    ThroughputPoint,
    WorkerInfo,
    sequence_argument,
)
from zapjobs.portal import Portal
from zapjobs.registry import (
    JOB_TYPE_ATTR,
    JobType,
    Registry,
    build_schedule,
    job_type_from_class,
    job_type_from_function,
)
from zapjobs.runtime import maintenance
from zapjobs.settings import (
    Settings,
    duration_argument,
    format_duration,
    parse_port,
    queue_argument,
    queues_argument,
    scrub,
    warn_deprecated,
)
from zapjobs.stores import create_store, store_backend
from zapjobs.stores.base import Store
from zapjobs.typed import Codec, check_json_text, encode_input
from zapjobs.workflows import (
    FROM_PARENTS,
    Chain,
    Group,
    JobRef,
    Step,
    WorkflowBuilder,
    parts_of,
)

# JobRef (zapjobs.workflows): a job type as callers name it: its id, the @zap.job function, or
# the Job subclass. Parameters called ``job`` take a JobRef; ``job_type`` is always the id.

_ANY_INPUT = Codec(Any)
_PRIORITY_RANGE = (-(2**31), 2**31 - 1)
_WAIT_FIRST, _WAIT_MAX, _WAIT_GROWTH = 0.02, 0.5, 1.5


class ZapJobs:
    """``ZapJobs(database_url, **settings)``; or ``ZapJobs(settings=Settings(...))``; a ready
    ``store=`` may be injected (tests), and a ``clock=`` (tests; default: the store's clock)."""

    def __init__(
        self,
        database_url: str | None = None,
        *,
        settings: Settings | None = None,
        store: Store | None = None,
        clock: Clock | None = None,
        **overrides: Any,
    ) -> None:
        if database_url is not None:
            overrides["database_url"] = database_url
        base = settings or Settings()
        self._settings = base.with_changes(**overrides) if overrides else base
        self._registry = Registry()
        self._store_ref: Store | None = store
        self._owns_store = store is None
        self._clock = clock
        self._store_open = store is not None
        self._ready = False
        self._registered: set[str] = set()
        self._open_lock = asyncio.Lock()
        self._remote_definitions: dict[str, tuple[float, JobDefinition]] = {}
        self._portal: Portal | None = None
        self._twin: ZapJobs | None = None

    # --- registry ------------------------------------------------------------------------------
    def job(
        self,
        job_type: str,
        *,
        queue: str | None = None,
        max_retries: int | None = None,
        timeout: timedelta | None = None,
        retry: RetryPolicy | None = None,
        cron: str | None = None,
        interval: timedelta | None = None,
        timezone: str = "UTC",
        catch_up: CatchUp = CatchUp.LATEST,
        input: Any = None,
        unique_by_input: bool = False,
        unique_for: timedelta | None = None,
        unique_states: Iterable[str] | None = None,
        max_concurrency: int | None = None,
        rate_limit: str | None = None,
    ) -> Callable[[Callable[..., Any]], Any]:
        """Register a function as a job type; ``input`` is the recurring schedule's input.

        ``unique_by_input``: an enqueue whose input equals that of a pending or running run of
        this job type returns that run; ``unique_for``: at most one run per window of that
        length, finished or not; ``unique_states``: the states in which a run holds its key
        (zapjobs.core.unique). ``max_concurrency``: at most that many runs of this job type
        running at once across every worker; ``rate_limit``: at most N starts per period
        ("10/s", "600/m", "1000/h"), enforced by the database at claim time
        (zapjobs.core.flow)."""

        def register(fn: Callable[..., Any]) -> Any:
            registered = job_type_from_function(
                fn,
                job_type,
                queue=queue,
                max_retries=max_retries,
                timeout=timeout,
                retry=retry,
                cron=cron,
                interval=interval,
                timezone=timezone,
                catch_up=catch_up,
                input=input,
                unique_by_input=unique_by_input,
                unique_for=unique_for,
                unique_states=unique_states,
                max_concurrency=max_concurrency,
                rate_limit=rate_limit,
            )
            self._registry.add(registered)
            with contextlib.suppress(AttributeError, TypeError):  # then enqueue it by its id
                setattr(fn, JOB_TYPE_ATTR, job_type)
            return fn

        return register

    def add_job(self, job_class: type[Any]) -> type[Any]:
        """Register a Job subclass (usable as a class decorator too)."""
        self._registry.add(job_type_from_class(job_class))
        return job_class

    @property
    def job_types(self) -> list[str]:
        return self._registry.ids

    def job_type_id(self, job: JobRef) -> str:
        """The job type id of a job reference (an id, a @zap.job function or a Job subclass)."""
        return self._resolve(job)[0]

    def registration(self, job: JobRef) -> JobType:
        """What this process registered for a job type (its code, declared types and defaults).

        Raises UnknownJobTypeError when the job type is not registered here."""
        job_type, local = self._resolve(job)
        if local is None:
            raise UnknownJobTypeError(job_type, known=self._registry.ids)
        return local

    def with_settings(self, settings: Settings) -> ZapJobs:
        """A new ZapJobs with these settings and the job types registered here (and this clock);
        it opens its own store."""
        copy = ZapJobs(settings=settings, clock=self._clock)
        for registered in self._registry:
            copy._registry.add(registered)
        return copy

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def backend(self) -> str:
        """The store's backend: "postgres", "sqlite" or "memory"."""
        if self._store_ref is not None:
            return self._store_ref.backend
        return store_backend(self._settings.database_url)

    @property
    def _store(self) -> Store:
        if self._store_ref is None:
            self._store_ref = create_store(
                self._settings.database_url, prefix=self._settings.table_prefix
            )
        return self._store_ref

    @property
    def clock(self) -> Clock | None:
        return self._clock

    def _store_now(self) -> datetime | None:
        """What to pass as the store's ``now``: None means the store's own clock."""
        return self._clock.now() if self._clock is not None else None

    def now(self) -> datetime:
        """The clock's now (the system clock unless one was injected)."""
        return (self._clock or SYSTEM_CLOCK).now()

    def describe_error(self, exc: BaseException) -> str:
        """An error as one line without the database password."""
        return scrub(str(exc) or type(exc).__name__, self._settings.database_url)

    # --- lifecycle -----------------------------------------------------------------------------
    async def open(self, *, require_migrated: bool = True) -> None:
        """Open the store; migrate when auto_migrate; sync code definitions into the store.

        With ``require_migrated=False`` (commands that only read or that migrate) an
        unmigrated database is not an error; definitions are then registered after migrate().
        """
        async with self._open_lock:
            await self._open_store()
            if self._ready:
                await self._register_new()
                return
            if self._settings.auto_migrate:
                await self._store.migrate()
            else:
                try:
                    await self._store.check_ready()
                except NotMigratedError:
                    if require_migrated:
                        raise
                    return
            self._ready = True
            await self._register_new()

    async def _open_store(self) -> None:
        if not self._store_open:
            await self._store.open()
            self._store_open = True

    async def _register_new(self) -> None:
        new = [jt for jt in self._registry if jt.id not in self._registered]
        if new:
            await self._store.register_definitions([jt.definition(self._settings) for jt in new])
            await self._store.declare_flow_limits(
                [jt.flow_limit() for jt in new], now=self._store_now()
            )
            self._registered.update(jt.id for jt in new)

    async def _ensure_ready(self) -> Store:
        if not self._ready or len(self._registered) != len(self._registry):
            await self.open()
        return self._store

    async def close(self) -> None:
        if self._portal is not None:
            portal, self._portal = self._portal, None
            await asyncio.to_thread(portal.close)
        if self._owns_store and self._store_ref is not None and self._store_open:
            await self._store_ref.close()
            if self._store_ref.backend != "memory":  # a memory store's runs outlive a close()
                self._store_ref = None
        self._store_open = not self._owns_store
        self._ready = False
        self._registered.clear()

    async def __aenter__(self) -> ZapJobs:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def migrate(self) -> list[int]:
        async with self._open_lock:
            await self._open_store()
            applied = await self._store.migrate()
            self._ready = True
            await self._register_new()
        return applied

    async def migration_status(self) -> MigrationStatus:
        async with self._open_lock:
            await self._open_store()
        return await self._store.migration_status()

    async def server_version(self) -> str:
        """The database server's version, e.g. "PostgreSQL 15.19" (the database need not be
        migrated)."""
        async with self._open_lock:
            await self._open_store()
        return await self._store.server_version()

    async def uninstall(self) -> None:
        """Drop every table of this installation (its table prefix). Irreversible: for
        throwaway installations such as the ones ``zapjobs bench`` makes."""
        async with self._open_lock:
            await self._open_store()
            await self._store.uninstall()
            self._ready = False
            self._registered.clear()

    # --- enqueue -------------------------------------------------------------------------------
    async def enqueue(
        self,
        job: JobRef,
        input: Any = None,
        *,
        queue: str | None = None,
        priority: int = 0,
        delay: timedelta | None = None,
        run_at: datetime | None = None,
        unique_key: str | None = None,
        connection: Any = None,
        after: Sequence[int] = (),
        on_parent_failure: ParentFailure | str = ParentFailure.CANCEL,
    ) -> int:
        """Add a run; its id. With ``unique_key`` (or a job type declared unique), the id of
        the run already holding the key when there is one: ``enqueue_unique`` tells which.

        With ``after`` (run ids, at most MAX_PARENTS), the run waits until every one of them
        finished, then is pending; ``on_parent_failure`` says what a parent failing for good
        or being cancelled does to it: "cancel" it (the default) or "run" it anyway."""
        if after and unique_key is not None:
            raise ValidationError("after= and unique_key= cannot be combined")
        [run_id], _ = await self._enqueue(
            job,
            [input],
            queue,
            priority,
            delay,
            run_at,
            connection,
            unique_key=None if unique_key is None else check_unique_key(unique_key),
            parents=_parents_argument(after) if after else (),
            policy=_policy_argument(on_parent_failure) if after else ParentFailure.CANCEL,
        )
        return run_id

    async def enqueue_unique(
        self,
        job: JobRef,
        input: Any = None,
        *,
        queue: str | None = None,
        priority: int = 0,
        delay: timedelta | None = None,
        run_at: datetime | None = None,
        unique_key: str | None = None,
        connection: Any = None,
    ) -> EnqueueResult:
        """enqueue, and whether it created the run: ``created`` is False when a run of the job
        type holding the same unique key (pending, scheduled or running, by default) existed;
        ``run_id`` is then that run's. The database's unique index decides, so concurrent
        enqueuers of one key get one run."""
        key = None if unique_key is None else check_unique_key(unique_key)
        [run_id], created = await self._enqueue(
            job, [input], queue, priority, delay, run_at, connection, unique_key=key
        )
        return EnqueueResult(run_id, created=created is None or created[0])

    async def schedule(
        self,
        job: JobRef,
        input: Any = None,
        *,
        delay: timedelta | None = None,
        run_at: datetime | None = None,
        queue: str | None = None,
        priority: int = 0,
        unique_key: str | None = None,
        connection: Any = None,
    ) -> int:
        if delay is None and run_at is None:
            raise ValidationError("schedule() needs delay= or run_at=", hint="or use enqueue()")
        return await self.enqueue(
            job,
            input,
            queue=queue,
            priority=priority,
            delay=delay,
            run_at=run_at,
            unique_key=unique_key,
            connection=connection,
        )

    async def enqueue_many(
        self,
        job: JobRef,
        inputs: Sequence[Any],
        *,
        queue: str | None = None,
        priority: int = 0,
        delay: timedelta | None = None,
        connection: Any = None,
        after: Sequence[int] = (),
        on_parent_failure: ParentFailure | str = ParentFailure.CANCEL,
    ) -> list[int]:
        """Add runs in one round trip; their ids in order. A job type declared unique
        (unique_by_input, unique_for) applies per input: an input whose key a run holds (or an
        earlier input of the same call took) gives that run's id. With ``after``, every run
        waits for those runs (a fan-out after them; one transaction, one statement per run)."""
        if isinstance(inputs, str | bytes | dict) or not isinstance(inputs, Sequence):
            raise ValidationError(
                "enqueue_many() takes a list of inputs", hint="use enqueue() for one run"
            )
        if not inputs:
            return []
        ids, _ = await self._enqueue(
            job,
            list(inputs),
            queue,
            priority,
            delay,
            None,
            connection,
            parents=_parents_argument(after),
            policy=_policy_argument(on_parent_failure),
        )
        return ids

    async def enqueue_json(
        self,
        job: JobRef,
        input_json: str,
        *,
        queue: str | None = None,
        priority: int = 0,
        delay: timedelta | None = None,
        run_at: datetime | None = None,
        unique_key: str | None = None,
        after: Sequence[int] = (),
        on_parent_failure: ParentFailure | str = ParentFailure.CANCEL,
    ) -> int:
        """Enqueue with the input given as JSON text (the CLI): parsed, then validated against
        the job's declared type when this process knows the job type."""
        if after:
            job_type, local = self._resolve(job)
            parsed = check_json_text(input_json, job_type=job_type)
            value = _Json(parsed) if local is None else json.loads(parsed)
            return await self.enqueue(
                job_type,
                value,
                queue=queue,
                priority=priority,
                delay=delay,
                run_at=run_at,
                unique_key=unique_key,
                after=after,
                on_parent_failure=on_parent_failure,
            )
        result = await self.enqueue_json_unique(
            job,
            input_json,
            queue=queue,
            priority=priority,
            delay=delay,
            run_at=run_at,
            unique_key=unique_key,
        )
        return result.run_id

    async def enqueue_json_unique(
        self,
        job: JobRef,
        input_json: str,
        *,
        queue: str | None = None,
        priority: int = 0,
        delay: timedelta | None = None,
        run_at: datetime | None = None,
        unique_key: str | None = None,
    ) -> EnqueueResult:
        """enqueue_json, and whether it created the run (see enqueue_unique)."""
        job_type, local = self._resolve(job)
        parsed = check_json_text(input_json, job_type=job_type)
        value = _Json(parsed) if local is None else json.loads(parsed)
        return await self.enqueue_unique(
            job_type,
            value,
            queue=queue,
            priority=priority,
            delay=delay,
            run_at=run_at,
            unique_key=unique_key,
        )

    # --- workflows -----------------------------------------------------------------------------
    def step(
        self, job: JobRef, input: Any = FROM_PARENTS, *, queue: str | None = None, priority: int = 0
    ) -> Step:
        """One step of a workflow; without ``input`` it reads its input, when it starts, from
        what it waits for (the step before it, or the list of a group's outputs)."""
        return Step(job, input, queue, priority)

    def chain(self, *parts: Any) -> WorkflowBuilder:
        """Parts one after the other (steps, bare jobs, chains, groups); ``await`` it to
        enqueue it: a Workflow with every run id."""
        return WorkflowBuilder(Chain(parts_of(parts, what="chain()")), self._enqueue_step)

    def group(self, parts: Sequence[Any]) -> WorkflowBuilder:
        """Parts side by side; ``.then(callback)`` adds one run after all of them that
        receives the list of their outputs, in this order. ``await`` it to enqueue it."""
        return WorkflowBuilder(Group(parts_of(parts, what="group()")), self._enqueue_step)

    async def _enqueue_step(
        self,
        job: JobRef,
        input: Any,
        queue: str | None,
        priority: int,
        after: tuple[int, ...],
        policy: ParentFailure,
        input_from: InputFrom | None,
        connection: Any,
    ) -> int:
        [run_id], _ = await self._enqueue(
            job,
            [input],
            queue,
            priority,
            None,
            None,
            connection,
            parents=_parents_argument(after) if after else (),
            policy=policy,
            input_from=input_from,
        )
        return run_id

    async def run_links(self, run_id: int, *, limit: int | None = None) -> RunLinks:
        """A run's parents and children (workflows), as runs, ordered by id; with ``limit``
        at most that many parents and that many children are read (a screen's bound: a run
        may have thousands of children), the rest counted in ``more_parents`` /
        ``more_children``."""
        if limit is not None and limit < 0:
            raise ValidationError(f"limit must be 0 or more, got {limit}")
        store = await self._ensure_ready()
        if limit is None:
            links = await store.run_links([run_id])
            parent_ids = sorted(link.parent_id for link in links if link.run_id == run_id)
            child_ids = sorted(link.run_id for link in links if link.parent_id == run_id)
            parent_count, child_count = len(parent_ids), len(child_ids)
        else:
            page = await store.run_link_page(run_id, limit)
            parent_ids, child_ids = list(page.parents), list(page.children)
            parent_count, child_count = page.parent_count, page.child_count
        found = {r.id: r for r in await store.get_runs(parent_ids + child_ids)}
        return RunLinks(
            parents=tuple(found[i] for i in parent_ids if i in found),
            children=tuple(found[i] for i in child_ids if i in found),
            deleted_parents=tuple(i for i in parent_ids if i not in found),
            more_parents=parent_count - len(parent_ids),
            more_children=child_count - len(child_ids),
        )

    async def _enqueue(
        self,
        job: JobRef,
        inputs: list[Any],
        queue: str | None,
        priority: int,
        delay: timedelta | None,
        run_at: datetime | None,
        connection: Any,
        *,
        unique_key: str | None = None,
        parents: tuple[int, ...] = (),
        policy: ParentFailure = ParentFailure.CANCEL,
        input_from: InputFrom | None = None,
    ) -> tuple[list[int], list[bool] | None]:
        """The runs' ids, in the order of ``inputs``, and whether each was created (None: all
        were, no unique key in play)."""
        job_type, local = self._resolve(job)
        store = await self._ensure_ready()
        if local is not None:
            codec = local.input_codec
            default_queue = local.queue or self._settings.default_queue
            max_attempts = await self._max_attempts(local)
            uniqueness = local.unique
        else:
            definition = await self._remote_definition(job_type)
            codec, default_queue = _ANY_INPUT, definition.queue
            max_attempts = definition.max_attempts
            uniqueness = NO_UNIQUENESS
        run_queue = queue_argument(queue) if queue is not None else default_queue
        _check_priority(priority)
        due = self._due_time(delay, run_at)
        # the clock of the unique keys (unique_for); None: no unique key in play
        now = self.now() if unique_key is not None or uniqueness.any else None
        with tracing.publishing(job_type, run_queue, len(inputs)) as published:
            if input_from is not None:
                texts = ["null"] * len(inputs)  # read from the parents when the run starts
            else:
                texts = [
                    value.text
                    if isinstance(value, _Json)
                    else encode_input(codec, value, job_type=job_type)
                    for value in inputs
                ]

            def new_run(text: str, key: str | None, states: int) -> NewRun:
                return NewRun(
                    job_type=job_type,
                    input_json=text,
                    queue=run_queue,
                    priority=priority,
                    run_at=due,
                    max_attempts=max_attempts,
                    trace_context=published.context,
                    unique_key=key,
                    unique_states=states,
                    parents=parents,
                    on_parent_failure=policy,
                    input_from=input_from,
                )

            created: list[bool] | None = None
            if now is not None:
                runs = [new_run(t, *run_uniqueness(uniqueness, unique_key, t, now)) for t in texts]
                results = await store.enqueue_results(
                    runs, now=self._store_now(), connection=connection
                )
                ids = [r.run_id for r in results]
                created = [r.created for r in results]
            else:  # the common case, on the store's shortest path
                first = new_run(texts[0], None, 0)  # the others differ only by their input
                runs = [first, *first.alike(texts[1:])] if len(texts) > 1 else [first]
                ids = await store.enqueue(runs, now=self._store_now(), connection=connection)
            published.sent(ids)
        return ids, created

    def _resolve(self, job: JobRef) -> tuple[str, JobType | None]:
        """(job type id, the local registration or None) of a job reference."""
        if isinstance(job, str):
            return job, self._registry.get(job)
        job_type = getattr(job, JOB_TYPE_ATTR, None)
        if job_type is None and isinstance(job, type):
            job_type = getattr(job, "job_type_id", None)
        if not isinstance(job_type, str):
            raise ValidationError(
                f"cannot tell the job type of {job!r}",
                hint="pass a job type id, a @zap.job function or a Job subclass",
            )
        return job_type, self._registry.get(job_type)

    async def _remote_definition(self, job_type: str) -> JobDefinition:
        """The stored definition of a job type another process registered."""
        definition = await self._stored_definition(job_type)
        if definition is None:
            raise UnknownJobTypeError(job_type, known=self._registry.ids)
        return definition

    async def _max_attempts(self, local: JobType) -> int:
        """The retry budget of a new run of a job type registered here, resolved once, at
        enqueue: the operator's stored override, else the code's (JobType.definition: its
        max_retries, else its retry policy's, else settings.default_retry_policy's)."""
        stored = await self._stored_definition(local.id)
        override = None if stored is None else stored.max_retries_override
        retries = local.code_max_retries(self._settings) if override is None else override
        return retries + 1  # JobDefinition.max_attempts, without building the definition

    async def _stored_definition(self, job_type: str) -> JobDefinition | None:
        """A stored definition, cached for one polling interval: an operator's override
        reaches new runs as soon as it reached a worker's failures before."""
        cached = self._remote_definitions.get(job_type)
        ttl = self._settings.polling_interval.total_seconds()
        if cached is not None and time.monotonic() - cached[0] < ttl:
            return cached[1]
        definition = await self._store.get_definition(job_type)
        if definition is not None:
            self._remote_definitions[job_type] = (time.monotonic(), definition)
        return definition

    def _due_time(self, delay: timedelta | None, run_at: datetime | None) -> datetime | None:
        if delay is not None and run_at is not None:
            raise ValidationError("give either delay= or run_at=, not both")
        if run_at is not None:
            if not isinstance(run_at, datetime):
                raise ValidationError(f"run_at must be a datetime, got {type(run_at).__name__}")
            if run_at.tzinfo is None or run_at.utcoffset() is None:
                raise ValidationError(
                    f"run_at {run_at.isoformat()} has no time zone",
                    hint="use an aware datetime, e.g. datetime.now(UTC) + timedelta(hours=1)",
                )
            return run_at
        if delay is not None:
            wait = duration_argument(delay, name="delay")
            try:
                return self.now() + wait if wait > timedelta(0) else None
            except OverflowError:
                raise ValidationError(
                    f"delay {format_duration(wait)} ends after the year 9999",
                    hint="use a shorter delay, or run_at= with a date",
                ) from None
        return None

    async def get_run(self, run_id: int) -> JobRun:
        """Raises RunNotFoundError."""
        store = await self._ensure_ready()
        if isinstance(run_id, int) and not -(2**63) <= run_id < 2**63:
            raise RunNotFoundError(run_id)  # beyond a bigint: no such run can exist
        run = await store.get_run(run_id)
        if run is None:
            raise RunNotFoundError(run_id)
        return run

    async def wait_for(
        self,
        run_id: int,
        timeout: timedelta | None = None,
        *,
        on_change: Callable[[JobRun], None] | None = None,
    ) -> JobRun:
        """Wait until the run is final; raises WaitTimeoutError after ``timeout``.

        ``on_change`` sees the run each time its status or attempt changed on the way (e.g. an
        attempt failed and a retry is due), so a waiting caller can say so."""
        limit = None if timeout is None else duration_argument(timeout, name="timeout")
        deadline = None if limit is None else time.monotonic() + limit.total_seconds()
        interval = _WAIT_FIRST
        seen: tuple[RunStatus, int] | None = None
        while True:
            run = await self.get_run(run_id)
            if on_change is not None and (run.status, run.attempt) != seen:
                seen = (run.status, run.attempt)
                on_change(run)
            if run.status.is_final:
                return run
            if deadline is not None and limit is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeoutError(
                        f"run {run_id} is still {run.status.value} after {format_duration(limit)}",
                        hint=f"wait longer, or check that a worker serves its queue {run.queue!r}",
                    )
                interval = min(interval, remaining)
            await asyncio.sleep(interval)
            interval = min(interval * _WAIT_GROWTH, _WAIT_MAX)

    # sync twins (thin wrappers over the async core, for Django views and scripts)
    def _sync(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self._portal is None:
            self._portal = Portal()
            self._portal.on_close(self._close_twin)

        async def call() -> Any:
            twin = self._twin_instance()
            return await getattr(twin, name)(*args, **kwargs)

        return self._portal.call(call)

    def _twin_instance(self) -> ZapJobs:
        """This ZapJobs on the portal's loop: same registry, settings and clock; its own store
        (a memory or injected store is shared: it is not bound to a loop)."""
        if self._twin is None:
            shared = not self._owns_store or self.backend == "memory"
            self._twin = self._sharing_registry(store=self._store if shared else None)
        return self._twin

    def _sharing_registry(self, *, store: Store | None) -> ZapJobs:
        """A ZapJobs with this one's settings, clock and registry object (job types registered
        later on either are seen by both): the sync twins' instance on the portal's loop."""
        twin = ZapJobs(settings=self._settings, store=store, clock=self._clock)
        twin._registry = self._registry
        return twin

    async def _close_twin(self) -> None:
        twin, self._twin = self._twin, None
        if twin is not None:
            await twin.close()

    def close_sync(self) -> None:
        """Close what the sync twins opened (their loop, thread and store)."""
        if self._portal is not None:
            portal, self._portal = self._portal, None
            portal.close()

    def enqueue_sync(self, job: JobRef, input: Any = None, **kwargs: Any) -> int:
        result: int = self._sync("enqueue", job, input, **kwargs)
        return result

    def schedule_sync(self, job: JobRef, input: Any = None, **kwargs: Any) -> int:
        result: int = self._sync("schedule", job, input, **kwargs)
        return result

    def enqueue_unique_sync(self, job: JobRef, input: Any = None, **kwargs: Any) -> EnqueueResult:
        result: EnqueueResult = self._sync("enqueue_unique", job, input, **kwargs)
        return result

    def enqueue_many_sync(self, job: JobRef, inputs: Sequence[Any], **kwargs: Any) -> list[int]:
        result: list[int] = self._sync("enqueue_many", job, inputs, **kwargs)
        return result

    def get_run_sync(self, run_id: int) -> JobRun:
        result: JobRun = self._sync("get_run", run_id)
        return result

    def wait_for_sync(self, run_id: int, timeout: timedelta | None = None) -> JobRun:
        result: JobRun = self._sync("wait_for", run_id, timeout)
        return result

    # --- worker --------------------------------------------------------------------------------
    async def run_worker(
        self,
        *,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        burst: bool = False,
        worker_id: str | None = None,
        shutdown_timeout: timedelta | None = None,
        install_signal_handlers: bool = True,
        on_event: Callable[[Any], None] | None = None,
        stop: asyncio.Event | None = None,
        metrics_port: int | None = None,
    ) -> Any:
        """Run a worker until stopped (signal, or ``stop`` set) or, with ``burst``, until nothing
        is due and nothing runs. ``queues`` is a list in priority order (default: the setting);
        ``concurrency`` how many runs it runs at once (default: the setting). With
        ``metrics_port`` (default: the setting), Prometheus metrics are served on it from this
        process, bound before the worker starts (zapjobs[metrics]). Returns a WorkerSummary."""
        from zapjobs.runtime.worker import Worker

        # Validated here, once: the worker, fetcher and store take them as they are.
        served = queues_argument(queues) if queues is not None else None
        if concurrency is not None and (
            not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1
        ):
            raise ValidationError(f"concurrency must be at least 1, got {concurrency!r}")
        grace = (
            duration_argument(shutdown_timeout, name="shutdown_timeout")
            if shutdown_timeout is not None
            else None
        )
        port = self._settings.metrics_port
        if metrics_port is not None:
            try:
                port = parse_port(metrics_port, name="metrics_port")
            except ConfigurationError as exc:
                raise ValidationError(exc.message, hint=exc.hint) from None
        observer = None
        server = None
        if port is not None:
            from zapjobs.metrics import serve_worker_metrics

            observer, server = serve_worker_metrics(self._settings.metrics_host, port)
        try:
            store = await self._ensure_ready()
            worker = Worker(
                store=store,
                registry=self._registry,
                settings=self._settings,
                clock=self._clock,
                queues=served,
                concurrency=concurrency,
                burst=burst,
                worker_id=worker_id,
                shutdown_timeout=grace,
                install_signal_handlers=install_signal_handlers,
                on_event=on_event,
                stop=stop,
                describe_error=self.describe_error,
                observer=observer,
            )
            return await worker.run()
        finally:
            if server is not None:
                server.close()

    # --- recurring -----------------------------------------------------------------------------
    async def recurring(
        self,
        job: JobRef,
        *,
        cron: str | None = None,
        interval: timedelta | None = None,
        timezone: str = "UTC",
        input: Any = None,
        catch_up: CatchUp = CatchUp.LATEST,
    ) -> JobDefinition:
        """Attach (or replace) a recurring schedule to a job type; the scheduler enqueues it."""
        job_type, local = self._resolve(job)
        store = await self._ensure_ready()
        if local is None:
            await self._remote_definition(job_type)
        if cron is None and interval is None:
            raise ValidationError("recurring() needs cron= or interval=")
        schedule = build_schedule(
            job_type=job_type,
            input_codec=local.input_codec if local is not None else _ANY_INPUT,
            cron=cron,
            interval=interval,
            timezone=timezone,
            catch_up=catch_up,
            input=input,
        )
        assert schedule is not None
        return await store.set_schedule(job_type, schedule, next_due_after(schedule, self.now()))

    async def recurring_json(
        self,
        job: JobRef,
        input_json: str,
        *,
        cron: str | None = None,
        interval: timedelta | None = None,
        timezone: str = "UTC",
        catch_up: CatchUp = CatchUp.LATEST,
    ) -> JobDefinition:
        """``recurring`` with the schedule's input given as JSON text (the CLI): parsed, then
        validated against the job's declared type when this process knows the job type."""
        job_type, local = self._resolve(job)
        value = json.loads(check_json_text(input_json, job_type=job_type))
        if local is not None and value is not None:
            value = local.input_codec.decode(value, job_type=job_type)
        return await self.recurring(
            job, cron=cron, interval=interval, timezone=timezone, input=value, catch_up=catch_up
        )

    async def remove_recurring(self, job: JobRef) -> JobDefinition:
        job_type = await self._known_job_type(job)
        return await self._store.set_schedule(job_type, None, None)

    async def pause_schedule(self, job: JobRef) -> JobDefinition:
        """Stop the job type's recurring schedule from enqueuing runs (runs already enqueued
        still execute; enqueue() still works) until ``resume_schedule``."""
        job_type = await self._known_job_type(job)
        return await self._store.set_enabled(job_type, False)

    async def resume_schedule(self, job: JobRef) -> JobDefinition:
        """Let a paused recurring schedule enqueue runs again."""
        job_type = await self._known_job_type(job)
        return await self._store.set_enabled(job_type, True)

    async def pause(self, job: JobRef) -> JobDefinition:
        """Deprecated: ``pause_schedule`` (a queue pause is a different thing)."""
        _deprecated("pause()", "pause_schedule()")
        return await self.pause_schedule(job)

    async def resume(self, job: JobRef) -> JobDefinition:
        """Deprecated: ``resume_schedule``."""
        _deprecated("resume()", "resume_schedule()")
        return await self.resume_schedule(job)

    # --- queues (pausing a queue stops claims; pause_schedule stops a job type's schedule) ---
    async def list_queues(self, *, stats: Stats | None = None) -> list[QueueInfo]:
        """Every queue: paused or not, pending (due now), scheduled and running runs, lag (how
        long the oldest pending run has waited), the live workers serving it, and the runs
        finished in the last minute. Reads only unfinished runs and the last minute of finished
        ones, so it stays cheap on a large table. ``stats``: counts just read by ``stats()``,
        built on instead of read again (the dashboard's Overview shows both)."""
        store = await self._ensure_ready()
        now = self.now()
        counts = (stats or await store.stats(now=self._store_now())).by_queue
        paused = await store.queue_states()
        workers = await store.list_workers()
        finished = await store.finished_per_queue(
            since=now - timedelta(minutes=1), now=self._store_now()
        )
        definitions = await store.list_definitions()
        known = {d.queue for d in definitions} | {
            t.queue or self._settings.default_queue for t in self._registry
        }
        limits = {x.name: x for x in await store.list_flow_limits() if x.scope is LimitScope.QUEUE}
        return queue_infos(
            counts=counts,
            paused=paused,
            limits=limits,
            workers=workers,
            finished_last_minute=finished,
            known=known,
            now=now,
            stale_after_seconds=self._settings.stale_worker_threshold.total_seconds(),
        )

    async def pause_queue(self, queue: str) -> None:
        """Stop every worker from claiming the queue's runs (from its next claim on: the claim
        reads the pause in the database). Running runs finish; enqueue() still works. Not to be
        confused with ``pause_schedule``, which stops a job type's recurring schedule."""
        await self._set_queue_paused(queue, True)

    async def resume_queue(self, queue: str) -> None:
        """Let workers claim the queue's runs again; its workers are woken at once."""
        await self._set_queue_paused(queue, False)

    async def _set_queue_paused(self, queue: str, paused: bool) -> None:
        name = await self._known_queue(queue)
        await (await self._ensure_ready()).set_queue_paused(name, paused, now=self._store_now())

    async def purge_queue(
        self, queue: str, statuses: Sequence[RunStatus] = (RunStatus.PENDING,)
    ) -> int:
        """Delete the queue's runs in ``statuses`` (default: pending, which includes scheduled
        runs), with their logs; returns how many. Running runs are never purged."""
        items = sequence_argument(statuses, name="statuses", example="['pending']")
        try:
            wanted = tuple(RunStatus(s) for s in items)
        except ValueError:
            raise ValidationError(
                f"unknown status in {list(items)!r}",
                hint="choose among pending, succeeded, failed, cancelled",
            ) from None
        if not wanted or RunStatus.RUNNING in wanted:
            raise ValidationError(
                "purge cannot delete running runs" if wanted else "purge needs a status",
                hint="choose among pending, succeeded, failed, cancelled; cancel running runs "
                "with cancel_runs",
            )
        name = await self._known_queue(queue)
        store = await self._ensure_ready()
        return len(await store.delete_runs(RunFilter(queues=(name,), statuses=wanted)))

    async def _known_queue(self, queue: str) -> str:
        """The queue's name, if some job type, run, worker or pause names it."""
        name = queue_argument(queue)
        known = [q.name for q in await self.list_queues()]
        if name not in known:
            raise ValidationError(
                f"unknown queue {name!r}",
                hint=f"known queues: {', '.join(known) or '(none)'}; see `zapjobs queues list`",
            )
        return name

    async def trigger(self, job: JobRef, input: Any = None) -> int:
        """Enqueue a run now (the schedule's input when ``input`` is None)."""
        job_type, _ = self._resolve(job)
        if input is not None:
            return await self.enqueue(job, input)
        definition = await self.get_definition(job_type)
        if definition.schedule is not None:
            return await self.enqueue(job_type, _Json(definition.schedule.input_json))
        return await self.enqueue(job, None)

    async def _known_job_type(self, job: JobRef) -> str:
        job_type, local = self._resolve(job)
        await self._ensure_ready()
        if local is None:
            await self.get_definition(job_type)
        return job_type

    # --- queries (the read-model of the CLI and the dashboard) ---------------------------------
    async def list_definitions(self) -> list[JobDefinition]:
        return await (await self._ensure_ready()).list_definitions()

    async def get_definition(self, job: JobRef) -> JobDefinition:
        """Raises UnknownJobTypeError."""
        job_type, _ = self._resolve(job)
        definition = await (await self._ensure_ready()).get_definition(job_type)
        if definition is None:
            raise UnknownJobTypeError(job_type, known=self._registry.ids)
        return definition

    async def list_runs(
        self, selection: RunFilter | None = None, page: Page | None = None
    ) -> list[JobRun]:
        store = await self._ensure_ready()
        return await store.list_runs(self._with_now(selection), page or Page())

    async def latest_runs(self, job_types: Sequence[str]) -> dict[str, JobRun]:
        """The newest run of each job type that has one, by job type: one indexed statement
        for all of them (the Jobs view's "last run"), however long the history."""
        if isinstance(job_types, str):
            raise TypeError("job_types takes a list of job types, not one string")
        store = await self._ensure_ready()
        return {r.job_type: r for r in await store.latest_runs(list(job_types))}

    async def latest_failures(self, limit: int = 5) -> list[JobRun]:
        """The failed runs that finished last, newest finish first (an old run retried fails
        now): one statement on the failed runs' finish-time index, however long the history."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ValidationError("limit must be a whole number of runs, 0 or more")
        store = await self._ensure_ready()
        return await store.latest_failures(limit)

    async def count_runs(self, selection: RunFilter | None = None) -> int:
        return await (await self._ensure_ready()).count_runs(self._with_now(selection))

    def _with_now(self, selection: RunFilter | None) -> RunFilter:
        """A filter on "scheduled" compares with our clock when one was injected."""
        selection = selection or RunFilter()
        if selection.scheduled is not None and selection.now is None and self._clock is not None:
            from dataclasses import replace

            selection = replace(selection, now=self._clock.now())
        return selection

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
        """A run's log entries by id between the cursors, in the order written or newest
        first, optionally only those containing ``search`` (see ``Store.list_logs``)."""
        store = await self._ensure_ready()
        return await store.list_logs(
            run_id,
            after_id=after_id,
            before_id=before_id,
            min_level=min_level,
            search=search,
            newest_first=newest_first,
            limit=limit,
        )

    async def count_logs(self, run_id: int, *, min_level: LogLevel | None = None) -> int:
        """How many log entries the run has (at or above ``min_level``)."""
        return await (await self._ensure_ready()).count_logs(run_id, min_level=min_level)

    async def stats(self) -> Stats:
        """Exact counts by status and queue (see ``Stats``); its cost does not grow with the
        number of finished runs."""
        return await (await self._ensure_ready()).stats(now=self._store_now())

    async def throughput(self, window: timedelta = timedelta(hours=1)) -> list[ThroughputPoint]:
        store = await self._ensure_ready()
        return await store.throughput(since=self.now() - window, now=self._store_now())

    async def error_groups(
        self, window: timedelta = timedelta(hours=24), limit: int = 10
    ) -> list[ErrorGroup]:
        store = await self._ensure_ready()
        return await store.error_groups(since=self.now() - window, limit=limit)

    async def job_type_stats(
        self, window: timedelta = timedelta(hours=1)
    ) -> dict[str, JobTypeStats]:
        """Per job type, the runs that succeeded or failed within ``window`` (up to now): counts,
        success rate and p50/p95 durations (see ``JobTypeStats``); job types without such runs
        are absent. One statement for every job type, over the window's finished runs only."""
        span = duration_argument(window, name="window")
        store = await self._ensure_ready()
        found = await store.job_type_stats(since=self.now() - span, now=self._store_now())
        return {s.job_type: s for s in found}

    async def backlog(self) -> list[Backlog]:
        """Pending (due now), scheduled and running runs per queue and job type, with the
        oldest due time of the pending ones. Cheap on a large table: it reads only unfinished
        runs (``zapjobs metrics`` runs it at every scrape)."""
        return await (await self._ensure_ready()).backlog(now=self._store_now())

    async def recent_failures(self, window: timedelta = timedelta(minutes=5)) -> list[FailureCount]:
        """Runs that failed for good within ``window`` (up to now), per queue and job type."""
        span = duration_argument(window, name="window")
        store = await self._ensure_ready()
        return await store.failures_since(since=self.now() - span)

    async def list_workers(self) -> list[WorkerInfo]:
        return await (await self._ensure_ready()).list_workers()

    async def get_worker(self, worker_id: str) -> WorkerInfo | None:
        """One worker by its id (as ``run_worker(worker_id=...)`` or ``--worker-id`` named it),
        or None when no worker with that id is known."""
        return await (await self._ensure_ready()).get_worker(worker_id)

    async def diagnose(self) -> Diagnosis:
        """The checklist of ``zapjobs doctor``: server settings, schema, NOTIFY, clock skew,
        workers, queues, late runs, table sizes and retention, each with a verdict and what to
        do. Only reads; works on an unmigrated database (the installation's checks are then
        skipped) and reports an unreachable one as its single line."""
        try:
            async with self._open_lock:
                await self._open_store()
            migrations = await self._store.migration_status()
            version = await self._store.server_version()
        except StoreError as exc:
            return unreachable(self.describe_error(exc))
        facts = await gather_facts(
            self._store,
            self._settings,
            migrations=migrations,
            server_version=version,
            clock=self._clock,
        )
        return diagnose(facts)

    # --- actions -------------------------------------------------------------------------------
    async def retry_runs(self, selection: RunFilter) -> list[int]:
        store = await self._ensure_ready()
        return await store.retry_runs(self._with_now(selection), now=self._store_now())

    async def cancel_runs(self, selection: RunFilter) -> CancelledRuns:
        """Cancel the matching pending runs and ask the workers of the matching running ones
        to stop them; the result (a list of the ids) says which was which."""
        store = await self._ensure_ready()
        return await store.cancel_runs(self._with_now(selection), now=self._store_now())

    async def delete_runs(self, selection: RunFilter) -> list[int]:
        return await (await self._ensure_ready()).delete_runs(self._with_now(selection))

    async def set_overrides(
        self, job: JobRef, *, max_retries: int | None, timeout: timedelta | None
    ) -> JobDefinition:
        job_type, _ = self._resolve(job)
        if max_retries is not None:
            validate_max_retries(max_retries)
        seconds = None
        if timeout is not None:
            seconds = duration_argument(timeout, name="timeout").total_seconds()
            if seconds <= 0:
                raise ValidationError("timeout must be greater than zero")
        store = await self._ensure_ready()
        self._remote_definitions.pop(job_type, None)
        return await store.set_overrides(job_type, max_retries=max_retries, timeout_seconds=seconds)

    # --- flow control: concurrency caps and rate limits (zapjobs.core.flow) --------------------
    async def list_flow_limits(self) -> list[FlowLimit]:
        """The stored limits of every job type and queue that has a limits row: declared (code,
        settings) and the operator's overrides; ``effective_*`` is what claims enforce."""
        return await (await self._ensure_ready()).list_flow_limits()

    async def job_limits(self, job: JobRef) -> FlowLimit:
        """A job type's limits as stored, else as this process's code declares them."""
        job_type, local = self._resolve(job)
        for limit in await self.list_flow_limits():
            if limit.scope is LimitScope.JOB and limit.name == job_type:
                return limit
        return local.flow_limit() if local is not None else FlowLimit(LimitScope.JOB, job_type)

    async def set_job_limits(
        self,
        job: JobRef,
        *,
        max_concurrency: int | None,
        rate_limit: str | RateLimit | None,
    ) -> FlowLimit:
        """Override (or with None clear the override of) a job type's concurrency cap and rate
        limit at run time, like ``set_overrides`` for retries: every worker's next claim
        enforces them. Raises UnknownJobTypeError for a job type nobody registered."""
        job_type, local = self._resolve(job)
        cap, rate = _flow_arguments(max_concurrency, rate_limit)
        store = await self._ensure_ready()
        if local is None:
            await self._remote_definition(job_type)
        return await store.set_flow_override(
            LimitScope.JOB, job_type, max_concurrency=cap, rate_limit=rate, now=self._store_now()
        )

    async def set_queue_limits(
        self,
        queue: str,
        *,
        max_concurrency: int | None,
        rate_limit: str | RateLimit | None,
    ) -> FlowLimit:
        """Override (or with None clear the override of) a queue's concurrency cap and rate
        limit: they count the runs of every job type in the queue. Settings declare them too
        (``queue_limits``); this wins. Raises ValidationError for an unknown queue."""
        cap, rate = _flow_arguments(max_concurrency, rate_limit)
        name = await self._known_queue(queue)
        store = await self._ensure_ready()
        return await store.set_flow_override(
            LimitScope.QUEUE, name, max_concurrency=cap, rate_limit=rate, now=self._store_now()
        )

    async def prune(self) -> PruneResult:
        store = await self._ensure_ready()
        return await maintenance.prune(store, self._settings, self._store_now())

    async def rescue_stale(self) -> RescueResult:
        store = await self._ensure_ready()
        return await maintenance.rescue_stale(store, self._settings, self._store_now())


def store_of(zap: ZapJobs) -> Store:
    """The store under ``zap`` (created when needed; opened by ``zap.open()``), for tests that
    seed or inspect it directly. Re-exported by ``zapjobs.testing``; not for applications."""
    return zap._store


class _Json:
    """Input already serialised to JSON text (a stored schedule's input, the CLI's text)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _deprecated(old: str, new: str) -> None:
    warn_deprecated(f"{old} is deprecated; use {new}")


def _parents_argument(after: Sequence[int]) -> tuple[int, ...]:
    """``after=`` as run ids: a list of whole numbers (a bare id or string is refused)."""
    if isinstance(after, int) and not isinstance(after, bool):
        raise ValidationError(f"after= must be a list of run ids, got {after!r}", hint="after=[12]")
    return tuple(sequence_argument(after, name="after", example="[12, 13]"))


def _policy_argument(value: ParentFailure | str) -> ParentFailure:
    try:
        return ParentFailure(value)
    except ValueError:
        raise ValidationError(
            f"on_parent_failure must be 'cancel' or 'run', got {value!r}"
        ) from None


def _check_priority(priority: int) -> None:
    low, high = _PRIORITY_RANGE
    if not isinstance(priority, int) or isinstance(priority, bool) or not low <= priority <= high:
        raise ValidationError(
            f"priority must be a whole number in [{low}, {high}], got {priority!r}"
        )


def _flow_arguments(
    max_concurrency: int | None, rate_limit: str | RateLimit | None
) -> tuple[int | None, RateLimit | None]:
    cap = None if max_concurrency is None else check_max_concurrency(max_concurrency)
    rate = None if rate_limit is None else parse_rate_limit(rate_limit)
    return cap, rate
