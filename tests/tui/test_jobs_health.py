"""The Jobs view shows each job type's last hour from a real store: the success rate in a
column, and the selected job type's counts with p50/p95 durations in the line below the table."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

from tests.tui.conftest import SIZE, press, settle
from tests.tui.seed import finish, make_zap
from zapjobs.models import RunStatus
from zapjobs_cli.tui.app import make_dashboard
from zapjobs_cli.tui.source import ZapJobsSource
from zapjobs_cli.tui.widgets.live_table import LiveTable


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
async def test_jobs_view_shows_the_last_hours_success_rate_and_durations(
    backend: str, tmp_path: Path
) -> None:
    url = "memory://" if backend == "memory" else f"sqlite:///{tmp_path / 'jobs.db'}"
    seed = make_zap(url)
    await seed.open()
    try:
        await finish(seed, "email-sender", 3, RunStatus.SUCCEEDED)
        await finish(seed, "email-sender", 1, RunStatus.FAILED)
        source = ZapJobsSource(seed if backend == "memory" else make_zap(url))
        app = make_dashboard(source, refresh=3600.0)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await press(pilot, "2")
            table = app.screen.query_one(LiveTable)
            assert table.keys == ["email-sender", "generate-report"]
            assert str(table.get_cell("email-sender", "ok")) == "75.0%"
            assert str(table.get_cell("generate-report", "ok")) == "-"
            assert str(table.get_cell("email-sender", "p95")).endswith("s")
            detail = str(app.screen.query_one("#job-detail", Static).render())
            assert "last hour 3 ok, 1 failed (75.0%), p50 " in detail
        if backend != "memory":
            await source.close()
    finally:
        await seed.close()
