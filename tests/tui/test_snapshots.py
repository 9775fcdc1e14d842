"""What each view looks like, on fixed data at 120x36 with a frozen clock (a snapshot changes
only when the screen does), and the main views at 80x24 and 160x45 (the terminal sizes the
dashboard must fit; the README shows both). Update with ``pytest tests/tui --snapshot-update``
after checking the report."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tests.tui.conftest import SIZE, dashboard, press, settle
from tests.tui.fakes import FakeSource, disconnected
from zapjobs_cli.tui.screens.runs import RunsScreen

Compare = Callable[..., bool]


def keys(*sequence: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await press(pilot, *sequence)

    return run_before


def test_overview(snap_compare: Compare) -> None:
    assert snap_compare(dashboard(FakeSource()), terminal_size=SIZE, run_before=keys())


def test_jobs(snap_compare: Compare) -> None:
    assert snap_compare(dashboard(FakeSource()), terminal_size=SIZE, run_before=keys("2"))


def test_runs(snap_compare: Compare) -> None:
    assert snap_compare(dashboard(FakeSource()), terminal_size=SIZE, run_before=keys("3"))


def test_runs_filtered_and_marked(snap_compare: Compare) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await press(pilot, "3")
        screen = pilot.app.screen
        assert isinstance(screen, RunsScreen)
        screen.apply_filter("status:failed,cancelled")
        await settle(pilot)
        await press(pilot, "space", "down", "space")

    assert snap_compare(dashboard(FakeSource()), terminal_size=SIZE, run_before=run_before)


def test_runs_filter_mistake(snap_compare: Compare) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await press(pilot, "3", "slash")
        pilot.app.screen.query_one("#filter-input", Input).cursor_blink = False
        await pilot.press(*"status:faild since:1h")
        await press(pilot, "enter")

    assert snap_compare(dashboard(FakeSource()), terminal_size=SIZE, run_before=run_before)


def test_act_on_all_confirmation(snap_compare: Compare) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await press(pilot, "3")
        screen = pilot.app.screen
        assert isinstance(screen, RunsScreen)
        screen.apply_filter("status:failed since:2h")
        await settle(pilot)
        await press(pilot, "A")

    assert snap_compare(dashboard(FakeSource()), terminal_size=SIZE, run_before=run_before)


def test_run_detail_failed(snap_compare: Compare) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        pilot.app.open_run(21)  # a TimeoutError with its traceback
        await settle(pilot)

    assert snap_compare(dashboard(FakeSource()), terminal_size=SIZE, run_before=run_before)


def test_run_detail_running_with_progress(snap_compare: Compare) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        pilot.app.open_run(36)
        await settle(pilot)
        await press(pilot, "l")  # info and above

    assert snap_compare(dashboard(FakeSource()), terminal_size=SIZE, run_before=run_before)


def test_workers(snap_compare: Compare) -> None:
    assert snap_compare(dashboard(FakeSource()), terminal_size=SIZE, run_before=keys("4"))


def test_help(snap_compare: Compare) -> None:
    assert snap_compare(
        dashboard(FakeSource()), terminal_size=SIZE, run_before=keys("3", "question_mark")
    )


def test_read_only_and_disconnected(snap_compare: Compare) -> None:
    source = FakeSource()

    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        source.fail_with = disconnected()
        await press(pilot, "3")

    app = dashboard(source, read_only=True)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


async def _open_run(pilot: Pilot[Any], run_id: int) -> None:
    await settle(pilot)
    pilot.app.open_run(run_id)  # type: ignore[attr-defined]
    await settle(pilot)


async def _runs_searched(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await press(pilot, "3")
    screen = pilot.app.screen
    assert isinstance(screen, RunsScreen)
    screen.apply_filter("timeout")
    await settle(pilot)


VIEWS: dict[str, Callable[[Pilot[Any]], Awaitable[None]]] = {
    "overview": keys(),
    "overview_24h": keys("g"),
    "jobs": keys("2"),
    "runs": keys("3"),
    "runs_by_finish_time": keys("3", "s"),  # the summary line names the order
    "runs_searched": _runs_searched,  # and how many runs a search looked among
    "run_detail": lambda pilot: _open_run(pilot, 36),
    "workers": keys("4"),
}


@pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=["80x24", "160x45"])
@pytest.mark.parametrize("view", list(VIEWS))
def test_view_fits(snap_compare: Compare, view: str, size: tuple[int, int]) -> None:
    assert snap_compare(dashboard(FakeSource()), terminal_size=size, run_before=VIEWS[view])
