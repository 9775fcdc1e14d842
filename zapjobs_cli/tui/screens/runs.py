"""Runs: one page of runs (keyset paging), filtered with the `/` language, sorted by creation,
finish time or job type (s, o), refreshed in place; retry, cancel and delete on the cursor row,
on marked rows, or (A) on everything matching."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Input, Static

from zapjobs.core.filters import FilterError, parse_words
from zapjobs.models import Page, RunCursor, RunFilter, RunSort
from zapjobs_cli.display import (
    age,
    duration_text,
    minute_timestamp,
    one_line_text,
    progress_bar,
    status_text,
    untrusted,
    visible,
)
from zapjobs_cli.tui.screens.base import LiveScreen, PaletteEntry
from zapjobs_cli.tui.screens.confirm import (
    TYPED_CONFIRM_ABOVE,
    ConfirmAllScreen,
    TypedConfirmScreen,
    YesNoScreen,
)
from zapjobs_cli.tui.viewmodels import RunRow, RunsPage
from zapjobs_cli.tui.widgets.live_table import Column, LiveTable

MARK = "●"
COLUMNS = [
    Column("mark", " ", 1),
    Column("id", "ID"),  # as wide as the largest id on screen
    Column("job", "Job type", 16, grow=1, min_width=10),
    Column("queue", "Queue", 8, grow=1, min_width=6),
    Column("status", "Status", 9),
    Column("attempt", "Att", 3),
    Column("worker", "Worker", 16, grow=1, drop_below=140),
    Column("created", "Created", 11, drop_below=100),
    Column("duration", "Took", 6),
    Column("due", "Due", 9, drop_below=120),
    Column("progress", "Progress", 14, grow=1, min_width=7),
    Column("error", "Error", 14, grow=4, min_width=10),
]
#: the error cell holds this much; the column shows what fits
ERROR_CHARS = 160


class RunsScreen(LiveScreen):
    VIEW_NAME = "Runs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("escape", "back", "Clear", show=False),
        Binding("space", "mark", "Mark"),
        Binding("n", "next_page", "Older", show=False),
        Binding("p", "previous_page", "Newer", show=False),
        Binding("s", "cycle_sort", "Sort", show=False),  # the summary line names the order
        Binding("o", "flip_order", "Order", show=False),
        Binding("R", "retry", "Retry"),
        Binding("C", "cancel", "Cancel"),
        Binding("D", "delete", "Delete"),
        Binding("A", "act_on_all", "All"),
        Binding("y", "copy_id", "Copy id", show=False),
    ]
    PALETTE = (
        PaletteEntry("Retry runs", "Retry the marked runs, or the cursor's", "retry"),
        PaletteEntry("Cancel runs", "Cancel the marked runs, or the cursor's", "cancel"),
        PaletteEntry("Delete runs", "Delete the marked runs, or the cursor's", "delete"),
        PaletteEntry(
            "Act on all matching runs",
            "Retry, cancel or delete every run the filter matches",
            "act_on_all",
        ),
        PaletteEntry("Filter runs", "status:failed job:x queue:low since:1h text", "filter"),
        PaletteEntry("Next page", "Older runs", "next_page"),
        PaletteEntry("Previous page", "Newer runs", "previous_page"),
        PaletteEntry("Sort runs", "By creation, finish time or job type", "cycle_sort"),
        PaletteEntry("Flip the order", "Ascending or descending", "flip_order"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""
        self.sort = RunSort.CREATED
        self.ascending = False
        #: the cursor each page down to this one starts after (None: the first page)
        self.page_starts: list[RunCursor | None] = [None]
        self.marks: set[int] = set()
        self.rows: dict[int, RunRow] = {}
        self.has_more = False
        self._next_after: RunCursor | None = None  # where the page after the one shown starts
        self._shown: tuple[str, Page] | None = None  # (filter, page) on screen
        self._shown_starts: list[RunCursor | None] = [None]  # page_starts of the page on screen
        self.total: int | None = None  # runs matching the filter on screen, when counted
        self._counted: tuple[str, int] | None = None  # (filter, count): counted once per filter

    def compose_body(self) -> ComposeResult:
        with Vertical(id="runs"):
            yield Static(id="runs-summary")
            table = LiveTable(COLUMNS, key_column="id", id="runs-table")
            yield table
            yield Input(
                placeholder="status:failed job:email-sender queue:low since:1h  free text",
                id="filter-input",
            )
            yield Static(id="filter-error")

    @property
    def page_size(self) -> int:
        return self.dashboard.page_size

    def on_mount(self) -> None:
        self.query_one("#filter-input", Input).display = False
        self.query_one("#filter-error", Static).display = False
        self._update_summary()

    # --- data ----------------------------------------------------------------------------------
    def _page(self, after: RunCursor | None) -> Page:
        return Page(limit=self.page_size, sort=self.sort, ascending=self.ascending, after=after)

    async def fetch(
        self, now: datetime
    ) -> tuple[RunsPage, datetime, str, list[RunCursor | None], int]:
        starts = list(self.page_starts)
        filter_text = self.filter_text
        selection = parse_words(filter_text, now)
        page = self._page(starts[-1])
        source = self.dashboard.source
        found = await source.runs(selection, page, now)
        counted = self._counted
        if counted is None or counted[0] != filter_text:  # once per filter (a full count)
            counted = (filter_text, await source.count_runs(selection))
            self._counted = counted
        return found, now, filter_text, starts, counted[1]

    def show(self, data: tuple[RunsPage, datetime, str, list[RunCursor | None], int]) -> None:
        """Rows, page number and count all come from the same finished load."""
        page, now, filter_text, starts, total = data
        self.rows = {row.id: row for row in page.rows}
        self.has_more = page.has_more
        self._next_after = page.next_after
        self.total = total
        self._shown_starts = starts
        table = self.query_one(LiveTable)
        rows = [(str(row.id), self._cells(row, now)) for row in page.rows]
        shown = (filter_text, page.page)
        if shown != self._shown:
            table.replace(rows)
            self._shown = shown
        else:
            table.sync(rows)
        self._update_summary()

    def loading_changed(self) -> None:
        self._update_summary()

    def _cells(self, row: RunRow, now: datetime) -> tuple[Any, ...]:
        status = status_text(row.status)
        if row.cancel_requested and row.status == "running":
            status.append(" ⊘", style="magenta")
        error = Text()
        if row.error_type:
            line = f"{row.error_type}: {row.error_message}"
            if row.error_is_earlier:  # not this run's outcome: an attempt before it failed
                error = one_line_text(f"↺ {line}", ERROR_CHARS, "dim")
            else:
                error = one_line_text(line, ERROR_CHARS, "red")
        took = "-"
        if row.status == "running" or row.finished:
            took = duration_text(row.started_at, row.finished_at, now, tenths=False)
        due: Text | str = "-"
        if row.status == "scheduled":  # due later (a retry's backoff, or a delayed run)
            due = Text(age(row.run_at, now), style="blue" if row.waiting_to_retry else "")
        if row.waiting_to_retry:  # the start and finish stored are the previous attempt's
            took = "retry"
        return (
            Text(MARK, style="bold yellow") if row.id in self.marks else "",
            Text(str(row.id), justify="right"),
            untrusted(row.job_type),
            untrusted(row.queue),
            status,
            Text(str(row.attempt), justify="right"),
            untrusted(row.worker_id or "-"),
            minute_timestamp(row.created_at),
            took,
            due,
            progress_bar(row.progress, 5),
            error,
        )

    def _update_summary(self) -> None:
        page_number = len(self._shown_starts)
        first = (page_number - 1) * self.page_size + 1
        shown = f"filter: {visible(self.filter_text)}" if self.filter_text else ""
        search = self._searched_window()
        if search is not None:  # said next to the filter: it must fit at 80 columns
            shown += f" (searched the newest {search:,} runs)"
        newest_first = self.sort is RunSort.CREATED and not self.ascending
        parts = [
            shown or "all runs (/ to filter)",
            *([] if newest_first else [f"by {self.sort.label} {'↑' if self.ascending else '↓'}"]),
            f"page {page_number}",
            f"rows {first}-{first + len(self.rows) - 1}" if self.rows else "no runs",
        ]
        if self.total is not None:
            parts.append(f"{self.total:,} matching")
        if self.has_more:
            parts.append("n older page" if newest_first else "n next page")
        if page_number > 1:
            parts.append("p newer page" if newest_first else "p previous page")
        if self.marks:
            parts.append(f"{len(self.marks)} marked")
        text = Text("  ·  ".join(parts))
        if self.fetching and self._request_differs():
            text = Text("⟳ loading ", style="bold yellow").append(text.plain, style="dim")
        if self.is_mounted:
            self.query_one("#runs-summary", Static).update(text)

    def _searched_window(self) -> int | None:
        """The runs a free-text search looks among, when the filter has one."""
        try:
            selection = parse_words(self.filter_text, self.dashboard.now())
        except FilterError:
            return None
        return selection.search_window if selection.search else None

    def _request_differs(self) -> bool:
        """What is asked for is not what is on screen (another filter, order or page)."""
        return self._shown != (self.filter_text, self._page(self.page_starts[-1]))

    # --- filter --------------------------------------------------------------------------------
    def action_filter(self) -> None:
        field = self.query_one("#filter-input", Input)
        field.value = self.filter_text
        field.display = True
        field.focus()

    @on(Input.Submitted, "#filter-input")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        error = self.query_one("#filter-error", Static)
        try:
            parse_words(event.value, self.dashboard.now())
        except FilterError as exc:
            error.update(untrusted(f"✗ {exc}", style="bold red"))
            error.display = True
            return
        self.apply_filter(event.value.strip())

    def apply_filter(self, text: str) -> None:
        """Show the runs matching ``text`` from the first page (also used by other views)."""
        self._close_filter_input()
        if text != self.filter_text:
            self.filter_text = text
            self.page_starts = [None]
            self.marks.clear()
            self._update_summary()
        self._update_summary()
        if self.is_mounted and self.is_current:
            self.reload()

    def _close_filter_input(self) -> None:
        if not self.is_mounted:
            return
        self.query_one("#filter-input", Input).display = False
        self.query_one("#filter-error", Static).display = False
        self.query_one(LiveTable).focus()

    def action_back(self) -> None:
        """esc: close the filter box, else unmark, else clear the filter, else go to page 1."""
        if self.query_one("#filter-input", Input).display:
            self._close_filter_input()
        elif self.marks:
            self._set_marks(set())
        elif self.filter_text:
            self.apply_filter("")
        elif len(self._shown_starts) > 1:
            self.page_starts = [None]
            self.reload()

    # --- paging and marks ----------------------------------------------------------------------
    def action_next_page(self) -> None:
        """The page after the one on screen (not after one still loading): pressing n twice
        before the data comes asks for the same page twice, never for rows not seen."""
        if not self.has_more or not self.rows:
            self.notify("this is the last page")
            return
        self.page_starts = [*self._shown_starts, self._next_after]
        self.reload()

    def action_previous_page(self) -> None:
        if len(self._shown_starts) == 1:
            self.notify("this is the first page")
            return
        self.page_starts = self._shown_starts[:-1]
        self.reload()

    def action_cycle_sort(self) -> None:
        """s: the next order (creation, finish time, job type), in its usual direction."""
        orders = list(RunSort)
        self.sort = orders[(orders.index(self.sort) + 1) % len(orders)]
        self.ascending = self.sort.ascending_first
        self._reorder()

    def action_flip_order(self) -> None:
        """o: the same order, the other way."""
        self.ascending = not self.ascending
        self._reorder()

    def _reorder(self) -> None:
        self.page_starts = [None]
        self._update_summary()
        self.reload()

    def action_mark(self) -> None:
        key = self.query_one(LiveTable).cursor_key
        if key is None:
            return
        self._set_marks(self.marks ^ {int(key)})
        self.query_one(LiveTable).action_cursor_down()

    def _set_marks(self, marks: set[int]) -> None:
        table = self.query_one(LiveTable)
        for run_id in self.marks ^ marks:
            cell = Text(MARK, style="bold yellow") if run_id in marks else ""
            table.set_cell(str(run_id), "mark", cell)
        self.marks = marks
        self._update_summary()

    # --- actions -------------------------------------------------------------------------------
    def _targets(self) -> RunFilter | None:
        if self.marks:
            return RunFilter(ids=tuple(sorted(self.marks)))
        key = self.query_one(LiveTable).cursor_key
        return RunFilter(ids=(int(key),)) if key is not None else None

    def _act_on(self, verb: str, selection: RunFilter | None) -> None:
        if selection is None:
            return
        asked = len(selection.ids) if selection.ids is not None else None
        call = getattr(self.dashboard.source, f"{verb}_runs")
        past = {"retry": "retried", "cancel": "cancelled", "delete": "deleted"}[verb]

        def describe(ids: list[int]) -> str:
            if asked is None:
                return f"{past} {len(ids)} runs"
            return f"{past} {len(ids)} of {asked} runs" + _why_not(verb, len(ids), asked)

        self._set_marks(set())
        self._counted = None  # the action changes what matches
        self.run_action_call(lambda: call(selection), describe)

    def action_retry(self) -> None:
        self._act_on("retry", self._targets())

    def action_cancel(self) -> None:
        self._act_on("cancel", self._targets())

    def action_delete(self) -> None:
        """Deleting cannot be undone: ask first (y/n)."""
        selection = self._targets()
        if selection is None or selection.ids is None or self.dashboard.read_only:
            return
        ids = selection.ids
        what = f"run {ids[0]}" if len(ids) == 1 else f"{len(ids)} marked runs"
        question = Text(f"Delete {what} and their logs? This cannot be undone.")

        def answered(yes: bool | None) -> None:
            if yes:
                self._act_on("delete", selection)

        self.app.push_screen(YesNoScreen(question), answered)

    def action_act_on_all(self) -> None:
        if self.dashboard.read_only:
            return
        try:
            selection = parse_words(self.filter_text, self.dashboard.now())
        except FilterError as exc:
            self.notify(visible(str(exc)), severity="error", markup=False)
            return
        self._count_then_confirm(selection)

    @work(exclusive=True, group="count")
    async def _count_then_confirm(self, selection: RunFilter) -> None:
        try:
            count = await self.dashboard.source.count_runs(selection)
        except Exception as exc:
            self.notify(visible(self.dashboard.source.explain(exc)), severity="error", markup=False)
            return

        def confirmed(verb: str) -> Callable[[bool | None], None]:
            def go(yes: bool | None) -> None:
                if yes:
                    self._act_on(verb, selection)

            return go

        def chosen(verb: str | None) -> None:
            if verb is None:
                return
            if count > TYPED_CONFIRM_ABOVE:  # one key must not act on a million runs
                self.app.push_screen(TypedConfirmScreen(verb, count), confirmed(verb))
            else:
                self._act_on(verb, selection)

        screen = ConfirmAllScreen(count, self.filter_text)
        self.app.push_screen(screen, chosen)

    def action_copy_id(self) -> None:
        key = self.query_one(LiveTable).cursor_key
        if key is not None:
            self.app.copy_to_clipboard(key)
            self.notify(f"copied run id {key}")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.dashboard.open_run(int(str(event.row_key.value)))


def _why_not(verb: str, changed: int, asked: int) -> str:
    if changed == asked:
        return ""
    return {
        "retry": " (only failed or cancelled runs are retried)",
        "cancel": " (finished runs cannot be cancelled)",
        "delete": " (running runs are not deleted: cancel them first)",
    }[verb]
