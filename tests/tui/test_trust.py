"""Issue 14, the dashboard: it tells the truth (page counter, loading, stale, retries, earlier
attempts, unmigrated stores), asks before destructive actions, fits 80x24 and 160 columns, opens
runs at scale, and does not grow with every run opened."""

from __future__ import annotations

import asyncio
import gc
import io
import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from rich.console import Console
from rich.text import Text
from textual.dom import DOMNode
from textual.widgets import Input, RichLog, Static

from tests.cli.conftest import assert_clean_error, clean_env, run_cli
from tests.cli.terminal import Terminal
from tests.tui.conftest import SIZE, dashboard, press, settle, wait_until
from tests.tui.fakes import NOW, FakeSource
from zapjobs import JobContext, ZapJobs
from zapjobs.clock import FakeClock
from zapjobs.errors import NotMigratedError
from zapjobs.models import LogEntry, LogLevel, Page, RunFilter
from zapjobs_cli.tui.screens import runs as runs_module
from zapjobs_cli.tui.screens.confirm import InputScreen, TypedConfirmScreen, YesNoScreen
from zapjobs_cli.tui.screens.run_detail import RunDetailScreen
from zapjobs_cli.tui.screens.runs import RunsScreen
from zapjobs_cli.tui.viewmodels import LogLine, RunsPage, log_line
from zapjobs_cli.tui.widgets.chart import ThroughputChart
from zapjobs_cli.tui.widgets.key_bar import KeyBar
from zapjobs_cli.tui.widgets.live_table import LiveTable
from zapjobs_cli.tui.widgets.status_bar import StatusBar

SMALL = (80, 24)
WIDE = (160, 45)


def table(app: Any, selector: str = "LiveTable") -> LiveTable:
    return cast(LiveTable, app.screen.query_one(selector, LiveTable))


def text_of(widget: Any) -> str:
    """What a widget shows, as plain text (a Static's rich table too)."""
    if isinstance(widget, Static):
        content = widget.content
        if isinstance(content, str):
            return content
        console = Console(width=200, record=True, file=io.StringIO())
        console.print(content)
        return console.export_text()
    rendered = widget.render()
    return rendered.plain if isinstance(rendered, Text) else str(rendered)


def summary(app: Any) -> str:
    return str(app.screen.query_one("#runs-summary", Static).render())


def notes(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


# --- 7: the real entry point -----------------------------------------------------------------
def test_without_a_terminal_the_dashboard_refuses_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    result = run_cli("dashboard", env=clean_env(ZAPJOBS_DATABASE_URL=url), cwd=tmp_path)
    assert_clean_error(result, 2, "needs a terminal")
    assert result.stdout == ""


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_an_unmigrated_database_exits_3_before_drawing(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'jobs.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    terminal = Terminal(["dashboard"], cwd=tmp_path, env=clean_env(ZAPJOBS_DATABASE_URL=url))
    try:
        code = terminal.wait(60)
    finally:
        terminal.close()
    assert code == 3, terminal.text
    assert "not migrated" in terminal.text
    assert "disconnected" not in terminal.text
    assert "Traceback" not in terminal.text


async def test_not_migrated_while_running_is_connected_not_disconnected() -> None:
    fake = FakeSource()
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        fake.fail_with = NotMigratedError()
        await press(pilot, "3")
        bar = text_of(app.screen.query_one(StatusBar))
        assert "connected" in bar and "not migrated" in bar
        assert "disconnected" not in bar


# --- 16: ids of a million runs ---------------------------------------------------------------
async def test_run_ids_of_a_million_and_more_are_never_cut() -> None:
    app = dashboard(FakeSource(id_base=1_000_000))
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        failures = table(app, "#latest-failures")
        assert failures.columns["id"].width >= len("1000035")  # type: ignore[index]
        await press(pilot, "3")
        runs = table(app)
        assert runs.columns["id"].width >= len("1000040")  # type: ignore[index]
        assert "1000040" in str(runs.get_cell("1000040", "id"))


# --- 9/20: honest state ----------------------------------------------------------------------
class GatedSource(FakeSource):
    """Runs pages wait for ``gate`` (a slow store), so keys can be pressed meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()

    async def runs(self, selection: RunFilter, page: Page, now: datetime) -> RunsPage:
        await self.gate.wait()
        return await super().runs(selection, page, now)


async def test_the_page_counter_never_runs_ahead_of_the_rows() -> None:
    source = GatedSource()
    app = dashboard(source, page_size=10)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "3")
        source.gate.clear()
        await pilot.press("n")
        await pilot.pause()
        assert "loading" in summary(app)  # the old rows are marked as such
        assert "page 1" in summary(app)
        await pilot.press("n")  # before page 2 came: asks for page 2 again, not page 3
        await pilot.pause()
        source.gate.set()
        await settle(pilot)
        assert table(app).keys == [str(n) for n in range(30, 20, -1)]
        assert "page 2  ·  rows 11-20" in summary(app)
        assert "loading" not in summary(app)


async def test_a_new_filter_shows_loading_until_its_rows_come() -> None:
    source = GatedSource()
    app = dashboard(source)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "3")
        source.gate.clear()
        cast(RunsScreen, app.screen).apply_filter("status:failed")
        await pilot.pause()
        assert "loading" in summary(app)
        source.gate.set()
        await settle(pilot)
        assert "loading" not in summary(app)
        assert "filter: status:failed" in summary(app)


async def test_stale_is_shown_when_no_refresh_finished_for_two_periods() -> None:
    clock = FakeClock(NOW)
    app = dashboard(FakeSource(), clock=clock, refresh=10.0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "STALE" not in text_of(app.screen.query_one(StatusBar))
        app.screen._stop_timer()  # type: ignore[attr-defined]  # a refresh that never ends
        clock.advance(timedelta(seconds=25))
        await wait_until(pilot, lambda: app.stale)
        bar = text_of(app.screen.query_one(StatusBar))
        assert "STALE" in bar and "● connected" in bar


async def test_a_run_waiting_to_retry_shows_its_due_time_not_a_duration() -> None:
    app = dashboard(FakeSource())
    async with app.run_test(size=WIDE) as pilot:
        await press(pilot, "3")
        runs = table(app)
        assert str(runs.get_cell("40", "duration")) == "retry"
        assert str(runs.get_cell("40", "due")) == "in 4m"
        app.open_run(40)
        await settle(pilot)
        fields = text_of(app.screen.query_one("#detail-fields", Static))
        assert "next in 4m" in fields
        assert "waiting to retry" in fields
        assert "retry due         in 4m" in fields and "took" not in fields


async def test_an_earlier_attempts_error_is_labelled_not_red() -> None:
    app = dashboard(FakeSource())
    async with app.run_test(size=WIDE) as pilot:
        await press(pilot, "3")
        cell = table(app).get_cell("32", "error")  # succeeded on attempt 2
        assert str(cell).startswith("↺ KeyError")
        assert "red" not in str(cell.style)
        app.open_run(32)
        await settle(pilot)
        box = app.screen.query_one("#detail-error-box")
        assert "earlier attempt" in str(box.border_title)
        error = app.screen.query_one("#detail-error", Static).content
        assert isinstance(error, Text)
        assert error.plain.startswith("attempt 1 failed: KeyError")
        assert all("red" not in str(span.style) for span in error.spans)


async def test_attempts_read_max_attempts_from_the_run() -> None:
    fake = FakeSource()
    fake.all_runs = [replace(r, max_attempts=9) if r.id == 21 else r for r in fake.all_runs]
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_run(21)
        await settle(pilot)
        assert "2 of 9" in text_of(app.screen.query_one("#detail-fields", Static))


async def test_latest_failures_go_by_finish_time() -> None:
    app = dashboard(FakeSource())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert table(app, "#latest-failures").keys == ["14", "35", "28", "21", "7"]


# --- 17: P says what it pauses ---------------------------------------------------------------
async def test_p_says_it_pauses_the_schedule_only() -> None:
    fake = FakeSource()
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "2", "down", "down", "P")  # generate-report
        assert fake.calls[-1] == ("pause", "generate-report")
        said = notes(app)[-1]
        assert "schedule of generate-report paused" in said and "still execute" in said
        await press(pilot, "up", "P")  # email-sender: no schedule
        assert fake.calls[-1] == ("pause", "generate-report")
        assert "has no schedule to pause" in notes(app)[-1]


# --- 19: safe actions ------------------------------------------------------------------------
async def test_delete_asks_first_in_runs_and_run_detail() -> None:
    fake = FakeSource()
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "3", "D")
        assert isinstance(app.screen, YesNoScreen)
        await press(pilot, "n")
        assert fake.calls == []
        await press(pilot, "D", "y")
        assert fake.calls == [("delete", RunFilter(ids=(40,)))]
        app.open_run(35)
        await settle(pilot)
        await press(pilot, "D")
        assert isinstance(app.screen, YesNoScreen)
        await press(pilot, "escape")
        assert isinstance(app.screen, RunDetailScreen)
        assert len(fake.calls) == 1


async def test_acting_on_many_runs_wants_the_count_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runs_module, "TYPED_CONFIRM_ABOVE", 10)  # the fake holds 40 runs
    fake = FakeSource()
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "3", "A", "d")
        confirm = app.screen
        assert isinstance(confirm, TypedConfirmScreen) and confirm.count == 40
        await pilot.press(*"39", "enter")
        await settle(pilot)
        assert isinstance(app.screen, TypedConfirmScreen)
        assert "type 40 or delete" in str(app.screen.query_one("#confirm-error", Static).render())
        assert fake.calls == []
        field = app.screen.query_one("#confirm-input", Input)
        field.value = ""
        await pilot.press(*"40", "enter")
        await settle(pilot)
        assert [name for name, _ in fake.calls] == ["delete"]


@dataclass
class Email:
    to: str


def typed_zap() -> ZapJobs:
    zap = ZapJobs("memory://")

    @zap.job("email-sender")
    async def email_sender(ctx: JobContext[Email]) -> None:
        return None

    return zap


async def test_trigger_asks_for_a_required_input_and_validates_it() -> None:
    fake = FakeSource(typed=typed_zap())
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "2", "down", "T")  # email-sender needs an Email
        assert isinstance(app.screen, InputScreen)
        assert fake.calls == []
        field = app.screen.query_one("#confirm-input", Input)
        await pilot.press(*"null", "enter")
        await settle(pilot)
        problem = str(app.screen.query_one("#confirm-error", Static).render())
        assert "invalid input for job 'email-sender'" in problem
        field.value = '{"to": "a@example.com"}'
        await press(pilot, "enter")
        assert fake.calls == [("trigger", ("email-sender", '{"to": "a@example.com"}'))]


# --- 21: run detail at scale ------------------------------------------------------------------
class ChattySource(FakeSource):
    """A run with ``count`` log lines; logs may be held at ``gate``."""

    def __init__(self, count: int, attempts: int = 0) -> None:
        super().__init__()
        self.count = count
        self.attempts = attempts  # lines split evenly among this many attempts
        self.calls: list[int] = []  # lines returned per call
        self.searches: list[str | None] = []  # the search of each call
        self.gate = asyncio.Event()
        self.gate.set()

    async def logs(
        self,
        run_id: int,
        *,
        after_id: int | None = None,
        before_id: int | None = None,
        min_level: LogLevel | None = None,
        search: str | None = None,
        newest_first: bool = False,
        limit: int = 500,
    ) -> tuple[LogLine, ...]:
        await self.gate.wait()
        self.searches.append(search)
        ids = range((after_id or 0) + 1, min(before_id or self.count + 1, self.count + 1))
        if search:
            ids = [n for n in ids if search in f"line {n}"]  # type: ignore[assignment]
        chosen = list(reversed(ids))[:limit] if newest_first else list(ids)[:limit]
        self.calls.append(len(chosen))
        return tuple(
            log_line(LogEntry(n, run_id, LogLevel.INFO, f"line {n}", NOW, {}, self.attempt_of(n)))
            for n in chosen
        )

    def attempt_of(self, n: int) -> int | None:
        return None if not self.attempts else 1 + (n - 1) * self.attempts // self.count

    async def log_count(self, run_id: int, min_level: LogLevel | None) -> int:
        await self.gate.wait()
        return self.count


async def test_run_detail_shows_fields_before_the_logs_arrive() -> None:
    source = ChattySource(3)
    app = dashboard(source)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        source.gate.clear()
        app.open_run(21)
        detail = app.screen

        def fields_shown() -> bool:
            found = detail.query("#detail-fields")
            return bool(found) and "job type" in text_of(found.first())

        await wait_until(pilot, fields_shown)
        assert len(detail.query_one(RichLog).lines) == 0
        source.gate.set()
        await settle(pilot)
        assert len(detail.query_one(RichLog).lines) == 3


async def test_run_detail_shows_the_newest_lines_first_and_says_what_is_not_shown() -> None:
    source = ChattySource(6000)
    app = dashboard(source)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_run(21)
        await settle(pilot)
        detail = cast(RunDetailScreen, app.screen)
        log = detail.query_one(RichLog)
        # the newest page at once, not the first 5,000 lines
        assert "line 6000" in log.lines[-1].text and "line 5501" in log.lines[0].text
        assert len(log.lines) == 500
        assert "showing newest 500 of 6,000 lines" in str(log.border_title)
        assert "o older" in str(log.border_title)
        await press(pilot, "o")
        await settle(pilot)
        assert "line 5001" in log.lines[0].text and "line 6000" in log.lines[-1].text
        assert "showing newest 1,000 of 6,000 lines" in str(log.border_title)


async def test_run_detail_search_is_served_by_the_store_over_the_whole_log() -> None:
    source = ChattySource(6000)
    app = dashboard(source)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_run(21)
        await settle(pilot)
        detail = cast(RunDetailScreen, app.screen)
        await press(pilot, "slash")
        await pilot.press(*"line 12")
        await press(pilot, "enter")
        await settle(pilot)
        log = detail.query_one(RichLog)
        texts = [line.text for line in log.lines]
        # lines 12, 120-129 and 1200-1299, none of them among the newest 500
        assert len(texts) == 111 and all("line 12" in t for t in texts)
        assert "line 1299" in texts[-1] and "line 12" in texts[0]
        assert "matching 'line 12'" in str(log.border_title)
        assert source.searches[-1] == "line 12"  # the store searched, not the screen


async def test_run_detail_marks_where_each_attempt_starts() -> None:
    app = dashboard(ChattySource(9, attempts=3))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_run(21)
        await settle(pilot)
        texts = [line.text.strip() for line in app.screen.query_one(RichLog).lines]
        assert [t for t in texts if t.startswith("—")] == ["— attempt 2 —", "— attempt 3 —"]
        assert texts.index("— attempt 2 —") == 3 and texts.index("— attempt 3 —") == 7


async def test_a_running_run_reads_only_the_lines_after_the_last_one() -> None:
    source = ChattySource(600)
    app = dashboard(source)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_run(21)
        await settle(pilot)
        detail = cast(RunDetailScreen, app.screen)
        source.count = 603
        detail.reload()
        await settle(pilot)
        log = detail.query_one(RichLog)
        assert "line 603" in log.lines[-1].text and len(log.lines) == 503
        assert source.calls[-1] == 3


async def test_a_running_run_refreshes_every_second() -> None:
    app = dashboard(FakeSource())  # refresh 3600 s
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_run(36)
        await settle(pilot)
        assert cast(RunDetailScreen, app.screen).refresh_seconds() == 1.0
        await press(pilot, "escape")
        app.open_run(35)
        await settle(pilot)
        assert cast(RunDetailScreen, app.screen).refresh_seconds() == 3600.0


# --- 22: memory -------------------------------------------------------------------------------
def live_nodes() -> int:
    gc.collect()
    return sum(isinstance(o, DOMNode) for o in gc.get_objects())


async def test_opening_and_closing_runs_does_not_grow_the_widget_tree() -> None:
    app = dashboard(FakeSource())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)

        async def cycles(count: int) -> None:
            for _ in range(count):
                app.open_run(21)
                await settle(pilot)
                await press(pilot, "escape")

        await cycles(5)
        closed = live_nodes()
        app.open_run(21)
        await settle(pilot)
        # what one open run detail holds alive: its whole tree, however far it got building it
        one_screen = max(live_nodes() - closed, len(list(app.screen.walk_children())) + 1)
        await press(pilot, "escape")
        before = live_nodes()
        await cycles(40)
        grown = live_nodes() - before
        # A leak keeps every closed screen: 40 screens' worth. A few may still wait for Textual
        # to finish removing them (more on a loaded machine), so allow a quarter of that.
        assert grown <= 10 * one_screen, (grown, one_screen)


# --- 18: fit the terminal ---------------------------------------------------------------------
async def test_at_80x24_the_columns_that_matter_stay() -> None:
    app = dashboard(FakeSource())
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        assert "-narrow" in app.screen.classes
        status, queues = (app.screen.query_one(f"#{n}") for n in ("status-counts", "queue-counts"))
        assert queues.region.y > status.region.y  # stacked, not side by side
        assert queues.region.width >= 70
        bar = text_of(app.screen.query_one(KeyBar))
        assert bar.startswith(" ?  Help  q  Quit")
        await press(pilot, "3")
        shown = table(app).shown_columns
        assert {"id", "status", "progress", "error"} <= set(shown)
        assert table(app).columns["error"].width >= 10  # type: ignore[index]
        await press(pilot, "4")
        assert {"id", "state", "seen", "running"} <= set(table(app).shown_columns)
        await press(pilot, "2")
        assert {"job", "schedule", "last", "state"} <= set(table(app).shown_columns)
        app.open_run(21)
        await settle(pilot)
        assert (
            app.screen.query_one(RichLog).region.height >= 6
            or app.screen.query_one("#detail").allow_vertical_scroll
        )


async def test_at_160_columns_the_free_width_goes_to_the_columns() -> None:
    app = dashboard(FakeSource())
    async with app.run_test(size=WIDE) as pilot:
        await settle(pilot)
        assert app.screen.query_one(ThroughputChart).size.width > 70
        await press(pilot, "3")
        runs = table(app)
        assert runs.columns["error"].width > 20  # type: ignore[index]
        assert {"worker", "due", "created"} <= set(runs.shown_columns)


async def test_help_lists_paging_and_scroll_keys() -> None:
    app = dashboard(FakeSource())
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "question_mark")
        help_text = text_of(app.screen.query_one(Static))
        for key in ("n / p", "pgup", "home / end", "↺"):
            assert key in help_text


# --- 23: what operators reach for -------------------------------------------------------------
async def test_y_copies_the_run_id_and_the_summary_counts_the_matches() -> None:
    app = dashboard(FakeSource())
    async with app.run_test(size=SIZE) as pilot:
        await press(pilot, "3", "down", "y")
        assert app.clipboard == "39"
        cast(RunsScreen, app.screen).apply_filter("status:failed")
        await settle(pilot)
        assert "5 matching" in summary(app)
        app.open_run(21)
        await settle(pilot)
        await press(pilot, "y")
        assert app.clipboard == "21"


async def test_Y_copies_the_run_as_json_from_run_detail_and_help_lists_it() -> None:
    app = dashboard(FakeSource())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.open_run(21)
        await settle(pilot)
        await press(pilot, "Y")
        copied = json.loads(app.clipboard)
        assert copied["id"] == 21
        assert {"status", "job_type", "queue", "input", "error"} <= set(copied)
        await press(pilot, "question_mark")
        assert "copy the run as JSON" in text_of(app.screen.query_one(Static))


async def test_z_shows_times_in_the_local_zone_named_in_the_status_bar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from zapjobs_cli.tui.widgets.status_bar import StatusBar

    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30, no daylight saving
    time.tzset()
    try:
        app = dashboard(FakeSource())
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.open_run(21)
            await settle(pilot)
            fields = app.screen.query_one("#detail-fields", Static)
            before = text_of(fields)
            assert " UTC" in before
            assert "UTC" in str(app.screen.query_one(StatusBar).render())
            await press(pilot, "z")
            await wait_until(pilot, lambda: "IST" in text_of(fields))
            assert " UTC" not in text_of(fields)
            assert "IST" in str(app.screen.query_one(StatusBar).render())
            await press(pilot, "question_mark")
            assert "this machine's zone" in text_of(app.screen.query_one(Static))
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
