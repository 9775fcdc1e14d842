"""The dashboard on the embedded stores (memory, SQLite), and `run_dashboard` end to end: it
opens the ZapJobs on its own loop, shows the store, and closes it when the operator quits."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import RichLog

from tests.tui.conftest import SIZE, press, settle, wait_until
from tests.tui.seed import finish, heartbeat, make_zap
from zapjobs.errors import ConfigurationError
from zapjobs.models import LogLevel, NewLogEntry, RunStatus
from zapjobs.testing import store_of
from zapjobs_cli.tui.app import DashboardApp, make_dashboard, run_dashboard
from zapjobs_cli.tui.screens.run_detail import RunDetailScreen
from zapjobs_cli.tui.source import ZapJobsSource
from zapjobs_cli.tui.widgets.live_table import LiveTable


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
async def test_views_and_retry_on_an_embedded_store(backend: str, tmp_path: Path) -> None:
    url = "memory://" if backend == "memory" else f"sqlite:///{tmp_path / 'jobs.db'}"
    seed = make_zap(url)
    await seed.open()
    try:
        await finish(seed, "email-sender", 2, RunStatus.SUCCEEDED)
        [failed] = await finish(seed, "email-sender", 1, RunStatus.FAILED)  # the newest
        await heartbeat(seed)
        # a memory store lives in its ZapJobs: the dashboard shares it; SQLite gets its own
        source = ZapJobsSource(seed if backend == "memory" else make_zap(url))
        app = make_dashboard(source, refresh=3600.0)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.connection_error is None
            assert app.screen.query_one("#latest-failures", LiveTable).keys == [str(failed)]
            await press(pilot, "4")
            assert app.screen.query_one(LiveTable).keys == ["web-1-1-ab12"]
            await press(pilot, "2")
            assert app.screen.query_one(LiveTable).keys == ["email-sender", "generate-report"]
            await press(pilot, "3")
            assert app.screen.query_one(LiveTable).cursor_key == str(failed)
            await press(pilot, "enter")
            assert isinstance(app.screen, RunDetailScreen)
            await press(pilot, "R")
            assert (await seed.get_run(failed)).status is RunStatus.PENDING
        if backend != "memory":
            await source.close()
    finally:
        await seed.close()


async def test_run_dashboard_opens_shows_and_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    seed = make_zap(url)
    await seed.open()
    await finish(seed, "email-sender", 3, RunStatus.FAILED)
    await seed.close()
    seen: dict[str, Any] = {}

    async def drive(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, DashboardApp)
        await press(pilot, "3")
        table = app.screen.query_one(LiveTable)
        await wait_until(pilot, lambda: table.row_count == 3)
        seen.update(rows=table.row_count, read_only=app.read_only, refresh=app.refresh_interval)
        await pilot.press("q")

    original = DashboardApp.run_async

    async def headless(self: DashboardApp, **options: Any) -> Any:
        return await original(self, headless=True, size=SIZE, auto_pilot=drive)

    monkeypatch.setattr(DashboardApp, "run_async", headless)
    closed: list[bool] = []
    original_close = ZapJobsSource.close

    async def close(self: ZapJobsSource) -> None:
        closed.append(self._opened)
        await original_close(self)

    monkeypatch.setattr(ZapJobsSource, "close", close)
    # run_dashboard runs its own event loop: call it from a thread without one
    await asyncio.to_thread(run_dashboard, make_zap(url), refresh=2.5, read_only=True)
    assert seen == {"rows": 3, "read_only": True, "refresh": 2.5}
    assert closed == [True]  # it had opened the store, and closed it on the way out


def test_run_dashboard_rejects_a_refresh_of_zero() -> None:
    with pytest.raises(ConfigurationError, match="--refresh must be greater than zero"):
        run_dashboard(make_zap("memory://"), refresh=0)


async def test_run_detail_follows_new_log_entries_live() -> None:
    """Logs written while the detail is open appear on the next refresh, without re-reading
    the ones shown (more than one batch of them too)."""
    zap = make_zap("memory://")
    await zap.open()
    try:
        run_id = await zap.enqueue("email-sender", {"to": "a@example.com"})

        async def write(first: int, count: int) -> None:
            await store_of(zap).append_logs(
                [
                    NewLogEntry(run_id, LogLevel.INFO, f"line {n}", zap.now(), f'{{"n": {n}}}')
                    for n in range(first, first + count)
                ]
            )

        await write(0, 3)
        app = make_dashboard(ZapJobsSource(zap), refresh=0.05)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.open_run(run_id)
            await settle(pilot)
            detail = app.screen
            assert isinstance(detail, RunDetailScreen)
            log = detail.query_one(RichLog)
            await wait_until(pilot, lambda: len(log.lines) == 3)
            await write(3, 1200)  # more than two batches of list_logs
            await wait_until(pilot, lambda: len(log.lines) == 1203)
            assert "line 1202" in log.lines[-1].text
            assert detail.log_cursor is not None
    finally:
        await zap.close()
