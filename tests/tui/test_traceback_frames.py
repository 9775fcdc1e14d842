"""The dashboard's run detail shows a failed run's traceback with the user's frames first, the
executor's own frames folded into one line (the rule ``runs show`` follows too)."""

from __future__ import annotations

import re

from textual.widgets import Static

from tests.tui.conftest import settle
from tests.tui.test_trust import text_of
from zapjobs import JobContext, ZapJobs
from zapjobs.testing import drain
from zapjobs_cli.tui.app import make_dashboard
from zapjobs_cli.tui.screens.run_detail import RunDetailScreen
from zapjobs_cli.tui.source import ZapJobsSource


def _helper() -> None:
    raise ValueError("bad input")


async def test_run_detail_folds_the_executors_frames() -> None:
    zap = ZapJobs("memory://")

    @zap.job("boom", max_retries=0)
    async def boom(ctx: JobContext[None]) -> None:
        _helper()

    async with zap:
        run_id = await zap.enqueue("boom", None)
        await drain(zap)
        stored = (await zap.get_run(run_id)).error
        assert stored is not None and "zapjobs/runtime/executor.py" in (stored.traceback or "")
        app = make_dashboard(ZapJobsSource(zap), refresh=3600.0)
        async with app.run_test(size=(200, 60)) as pilot:
            await settle(pilot)
            app.open_run(run_id)
            await settle(pilot)
            assert isinstance(app.screen, RunDetailScreen)
            shown = text_of(app.screen.query_one("#detail-error", Static))
    lines = [line.rstrip() for line in shown.splitlines()]
    start = lines.index("Traceback (most recent call last):")
    assert re.fullmatch(r"  … \d+ zapjobs frames?", lines[start + 1]), lines
    assert lines[start + 2].endswith(", in boom"), lines
    assert "executor.py" not in shown
