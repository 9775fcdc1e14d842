"""Overview: counts by status and queue (with each queue's lag and last minute's throughput),
throughput, success rate, workers, what recurs next, the latest failures and failures grouped by
exception type."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Static

from zapjobs.models import WorkerState
from zapjobs_cli.display import (
    STATUS_STYLES,
    WORKER_STYLES,
    age,
    lag_text,
    one_line_text,
    percent,
    untrusted,
)
from zapjobs_cli.tui.screens.base import LiveScreen, titled
from zapjobs_cli.tui.viewmodels import CHART_RANGES, ChartRange, Overview, next_chart_range
from zapjobs_cli.tui.widgets.chart import ThroughputChart
from zapjobs_cli.tui.widgets.live_table import Column, LiveTable

STATUS_ORDER = ("waiting", "pending", "scheduled", "running", "succeeded", "failed", "cancelled")


def chart_title(chart: ChartRange) -> str:
    return f"Finished per {chart.per}, last {chart.label} (g: range)"


class OverviewScreen(LiveScreen):
    VIEW_NAME = "Overview"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("g", "chart_range", "Chart range", show=False),  # the chart title says it
    ]
    chart: ChartRange = CHART_RANGES[0]

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="overview"):
            with Horizontal(classes="row top"):
                yield titled(Static(id="status-counts", classes="panel"), "Runs by status")
                yield titled(Static(id="queue-counts", classes="panel"), "Queues")
                yield titled(Static(id="health", classes="panel"), "Health")
            with Horizontal(classes="row middle"):
                yield titled(ThroughputChart(id="throughput"), chart_title(CHART_RANGES[0]))
                yield titled(Static(id="next-recurring", classes="panel"), "Next recurring runs")
            with Horizontal(classes="row bottom"):
                failures = LiveTable(
                    [
                        Column("id", "ID"),
                        Column("job", "Job type", 16, min_width=8),
                        Column("when", "Finished", 9, min_width=7),
                        Column("error", "Error", 19, grow=1, min_width=10),
                    ],
                    key_column="id",
                    id="latest-failures",
                )
                yield titled(failures, "Latest failures (enter opens)")
                groups = LiveTable(
                    [
                        Column("type", "Exception", 17, min_width=10),
                        Column("count", "Count", 5),
                        Column("last", "Last run"),
                        Column("message", "Last message", 20, grow=1, min_width=10),
                    ],
                    key_column="type",
                    id="error-groups",
                )
                yield titled(groups, "Failures by exception, 24h")

    async def fetch(self, now: datetime) -> tuple[Overview, datetime]:
        return await self.dashboard.source.overview(now, self.chart), now

    def action_chart_range(self) -> None:
        """Cycle the chart's span 1h, 24h, 7d (shown in its title) and read it now."""
        self.chart = next_chart_range(self.chart)
        self.query_one("#throughput", ThroughputChart).border_title = chart_title(self.chart)
        self.reload()

    def show(self, data: tuple[Overview, datetime]) -> None:
        overview, now = data
        self.query_one("#status-counts", Static).update(_status_table(overview))
        self.query_one("#queue-counts", Static).update(_queue_table(overview))
        self.query_one("#health", Static).update(_health_table(overview, now))
        chart = self.query_one("#throughput", ThroughputChart)
        chart.border_title = chart_title(overview.chart)
        chart.update(overview.throughput, f"-{overview.chart.label}")
        self.query_one("#next-recurring", Static).update(_recurring_table(overview, now))
        self.query_one("#latest-failures", LiveTable).sync(
            [
                (
                    str(r.id),
                    (
                        Text(str(r.id), justify="right"),
                        untrusted(r.job_type),
                        age(r.finished_at, now),
                        one_line_text(f"{r.error_type}: {r.error_message}", 160, "red"),
                    ),
                )
                for r in overview.latest_failures
            ]
        )
        self.query_one("#error-groups", LiveTable).sync(
            [
                (
                    g.error_type,
                    (
                        untrusted(g.error_type, style="bold red"),
                        Text(str(g.count), justify="right"),
                        Text(str(g.last_run_id), justify="right"),
                        one_line_text(g.last_message, 160),
                    ),
                )
                for g in overview.error_groups
            ]
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Open the failed run (or the latest run of an exception group)."""
        table = event.data_table
        key = str(event.row_key.value)
        if table.id == "latest-failures":
            self.dashboard.open_run(int(key))
        elif table.id == "error-groups":
            run_id = table.get_cell(key, "last")
            self.dashboard.open_run(int(str(run_id)))


def _status_table(overview: Overview) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column()
    table.add_column(justify="right")
    stats = overview.stats
    for status in STATUS_ORDER:
        if status == "waiting" and not stats.waiting:
            continue  # shown once a workflow waits (installations without any keep their layout)
        table.add_row(Text(status, style=STATUS_STYLES[status]), f"{getattr(stats, status):,}")
    table.add_row(Text("total", style="bold"), Text(f"{stats.total:,}", style="bold"))
    return table


def _queue_table(overview: Overview) -> Table:
    """Counts by queue, with the lag (how long its oldest pending run has waited) and the runs
    finished in the last minute, as the Queues view (5) gives them."""
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    table.add_column("queue")
    for name in ("pending", "sched", "running", "failed", "lag", "/min"):
        table.add_column(name, justify="right")
    queues = overview.stats.by_queue
    infos = {q.name: q for q in overview.queues}
    for q in queues[:6]:
        counts = (q.pending, q.scheduled, q.running, q.failed)
        info = infos.get(q.queue)
        lag = lag_text(None if info is None else info.lag)
        per_minute = "-" if info is None else f"{info.finished_last_minute:,}"
        table.add_row(untrusted(q.queue), *(f"{n:,}" for n in counts), lag, per_minute)
    if len(queues) > 6:
        table.add_row(Text(f"… {len(queues) - 6} more", style="dim"))
    if not queues:
        table.add_row(Text("no runs yet", style="dim"))
    return table


def _health_table(overview: Overview, now: datetime) -> Table:
    ok, failed = overview.finished_last_hour
    stats = overview.stats
    table = Table.grid(padding=(0, 2))
    table.add_column()
    table.add_column(justify="right")
    table.add_row("success rate 1h", Text(percent(ok, ok + failed), style="bold"))
    table.add_row("success rate all", percent(stats.succeeded, stats.succeeded + stats.failed))
    table.add_row("finished 1h", f"{ok + failed:,}")
    table.add_row("queue depth", f"{stats.pending:,}")
    for state in (WorkerState.ALIVE, WorkerState.STALE, WorkerState.DEAD):
        count = overview.workers_in(state)
        style = WORKER_STYLES[state.value] if count else "dim"
        table.add_row(Text(f"workers {state.value}", style=style), Text(str(count), style=style))
    return table


def _recurring_table(overview: Overview, now: datetime) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column()
    table.add_column()
    table.add_column(justify="right")
    for row in overview.next_recurring:
        schedule = untrusted(row.schedule, style="dim")
        table.add_row(untrusted(row.job_type), schedule, age(row.next_due_at, now))
    if not overview.next_recurring:
        table.add_row(Text("no recurring jobs", style="dim"))
    return table
