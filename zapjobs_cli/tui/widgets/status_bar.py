"""The top line of every screen: which view, which store, connected or not, when the data was
read, and whether the refresh is frozen or the dashboard read-only."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget

from zapjobs_cli.display import full_timestamp, untrusted

if TYPE_CHECKING:
    from zapjobs_cli.tui.app import DashboardApp


class StatusBar(Widget):
    """Refreshed by the app when what it shows changes (a bar watching the app's reactives
    would stay referenced by the app after its screen closed: one leaked bar per run opened)."""

    DEFAULT_CSS = """
    StatusBar { dock: top; height: 1; }
    """

    def __init__(self, view: str) -> None:
        super().__init__()
        self.view = view

    @property
    def dashboard(self) -> DashboardApp:
        return cast("DashboardApp", self.app)

    def render(self) -> RenderResult:
        app = self.dashboard
        text = Text()
        text.append(" zapjobs ", style="bold reverse")
        text.append(f" {self.view} ", style="bold")
        if app.read_only:
            text.append(" READ-ONLY ", style="bold black on cyan")
            text.append(" ")
        if app.frozen:
            text.append(" FROZEN ", style="bold black on yellow")
            text.append(" ")
        if app.updated_at is not None:
            text.append(f" {full_timestamp(app.updated_at, local=app.local_time)} ", style="dim")
        if not app.frozen:
            text.append(f" every {app.refresh_interval:g}s ", style="dim")
        if app.stale:
            text.append(" STALE ", style="bold black on yellow")
            text.append(" ")
        if app.connection_error is None:
            text.append(" ● connected ", style="green")
            if app.store_problem is not None:
                text.append(f"· {app.store_problem} ", style="bold red")
            text.append(untrusted(f" {app.source_name} ", style="dim"))
        else:
            text.append(" ● disconnected: ", style="bold red")
            text.append(untrusted(f"{app.connection_error} ", style="red"))
        text.truncate(max(self.size.width, 1), overflow="ellipsis")
        return text
