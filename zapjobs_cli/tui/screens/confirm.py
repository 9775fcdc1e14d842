"""The confirmation before acting on every run a filter matches: the server's count, the
filter, and one key per action."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

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


#: above this many runs, acting on everything matching asks for the count to be typed
TYPED_CONFIRM_ABOVE = 100


class YesNoScreen(ModalScreen[bool]):
    """One question, answered with y (or enter on Yes) or n / esc: for deleting runs."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,Y", "answer(True)", "Yes", show=False),
        Binding("escape,n,N,q", "answer(False)", "No", show=False),
    ]

    def __init__(self, question: Text) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        box = Vertical(id="confirm", classes="small")
        box.border_title = "Confirm"
        with box:
            yield Static(self.question, id="confirm-count")
            with Horizontal(id="confirm-buttons"):
                yield Button("Y  Yes", id="yes", variant="error")
                yield Button("N  No", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class TypedConfirmScreen(ModalScreen[bool]):
    """Acting on many runs at once: the operator types the count (or the verb) to go on."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Back", show=False),
    ]

    def __init__(self, verb: str, count: int) -> None:
        super().__init__()
        self.verb = verb
        self.count = count

    def compose(self) -> ComposeResult:
        box = Vertical(id="confirm", classes="small")
        box.border_title = f"{self.verb.title()} {self.count:,} runs"
        with box:
            text = Text(f"This will {self.verb} {self.count:,} runs. Type ")
            text.append(str(self.count), style="bold")
            text.append(" or ").append(self.verb, style="bold").append(" to go on; esc goes back.")
            yield Static(text, id="confirm-count")
            yield Input(id="confirm-input", placeholder=str(self.count))
            yield Static(id="confirm-error")

    def on_mount(self) -> None:
        self.query_one("#confirm-input", Input).cursor_blink = False
        self.query_one("#confirm-input", Input).focus()

    @on(Input.Submitted, "#confirm-input")
    def _submitted(self, event: Input.Submitted) -> None:
        typed = event.value.strip().lower().replace(",", "").replace("_", "")
        if typed in {str(self.count), self.verb}:
            self.dismiss(True)
            return
        self.query_one("#confirm-error", Static).update(
            Text(f"type {self.count} or {self.verb} (esc goes back)", style="bold red")
        )

    def action_cancel(self) -> None:
        self.dismiss(False)


class InputScreen(ModalScreen["str | None"]):
    """The input of a run to trigger, as JSON, checked by ``check`` (the library's validation)
    before the screen closes; returns the JSON text, or None when abandoned."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Back", show=False),
    ]

    def __init__(self, job_type: str, expected: str, check: Callable[[str], str | None]) -> None:
        super().__init__()
        self.job_type = job_type
        self.expected = expected
        self.check = check

    def compose(self) -> ComposeResult:
        box = Vertical(id="confirm", classes="small")
        box.border_title = "Trigger with input"
        with box:
            text = untrusted(self.job_type, style="bold").append(" needs an input: ")
            text.append(untrusted(self.expected, style="cyan"))
            text.append("\nType it as JSON and press enter; esc goes back.")
            yield Static(text, id="confirm-count")
            yield Input(id="confirm-input", placeholder='{"to": "a@example.com"}')
            yield Static(id="confirm-error")

    def on_mount(self) -> None:
        self.query_one("#confirm-input", Input).cursor_blink = False
        self.query_one("#confirm-input", Input).focus()

    @on(Input.Submitted, "#confirm-input")
    def _submitted(self, event: Input.Submitted) -> None:
        problem = self.check(event.value)
        if problem is None:
            self.dismiss(event.value)
            return
        self.query_one("#confirm-error", Static).update(untrusted(f"✗ {problem}", style="bold red"))

    def action_cancel(self) -> None:
        self.dismiss(None)
