"""The dashboard's keys on a fake source: what each one asks the source to do, and what the
screen shows afterwards."""

from __future__ import annotations

from typing import cast

import pytest
from textual.widgets import Input, RichLog, Static

from tests.tui.conftest import SIZE, dashboard, press, settle, wait_until
from tests.tui.fakes import NOW, FakeSource, disconnected
from zapjobs.core.filters import parse_words as parse_filter
from zapjobs.errors import InvalidStateError
from zapjobs.models import LogLevel, RunFilter, RunStatus
from zapjobs_cli.tui.screens.confirm import ConfirmAllScreen
from zapjobs_cli.tui.screens.help import HelpScreen
from zapjobs_cli.tui.screens.jobs import JobsScreen
from zapjobs_cli.tui.screens.run_detail import RunDetailScreen
from zapjobs_cli.tui.screens.runs import RunsScreen
from zapjobs_cli.tui.widgets.live_table import LiveTable


def runs_table(app: object) -> LiveTable:
    return cast(RunsScreen, app.screen).query_one(LiveTable)  # type: ignore[attr-defined]


async def test_number_keys_switch_views(fake: FakeSource) -> None:
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.current_mode == "overview"
        for key, mode in (("2", "jobs"), ("3", "runs"), ("4", "workers"), ("1", "overview")):
            await press(pilot, key)
            assert app.current_mode == mode


async def test_q_quits_and_help_opens_and_closes(fake: FakeSource) -> None:
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await press(pilot, "escape")
        assert not isinstance(app.screen, HelpScreen)
        await press(pilot, "q")
        await wait_until(pilot, lambda: not app.is_running)


async def test_filter_narrows_runs_and_a_mistake_is_shown_not_raised(fake: FakeSource) -> None:
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "3", "slash")
        screen = cast(RunsScreen, app.screen)
        await pilot.press(*"status:faild")
        await press(pilot, "enter")
        error = screen.query_one("#filter-error", Static)
        assert error.display
        assert "unknown status 'faild'" in str(error.render())
        assert screen.filter_text == ""
        field = screen.query_one("#filter-input", Input)
        field.value = "status:failed"
        await press(pilot, "enter")
        assert not error.display and not field.display
        assert screen.filter_text == "status:failed"
        assert [int(k) for k in runs_table(app).keys] == [35, 28, 21, 14, 7]


async def test_escape_clears_marks_then_the_filter(fake: FakeSource) -> None:
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "3")
        screen = cast(RunsScreen, app.screen)
        screen.apply_filter("job:cleanup")
        await settle(pilot)
        await press(pilot, "space")
        assert screen.marks == {39}
        await press(pilot, "escape")
        assert screen.marks == set() and screen.filter_text == "job:cleanup"
        await press(pilot, "escape")
        assert screen.filter_text == ""
        assert len(runs_table(app).keys) == 40


async def test_actions_target_the_marked_rows_else_the_cursor_row(fake: FakeSource) -> None:
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "3")
        screen = cast(RunsScreen, app.screen)
        screen.apply_filter("status:failed")
        await settle(pilot)
        await press(pilot, "space", "space", "R")  # marks 35 and 28
        assert fake.calls == [("retry", RunFilter(ids=(28, 35)))]
        assert screen.marks == set()
        await press(pilot, "C")  # cursor on 21 after the two marks moved it down
        assert fake.calls[-1] == ("cancel", RunFilter(ids=(21,)))
        await press(pilot, "D", "y")  # deleting asks first
        assert fake.calls[-1] == ("delete", RunFilter(ids=(21,)))
        await wait_until(pilot, lambda: "21" not in runs_table(app).keys)


async def test_A_counts_on_the_server_confirms_and_acts_on_exactly_the_filter(
    fake: FakeSource,
) -> None:
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "3")
        cast(RunsScreen, app.screen).apply_filter("status:failed job:cleanup,email-sender")
        await settle(pilot)
        await press(pilot, "A")
        confirm = app.screen
        assert isinstance(confirm, ConfirmAllScreen)
        assert confirm.count == 3
        assert "3 runs matching" in str(confirm.query_one("#confirm-count", Static).render())
        await press(pilot, "R")
        assert not isinstance(app.screen, ConfirmAllScreen)
        expected = parse_filter("status:failed job:cleanup,email-sender", NOW)
        assert fake.calls == [("retry", expected)]


async def test_A_then_escape_changes_nothing(fake: FakeSource) -> None:
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "3", "A")
        assert isinstance(app.screen, ConfirmAllScreen)
        assert app.screen.count == 40
        await press(pilot, "escape")
        assert isinstance(app.screen, RunsScreen)
        assert fake.calls == []


async def test_read_only_hides_and_refuses_every_action(fake: FakeSource) -> None:
    app = dashboard(fake, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "3", "space", "R", "C", "D", "A")
        assert not isinstance(app.screen, ConfirmAllScreen)
        shown = {b.binding.action for b in app.screen.active_bindings.values()}
        assert {"retry", "cancel", "delete", "act_on_all"}.isdisjoint(shown)  # not in the footer
        assert "filter" in shown
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Retry runs" not in titles and "Filter runs" in titles
        await press(pilot, "enter", "R", "C", "D", "escape", "2", "T", "P")
        assert fake.calls == []
        with pytest.raises(InvalidStateError, match="read-only"):  # even if called directly
            await app.source.retry_runs(RunFilter(ids=(35,)))
        assert fake.calls == []


async def test_palette_lists_the_actions_of_the_current_view(fake: FakeSource) -> None:
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "3")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Retry runs", "Cancel runs", "Delete runs", "Act on all matching runs"} <= titles
        assert {"View: Overview", "View: Workers", "Freeze or resume"} <= titles
        await press(pilot, "2")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Trigger job now", "Pause or resume schedule"} <= titles


async def test_paging_walks_older_and_newer_pages(fake: FakeSource) -> None:
    app = dashboard(fake, page_size=15)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "3")
        ids = lambda: [int(k) for k in runs_table(app).keys]  # noqa: E731
        assert ids() == list(range(40, 25, -1))
        await press(pilot, "n")
        assert ids() == list(range(25, 10, -1))
        await press(pilot, "n")
        assert ids() == list(range(10, 0, -1))
        await press(pilot, "n")  # the last page: stays
        assert ids() == list(range(10, 0, -1))
        await press(pilot, "p")
        assert ids() == list(range(25, 10, -1))
        assert "page 2" in str(app.screen.query_one("#runs-summary", Static).render())


async def test_refresh_updates_rows_in_place_and_keeps_the_cursor_on_its_run(
    fake: FakeSource,
) -> None:
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "3", "down", "down", "down", "down")
        table = runs_table(app)
        assert table.cursor_key == "36"
        first_row_object = table.rows[next(iter(table.rows))]
        running = next(r for r in fake.all_runs if r.id == 36)
        newer = [*fake.all_runs]
        newer[newer.index(running)] = running.__class__(
            **{**running.__dict__, "status": RunStatus.SUCCEEDED, "finished_at": NOW}
        )
        newer.append(newer[0].__class__(**{**newer[0].__dict__, "id": 41, "created_at": NOW}))
        fake.all_runs = newer
        cast(RunsScreen, app.screen).reload()
        await settle(pilot)
        assert table.keys[:2] == ["41", "40"]
        assert table.cursor_key == "36"
        assert table.get_cell("36", "status").plain == "succeeded"
        assert table.rows[next(iter(table.rows))] is first_row_object  # not rebuilt


async def test_filter_and_position_survive_opening_a_run(fake: FakeSource) -> None:
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "3")
        runs = cast(RunsScreen, app.screen)
        runs.apply_filter("status:failed")
        await settle(pilot)
        await press(pilot, "down", "down", "enter")
        detail = app.screen
        assert isinstance(detail, RunDetailScreen) and detail.run_id == 21
        await press(pilot, "1", "3")  # another view and back: the detail is still on top
        assert app.screen is detail
        await press(pilot, "escape")
        assert app.screen is runs
        assert runs.filter_text == "status:failed"
        assert runs_table(app).cursor_key == "21"


async def test_run_detail_follows_logs_after_the_last_one_and_filters_by_level(
    fake: FakeSource,
) -> None:
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        app.open_run(35)
        await settle(pilot)
        detail = cast(RunDetailScreen, app.screen)
        log = detail.query_one(RichLog)
        assert len(log.lines) == 4 and detail.log_cursor == 3503
        detail.reload()
        await settle(pilot)
        assert len(log.lines) == 4  # nothing after the cursor: nothing appended
        await press(pilot, "l")
        assert detail.min_level is LogLevel.INFO
        assert len(log.lines) == 3
        await press(pilot, "l", "l")
        assert detail.min_level is LogLevel.ERROR and len(log.lines) == 1


async def test_jobs_trigger_pause_resume_and_enter_lists_runs(fake: FakeSource) -> None:
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "2", "down", "T")  # email-sender
        assert fake.calls == [("trigger", "email-sender")]
        await press(pilot, "P")  # email-sender has no schedule: nothing to pause, said so
        assert fake.calls[-1] == ("trigger", "email-sender")
        await press(pilot, "down", "P")  # generate-report's schedule
        assert fake.calls[-1] == ("pause", "generate-report")
        await press(pilot, "down", "P")  # sync-inventory is paused
        assert fake.calls[-1] == ("resume", "sync-inventory")
        assert isinstance(app.screen, JobsScreen)
        await press(pilot, "enter")
        assert app.current_mode == "runs"
        assert cast(RunsScreen, app.screen).filter_text == "job:sync-inventory"
        assert set(runs_table(app).keys) == {
            "38",
            "34",
            "30",
            "26",
            "22",
            "18",
            "14",
            "10",
            "6",
            "2",
        }


async def test_a_lost_store_shows_disconnected_and_recovers_by_itself(fake: FakeSource) -> None:
    app = dashboard(fake, refresh=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.connection_error is None
        fake.fail_with = disconnected()
        await wait_until(pilot, lambda: app.connection_error is not None)
        assert "cannot reach the database" in str(app.connection_error)
        await press(pilot, "3")  # still answers keys while disconnected
        assert app.current_mode == "runs"
        fake.fail_with = None
        await wait_until(pilot, lambda: app.connection_error is None)
        await wait_until(pilot, lambda: len(runs_table(app).keys) == 40)


async def test_freeze_stops_the_refresh_and_resume_fetches_at_once(fake: FakeSource) -> None:
    app = dashboard(fake, refresh=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "3")
        await press(pilot, "f")
        assert app.frozen
        await settle(pilot)
        screen = cast(RunsScreen, app.screen)
        assert screen._timer is None  # nothing armed while frozen
        fake.all_runs = fake.all_runs[:-1]  # run 40 goes away
        await press(pilot, "f")
        assert not app.frozen
        await wait_until(pilot, lambda: "40" not in runs_table(app).keys)


async def test_a_missing_run_is_said_in_the_detail_not_as_a_lost_store(fake: FakeSource) -> None:
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_run(999)
        await settle(pilot)
        fields = app.screen.query_one("#detail-fields", Static)
        assert "run 999 does not exist" in str(fields.render())
        assert app.connection_error is None


async def test_g_cycles_the_overview_chart_range_shown_in_its_title(fake: FakeSource) -> None:
    from zapjobs_cli.tui.widgets.chart import ThroughputChart

    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        chart = app.screen.query_one("#throughput", ThroughputChart)
        assert "last 1h" in str(chart.border_title)
        seen = []
        for label, columns in (("24h", 48), ("7d", 56), ("1h", 60)):
            await press(pilot, "g")
            await wait_until(pilot, lambda c=columns: len(chart._points) == c)
            assert f"last {label}" in str(chart.border_title)
            seen.append(sum(p.succeeded + p.failed for p in chart._points))
        # the fake's runs all finished within the hour: every range counts all of them
        assert len(set(seen)) == 1 and seen[0] > 0, seen
