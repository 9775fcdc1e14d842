"""Jobs: every job type with its queue, schedule, next and last run, state, retries, timeout;
trigger now, pause and resume."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from zapjobs.settings import format_duration
from zapjobs_cli.display import STATUS_STYLES, age, untrusted
from zapjobs_cli.tui.screens.base import LiveScreen, PaletteEntry
from zapjobs_cli.tui.viewmodels import JobRow
from zapjobs_cli.tui.widgets.live_table import Column, LiveTable

COLUMNS = [
    Column("job", "Job type", 16),
    Column("queue", "Queue", 8),
    Column("schedule", "Schedule", 24),
    Column("next", "Next run", 10),
    Column("last", "Last run", 24),
    Column("state", "State", 7),
    Column("retries", "Retry", 5),
    Column("timeout", "Timeout", 7),
]


class JobsScreen(LiveScreen):
    VIEW_NAME = "Jobs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("T", "trigger", "Trigger"),
        Binding("P", "toggle_pause", "Pause/resume"),
    ]
    PALETTE = (
        PaletteEntry("Trigger job now", "Enqueue a run of the selected job type", "trigger"),
        PaletteEntry("Pause or resume job", "Toggle the selected job type", "toggle_pause"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, JobRow] = {}

    def compose_body(self) -> ComposeResult:
        table = LiveTable(COLUMNS, key_column="job", id="jobs-table")
        table.border_title = "Job types (enter lists their runs)"
        yield table

    async def fetch(self, now: datetime) -> tuple[tuple[JobRow, ...], datetime]:
        return await self.dashboard.source.jobs(now), now

    def show(self, data: tuple[tuple[JobRow, ...], datetime]) -> None:
        rows, now = data
        self.rows = {row.job_type: row for row in rows}
        self.query_one(LiveTable).sync([(row.job_type, _cells(row, now)) for row in rows])

    @property
    def selected(self) -> JobRow | None:
        key = self.query_one(LiveTable).cursor_key
        return self.rows.get(key) if key is not None else None

    def action_trigger(self) -> None:
        job = self.selected
        if job is None:
            return
        source = self.dashboard.source
        self.run_action_call(
            lambda: source.trigger(job.job_type),
            lambda run_id: f"triggered {job.job_type}: run {run_id}",
        )

    def action_toggle_pause(self) -> None:
        job = self.selected
        if job is None:
            return
        source = self.dashboard.source
        if job.enabled:
            self.run_action_call(
                lambda: source.pause(job.job_type), lambda _: f"paused {job.job_type}"
            )
        else:
            self.run_action_call(
                lambda: source.resume(job.job_type), lambda _: f"resumed {job.job_type}"
            )

    async def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        await self.dashboard.show_runs(f"job:{event.row_key.value}")


def _cells(row: JobRow, now: datetime) -> tuple[Any, ...]:
    last: Text | str = "-"
    if row.last_run is not None:
        run = row.last_run
        last = Text(f"#{run.id} ")
        last.append(run.status, style=STATUS_STYLES.get(run.status, ""))
        last.append(f" {age(run.finished_at or run.created_at, now)}", style="dim")
    retries = Text(str(row.max_retries), style="bold" if row.retries_overridden else "")
    if row.retries_overridden:
        retries.append("*", style="yellow")
    timeout = "-"
    if row.timeout_seconds is not None:
        timeout = format_duration(timedelta(seconds=row.timeout_seconds))
    return (
        untrusted(row.job_type),
        untrusted(row.queue),
        untrusted(row.schedule) if row.schedule else Text("-", style="dim"),
        age(row.next_due_at, now) if row.schedule else "-",
        last,
        Text("enabled", style="green") if row.enabled else Text("paused", style="bold yellow"),
        retries,
        timeout,
    )
