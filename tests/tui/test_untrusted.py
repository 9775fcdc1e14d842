"""The dashboard on a real SQLite store holding text that looks like markup or terminal
escapes: it starts, every view shows that text literally (escapes visible), filters with
brackets are searched or refused with a message, and a huge output is shown cut."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual.widgets import Input, RichLog, Static

from tests.badinput import untrusted
from tests.badinput.untrusted import (
    EVIL_JOB_TYPE_SHOWN,
    EVIL_WORKER_SHOWN,
    LINK,
    MARKUP,
    SHOWN,
    TITLE,
)
from tests.tui.conftest import SIZE, press, settle, wait_until
from zapjobs_cli.display import SHOWN_CHARS
from zapjobs_cli.tui.app import DashboardApp, make_dashboard
from zapjobs_cli.tui.screens.confirm import ConfirmAllScreen
from zapjobs_cli.tui.screens.run_detail import RunDetailScreen
from zapjobs_cli.tui.screens.runs import RunsScreen
from zapjobs_cli.tui.source import ZapJobsSource
from zapjobs_cli.tui.widgets.live_table import LiveTable


def _plain(cells: Any) -> list[str]:
    return [str(cell) for cell in cells]


def _no_raw_controls(text: str) -> None:
    for raw in ("\x1b", "\x07", "\r"):
        assert raw not in text, repr(text)


async def test_views_show_database_text_literally(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'evil.db'}"
    seeded = await untrusted.seed(url)
    source = ZapJobsSource(untrusted.make_zap(url))
    app: DashboardApp = make_dashboard(source, refresh=3600.0)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.connection_error is None
            failures = app.screen.query_one("#latest-failures", LiveTable)
            assert failures.keys  # the overview drew the failed runs
            await press(pilot, "4")
            workers = app.screen.query_one(LiveTable)
            [row] = [_plain(workers.get_row_at(i)) for i in range(workers.row_count)]
            assert row[0] == EVIL_WORKER_SHOWN and row[1] == untrusted.STYLED
            await press(pilot, "3")
            runs = app.screen.query_one(LiveTable)
            renamed = _plain(runs.get_row(str(seeded.renamed)))
            assert renamed[2] == EVIL_JOB_TYPE_SHOWN
            for cell in (c for i in range(runs.row_count) for c in _plain(runs.get_row_at(i))):
                _no_raw_controls(cell)

            app.open_run(seeded.failed[TITLE])
            await settle(pilot)
            detail = app.screen
            assert isinstance(detail, RunDetailScreen)
            error = str(detail.query_one("#detail-error", Static).render())
            assert f"FileNotFoundError: {SHOWN[TITLE]}" in error
            _no_raw_controls(error)
            log = detail.query_one(RichLog)
            await wait_until(pilot, lambda: len(log.lines) >= 1)
            logged = "".join(line.text for line in log.lines)
            message, fields = logged.split("detail=")
            assert SHOWN[TITLE] in message and fields == json.dumps(TITLE)  # JSON-escaped
            _no_raw_controls(logged)
            await press(pilot, "escape")

            app.open_run(seeded.failed[LINK])
            await settle(pilot)
            error = str(app.screen.query_one("#detail-error", Static).render())
            assert SHOWN[LINK] in error
            _no_raw_controls(error)
            await press(pilot, "escape")
    finally:
        await source.close()


async def test_filters_with_brackets_are_searched_or_refused_never_fatal(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'evil.db'}"
    seeded = await untrusted.seed(url)
    source = ZapJobsSource(untrusted.make_zap(url))
    app = make_dashboard(source, refresh=3600.0)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await press(pilot, "3")
            screen = app.screen
            assert isinstance(screen, RunsScreen)
            field = screen.query_one("#filter-input", Input)
            error = screen.query_one("#filter-error", Static)

            await press(pilot, "slash")
            field.value = "job:[/]"  # not a job type: refused with a message
            await press(pilot, "enter")
            assert error.display
            assert "invalid job type '[/]'" in str(error.render())
            assert screen.filter_text == ""

            field.value = '"[/etc/app/conf.yml]"'  # brackets are text to search for
            await press(pilot, "enter")
            assert screen.filter_text == '"[/etc/app/conf.yml]"'
            table = screen.query_one(LiveTable)
            assert table.keys == [str(seeded.failed[MARKUP])]
            summary = str(screen.query_one("#runs-summary", Static).render())
            assert 'filter: "[/etc/app/conf.yml]"' in summary

            await press(pilot, "slash")
            field.value = "[/]"
            await press(pilot, "enter")
            assert screen.filter_text == "[/]"
            # the job type and the error message are searched
            assert table.keys == [str(seeded.renamed), str(seeded.failed[untrusted.CLOSE])]
            await press(pilot, "A")  # act on all matching: the confirmation quotes the filter
            assert isinstance(app.screen, ConfirmAllScreen)
            count = str(app.screen.query_one("#confirm-count", Static).render())
            assert "2 runs matching  [/]" in count
            await press(pilot, "escape")
            assert app.is_running
    finally:
        await source.close()


async def test_a_huge_output_is_shown_cut_with_what_is_left_out(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'huge.db'}"
    huge = {"blob": "x" * (SHOWN_CHARS * 50)}
    run_id = await untrusted.seed_output(url, huge)
    source = ZapJobsSource(untrusted.make_zap(url))
    app = make_dashboard(source, refresh=3600.0)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            app.open_run(run_id)
            await settle(pilot)
            shown = app.screen.query_one("#detail-output", Static).render()
            text = str(shown)
            hidden = len(json.dumps(huge)) - SHOWN_CHARS
            assert f"… {hidden:,} more characters not shown" in text
            assert len(text) < SHOWN_CHARS + 100
    finally:
        await source.close()
