"""Jobs: every job type with its queue, schedule, next and last run, the last hour's success
rate and p50/p95 durations, state, retries, timeout, limits, and the selected one's settings in
full below (uniqueness included); trigger now, pause and resume."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from zapjobs.models import JobTypeStats
from zapjobs_cli.display import (
    STATUS_STYLES,
    age,
    recent_runs_text,
    schedule_state_text,
    setting_duration,
    span,
    success_rate_text,
    untrusted,
    visible,
)
from zapjobs_cli.tui.screens.base import LiveScreen, PaletteEntry
from zapjobs_cli.tui.screens.confirm import InputScreen
from zapjobs_cli.tui.viewmodels import JobRow
from zapjobs_cli.tui.widgets.live_table import Column, LiveTable

COLUMNS = [
    Column("job", "Job type", 16, grow=1, min_width=10),
    Column("queue", "Queue", 8, min_width=6),
    Column("schedule", "Schedule", 24, grow=1, min_width=10),
    Column("next", "Next run", 10, drop_below=90),
    Column("last", "Last run", 24, grow=1, min_width=12),
    # the runs that finished in the last hour (ZapJobs.job_type_stats): success rate, durations
    # (below 90 columns the detail line under the table gives p50 and p95)
    Column("ok", "OK 1h", 6),
    Column("p50", "p50", 6, drop_below=100),
    Column("p95", "p95", 6, drop_below=90),
    Column("state", "Sched. state", 12),
    Column("retries", "Retry", 5, drop_below=100),
    Column("timeout", "Timeout", 7, drop_below=110),
    Column("limits", "Limits", 12, drop_below=130),
]


class JobsScreen(LiveScreen):
    VIEW_NAME = "Jobs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("T", "trigger", "Trigger"),
        Binding("P", "toggle_pause", "Pause schedule"),
    ]
    PALETTE = (
        PaletteEntry("Trigger job now", "Enqueue a run of the selected job type", "trigger"),
        PaletteEntry(
            "Pause or resume schedule",
            "Toggle the recurring schedule of the selected job type (queued runs still run)",
            "toggle_pause",
        ),
    )

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, JobRow] = {}

    def compose_body(self) -> ComposeResult:
        table = LiveTable(COLUMNS, key_column="job", id="jobs-table")
        table.border_title = "Job types (enter lists their runs)"
        yield table
        yield Static(id="job-detail")

    async def fetch(self, now: datetime) -> tuple[tuple[JobRow, ...], datetime]:
        return await self.dashboard.source.jobs(now), now

    def show(self, data: tuple[tuple[JobRow, ...], datetime]) -> None:
        rows, now = data
        self.rows = {row.job_type: row for row in rows}
        self.query_one(LiveTable).sync([(row.job_type, _cells(row, now)) for row in rows])
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        """The selected job type's settings in full, whatever columns the width leaves."""
        row = self.selected
        self.query_one("#job-detail", Static).update(Text() if row is None else _detail(row))

    @property
    def selected(self) -> JobRow | None:
        key = self.query_one(LiveTable).cursor_key
        return self.rows.get(key) if key is not None else None

    def action_trigger(self) -> None:
        """Enqueue a run now; a job type whose input is required (and has no schedule input
        to reuse) asks for it, validated by the library before anything is enqueued."""
        job = self.selected
        if job is None or self.dashboard.read_only:
            return
        source = self.dashboard.source
        job_type = job.job_type
        needed = None if job.schedule else source.input_problem(job_type, "null")
        if needed is None:
            self.run_action_call(
                lambda: source.trigger(job_type),
                lambda run_id: f"triggered {job_type}: run {run_id}",
            )
            return

        def given(text: str | None) -> None:
            if text is not None:
                self.run_action_call(
                    lambda: source.trigger(job_type, text),
                    lambda run_id: f"triggered {job_type}: run {run_id}",
                )

        expected = source.expected_input(job_type)
        check = partial(source.input_problem, job_type)
        self.app.push_screen(InputScreen(job_type, expected, check), given)

    def action_toggle_pause(self) -> None:
        """P pauses the recurring schedule only (runs already queued still execute), and says
        so: there is no queue pause yet."""
        job = self.selected
        if job is None:
            return
        if job.schedule is None:
            self.notify(f"{visible(job.job_type)} has no schedule to pause", markup=False)
            return
        source = self.dashboard.source
        if job.enabled:
            self.run_action_call(
                lambda: source.pause(job.job_type),
                lambda _: (
                    f"schedule of {job.job_type} paused: it enqueues no new runs; "
                    "runs already queued still execute"
                ),
            )
        else:
            self.run_action_call(
                lambda: source.resume(job.job_type),
                lambda _: f"schedule of {job.job_type} resumed",
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
        timeout = setting_duration(row.timeout_seconds)
    return (
        untrusted(row.job_type),
        untrusted(row.queue),
        untrusted(row.schedule) if row.schedule else Text("-", style="dim"),
        age(row.next_due_at, now) if row.schedule else "-",
        last,
        *_recent_cells(row.recent),
        _schedule_state(row),
        retries,
        timeout,
        _limits(row),
    )


def _recent_cells(recent: JobTypeStats | None) -> tuple[Text, Text, Text]:
    """Success rate, p50 and p95 of the last hour's finished runs; dim dashes when none."""
    if recent is None:
        return Text("-", style="dim"), Text("-", style="dim"), Text("-", style="dim")
    rate = success_rate_text(recent)
    rate.justify = "right"
    return (
        rate,
        _seconds(recent.p50_seconds),
        _seconds(recent.p95_seconds),
    )


def _seconds(value: float | None) -> Text:
    return Text("-" if value is None else span(value), justify="right")


def _detail(row: JobRow) -> Text:
    """One line (two on a narrow screen): uniqueness, cap and rate limit, retries, timeout, and
    the last hour's runs."""
    text = untrusted(row.job_type)
    text.stylize("bold")
    text.append("  unique ", style="dim")
    text.append(row.unique)
    text.append("  limits ", style="dim")
    text.append_text(_limits(row))
    text.append("  retry ", style="dim")
    text.append(str(row.max_retries))
    if row.timeout_seconds is not None:
        text.append("  timeout ", style="dim")
        text.append(setting_duration(row.timeout_seconds))
    text.append("  last hour ", style="dim")
    text.append_text(recent_runs_text(row.recent))
    return text


def _limits(row: JobRow) -> Text:
    """The cap and rate limit every worker's claim enforces ("max 2, 10/s"); * when an operator
    overrides the code."""
    parts = [f"max {row.max_concurrency}"] if row.max_concurrency is not None else []
    if row.rate_limit is not None:
        parts.append(row.rate_limit)
    if not parts:
        return Text("-", style="dim")
    text = Text(", ".join(parts), style="bold" if row.limits_overridden else "")
    if row.limits_overridden:
        text.append("*", style="yellow")
    return text


def _schedule_state(row: JobRow) -> Text:
    """The state P changes: the recurring schedule's, not whether runs execute."""
    return schedule_state_text(row.schedule is not None, row.enabled)
