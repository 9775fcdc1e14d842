"""ZapJobs: the job-type registry plus a store. CONTRACT STUB: signatures are fixed, the engine
helper fills in the bodies (see the brief). The CLI and the dashboard code against these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from zapjobs.clock import Clock
from zapjobs.core.retry import RetryPolicy
from zapjobs.models import (
    CatchUp,
    ErrorGroup,
    JobDefinition,
    JobRun,
    LogEntry,
    LogLevel,
    MigrationStatus,
    Page,
    PruneResult,
    RescueResult,
    RunFilter,
    Stats,
    ThroughputPoint,
    WorkerInfo,
)
from zapjobs.settings import Settings
from zapjobs.stores.base import Store

JobRef = Any  # a job type id (str), a decorated job function, or a Job subclass


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
        raise NotImplementedError

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
    ) -> Callable[[Callable[..., Any]], Any]:
        raise NotImplementedError

    def add_job(self, job_class: type[Any]) -> type[Any]:
        raise NotImplementedError

    @property
    def job_types(self) -> list[str]:
        raise NotImplementedError

    @property
    def settings(self) -> Settings:
        raise NotImplementedError

    @property
    def store(self) -> Store:
        raise NotImplementedError

    # --- lifecycle -----------------------------------------------------------------------------
    async def open(self) -> None:
        """Open the store; migrate when auto_migrate; sync code definitions into the store."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> ZapJobs:
        raise NotImplementedError

    async def __aexit__(self, *exc: object) -> None:
        raise NotImplementedError

    async def migrate(self) -> list[int]:
        raise NotImplementedError

    async def migration_status(self) -> MigrationStatus:
        raise NotImplementedError

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
        connection: Any = None,
    ) -> int:
        raise NotImplementedError

    async def schedule(
        self,
        job: JobRef,
        input: Any = None,
        *,
        delay: timedelta | None = None,
        run_at: datetime | None = None,
        queue: str | None = None,
        priority: int = 0,
        connection: Any = None,
    ) -> int:
        raise NotImplementedError

    async def enqueue_many(
        self,
        job: JobRef,
        inputs: Sequence[Any],
        *,
        queue: str | None = None,
        priority: int = 0,
        delay: timedelta | None = None,
        connection: Any = None,
    ) -> list[int]:
        raise NotImplementedError

    async def get_run(self, run_id: int) -> JobRun:
        """Raises RunNotFoundError."""
        raise NotImplementedError

    async def wait_for(self, run_id: int, timeout: timedelta | None = None) -> JobRun:
        """Wait until the run is final; raises WaitTimeoutError after ``timeout``."""
        raise NotImplementedError

    # sync twins (thin wrappers over the async core, for Django views and scripts)
    def enqueue_sync(self, job: JobRef, input: Any = None, **kwargs: Any) -> int:
        raise NotImplementedError

    def schedule_sync(self, job: JobRef, input: Any = None, **kwargs: Any) -> int:
        raise NotImplementedError

    def enqueue_many_sync(self, job: JobRef, inputs: Sequence[Any], **kwargs: Any) -> list[int]:
        raise NotImplementedError

    def get_run_sync(self, run_id: int) -> JobRun:
        raise NotImplementedError

    def wait_for_sync(self, run_id: int, timeout: timedelta | None = None) -> JobRun:
        raise NotImplementedError

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
    ) -> Any:
        """Run a worker until stopped (signal) or, with ``burst``, until nothing is due."""
        raise NotImplementedError

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
        raise NotImplementedError

    async def remove_recurring(self, job: JobRef) -> JobDefinition:
        raise NotImplementedError

    async def pause(self, job: JobRef) -> JobDefinition:
        raise NotImplementedError

    async def resume(self, job: JobRef) -> JobDefinition:
        raise NotImplementedError

    async def trigger(self, job: JobRef, input: Any = None) -> int:
        """Enqueue a run now (the schedule's input when ``input`` is None)."""
        raise NotImplementedError

    # --- queries (the read-model of the CLI and the dashboard) ---------------------------------
    async def list_definitions(self) -> list[JobDefinition]:
        raise NotImplementedError

    async def get_definition(self, job: JobRef) -> JobDefinition:
        """Raises UnknownJobTypeError."""
        raise NotImplementedError

    async def list_runs(
        self, selection: RunFilter | None = None, page: Page | None = None
    ) -> list[JobRun]:
        raise NotImplementedError

    async def count_runs(self, selection: RunFilter | None = None) -> int:
        raise NotImplementedError

    async def list_logs(
        self,
        run_id: int,
        *,
        after_id: int | None = None,
        min_level: LogLevel | None = None,
        limit: int = 1000,
    ) -> list[LogEntry]:
        raise NotImplementedError

    async def stats(self) -> Stats:
        raise NotImplementedError

    async def throughput(self, window: timedelta = timedelta(hours=1)) -> list[ThroughputPoint]:
        raise NotImplementedError

    async def error_groups(
        self, window: timedelta = timedelta(hours=24), limit: int = 10
    ) -> list[ErrorGroup]:
        raise NotImplementedError

    async def list_workers(self) -> list[WorkerInfo]:
        raise NotImplementedError

    def now(self) -> datetime:
        """The clock's now (the system clock unless one was injected)."""
        raise NotImplementedError

    # --- actions -------------------------------------------------------------------------------
    async def retry_runs(self, selection: RunFilter) -> list[int]:
        raise NotImplementedError

    async def cancel_runs(self, selection: RunFilter) -> list[int]:
        raise NotImplementedError

    async def delete_runs(self, selection: RunFilter) -> list[int]:
        raise NotImplementedError

    async def set_overrides(
        self, job: JobRef, *, max_retries: int | None, timeout: timedelta | None
    ) -> JobDefinition:
        raise NotImplementedError

    async def prune(self) -> PruneResult:
        raise NotImplementedError

    async def rescue_stale(self) -> RescueResult:
        raise NotImplementedError
