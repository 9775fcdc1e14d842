"""One run: fields, progress, input and output as JSON, error and traceback, and its logs:
the newest page first (the fields do not wait for it), older pages on demand, followed live
(only entries after the last one shown are read), filterable by level and searched by the
store, with a separator where each attempt starts; for a run in a workflow, its parents and
children as a tree, each opening its own detail (enter), escape coming back."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.highlighter import JSONHighlighter
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, RichLog, Static, Tree

from zapjobs.errors import RunNotFoundError
from zapjobs.models import LogLevel, RunFilter
from zapjobs_cli.display import (
    LEVEL_STYLES,
    attempt_separator,
    due_text,
    duration_text,
    fold_zapjobs_frames,
    full_timestamp,
    progress_bar,
    status_text,
    untrusted,
    visible,
    with_cut_note,
)
from zapjobs_cli.tui.screens.base import LiveScreen, PaletteEntry, titled
from zapjobs_cli.tui.screens.confirm import YesNoScreen
from zapjobs_cli.tui.source import LOG_BATCH
from zapjobs_cli.tui.viewmodels import LogLine, RunDetail
from zapjobs_cli.tui.widgets.workflow_tree import WorkflowTree

MAX_LOG_BATCHES = 10
#: log lines kept in memory and on screen per run (older pages load until this many are kept)
MAX_LOG_LINES = 5000
#: lines per page: the newest page at once, then one more per press of "o"
LOG_PAGE = LOG_BATCH

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
        Binding("w", "workflow", "Workflow", show=False),  # the workflow panel says it
        Binding("slash", "search", "Search log"),
        Binding("o", "older", "Older lines", show=False),  # the logs title says it
        Binding("y", "copy_id", "Copy id", show=False),
        Binding("Y", "copy_json", "Copy JSON", show=False),
        Binding("R", "retry", "Retry"),
        Binding("C", "cancel", "Cancel"),
        Binding("D", "delete", "Delete"),
    ]
    PALETTE = (
        PaletteEntry("Retry this run", "Put it back to pending", "retry"),
        PaletteEntry("Cancel this run", "Stop it", "cancel"),
        PaletteEntry("Delete this run", "Remove it and its logs", "delete"),
        PaletteEntry("Workflow", "Move to this run's parents and children", "workflow"),
        PaletteEntry("Log level", "Cycle the minimum level of the logs shown", "cycle_level"),
        PaletteEntry("Search the log", "Show only log lines containing a text", "search"),
        PaletteEntry("Older log lines", "Load the page of log lines before the first", "older"),
    )

    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id
        self.min_level: LogLevel | None = None
        self.detail: RunDetail | None = None  # the last refresh's
        self.generation = 0  # bumped when the log view starts over (level or search changed)
        self.lines: list[LogLine] = []  # shown, oldest first, at most MAX_LOG_LINES
        self.log_cursor: int | None = None  # the newest line read: new lines come after it
        self.has_older = False  # lines before self.lines[0] exist, not loaded
        self.total: int | None = None  # lines at this level (None while searching)
        self.started = False  # the newest page was read
        self.search = ""
        self.running = False  # a running run refreshes every second
        self.attempt_started: datetime | None = None  # lines before it: an earlier attempt
        self.loading_logs = False

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="detail"):
            with Horizontal(id="detail-head"):
                yield titled(Static(id="detail-fields", classes="panel"), f"Run {self.run_id}")
                with titled(VerticalScroll(id="detail-input-box", classes="panel"), "Input"):
                    yield Static(id="detail-input")
                with titled(VerticalScroll(id="detail-output-box", classes="panel"), "Output"):
                    yield Static(id="detail-output")
            tree = titled(
                WorkflowTree(id="detail-workflow", classes="panel"),
                "Workflow (w; enter opens a run, esc comes back)",
            )
            tree.display = False
            yield tree
            error = titled(VerticalScroll(id="detail-error-box", classes="panel"), "Error")
            error.display = False
            with error:
                yield Static(id="detail-error")
            logs = RichLog(
                id="detail-logs", wrap=True, max_lines=2 * MAX_LOG_LINES, auto_scroll=True
            )
            yield titled(logs, self._logs_title())
            yield Input(placeholder="search the log (enter; empty shows all)", id="log-search")

    def on_mount(self) -> None:
        self.query_one("#log-search", Input).display = False

    def _logs_title(self) -> str:
        level = "all levels" if self.min_level is None else f"{self.min_level.name.lower()}+"
        parts = [level]
        if self.search:
            parts.append(f"matching {visible(self.search)!r}")
        if self.has_older:
            shown = len(self.lines)
            if self.total is not None:
                parts.append(f"showing newest {shown:,} of {self.total:,} lines")
            else:
                parts.append(f"showing newest {shown:,} matching lines")
            more = "o older" if shown < MAX_LOG_LINES else "older: zapjobs runs logs"
            parts.append(more)
        if self.loading_logs:
            parts.append("loading…")
        return f"Logs ({', '.join(parts)}; l level, / search)"

    def refresh_seconds(self) -> float:
        interval = self.dashboard.refresh_interval
        return min(interval, 1.0) if self.running else interval

    async def fetch(self, now: datetime) -> tuple[RunDetail, datetime]:
        """The run's fields only, so they show at once; logs load in their own worker."""
        return await self.dashboard.source.run_detail(self.run_id, now), now

    def show(self, data: tuple[RunDetail, datetime]) -> None:
        detail, now = data
        self.detail = detail
        row = detail.row
        self.running = row.status == "running"
        self.attempt_started = row.started_at if row.attempt > 1 else None
        self.query_one("#detail-fields", Static).update(
            _fields(detail, now, self.dashboard.local_time)
        )
        self.query_one("#detail-input", Static).update(
            _json_text(detail.input_json, detail.input_hidden)
        )
        output = self.query_one("#detail-output", Static)
        output.update(
            _json_text(detail.output_json, detail.output_hidden)
            if detail.output_json
            else Text("-", style="dim")
        )
        tree = self.query_one(WorkflowTree)
        tree.display = detail.workflow is not None
        if detail.workflow is not None:
            tree.show(row.id, row.job_type, row.status, detail.workflow)
        box = self.query_one("#detail-error-box")
        box.display = row.error_type is not None
        box.border_title = (
            "Error of an earlier attempt (not this run's outcome)"
            if row.error_is_earlier
            else "Error"
        )
        self.query_one("#detail-error", Static).update(_error(detail))
        self._load_logs()

    @work(exclusive=True, group="logs")
    async def _load_logs(self) -> None:
        """The newest page first (a long log shows its end at once), then, at each refresh,
        the lines written since, in batches (a bounded number per refresh)."""
        generation = self.generation
        source = self.dashboard.source
        search = self.search or None
        self._set_loading(True)
        try:
            if not self.started:
                page = await source.logs(
                    self.run_id,
                    min_level=self.min_level,
                    search=search,
                    newest_first=True,
                    limit=LOG_PAGE + 1,
                )
                total = None if search else await source.log_count(self.run_id, self.min_level)
                if generation != self.generation:
                    return
                self.started = True
                self.has_older = len(page) > LOG_PAGE
                self.total = total
                newest = tuple(reversed(page[:LOG_PAGE]))
                self.lines = list(newest)
                if newest:
                    self.log_cursor = newest[-1].id
                self._render_all()
                return
            for _ in range(MAX_LOG_BATCHES):
                batch = await source.logs(
                    self.run_id, after_id=self.log_cursor, min_level=self.min_level, search=search
                )
                if generation != self.generation:
                    return
                self._append(batch)
                if len(batch) < LOG_BATCH:
                    break
        finally:
            if generation == self.generation:
                self._set_loading(False)

    @work(exclusive=True, group="older")
    async def _load_older(self) -> None:
        generation = self.generation
        before = self.lines[0].id if self.lines else None
        self._set_loading(True)
        try:
            page = await self.dashboard.source.logs(
                self.run_id,
                before_id=before,
                min_level=self.min_level,
                search=self.search or None,
                newest_first=True,
                limit=LOG_PAGE + 1,
            )
            if generation != self.generation:
                return
            self.has_older = len(page) > LOG_PAGE
            self.lines[:0] = reversed(page[:LOG_PAGE])
            self._render_all()
        finally:
            if generation == self.generation:
                self._set_loading(False)

    def _set_loading(self, loading: bool) -> None:
        self.loading_logs = loading
        self.query_one(RichLog).border_title = self._logs_title()

    def _render_all(self) -> None:
        """Every kept line again (after an older page came in front), the view at the end
        unless the page was older (then at its last line)."""
        log = self.query_one(RichLog)
        log.clear()
        previous: LogLine | None = None
        for line in self.lines:
            self._write(log, line, previous)
            previous = line
        log.border_title = self._logs_title()

    def _append(self, lines: tuple[LogLine, ...]) -> None:
        if not lines:
            return
        log = self.query_one(RichLog)
        previous = self.lines[-1] if self.lines else None
        for line in lines:
            self._write(log, line, previous)
            previous = line
        self.lines.extend(lines)
        if self.total is not None:
            self.total += len(lines)
        if len(self.lines) > MAX_LOG_LINES:  # bounded: the oldest go, and are said so
            del self.lines[: len(self.lines) - MAX_LOG_LINES]
            self.has_older = True
        self.log_cursor = lines[-1].id
        log.border_title = self._logs_title()

    def _write(self, log: RichLog, line: LogLine, previous: LogLine | None) -> None:
        separator = attempt_separator(
            previous.attempt if previous else None, line.attempt, first=previous is None
        )
        if separator is not None:
            log.write(Text(separator, style="bold magenta"))
        log.write(_log_text(line, self.attempt_started))

    def fetch_failed(self, error: BaseException) -> None:
        if not isinstance(error, RunNotFoundError):
            super().fetch_failed(error)
            return
        fields = self.query_one("#detail-fields", Static)
        fields.update(Text(f"run {self.run_id} does not exist (deleted?)", style="bold red"))

    def action_back(self) -> None:
        search = self.query_one("#log-search", Input)
        if search.display:
            search.display = False
            self.query_one(RichLog).focus()
            return
        self.dismiss(None)

    def action_workflow(self) -> None:
        tree = self.query_one(WorkflowTree)
        if not tree.display:
            self.notify("this run has no parents and no children")
            return
        tree.focus()

    @on(Tree.NodeSelected, "#detail-workflow")
    def _open_linked_run(self, event: Tree.NodeSelected[int | None]) -> None:
        """A jump along the workflow: the selected parent's or child's own detail."""
        run_id = event.node.data
        if run_id is not None and run_id != self.run_id:
            self.dashboard.open_run(run_id)

    def action_cycle_level(self) -> None:
        self.min_level = LEVELS[(LEVELS.index(self.min_level) + 1) % len(LEVELS)]
        self._start_over()

    def _start_over(self) -> None:
        """Read the newest page again (the level or the search changed)."""
        self.generation += 1
        self.started = False
        self.log_cursor = None
        self.lines = []
        self.has_older = False
        self.total = None
        self.loading_logs = False
        log = self.query_one(RichLog)
        log.clear()
        log.border_title = self._logs_title()
        self._load_logs()

    def action_older(self) -> None:
        if not self.has_older:
            self.notify("no older log lines")
            return
        if len(self.lines) >= MAX_LOG_LINES:
            self.notify(
                f"{MAX_LOG_LINES:,} lines are kept here: "
                f"`zapjobs runs logs {self.run_id}` prints them all"
            )
            return
        self._load_older()

    def action_copy_id(self) -> None:
        self.app.copy_to_clipboard(str(self.run_id))
        self.notify(f"copied run id {self.run_id}")

    def action_copy_json(self) -> None:
        """The run's fields as JSON (the shape of ``zapjobs runs list --json``), from the last
        refresh."""
        detail = self.detail
        if detail is None:
            self.notify("the run is not loaded yet", severity="warning")
            return
        self.app.copy_to_clipboard(detail.run_json)
        self.notify(f"copied run {self.run_id} as JSON")

    def action_search(self) -> None:
        field = self.query_one("#log-search", Input)
        field.value = self.search
        field.display = True
        field.focus()

    @on(Input.Submitted, "#log-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        """Show only the lines containing the text (case-insensitive), newest first, as the
        store finds them in the run's whole log; new lines too. Empty shows all again."""
        self.search = event.value.strip()
        event.input.display = False
        self._start_over()
        self.query_one(RichLog).focus()

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


def _fields(detail: RunDetail, now: datetime, local: bool = False) -> Table:
    row = detail.row
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim")
    table.add_column()
    status = status_text(row.status)
    if row.cancel_requested and row.status == "running":
        status.append("  cancel requested", style="magenta")
    attempts = Text(str(row.attempt))
    if detail.max_attempts is not None:
        attempts.append(f" of {detail.max_attempts}")
    if row.waiting_to_retry:
        attempts.append(f"  next {due_text(row.run_at, now)}", style="blue")
    table.add_row("job type", untrusted(row.job_type, style="bold"))
    table.add_row("status", status)
    table.add_row("queue / priority", untrusted(row.queue).append(f" / {row.priority}"))
    table.add_row("attempts", attempts)
    if detail.snoozes:
        table.add_row("snoozed", f"{detail.snoozes} times (attempts not counted)")
    table.add_row("worker", untrusted(detail.worker_id or "-"))
    table.add_row("created", full_timestamp(row.created_at, local=local))
    table.add_row("due", full_timestamp(row.run_at, local=local))
    table.add_row("started", full_timestamp(row.started_at, local=local))
    table.add_row("finished", full_timestamp(row.finished_at, local=local))
    if row.waiting_to_retry:  # the times above are the previous attempt's
        retry = Text(due_text(row.run_at, now), style="blue").append(" (waiting to retry)", "dim")
        table.add_row("retry due", retry)
    else:
        table.add_row("took", duration_text(row.started_at, row.finished_at, now, tenths=False))
    if detail.schedule_due_at is not None:
        table.add_row("schedule due", full_timestamp(detail.schedule_due_at, local=local))
    if detail.unique_key is not None:
        table.add_row("unique key", untrusted(detail.unique_key))
    if detail.unique is not None:
        table.add_row("unique", detail.unique)
    bar = progress_bar(row.progress, 24)
    table.add_row("progress", bar if bar.plain else Text("-", style="dim"))
    return table


def _error(detail: RunDetail) -> Text:
    """The stored error; in red only when it is this run's outcome (a run that succeeded or
    waits to retry keeps the error of an attempt before)."""
    row = detail.row
    if row.error_type is None:
        return Text()
    earlier = row.error_is_earlier
    text = Text()
    if earlier:
        text.append(f"attempt {max(row.attempt - 1, 1)} failed: ", style="italic")
    text.append(untrusted(row.error_type, style="bold" if earlier else "bold red"))
    text.append(untrusted(f": {row.error_message or ''}", style="" if earlier else "bold"))
    if detail.traceback:
        style = "dim" if earlier else "red"
        traceback = fold_zapjobs_frames(detail.traceback)
        text.append("\n").append(untrusted(traceback, style=style, multiline=True))
    return text


def _log_text(line: LogLine, attempt_started: datetime | None = None) -> Text:
    """One log line; a line of unknown attempt (written before migration 0012) written before
    the current attempt started is marked ``earlier`` (the others get attempt separators)."""
    text = Text(f"{line.logged_at:%H:%M:%S.%f}"[:12] + " ", style="dim")
    if line.attempt is None and attempt_started is not None and line.logged_at < attempt_started:
        text.append("earlier ", style="dim magenta")
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
