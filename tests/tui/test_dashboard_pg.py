"""Every dashboard action driven by keys against a real PostgreSQL, checked in the store.

The dashboard gets its own ZapJobs (opened lazily by the source, as `zapjobs dashboard` does);
the test seeds and checks through another, like a second process would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, cast

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from textual.pilot import Pilot

from tests.tui.conftest import SIZE, press, settle, wait_until
from tests.tui.seed import finish, heartbeat, make_recurring, make_zap, store_state
from zapjobs import JobContext, ZapJobs
from zapjobs.errors import RunNotFoundError
from zapjobs.models import RunFilter, RunStatus
from zapjobs.testing import store_of
from zapjobs_cli.tui.app import DashboardApp, make_dashboard
from zapjobs_cli.tui.screens.confirm import ConfirmAllScreen
from zapjobs_cli.tui.screens.jobs import JobsScreen
from zapjobs_cli.tui.screens.runs import RunsScreen
from zapjobs_cli.tui.source import ZapJobsSource
from zapjobs_cli.tui.widgets.live_table import LiveTable

pytestmark = pytest.mark.postgres


@pytest.fixture
async def seed(pg_url: str) -> AsyncIterator[ZapJobs]:
    zap = make_zap(pg_url)
    await zap.open()
    await make_recurring(zap)
    try:
        yield zap
    finally:
        await zap.close()


@asynccontextmanager
async def running_dashboard(
    pg_url: str, **options: Any
) -> AsyncIterator[tuple[DashboardApp, Pilot[None]]]:
    """A dashboard on its own ZapJobs, opened by its source as `zapjobs dashboard` does."""
    source = ZapJobsSource(make_zap(pg_url))
    options.setdefault("refresh", 3600.0)  # no timer fires unless a test asks for one
    app = make_dashboard(source, **options)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            yield app, pilot
    finally:
        await source.close()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the store did not reach the expected state in time")
        await asyncio.sleep(0.02)


async def show_runs(app: DashboardApp, pilot: Pilot[None], filter_text: str) -> LiveTable:
    await press(pilot, "3")
    runs = cast(RunsScreen, app.screen)
    runs.apply_filter(filter_text)
    await settle(pilot)
    return runs.query_one(LiveTable)


async def test_retry_puts_a_failed_run_back_to_pending(seed: ZapJobs, pg_url: str) -> None:
    [failed] = await finish(seed, "email-sender", 1, RunStatus.FAILED)
    async with running_dashboard(pg_url) as (app, pilot):
        table = await show_runs(app, pilot, "")
        assert table.cursor_key == str(failed)
        await press(pilot, "R")

        async def pending() -> bool:
            run = await seed.get_run(failed)
            return run.status is RunStatus.PENDING and run.attempt == 0

        await eventually(pending)
        await wait_until(pilot, lambda: "pending" in table.get_cell(str(failed), "status").plain)


async def test_cancel_a_pending_run(seed: ZapJobs, pg_url: str) -> None:
    run_id = await seed.enqueue("email-sender", {"to": "a@example.com"})
    async with running_dashboard(pg_url) as (app, pilot):
        await show_runs(app, pilot, "status:pending")
        await press(pilot, "C")

        async def cancelled() -> bool:
            return (await seed.get_run(run_id)).status is RunStatus.CANCELLED

        await eventually(cancelled)


async def test_cancel_a_running_run_stops_it(pg_url: str) -> None:
    """A real worker runs a job that waits forever; C in the dashboard ends it as cancelled."""
    zap = make_zap(pg_url)
    started = asyncio.Event()

    @zap.job("wait-forever")
    async def wait_forever(ctx: JobContext[Any]) -> None:
        started.set()
        await asyncio.Event().wait()

    await zap.open()
    worker: asyncio.Task[object] | None = None
    try:
        run_id = await zap.enqueue("wait-forever")
        worker = asyncio.create_task(
            zap.run_worker(burst=True, concurrency=1, install_signal_handlers=False)
        )
        await asyncio.wait_for(started.wait(), 10)
        async with running_dashboard(pg_url) as (app, pilot):
            table = await show_runs(app, pilot, "status:running")
            assert table.keys == [str(run_id)]
            await press(pilot, "C")
            await asyncio.wait_for(worker, 15)  # burst: it exits once the run has ended
            run = await zap.get_run(run_id)
            assert run.status is RunStatus.CANCELLED
    finally:
        if worker is not None and not worker.done():
            worker.cancel()
        await zap.close()


async def test_delete_and_marked_rows(seed: ZapJobs, pg_url: str) -> None:
    first, second, third = await finish(seed, "email-sender", 3, RunStatus.FAILED)
    async with running_dashboard(pg_url) as (app, pilot):
        table = await show_runs(app, pilot, "status:failed")
        assert table.keys == [str(third), str(second), str(first)]
        await press(pilot, "space", "space", "R")  # marks third and second

        async def retried() -> bool:
            runs = {r.id: r.status for r in await seed.list_runs()}
            return runs == {
                first: RunStatus.FAILED,
                second: RunStatus.PENDING,
                third: RunStatus.PENDING,
            }

        await eventually(retried)
        await wait_until(pilot, lambda: table.keys == [str(first)])  # only the failed one is left
        await press(pilot, "D", "y")  # deleting asks first

        async def deleted() -> bool:
            try:
                await seed.get_run(first)
            except RunNotFoundError:
                return True
            return False

        await eventually(deleted)


async def test_A_acts_on_exactly_the_runs_matching_the_filter(seed: ZapJobs, pg_url: str) -> None:
    target = await finish(seed, "email-sender", 3, RunStatus.FAILED)
    other_type = await finish(seed, "generate-report", 2, RunStatus.FAILED)
    succeeded = await finish(seed, "email-sender", 2, RunStatus.SUCCEEDED)
    # a page of 2 rows: the action must reach matches that are not on screen
    async with running_dashboard(pg_url, page_size=2) as (app, pilot):
        await show_runs(app, pilot, "status:failed job:email-sender")
        await press(pilot, "A")
        assert isinstance(app.screen, ConfirmAllScreen)
        assert app.screen.count == 3
        await press(pilot, "R")

        async def only_targets_retried() -> bool:
            runs = {r.id: r.status for r in await seed.list_runs()}
            return (
                all(runs[i] is RunStatus.PENDING for i in target)
                and all(runs[i] is RunStatus.FAILED for i in other_type)
                and all(runs[i] is RunStatus.SUCCEEDED for i in succeeded)
            )

        await eventually(only_targets_retried)
    assert await seed.count_runs(RunFilter(statuses=(RunStatus.PENDING,))) == 3


async def test_trigger_creates_a_run(seed: ZapJobs, pg_url: str) -> None:
    async with running_dashboard(pg_url) as (app, pilot):
        await press(pilot, "2")
        jobs = cast(JobsScreen, app.screen)
        assert jobs.query_one(LiveTable).keys == ["email-sender", "generate-report"]
        await press(pilot, "T")

        async def triggered() -> bool:
            return await seed.count_runs(RunFilter(job_types=("email-sender",))) == 1

        await eventually(triggered)


async def test_pause_keeps_the_scheduler_from_firing_and_resume_undoes_it(
    seed: ZapJobs, pg_url: str
) -> None:
    later = seed.now() + timedelta(days=1)
    due = await store_of(seed).due_schedules(now=later)
    assert [d.job_type for d in due] == ["generate-report"]
    async with running_dashboard(pg_url) as (app, pilot):
        await press(pilot, "2", "down", "P")

        async def paused() -> bool:
            return not (await seed.get_definition("generate-report")).enabled

        await eventually(paused)
        assert await store_of(seed).due_schedules(now=later) == []  # the scheduler's own question
        await wait_until(
            pilot, lambda: not cast(JobsScreen, app.screen).rows["generate-report"].enabled
        )
        await press(pilot, "P")

        async def resumed() -> bool:
            return (await seed.get_definition("generate-report")).enabled

        await eventually(resumed)


async def test_read_only_changes_nothing(seed: ZapJobs, pg_url: str) -> None:
    await finish(seed, "email-sender", 2, RunStatus.FAILED)
    await seed.enqueue("email-sender", {"to": "b@example.com"})
    before = await store_state(seed)
    async with running_dashboard(pg_url, read_only=True) as (app, pilot):
        await show_runs(app, pilot, "")
        await press(pilot, "space", "R", "C", "D", "A", "R", "enter", "R", "C", "D", "escape")
        await press(pilot, "2", "T", "P", "down", "T", "P")
        await press(pilot, "3", "A", "D")
        assert not isinstance(app.screen, ConfirmAllScreen)
        assert await store_state(seed) == before


async def test_every_view_reads_the_real_store(seed: ZapJobs, pg_url: str) -> None:
    await finish(seed, "email-sender", 2, RunStatus.FAILED)
    await finish(seed, "email-sender", 3, RunStatus.SUCCEEDED)
    await heartbeat(seed)
    async with running_dashboard(pg_url) as (app, pilot):
        overview = app.screen
        assert app.connection_error is None
        assert overview.query_one("#latest-failures", LiveTable).row_count == 2
        assert overview.query_one("#error-groups", LiveTable).keys == ["TimeoutError"]
        await press(pilot, "4")
        assert app.screen.query_one(LiveTable).keys == ["web-1-1-ab12"]
        await press(pilot, "3", "enter")
        assert app.screen.__class__.__name__ == "RunDetailScreen"
        assert app.connection_error is None


async def test_an_unreachable_database_shows_disconnected_without_the_password() -> None:
    source = ZapJobsSource(ZapJobs("postgresql://ops:s3cr3t-pw@127.0.0.1:9/jobs"))
    app = make_dashboard(source, refresh=3600.0)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.connection_error is not None)
            assert "s3cr3t-pw" not in str(app.connection_error)
            assert "s3cr3t-pw" not in app.source_name
            await press(pilot, "3")  # the dashboard still answers
            assert app.current_mode == "runs"
    finally:
        await source.close()


async def test_lost_connections_show_disconnected_then_recover_by_themselves(
    seed: ZapJobs, pg_url: str
) -> None:
    """The server ends the dashboard's connections (as a restart would); the next refresh fails
    and says so, and a later one reconnects without the operator doing anything."""
    [failed] = await finish(seed, "email-sender", 1, RunStatus.FAILED)
    name = f"zapjobs-dashboard-{uuid.uuid4().hex[:8]}"
    url = make_conninfo(pg_url, application_name=name)
    states: list[str | None] = []
    async with running_dashboard(url, refresh=0.1) as (app, pilot):
        table = await show_runs(app, pilot, "")

        def changed(error: str | None) -> None:
            states.append(error)

        app.watch(app, "connection_error", changed, init=False)
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s AND pid <> pg_backend_pid()",
                [name],
            )
        await wait_until(pilot, lambda: any(s is not None for s in states))
        await wait_until(pilot, lambda: app.connection_error is None, timeout=20)
        assert table.keys == [str(failed)]
    assert states[-1] is None
