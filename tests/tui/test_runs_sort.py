"""The Runs view sorted by a column (s cycles creation, finish time, job type; o flips the
order), paged by keyset in that order, and a free-text search that says how far it looked."""

from __future__ import annotations

from textual.widgets import Static

from tests.tui.conftest import SIZE, dashboard, press
from tests.tui.fakes import FakeSource
from zapjobs.models import SEARCH_WINDOW, JobRun
from zapjobs_cli.tui.app import DashboardApp
from zapjobs_cli.tui.screens.runs import RunsScreen
from zapjobs_cli.tui.widgets.live_table import LiveTable


def _ids(app: DashboardApp) -> list[int]:
    return [int(k) for k in app.screen.query_one(LiveTable).keys]


def _summary(app: DashboardApp) -> str:
    return str(app.screen.query_one("#runs-summary", Static).render())


def _by_finish(runs: list[JobRun], *, ascending: bool) -> list[int]:
    """The stores' rule: finished runs by (finish time, id), then the others by id."""
    done = sorted((r for r in runs if r.finished_at), key=lambda r: (r.finished_at, r.id))
    rest = sorted((r for r in runs if r.finished_at is None), key=lambda r: r.id)
    if not ascending:
        done.reverse()
        rest.reverse()
    return [r.id for r in done + rest]


async def test_s_sorts_by_finish_time_and_pages_in_that_order(fake: FakeSource) -> None:
    app = dashboard(fake, page_size=15)
    expected = _by_finish(fake.all_runs, ascending=False)
    assert expected != sorted(expected, reverse=True)  # finish order is not id order here
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "3", "s")
        assert isinstance(app.screen, RunsScreen)
        assert _ids(app) == expected[:15]
        assert "by finish time ↓" in _summary(app)
        await press(pilot, "n")
        assert _ids(app) == expected[15:30]
        await press(pilot, "n")
        assert _ids(app) == expected[30:]
        await press(pilot, "p")
        assert _ids(app) == expected[15:30]
        await press(pilot, "o")  # the other way, from the first page
        assert _ids(app) == _by_finish(fake.all_runs, ascending=True)[:15]
        assert "by finish time ↑" in _summary(app)


async def test_s_cycles_to_job_type_then_back_to_newest_first(fake: FakeSource) -> None:
    app = dashboard(fake, page_size=100)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "3", "s", "s")
        by_type = sorted(fake.all_runs, key=lambda r: (r.job_type, r.id))
        assert _ids(app) == [r.id for r in by_type]
        assert "by job type ↑" in _summary(app)
        await press(pilot, "s")
        assert _ids(app) == sorted((r.id for r in fake.all_runs), reverse=True)
        assert "by " not in _summary(app)


async def test_a_search_says_how_many_runs_it_looked_among(fake: FakeSource) -> None:
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "3")
        assert "searched" not in _summary(app)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        screen.apply_filter("status:failed timeout")
        await press(pilot)
        assert f"searched the newest {SEARCH_WINDOW:,} runs" in _summary(app)
        screen.apply_filter("status:failed")
        await press(pilot)
        assert "searched" not in _summary(app)
