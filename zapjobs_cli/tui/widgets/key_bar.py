"""The bottom line of every screen: the keys that work here, as one line of text.

"? Help" and "q Quit" come first so they survive any terminal width; the other keys follow
and are cut with an ellipsis when the line is full. One widget drawing text (Textual's Footer
builds a widget per key and rebuilds them at every screen switch)."""

from __future__ import annotations

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

ALWAYS = ("help", "quit")  # actions shown first, whatever the width


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: 1; background: $panel; }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _changed(self, _screen: object) -> None:
        self.refresh()

    def render(self) -> RenderResult:
        shown: dict[str, tuple[str, str, bool]] = {}
        for _node, binding, enabled, _tip in self.screen.active_bindings.values():
            if binding.show and binding.description:
                label = binding.key_display or self.app.get_key_display(binding)
                shown.setdefault(binding.action, (label, binding.description, enabled))
        order = [a for a in ALWAYS if a in shown] + [a for a in shown if a not in ALWAYS]
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        for action in order:
            label, description, enabled = shown[action]
            text.append(f" {label} ", style="bold reverse" if enabled else "dim reverse")
            text.append(f" {description} ", style="" if enabled else "dim")
        text.truncate(max(self.size.width, 1), overflow="ellipsis")
        return text
