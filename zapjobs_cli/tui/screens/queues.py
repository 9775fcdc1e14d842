"""Queues: the columns of `zapjobs queues list` (paused or active, pending, scheduled, running,
lag, the live workers serving it, runs finished in the last minute), a queue no live worker
serves flagged; P pauses or resumes the queue, X purges its pending runs after a typed
confirmation. A queue pause is not a schedule pause (Jobs' P): it stops every worker claiming
the queue's runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from zapjobs.models import QueueInfo
from zapjobs_cli.display import lag_text, untrusted, visible
from zapjobs_cli.tui.screens.base import LiveScreen, PaletteEntry
from zapjobs_cli.tui.screens.confirm import TypedConfirmScreen
from zapjobs_cli.tui.widgets.live_table import Column, LiveTable

#: what the CLI's `queues list` says of a queue no live worker serves
UNSERVED = "no live worker"

#: this view's data-changing actions: hidden and refused when the dashboard is read-only
QUEUE_ACTIONS = frozenset({"toggle_queue_pause", "purge_queue"})

COLUMNS = [
    Column("queue", "Queue", 14, grow=1, min_width=8),
    Column("state", "State", 6),
    Column("pending", "Pending", 7),
    Column("scheduled", "Sched.", 6, drop_below=90),
    Column("running", "Running", 7),
    Column("lag", "Lag", 6),
    Column("workers", "Workers", 18, grow=2, min_width=14),
    Column("per_minute", "/min", 5),
]


class QueuesScreen(LiveScreen):
    VIEW_NAME = "Queues"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("P", "toggle_queue_pause", "Pause queue"),
        Binding("X", "purge_queue", "Purge"),
    ]
    PALETTE = (
        PaletteEntry(
            "Pause or resume queue",
            "Stop (or restart) every worker claiming the selected queue's runs",
            "toggle_queue_pause",
        ),
        PaletteEntry("Purge queue", "Delete the selected queue's pending runs", "purge_queue"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, QueueInfo] = {}

    def compose_body(self) -> ComposeResult:
        table = LiveTable(COLUMNS, key_column="queue", id="queues-table")
        table.border_title = "Queues (enter lists their runs)"
        yield table

    async def fetch(self, now: datetime) -> tuple[QueueInfo, ...]:
        return await self.dashboard.source.queues(now)

    def show(self, data: tuple[QueueInfo, ...]) -> None:
        self.rows = {q.name: q for q in data}
        self.query_one(LiveTable).sync([(q.name, _cells(q)) for q in data])

    @property
    def selected(self) -> QueueInfo | None:
        key = self.query_one(LiveTable).cursor_key
        return self.rows.get(key) if key is not None else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in QUEUE_ACTIONS and self.dashboard.read_only:
            return False
        return super().check_action(action, parameters)

    def action_toggle_queue_pause(self) -> None:
        queue = self.selected
        if queue is None or self.dashboard.read_only:
            return
        source = self.dashboard.source
        name = queue.name
        if queue.paused:
            self.run_action_call(
                lambda: source.resume_queue(name),
                lambda _: f"queue {name} resumed: its workers claim its runs again",
            )
        else:
            self.run_action_call(
                lambda: source.pause_queue(name),
                lambda _: f"queue {name} paused: no worker claims its runs; running runs finish",
            )

    def action_purge_queue(self) -> None:
        """Deleting runs cannot be undone: the operator types the count (or "purge")."""
        queue = self.selected
        if queue is None or self.dashboard.read_only:
            return
        pending = queue.pending + queue.scheduled
        if pending == 0:
            self.notify(f"queue {visible(queue.name)} has no pending runs", markup=False)
            return
        source = self.dashboard.source
        name = queue.name

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_action_call(
                    lambda: source.purge_queue(name),
                    lambda deleted: f"purged {deleted} pending run(s) of queue {name}",
                )

        self.app.push_screen(TypedConfirmScreen("purge", pending), answered)

    async def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        await self.dashboard.show_runs(f"queue:{event.row_key.value}")


def _cells(queue: QueueInfo) -> tuple[Any, ...]:
    state = Text("paused", style="bold yellow") if queue.paused else Text("active", style="green")
    workers = (
        untrusted(",".join(queue.workers)) if queue.served else Text(UNSERVED, style="bold red")
    )
    lag = lag_text(queue.lag)
    return (
        untrusted(queue.name),
        state,
        Text(str(queue.pending), justify="right"),
        Text(str(queue.scheduled), justify="right"),
        Text(str(queue.running), justify="right"),
        lag,
        workers,
        Text(str(queue.finished_last_minute), justify="right"),
    )
