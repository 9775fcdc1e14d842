"""One run: fields, progress, input and output as JSON, error and traceback, and its logs,
followed live (only entries after the last one shown are read) and filterable by level."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.highlighter import JSONHighlighter
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import RichLog, Static

from zapjobs.errors import RunNotFoundError
from zapjobs.models import LogLevel, RunFilter
from zapjobs_cli.display import (
    LEVEL_STYLES,
    duration_text,
    full_timestamp,
    progress_bar,
    status_text,
    untrusted,
    with_cut_note,
)
from zapjobs_cli.tui.screens.base import LiveScreen, PaletteEntry, titled
from zapjobs_cli.tui.screens.confirm import YesNoScreen
from zapjobs_cli.tui.source import LOG_BATCH
from zapjobs_cli.tui.viewmodels import LogLine, RunDetail

MAX_LOG_BATCHES = 10

LEVELS: tuple[LogLevel | None, ...] = (
    None,
    LogLevel.INFO,
    LogLevel.WARNING,
    LogLevel.ERROR,
)


class RunDetailScreen(LiveScreen):
    VIEW_NAME = "Run detail"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("l", "cycle_level", "Level"),
        Binding("R", "retry", "Retry"),
        Binding("C", "cancel", "Cancel"),
        Binding("D", "delete", "Delete"),
    ]
    PALETTE = (
        PaletteEntry("Retry this run", "Put it back to pending", "retry"),
        PaletteEntry("Cancel this run", "Stop it", "cancel"),
        PaletteEntry("Delete this run", "Remove it and its logs", "delete"),
        PaletteEntry("Log level", "Cycle the minimum level of the logs shown", "cycle_level"),
    )

    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id
        self.min_level: LogLevel | None = None
        self.log_cursor: int | None = None
        self.generation = 0  # bumped when the log view starts over (level changed)

    def compose_body(self) -> ComposeResult:
        with Vertical(id="detail"):
            with Horizontal(id="detail-head"):
                yield titled(Static(id="detail-fields", classes="panel"), f"Run {self.run_id}")
                with titled(VerticalScroll(id="detail-input-box", classes="panel"), "Input"):
                    yield Static(id="detail-input")
                with titled(VerticalScroll(id="detail-output-box", classes="panel"), "Output"):
                    yield Static(id="detail-output")
            error = titled(VerticalScroll(id="detail-error-box", classes="panel"), "Error")
            error.display = False
            with error:
                yield Static(id="detail-error")
            logs = RichLog(id="detail-logs", wrap=True, max_lines=5000, auto_scroll=True)
            yield titled(logs, self._logs_title())

    def _logs_title(self) -> str:
        level = "all levels" if self.min_level is None else f"{self.min_level.name.lower()}+"
        return f"Logs ({level}, l to change)"

    async def fetch(self, now: datetime) -> tuple[RunDetail, tuple[LogLine, ...], int, datetime]:
        generation = self.generation
        source = self.dashboard.source
        detail = await source.run_detail(self.run_id, now)
        logs: list[LogLine] = []
        cursor = self.log_cursor
        for _ in range(MAX_LOG_BATCHES):  # catch up on a chatty run, a bounded amount per refresh
            batch = await source.logs(self.run_id, after_id=cursor, min_level=self.min_level)
            logs.extend(batch)
            if len(batch) < LOG_BATCH:
                break
            cursor = batch[-1].id
        return detail, tuple(logs), generation, now

    def show(self, data: tuple[RunDetail, tuple[LogLine, ...], int, datetime]) -> None:
        detail, logs, generation, now = data
        self.query_one("#detail-fields", Static).update(_fields(detail, now))
        self.query_one("#detail-input", Static).update(
            _json_text(detail.input_json, detail.input_hidden)
        )
        output = self.query_one("#detail-output", Static)
        output.update(
            _json_text(detail.output_json, detail.output_hidden)
            if detail.output_json
            else Text("-", style="dim")
        )
        self.query_one("#detail-error-box").display = detail.row.error_type is not None
        self.query_one("#detail-error", Static).update(_error(detail))
        if generation == self.generation:
            log = self.query_one(RichLog)
            for line in logs:
                log.write(_log_text(line))
            if logs:
                self.log_cursor = logs[-1].id

    def fetch_failed(self, error: BaseException) -> None:
        if not isinstance(error, RunNotFoundError):
            super().fetch_failed(error)
            return
        fields = self.query_one("#detail-fields", Static)
        fields.update(Text(f"run {self.run_id} does not exist (deleted?)", style="bold red"))

    def action_back(self) -> None:
        self.dismiss(None)

    def action_cycle_level(self) -> None:
        self.min_level = LEVELS[(LEVELS.index(self.min_level) + 1) % len(LEVELS)]
        self.generation += 1
        self.log_cursor = None
        log = self.query_one(RichLog)
        log.clear()
        log.border_title = self._logs_title()
        self.reload()

    def _selection(self) -> RunFilter:
        return RunFilter(ids=(self.run_id,))

    def action_retry(self) -> None:
        source = self.dashboard.source
        self.run_action_call(
            lambda: source.retry_runs(self._selection()),
            lambda ids: "retried" if ids else "not retried: only failed or cancelled runs can be",
        )

    def action_cancel(self) -> None:
        source = self.dashboard.source
        self.run_action_call(
            lambda: source.cancel_runs(self._selection()),
            lambda ids: "cancel requested" if ids else "not cancelled: the run already finished",
        )

    def action_delete(self) -> None:
        """Deleting cannot be undone: ask first (y/n)."""
        if self.dashboard.read_only:
            return
        source = self.dashboard.source

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_action_call(
                    lambda: source.delete_runs(self._selection()),
                    lambda ids: (
                        f"deleted run {self.run_id}" if ids else "not deleted: cancel it first"
                    ),
                )

        question = Text(f"Delete run {self.run_id} and its logs? This cannot be undone.")
        self.app.push_screen(YesNoScreen(question), answered)


def _fields(detail: RunDetail, now: datetime) -> Table:
    row = detail.row
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim")
    table.add_column()
    status = status_text(row.status)
    if row.cancel_requested and row.status == "running":
        status.append("  cancel requested", style="magenta")
    attempts = str(row.attempt)
    if detail.max_attempts is not None:
        attempts += f" of {detail.max_attempts}"
    table.add_row("job type", untrusted(row.job_type, style="bold"))
    table.add_row("status", status)
    table.add_row("queue / priority", untrusted(row.queue).append(f" / {row.priority}"))
    table.add_row("attempts", attempts)
    table.add_row("worker", untrusted(detail.worker_id or "-"))
    table.add_row("created", full_timestamp(row.created_at))
    table.add_row("due", full_timestamp(row.run_at))
    table.add_row("started", full_timestamp(row.started_at))
    table.add_row("finished", full_timestamp(row.finished_at))
    table.add_row("took", duration_text(row.started_at, row.finished_at, now, tenths=False))
    if detail.schedule_due_at is not None:
        table.add_row("schedule due", full_timestamp(detail.schedule_due_at))
    bar = progress_bar(row.progress, 24)
    table.add_row("progress", bar if bar.plain else Text("-", style="dim"))
    return table


def _error(detail: RunDetail) -> Text:
    if detail.row.error_type is None:
        return Text()
    text = untrusted(detail.row.error_type, style="bold red")
    text.append(untrusted(f": {detail.row.error_message or ''}", style="bold"))
    if detail.traceback:
        text.append("\n").append(untrusted(detail.traceback, style="red", multiline=True))
    return text


def _log_text(line: LogLine) -> Text:
    text = Text(f"{line.logged_at:%H:%M:%S.%f}"[:12] + " ", style="dim")
    text.append(f"{line.level.name:<8}", style=LEVEL_STYLES[line.level])
    text.append(untrusted(line.message))
    for name, value in line.fields:
        text.append("  ").append(untrusted(name, style="dim")).append("=", style="dim")
        text.append(untrusted(value, style="cyan"))
    return text


def _json_text(shown: str, hidden: int) -> Text:
    """JSON as the dashboard shows it (highlighted like rich's JSON), literal and bounded: a
    value cut short is not parsed again, and says how much is not shown."""
    text = untrusted(shown, multiline=True)
    text.no_wrap = True
    text.overflow = None
    JSONHighlighter().highlight(text)
    return with_cut_note(text, hidden)
