"""Where the dashboard's data comes from: the public ZapJobs API only, turned into view models.

Screens talk to a ``DashboardSource``; ``ZapJobsSource`` is the real one. Every listing asks
for a page or a limit, never for all rows.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from zapjobs.errors import InvalidStateError, NotMigratedError, StoreError, ZapJobsError
from zapjobs.models import LimitScope, LogLevel, Page, QueueInfo, RunFilter
from zapjobs.settings import mask_dsn, scrub
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

if TYPE_CHECKING:
    from zapjobs import ZapJobs

LATEST_FAILURES = 5
ERROR_GROUP_WINDOW = timedelta(hours=24)
LOG_BATCH = 500


class DashboardSource(Protocol):
    """What the screens may ask. Reads return view models; actions return the ids changed."""

    def describe(self) -> str:
        """Where the data comes from, password masked (shown in the status bar)."""
        ...

    def now(self) -> datetime: ...

    def explain(self, exc: BaseException) -> str:
        """One line for the status bar; never a password."""
        ...

    async def close(self) -> None: ...

    async def overview(self, now: datetime, chart: ChartRange = CHART_RANGES[0]) -> Overview: ...

    async def jobs(self, now: datetime) -> tuple[JobRow, ...]: ...

    async def runs(self, selection: RunFilter, page: Page, now: datetime) -> RunsPage: ...

    async def count_runs(self, selection: RunFilter) -> int: ...

    async def run_detail(self, run_id: int, now: datetime) -> RunDetail: ...

    async def logs(
        self,
        run_id: int,
        *,
        after_id: int | None = None,
        before_id: int | None = None,
        min_level: LogLevel | None = None,
        search: str | None = None,
        newest_first: bool = False,
        limit: int = LOG_BATCH,
    ) -> tuple[LogLine, ...]:
        """One page of a run's log lines (see ``ZapJobs.list_logs``)."""
        ...

    async def log_count(self, run_id: int, min_level: LogLevel | None) -> int: ...

    async def workers(self, now: datetime) -> tuple[WorkerRow, ...]: ...

    async def retry_runs(self, selection: RunFilter) -> list[int]: ...

    async def cancel_runs(self, selection: RunFilter) -> list[int]: ...

    async def delete_runs(self, selection: RunFilter) -> list[int]: ...

    async def trigger(self, job_type: str, input_json: str | None = None) -> int: ...

    def input_problem(self, job_type: str, input_json: str) -> str | None:
        """Why ``input_json`` is not a valid input of ``job_type`` (bad JSON, or refused by the
        job type's declared input type), or None; None too when this process cannot tell."""
        ...

    def expected_input(self, job_type: str) -> str:
        """The input type ``job_type`` declares, in words."""
        ...

    async def pause(self, job_type: str) -> None: ...

    async def resume(self, job_type: str) -> None: ...

    # --- queues (the Queues view) -----------------------------------------------------------
    async def queues(self, now: datetime) -> tuple[QueueInfo, ...]: ...

    async def pause_queue(self, queue: str) -> None: ...

    async def resume_queue(self, queue: str) -> None: ...

    async def purge_queue(self, queue: str) -> int:
        """Delete the queue's pending runs (scheduled included); how many."""
        ...


class ZapJobsSource:
    """Reads and acts through a ``ZapJobs`` object, opening it lazily on the dashboard's own
    event loop (and again after a failed open, so a dashboard started while the database is
    down connects once it is back)."""

    def __init__(self, zap: ZapJobs) -> None:
        self.zap = zap
        self._dsn = zap.settings.database_url
        self._opened = False

    def describe(self) -> str:
        return mask_dsn(self._dsn)

    def now(self) -> datetime:
        return self.zap.now()

    def explain(self, exc: BaseException) -> str:
        text = str(exc) if isinstance(exc, ZapJobsError) else f"{type(exc).__name__}: {exc}"
        lines = text.strip().splitlines()
        return scrub(lines[0] if lines else type(exc).__name__, self._dsn)

    async def _ready(self) -> ZapJobs:
        if not self._opened:
            try:
                await self.zap.open()
            except BaseException:
                with contextlib.suppress(Exception):  # best effort: the open already failed
                    await self.zap.close()
                raise
            self._opened = True
        return self.zap

    async def check_migrated(self) -> None:
        """Open now; raise NotMigratedError if the store answers but is not migrated (an
        unreachable store is left to the refresh loop, which retries)."""
        try:
            await self._ready()
        except NotMigratedError:
            raise
        except ZapJobsError:
            return

    async def close(self) -> None:
        if self._opened:
            self._opened = False
            await self.zap.close()

    async def overview(self, now: datetime, chart: ChartRange = CHART_RANGES[0]) -> Overview:
        zap = await self._ready()
        stats = await zap.stats()
        queues = await zap.list_queues(stats=stats)  # lag and throughput, counts not read again
        points = await zap.throughput(max(chart.window, timedelta(hours=1)))
        workers = await self.workers(now)
        jobs = [job_row(d, None) for d in await zap.list_definitions()]
        failures = await zap.latest_failures(LATEST_FAILURES)
        groups = await zap.error_groups(ERROR_GROUP_WINDOW, limit=8)
        return Overview(
            stats=stats,
            throughput=minute_series(points, now, chart),
            finished_last_hour=last_hour(points, now),
            chart=chart,
            workers=workers,
            next_recurring=next_recurring(jobs),
            latest_failures=tuple(run_row(r, now) for r in failures),
            error_groups=tuple(groups),
            queues=tuple(queues),
        )

    async def jobs(self, now: datetime) -> tuple[JobRow, ...]:
        """The definitions, the newest run of every job type, the limits and the last hour's
        health: four statements, not one per job type."""
        zap = await self._ready()
        definitions = await zap.list_definitions()
        latest = await zap.latest_runs([d.job_type for d in definitions])
        limits = {x.name: x for x in await zap.list_flow_limits() if x.scope is LimitScope.JOB}
        recent = await zap.job_type_stats()  # the last hour, as the headers say
        return tuple(
            job_row(
                d,
                run_row(latest[d.job_type], now) if d.job_type in latest else None,
                limits.get(d.job_type),
                recent.get(d.job_type),
            )
            for d in definitions
        )

    async def runs(self, selection: RunFilter, page: Page, now: datetime) -> RunsPage:
        """One page; one extra row is asked for to know whether a next page exists."""
        zap = await self._ready()
        found = await zap.list_runs(selection, replace(page, limit=page.limit + 1))
        rows = tuple(run_row(r, now) for r in found[: page.limit])
        if len(found) <= page.limit:
            return RunsPage(rows, selection, page, has_more=False)
        after = page.following(found[page.limit - 1]).after
        return RunsPage(rows, selection, page, has_more=True, next_after=after)

    async def count_runs(self, selection: RunFilter) -> int:
        zap = await self._ready()
        return await zap.count_runs(selection)

    async def run_detail(self, run_id: int, now: datetime) -> RunDetail:
        zap = await self._ready()
        run = await zap.get_run(run_id)
        try:
            definition = await zap.get_definition(run.job_type)
        except ZapJobsError:
            definition = None
        links = await zap.run_links(run_id, limit=WORKFLOW_NODES)
        return run_detail(run, definition, now, links)

    async def logs(
        self,
        run_id: int,
        *,
        after_id: int | None = None,
        before_id: int | None = None,
        min_level: LogLevel | None = None,
        search: str | None = None,
        newest_first: bool = False,
        limit: int = LOG_BATCH,
    ) -> tuple[LogLine, ...]:
        zap = await self._ready()
        entries = await zap.list_logs(
            run_id,
            after_id=after_id,
            before_id=before_id,
            min_level=min_level,
            search=search,
            newest_first=newest_first,
            limit=limit,
        )
        return tuple(log_line(e) for e in entries)

    async def log_count(self, run_id: int, min_level: LogLevel | None) -> int:
        zap = await self._ready()
        return await zap.count_logs(run_id, min_level=min_level)

    async def workers(self, now: datetime) -> tuple[WorkerRow, ...]:
        zap = await self._ready()
        stale_after = zap.settings.stale_worker_threshold
        return tuple(worker_row(w, now, stale_after) for w in await zap.list_workers())

    async def retry_runs(self, selection: RunFilter) -> list[int]:
        return await (await self._ready()).retry_runs(selection)

    async def cancel_runs(self, selection: RunFilter) -> list[int]:
        return await (await self._ready()).cancel_runs(selection)

    async def delete_runs(self, selection: RunFilter) -> list[int]:
        return await (await self._ready()).delete_runs(selection)

    async def trigger(self, job_type: str, input_json: str | None = None) -> int:
        zap = await self._ready()
        if input_json is None:
            return await zap.trigger(job_type)
        return await zap.trigger(job_type, json.loads(input_json))

    def input_problem(self, job_type: str, input_json: str) -> str | None:
        return input_problem(self.zap, job_type, input_json)

    def expected_input(self, job_type: str) -> str:
        try:
            return self.zap.registration(job_type).input_codec.expected
        except ZapJobsError:
            return "JSON"

    async def pause(self, job_type: str) -> None:
        await (await self._ready()).pause_schedule(job_type)

    async def resume(self, job_type: str) -> None:
        await (await self._ready()).resume_schedule(job_type)

    async def queues(self, now: datetime) -> tuple[QueueInfo, ...]:
        return tuple(await (await self._ready()).list_queues())

    async def pause_queue(self, queue: str) -> None:
        await (await self._ready()).pause_queue(queue)

    async def resume_queue(self, queue: str) -> None:
        await (await self._ready()).resume_queue(queue)

    async def purge_queue(self, queue: str) -> int:
        return await (await self._ready()).purge_queue(queue)


class ReadOnlySource:
    """Passes reads through and refuses every action: ``--read-only`` holds even if a key or
    a palette command slipped past the hidden bindings."""

    def __init__(self, inner: DashboardSource) -> None:
        self.inner = inner

    def describe(self) -> str:
        return self.inner.describe()

    def now(self) -> datetime:
        return self.inner.now()

    def explain(self, exc: BaseException) -> str:
        return self.inner.explain(exc)

    async def close(self) -> None:
        await self.inner.close()

    async def overview(self, now: datetime, chart: ChartRange = CHART_RANGES[0]) -> Overview:
        return await self.inner.overview(now, chart)

    async def jobs(self, now: datetime) -> tuple[JobRow, ...]:
        return await self.inner.jobs(now)

    async def runs(self, selection: RunFilter, page: Page, now: datetime) -> RunsPage:
        return await self.inner.runs(selection, page, now)

    async def count_runs(self, selection: RunFilter) -> int:
        return await self.inner.count_runs(selection)

    async def run_detail(self, run_id: int, now: datetime) -> RunDetail:
        return await self.inner.run_detail(run_id, now)

    async def logs(
        self,
        run_id: int,
        *,
        after_id: int | None = None,
        before_id: int | None = None,
        min_level: LogLevel | None = None,
        search: str | None = None,
        newest_first: bool = False,
        limit: int = LOG_BATCH,
    ) -> tuple[LogLine, ...]:
        return await self.inner.logs(
            run_id,
            after_id=after_id,
            before_id=before_id,
            min_level=min_level,
            search=search,
            newest_first=newest_first,
            limit=limit,
        )

    async def log_count(self, run_id: int, min_level: LogLevel | None) -> int:
        return await self.inner.log_count(run_id, min_level)

    async def workers(self, now: datetime) -> tuple[WorkerRow, ...]:
        return await self.inner.workers(now)

    async def retry_runs(self, selection: RunFilter) -> list[int]:
        raise read_only_error()

    async def cancel_runs(self, selection: RunFilter) -> list[int]:
        raise read_only_error()

    async def delete_runs(self, selection: RunFilter) -> list[int]:
        raise read_only_error()

    async def trigger(self, job_type: str, input_json: str | None = None) -> int:
        raise read_only_error()

    def input_problem(self, job_type: str, input_json: str) -> str | None:
        return self.inner.input_problem(job_type, input_json)

    def expected_input(self, job_type: str) -> str:
        return self.inner.expected_input(job_type)

    async def pause(self, job_type: str) -> None:
        raise read_only_error()

    async def resume(self, job_type: str) -> None:
        raise read_only_error()

    async def queues(self, now: datetime) -> tuple[QueueInfo, ...]:
        return await self.inner.queues(now)

    async def pause_queue(self, queue: str) -> None:
        raise read_only_error()

    async def resume_queue(self, queue: str) -> None:
        raise read_only_error()

    async def purge_queue(self, queue: str) -> int:
        raise read_only_error()


def input_problem(zap: ZapJobs, job_type: str, input_json: str) -> str | None:
    """Check a typed JSON input the way enqueue will (the registered job type's codec)."""
    try:
        value = json.loads(input_json)
    except ValueError as exc:
        return f"not JSON: {exc}"
    try:
        codec = zap.registration(job_type).input_codec
    except ZapJobsError:  # not registered in this process: the store takes it as it is
        return None
    try:
        codec.encode(value, job_type=job_type)
    except ZapJobsError as exc:
        return str(exc)
    return None


def read_only_error() -> InvalidStateError:
    return InvalidStateError(
        "the dashboard is read-only", hint="start it without --read-only to act on runs and jobs"
    )


def is_disconnect(exc: BaseException) -> bool:
    """Errors that mean "cannot reach or use the store" (anything unexpected counts too: a
    driver error the store did not translate is still the store being unusable). A store that
    answers but is not migrated is connected: it is shown as such, not as "disconnected"."""
    if isinstance(exc, NotMigratedError):
        return False
    return isinstance(exc, StoreError) or not isinstance(exc, ZapJobsError)
