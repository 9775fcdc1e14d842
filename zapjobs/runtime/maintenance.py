"""Maintenance: the recurring-job scheduler, stale-worker rescue and retention.

Every worker may run it at once: the store makes each duty safe under concurrency (a schedule
advances by compare-and-set and a due time is unique per job type, a lost run is rescued once),
so no leader election is needed. The pure planning lives in ``zapjobs.core.schedule``.

A worker's maintenance rescues only while ``may_rescue`` says so: after its own heartbeats have
succeeded without a gap for the stale threshold (fencing, see runtime/heartbeat.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from zapjobs.clock import Clock
from zapjobs.core.backoff import ReconnectSchedule
from zapjobs.core.schedule import plan_fire
from zapjobs.models import JobDefinition, NewRun, PruneResult, RescueResult
from zapjobs.runtime.backoff import Outages, is_outage
from zapjobs.settings import Settings, scrub
from zapjobs.stores.base import Store

logger = logging.getLogger("zapjobs.maintenance")
T = TypeVar("T")

PRUNE_INTERVAL = timedelta(minutes=10)
PRUNE_BATCH_SIZE = 1000
MIN_WORKER_RETENTION = timedelta(days=1)  # dead workers stay visible at least this long
MIN_SLEEP = 0.01  # seconds; an every-second schedule fires every second
FIRST_BACKOFF = 0.5  # seconds after a failed pass, doubling up to polling_interval


@dataclass(frozen=True)
class FiredSchedule:
    """One schedule this scheduler advanced; ``run_ids`` is empty when another scheduler won
    the race or the catch-up policy skipped the missed due times."""

    job_type: str
    due_times: tuple[datetime, ...]
    run_ids: tuple[int, ...]
    next_due_at: datetime


@dataclass(frozen=True)
class SchedulesFired:
    """Recurring runs enqueued in one pass (only schedules that inserted a run)."""

    schedules: tuple[FiredSchedule, ...]


@dataclass(frozen=True)
class RunsRescued:
    workers_marked_dead: tuple[str, ...]
    runs_retried: tuple[int, ...]
    runs_failed: tuple[int, ...]


@dataclass(frozen=True)
class Pruned:
    runs_deleted: int
    logs_deleted: int
    workers_deleted: int


@dataclass(frozen=True)
class MaintenanceReport:
    """What one pass did; a duty that was not due (or failed) is None."""

    now: datetime
    fired: tuple[FiredSchedule, ...] = ()
    rescued: RescueResult | None = None
    pruned: PruneResult | None = None
    next_due_at: datetime | None = None  # earliest next due time of an enabled schedule
    errors: tuple[str, ...] = ()


MaintenanceEvent = SchedulesFired | RunsRescued | Pruned


class Maintenance:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Clock | None = None,
        worker_id: str,
        scheduler: bool = True,
        on_event: Callable[[object], None] | None = None,
        may_rescue: Callable[[], bool] | None = None,
        outages: Outages | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.worker_id = worker_id
        self.scheduler = scheduler
        self._on_event = on_event
        self._may_rescue = may_rescue
        self._outages = outages or Outages(logger, describe_error=self._describe)
        self._last_rescue: datetime | None = None
        self._last_prune: datetime | None = None

    # --- the loop -----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Run passes until ``stop`` is set; a failing store is logged and retried with backoff."""
        failures = 0
        while not stop.is_set():
            try:
                report = await self.run_once()
            except Exception as exc:  # run_once contains its duties' errors; this is a bug guard
                report = None
                logger.warning("maintenance pass failed: %s", self._describe(exc))
            if report is None or report.errors:
                failures += 1
                delay = self._backoff(failures)
            else:
                failures = 0
                self._outages.succeeded("maintenance")
                delay = self._delay(report)
            try:
                async with asyncio.timeout(delay):
                    await stop.wait()
            except TimeoutError:
                pass

    async def run_once(self, now: datetime | None = None) -> MaintenanceReport:
        """One pass of each duty that is due: the scheduler always, rescue every
        ``heartbeat_interval``, retention every 10 minutes (and on the first pass)."""
        store_now = now if now is not None else (self.clock.now() if self.clock else None)
        at = store_now if store_now is not None else datetime.now(UTC)
        errors: list[str] = []
        fired: tuple[FiredSchedule, ...] = ()
        next_due_at: datetime | None = None
        if self.scheduler:
            fired, next_due_at = await self._guard(
                "schedule", errors, self.fire_schedules(at, store_now), ((), None)
            )
        rescued = None
        may_rescue = self._may_rescue is None or self._may_rescue()
        if may_rescue and _is_due(self._last_rescue, self.settings.heartbeat_interval, at):
            rescued = await self._guard("rescue", errors, self.rescue(store_now), None)
            if rescued is not None:
                self._last_rescue = at
        pruned = None
        if _is_due(self._last_prune, PRUNE_INTERVAL, at):
            pruned = await self._guard("retention", errors, self.prune(store_now), None)
            if pruned is not None:
                self._last_prune = at
        return MaintenanceReport(at, fired, rescued, pruned, next_due_at, tuple(errors))

    # --- duties -------------------------------------------------------------------------------
    async def fire_schedules(
        self, at: datetime, store_now: datetime | None = None
    ) -> tuple[tuple[FiredSchedule, ...], datetime | None]:
        """Enqueue every due schedule's runs; return them and the earliest next due time."""
        fired: list[FiredSchedule] = []
        for definition in await self.store.due_schedules(store_now):
            result = await self._fire(definition, at)
            if result is not None:
                fired.append(result)
        inserted = tuple(f for f in fired if f.run_ids)
        if inserted:
            self._emit(SchedulesFired(inserted))
        return tuple(fired), await self._earliest_due()

    async def _fire(self, definition: JobDefinition, at: datetime) -> FiredSchedule | None:
        schedule = definition.schedule
        if schedule is None:
            return None
        try:
            plan = plan_fire(schedule, definition.next_due_at, at)
        except Exception as exc:
            logger.error(
                "recurring job %r has an unusable schedule: %s",
                definition.job_type,
                self._describe(exc),
            )
            return None
        if not plan.due_times and plan.new_next_due_at == definition.next_due_at:
            return None  # due by the store's clock, not yet by ours
        runs = [
            NewRun(
                definition.job_type,
                input_json=schedule.input_json,
                queue=definition.queue,
                run_at=due,
                schedule_due_at=due,
                max_attempts=definition.max_attempts,
            )
            for due in plan.due_times
        ]
        ids = await self.store.fire_schedule(
            definition.job_type,
            expected_next_due_at=definition.next_due_at,
            new_next_due_at=plan.new_next_due_at,
            runs=runs,
        )
        return FiredSchedule(definition.job_type, plan.due_times, tuple(ids), plan.new_next_due_at)

    async def _earliest_due(self) -> datetime | None:
        due = [
            d.next_due_at
            for d in await self.store.list_definitions()
            if d.enabled and d.schedule is not None and d.next_due_at is not None
        ]
        return min(due, default=None)

    async def rescue(self, store_now: datetime | None = None) -> RescueResult:
        result = await rescue_stale(self.store, self.settings, store_now)
        if result.workers_marked_dead or result.runs_retried or result.runs_failed:
            for worker in result.workers_marked_dead:
                logger.warning("worker %s stopped sending heartbeats; marked dead", worker)
            self._emit(RunsRescued(*_fields(result)))
        return result

    async def prune(self, store_now: datetime | None = None) -> PruneResult:
        result = await prune(self.store, self.settings, store_now)
        if result.runs_deleted or result.logs_deleted or result.workers_deleted:
            self._emit(Pruned(result.runs_deleted, result.logs_deleted, result.workers_deleted))
        return result

    # --- helpers ------------------------------------------------------------------------------
    async def _guard(self, duty: str, errors: list[str], work: Awaitable[T], failed: T) -> T:
        """Await one duty; a failure is logged (scrubbed) and recorded, not raised."""
        try:
            return await work
        except Exception as exc:
            message = f"{duty}: {self._describe(exc)}"
            if is_outage(exc):  # one line per outage, see runtime/backoff.py
                self._outages.failed("maintenance", exc)
            else:
                logger.warning("maintenance %s", message)
            errors.append(message)
            return failed

    def _delay(self, report: MaintenanceReport) -> float:
        """Seconds until the next duty is due: the earliest schedule, rescue or retention."""
        cap = self.settings.polling_interval.total_seconds()
        deadlines = []
        if self.scheduler and report.next_due_at is not None:
            deadlines.append(report.next_due_at)
        if self._last_rescue is not None:
            deadlines.append(self._last_rescue + self.settings.heartbeat_interval)
        if self._last_prune is not None:
            deadlines.append(self._last_prune + PRUNE_INTERVAL)
        now = self.clock.now() if self.clock is not None else datetime.now(UTC)
        wait = min([(d - now).total_seconds() for d in deadlines], default=cap)
        return max(MIN_SLEEP, min(cap, wait))

    def _backoff(self, failures: int) -> float:
        cap = max(FIRST_BACKOFF, self.settings.polling_interval.total_seconds())
        return max(MIN_SLEEP, ReconnectSchedule(first=FIRST_BACKOFF, cap=cap).delay(failures))

    def _emit(self, event: MaintenanceEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            logger.exception("the on_event handler failed on %r", event)

    def _describe(self, exc: BaseException) -> str:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        text = scrub(text, self.settings.database_url)
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def rescue_stale(
    store: Store, settings: Settings, store_now: datetime | None = None
) -> RescueResult:
    """The stale-worker rescue with the settings' threshold (maintenance and ``ZapJobs``)."""
    return await store.rescue_stale(stale_after=settings.stale_worker_threshold, now=store_now)


async def prune(store: Store, settings: Settings, store_now: datetime | None = None) -> PruneResult:
    """Retention with the settings' periods (maintenance and ``ZapJobs``)."""
    return await store.prune(
        run_retention=settings.job_retention,
        log_retention=settings.log_retention,
        worker_retention=max(settings.job_retention, MIN_WORKER_RETENTION),
        batch_size=PRUNE_BATCH_SIZE,
        now=store_now,
    )


def _is_due(last: datetime | None, every: timedelta, now: datetime) -> bool:
    """Never ran, its period passed, or the clock went back (a test moved it)."""
    return last is None or now >= last + every or now < last


def _fields(result: RescueResult) -> tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]:
    return result.workers_marked_dead, result.runs_retried, result.runs_failed
