"""Workers: id, host, pid, queues, start, last heartbeat and its age, state, running runs;
enter lists the runs the selected worker holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable

from zapjobs_cli.display import WORKER_STYLES, age, clock_time, minute_timestamp, untrusted
from zapjobs_cli.tui.screens.base import LiveScreen
from zapjobs_cli.tui.viewmodels import WorkerRow
from zapjobs_cli.tui.widgets.live_table import Column, LiveTable

COLUMNS = [
    Column("id", "Worker", 20, grow=1, min_width=12),
    Column("host", "Host", 12, min_width=6, drop_below=90),
    Column("pid", "PID", 7, drop_below=100),
    Column("queues", "Queues", 17, grow=2, min_width=8),
    Column("started", "Started", 11, drop_below=110),
    Column("seen", "Heartbeat", 9),
    Column("age", "Age", 9, drop_below=90),
    Column("state", "State", 7),
    Column("running", "Running", 7),
]


class WorkersScreen(LiveScreen):
    VIEW_NAME = "Workers"

    def compose_body(self) -> ComposeResult:
        table = LiveTable(COLUMNS, key_column="id", id="workers-table")
        table.border_title = "Workers (enter lists the runs a worker holds)"
        yield table

    async def fetch(self, now: datetime) -> tuple[tuple[WorkerRow, ...], datetime]:
        return await self.dashboard.source.workers(now), now

    def show(self, data: tuple[tuple[WorkerRow, ...], datetime]) -> None:
        rows, now = data
        local = self.dashboard.local_time
        self.query_one(LiveTable).sync([(row.id, _cells(row, now, local)) for row in rows])

    async def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        worker_id = str(event.row_key.value)
        if any(c.isspace() or c == '"' for c in worker_id):  # not expressible as a filter word
            self.notify("this worker's id has spaces or quotes: use zapjobs runs list --worker")
            return
        await self.dashboard.show_runs(f"worker:{worker_id} status:running")


def _cells(row: WorkerRow, now: datetime, local: bool = False) -> tuple[Any, ...]:
    return (
        untrusted(row.id),
        untrusted(row.host),
        Text(str(row.pid), justify="right"),
        untrusted(",".join(row.queues)),
        minute_timestamp(row.started_at, local=local),
        clock_time(row.last_seen_at, local=local),
        age(row.last_seen_at, now),
        Text(row.state.value, style=WORKER_STYLES[row.state.value]),
        Text(f"{row.running}/{row.concurrency}", justify="right"),
    )
