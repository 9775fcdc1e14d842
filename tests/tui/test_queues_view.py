"""The Queues view (key 5): the columns of `zapjobs queues list`, P pauses or resumes the
selected queue, X purges its pending runs after a typed confirmation (saying the runs waiting
for parents stay), enter lists its runs;
read-only refuses both. Also the run detail's unique key, unique settings and snooze count,
on a real (memory) store. Snapshots at the two sizes the dashboard must fit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input, Static

from tests.tui.conftest import SIZE, dashboard, press, settle
from tests.tui.fakes import FakeSource
from zapjobs import JobContext, ZapJobs
from zapjobs.models import RunOutcome, RunStatus
from zapjobs.testing import store_of
from zapjobs_cli.tui.app import make_dashboard
from zapjobs_cli.tui.screens.confirm import TypedConfirmScreen
from zapjobs_cli.tui.screens.queues import QueuesScreen
from zapjobs_cli.tui.screens.run_detail import RunDetailScreen
from zapjobs_cli.tui.screens.runs import RunsScreen
from zapjobs_cli.tui.source import ZapJobsSource
from zapjobs_cli.tui.widgets.live_table import LiveTable

Compare = Callable[..., bool]


def _row_text(app: Any, key: str) -> str:
    table = app.screen.query_one(LiveTable)
    return " ".join(str(getattr(c, "plain", c)) for c in table.get_row(key))


async def test_key_5_shows_every_queue_with_the_cli_columns(fake: FakeSource) -> None:
    app = dashboard(fake)
    async with app.run_test(size=(160, 45)) as pilot:
        await press(pilot, "5")
        assert isinstance(app.screen, QueuesScreen)
        assert app.screen.query_one(LiveTable).keys == ["critical", "default", "low", "reports"]
        assert _row_text(app, "default").split() == [
            "default",
            "active",
            "3",
            "1",
            "1",
            "2",
            "42s",
            "web-1-1234-ab12,web-2-5678-cd34",
            "57",
        ]
        assert "paused" in _row_text(app, "low")
        assert "no live worker" in _row_text(app, "reports")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"View: Queues", "Pause or resume queue", "Purge queue"} <= titles


async def test_p_pauses_an_active_queue_and_resumes_a_paused_one(fake: FakeSource) -> None:
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "5", "down", "P")  # default
        assert fake.calls == [("pause_queue", "default")]
        assert "paused" in _row_text(app, "default")
        await press(pilot, "down", "P")  # low, paused
        assert fake.calls[-1] == ("resume_queue", "low")
        assert "active" in _row_text(app, "low")


async def test_x_purges_only_after_the_count_is_typed(fake: FakeSource) -> None:
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "5", "down", "X")  # default: 3 pending + 1 scheduled
        assert isinstance(app.screen, TypedConfirmScreen)
        assert app.screen.count == 4
        app.screen.query_one(Input).value = "yes"
        await press(pilot, "enter")
        assert isinstance(app.screen, TypedConfirmScreen)  # a wrong answer: still asking
        assert "type 4 or purge" in str(app.screen.query_one("#confirm-error", Static).render())
        assert fake.calls == []
        app.screen.query_one(Input).value = "4"
        await press(pilot, "enter")
        assert fake.calls == [("purge_queue", "default")]
        assert _row_text(app, "default").split()[2:4] == ["0", "0"]
        notes = [n.message for n in app._notifications]
        assert (
            "purged 4 pending run(s) of queue default; 2 waiting for parent runs (not purged)"
            in (notes)
        )


async def test_escape_leaves_the_purge_without_deleting(fake: FakeSource) -> None:
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "5", "down", "X", "escape")
        assert isinstance(app.screen, QueuesScreen)
        assert fake.calls == []


async def test_read_only_hides_and_refuses_the_queue_actions(fake: FakeSource) -> None:
    app = dashboard(fake, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "5", "down", "P", "X")
        assert isinstance(app.screen, QueuesScreen)
        shown = {b.binding.action for b in app.screen.active_bindings.values()}
        assert {"toggle_queue_pause", "purge_queue"}.isdisjoint(shown)
        assert fake.calls == []


async def test_enter_lists_the_queues_runs(fake: FakeSource) -> None:
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "5", "down", "down", "enter")
        assert isinstance(app.screen, RunsScreen)
        assert app.screen.filter_text == "queue:low"


async def test_the_run_detail_shows_the_unique_key_settings_and_snoozes() -> None:
    zap = ZapJobs("memory://", auto_migrate=True)

    @zap.job("sync-account", unique_by_input=True, unique_for=timedelta(minutes=10))
    async def sync_account(ctx: JobContext[int]) -> None:
        return None

    await zap.open()
    try:
        run_id = await zap.enqueue("sync-account", 7, unique_key="acct-7")
        store = store_of(zap)
        [run] = await store.claim("w1", ["default"], ["sync-account"], 1)
        outcome = RunOutcome(run_id, "w1", run.attempt, RunStatus.PENDING, snoozed=True)
        await store.complete([outcome])
        app = make_dashboard(ZapJobsSource(zap), refresh=3600.0)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.open_run(run_id)
            await settle(pilot)
            assert isinstance(app.screen, RunDetailScreen)
            console = Console(width=200, record=True)
            console.print(app.screen.query_one("#detail-fields", Static).content)
            shown = console.export_text()
            assert "unique key" in shown and "acct-7" in shown
            assert "by input, one per 10m window" in shown
            assert "1 times (attempts not counted)" in shown
    finally:
        await zap.close()


async def _queues(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await press(pilot, "5")


@pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=["80x24", "160x45"])
def test_queues_view_fits(snap_compare: Compare, size: tuple[int, int]) -> None:
    assert snap_compare(dashboard(FakeSource()), terminal_size=size, run_before=_queues)


async def test_the_jobs_view_shows_the_selected_job_types_unique_settings_and_limits() -> None:
    """Issue 15: the Jobs view shows a job type's uniqueness, cap and rate limit in full for
    the selected row (below the table, so at 80 columns too), on a real (memory) store."""
    zap = ZapJobs("memory://", auto_migrate=True)

    @zap.job(
        "sync-account",
        unique_by_input=True,
        unique_for=timedelta(minutes=10),
        max_concurrency=2,
        rate_limit="10/s",
    )
    async def sync_account(ctx: JobContext[int]) -> None:
        return None

    await zap.open()
    try:
        app = make_dashboard(ZapJobsSource(zap), refresh=3600.0)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await press(pilot, "2")
            console = Console(width=200, record=True)
            console.print(app.screen.query_one("#job-detail", Static).content)
            shown = console.export_text()
            assert "sync-account" in shown
            assert "unique by input, one per 10m window; a run holds its key while" in shown
            assert "limits max 2, 10/s" in shown
    finally:
        await zap.close()


async def test_enter_on_a_worker_lists_the_runs_it_holds(fake: FakeSource) -> None:
    """Issue 14 (23): from a worker to the runs it holds, by the `worker:` filter word."""
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "4")
        worker = app.screen.query_one(LiveTable).cursor_key
        assert worker is not None
        await press(pilot, "enter")
        assert isinstance(app.screen, RunsScreen)
        assert app.screen.filter_text == f"worker:{worker} status:running"
        shown = {int(key) for key in app.screen.query_one(LiveTable).keys}
        held = {
            r.id for r in fake.all_runs if r.worker_id == worker and r.status is RunStatus.RUNNING
        }
        assert shown == held and held


async def test_the_overview_shows_each_queues_lag_and_runs_per_minute(fake: FakeSource) -> None:
    """Issue 14 (23): queue latency (the oldest pending run's wait) and throughput (runs
    finished in the last minute) on the Overview, from the same QueueInfo as `queues list`."""
    app = dashboard(fake)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(pilot)
        console = Console(width=200, record=True)
        console.print(app.screen.query_one("#queue-counts", Static).content)
        lines = {line.split()[0]: line.split() for line in console.export_text().splitlines()}
        assert lines["queue"][-2:] == ["lag", "/min"]
        assert lines["default"][-2:] == ["42s", "57"]
        assert lines["low"][-2:] == ["14m", "0"]
        assert lines["maintenance"][-2:] == ["-", "-"]  # in the counts, no longer a queue
