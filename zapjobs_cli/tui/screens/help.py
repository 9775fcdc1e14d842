"""The `?` screen: every key, grouped by where it works."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Everywhere",
        (
            ("1 2 3 4 5", "Overview, Jobs, Runs, Workers, Queues"),
            ("↑ ↓ pgup pgdn", "move in a table or log; home / end: first / last row"),
            ("tab", "next panel"),
            ("enter", "open the selected row"),
            ("y", "copy the run id (Runs, Run detail; through the terminal's clipboard)"),
            ("Y", "Run detail: copy the run as JSON (as `zapjobs runs list --json` shows it)"),
            ("esc", "back, or clear marks / filter"),
            ("f", "freeze or resume the live refresh"),
            ("z", "times in this machine's zone or in UTC (the status bar names the zone)"),
            ("?", "this help"),
            ("ctrl+p", "command palette"),
            ("q", "quit"),
        ),
    ),
    (
        "Overview",
        (("g", "chart range: last hour, 24 hours, 7 days (in the chart's title)"),),
    ),
    (
        "Runs",
        (
            ("/", "filter: status:failed job:x queue:low since:1h until:10m id:42 text"),
            ("", "also worker:ID finished-since:1h finished-until:10m"),
            ("space", "mark or unmark the row"),
            ("n / p", "next (older) / previous (newer) page"),
            ("s / o", "sort by creation, finish time, job type / flip the order (summary says)"),
            ("R C D", "retry, cancel, delete the marked rows (or the cursor row); D asks first"),
            ("A", "act on everything matching the filter (count shown; above 100 runs, type it)"),
            ("↺", "in Error: the error of an earlier attempt (the run was retried)"),
        ),
    ),
    (
        "Run detail",
        (
            ("l", "cycle the minimum log level"),
            ("w", "to the workflow tree: enter opens a parent's or child's detail, esc back"),
            ("/", "search the log (enter with nothing shows every line)"),
            ("R C D", "retry, cancel, delete (D asks first)"),
        ),
    ),
    (
        "Jobs",
        (
            ("T", "trigger now (asks for the input when the job type requires one)"),
            ("P", "pause or resume the recurring schedule (queued runs still run)"),
            ("enter", "list its runs"),
            ("OK 1h", "runs finished in the last hour that succeeded; p50 / p95: their durations"),
        ),
    ),
    (
        "Workers",
        (("enter", "list the runs the worker holds (worker:ID status:running)"),),
    ),
    (
        "Queues",
        (
            ("P", "pause or resume the queue: no worker claims its runs while paused"),
            ("X", "purge the queue's pending runs (type the count or purge to confirm)"),
            ("enter", "list its runs"),
        ),
    ),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "close", "Close", show=False),
    ]

    def __init__(self, read_only: bool) -> None:
        super().__init__()
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        box = VerticalScroll(id="help")
        box.border_title = "Keys"
        with box:
            yield Static(self._table())

    def _table(self) -> Table:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", justify="right")
        table.add_column()
        for section, keys in KEYS:
            table.add_row("", Text(section, style="bold underline"))
            for key, what in keys:
                if self.read_only and key in {"R C D", "A", "T", "P", "X"}:
                    continue
                table.add_row(key, what)
        if self.read_only:
            table.add_row("", Text("read-only: actions are disabled", style="bold yellow"))
        note = "Upper-case keys change data (shift means: I am sure)."
        table.add_row("", Text(note, style="dim"))
        return table

    def action_close(self) -> None:
        self.dismiss(None)
