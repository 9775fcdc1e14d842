"""Runs finished per minute over the last hour: succeeded above, failed below, one column a
minute, scaled from zero so an idle minute is an empty column."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from zapjobs.models import ThroughputPoint
from zapjobs_cli.display import bar_rows


class ThroughputChart(Widget):
    DEFAULT_CSS = """
    ThroughputChart { height: 9; }
    """

    LEGEND = "[green]█[/] succeeded  [red]█[/] failed"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._points: tuple[ThroughputPoint, ...] = ()
        self._since = "-1h"
        self.border_subtitle = self.LEGEND

    def update(self, points: Sequence[ThroughputPoint], since: str = "-1h") -> None:
        self._points = tuple(points)
        self._since = since
        self.refresh()

    def render(self) -> RenderResult:
        # as many cells per minute as the width allows (a wide terminal gets a wider chart)
        per = max(1, (self.content_size.width - 6) // max(len(self._points), 1))
        succeeded = [p.succeeded for p in self._points for _ in range(per)]
        failed = [p.failed for p in self._points for _ in range(per)]
        lines: list[Text] = []
        ok_rows = bar_rows(succeeded, 4)
        fail_rows = bar_rows(failed, 2)
        ok_peak = max(succeeded, default=0)
        fail_peak = max(failed, default=0)
        for index, row in enumerate(ok_rows):
            label = f"{ok_peak:>5} " if index == 0 else " " * 6
            lines.append(Text(label, style="dim") + Text(row, style="green"))
        for index, row in enumerate(fail_rows):
            label = f"{fail_peak:>5} " if index == 0 else " " * 6
            lines.append(Text(label, style="dim") + Text(row, style="red"))
        width = len(succeeded)
        axis = self._since.ljust(width - 3) + "now" if width >= 8 else ""
        lines.append(Text(" " * 6 + axis, style="dim"))
        return Group(*lines)
