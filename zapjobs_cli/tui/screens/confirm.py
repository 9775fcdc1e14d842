"""The confirmation before acting on every run a filter matches: the server's count, the
filter, and one key per action."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from zapjobs_cli.display import untrusted


class ConfirmAllScreen(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("R,r", "choose('retry')", "Retry all", show=False),
        Binding("C,c", "choose('cancel')", "Cancel all", show=False),
        Binding("D,d", "choose('delete')", "Delete all", show=False),
        Binding("escape,n,q", "choose(None)", "Back", show=False),
    ]

    def __init__(self, count: int, filter_text: str) -> None:
        super().__init__()
        self.count = count
        self.filter_text = filter_text

    def compose(self) -> ComposeResult:
        what = f"matching  {self.filter_text}" if self.filter_text else "in the store (no filter)"
        box = Vertical(id="confirm")
        box.border_title = "Act on every matching run"
        with box:
            count = Text().append(f"{self.count:,}", style="bold")
            count.append(untrusted(f" runs {what}"))
            yield Static(count, id="confirm-count")
            yield Static(
                "Retry applies to failed and cancelled runs, cancel to pending and running "
                "ones, delete to all but running ones. Counted by the server just now.",
                id="confirm-note",
            )
            with Horizontal(id="confirm-buttons"):
                yield Button("R  Retry all", id="retry", variant="primary")
                yield Button("C  Cancel all", id="cancel", variant="warning")
                yield Button("D  Delete all", id="delete", variant="error")
                yield Button("Esc  Back", id="back")

    def on_mount(self) -> None:
        self.query_one("#back", Button).focus()

    def action_choose(self, verb: str | None) -> None:
        self.dismiss(verb)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "back" else event.button.id)
