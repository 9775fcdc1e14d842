"""``zapjobs dashboard``: the Textual application, built by a factory so tests can hand it a
fake source and a frozen clock.

Views are Textual modes (1-5), each with its own screen stack: a run opened from the Runs view
sits on top of it, so the filter, the page and the cursor are still there when you come back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import Screen

from zapjobs.clock import Clock
from zapjobs.errors import NotMigratedError
from zapjobs_cli.display import zone_name
from zapjobs_cli.tui.screens.base import LiveScreen
from zapjobs_cli.tui.screens.help import HelpScreen
from zapjobs_cli.tui.screens.jobs import JobsScreen
from zapjobs_cli.tui.screens.overview import OverviewScreen
from zapjobs_cli.tui.screens.queues import QueuesScreen
from zapjobs_cli.tui.screens.run_detail import RunDetailScreen
from zapjobs_cli.tui.screens.runs import RunsScreen
from zapjobs_cli.tui.screens.workers import WorkersScreen
from zapjobs_cli.tui.source import DashboardSource, ReadOnlySource, ZapJobsSource, is_disconnect
from zapjobs_cli.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from zapjobs import ZapJobs

VIEWS = ("overview", "jobs", "runs", "workers", "queues")


class DashboardApp(App[None]):
    CSS_PATH = Path(__file__).parent / "styles" / "dashboard.tcss"
    TITLE = "zapjobs"
    DEFAULT_MODE = "overview"
    MODES: ClassVar = {
        "overview": OverviewScreen,
        "jobs": JobsScreen,
        "runs": RunsScreen,
        "workers": WorkersScreen,
        "queues": QueuesScreen,
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "view('overview')", "Overview"),
        Binding("2", "view('jobs')", "Jobs"),
        Binding("3", "view('runs')", "Runs"),
        Binding("4", "view('workers')", "Workers"),
        # not in the key bar (kept to the first four views); the help and palette list it
        Binding("5", "view('queues')", "Queues", show=False),
        Binding("f", "freeze", "Freeze"),
        Binding("z", "local_time", "Local time", show=False),  # the status bar names the zone
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    HORIZONTAL_BREAKPOINTS = [
        (0, "-narrow"),
        (100, "-wide"),
    ]

    connection_error: reactive[str | None] = reactive(None)
    store_problem: reactive[str | None] = reactive(None)  # connected, but cannot be used
    frozen: reactive[bool] = reactive(False)
    local_time: reactive[bool] = reactive(False)  # times in this machine's zone, else UTC
    updated_at: reactive[datetime | None] = reactive(None)
    stale: reactive[bool] = reactive(False)

    def __init__(
        self,
        source: DashboardSource,
        *,
        clock: Clock | None = None,
        refresh: float = 5.0,
        read_only: bool = False,
        page_size: int = 100,
    ) -> None:
        super().__init__()
        self.read_only = read_only
        self.page_size = page_size
        self.source: DashboardSource = ReadOnlySource(source) if read_only else source
        self.clock = clock
        self.refresh_interval = refresh
        self.source_name = source.describe()

    def now(self) -> datetime:
        return self.clock.now() if self.clock is not None else self.source.now()

    def on_mount(self) -> None:
        self.set_interval(1.0, self.check_stale)

    def _status_changed(self) -> None:
        """Redraw the status bar on screen (others are drawn fresh when shown again)."""
        for bar in self.screen.query(StatusBar):
            bar.refresh()

    def watch_connection_error(self) -> None:
        self._status_changed()

    def watch_store_problem(self) -> None:
        self._status_changed()

    def watch_frozen(self) -> None:
        self._status_changed()

    def watch_local_time(self) -> None:
        self._status_changed()

    def watch_updated_at(self) -> None:
        self._status_changed()

    def watch_stale(self) -> None:
        self._status_changed()

    # --- what the screens report ---------------------------------------------------------------
    def fetch_succeeded(self) -> None:
        self.connection_error = None
        self.store_problem = None
        self.updated_at = self.now()
        self.stale = False

    def fetch_failed(self, error: BaseException) -> bool:
        """Record a failed fetch; True when it means the store cannot be reached or used."""
        if isinstance(error, NotMigratedError):  # it answered: connected, but not usable
            self.connection_error = None
            self.store_problem = "database not migrated (run zapjobs migrate)"
            return True
        if is_disconnect(error):
            self.connection_error = self.source.explain(error)
            return True
        self.connection_error = None  # the store answered, with an error about the request
        return False

    def check_stale(self) -> None:
        """The data on screen is stale when no refresh finished for two refresh periods (a
        slow or stuck query): said beside "connected", which stays true."""
        if self.frozen or self.updated_at is None:
            self.stale = False
            return
        limit = timedelta(seconds=2 * self.refresh_interval)
        self.stale = self.now() - self.updated_at > limit

    # --- navigation ----------------------------------------------------------------------------
    def action_view(self, name: str) -> None:
        if name in VIEWS and self.current_mode != name:
            self.switch_mode(name)

    def open_run(self, run_id: int) -> None:
        self.push_screen(RunDetailScreen(run_id))

    async def show_runs(self, filter_text: str) -> None:
        """Switch to Runs showing ``filter_text`` (e.g. from a job's row)."""
        await self.switch_mode("runs")
        runs = self.screen
        if isinstance(runs, RunsScreen):
            runs.apply_filter(filter_text)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.read_only))

    def action_freeze(self) -> None:
        self.frozen = not self.frozen
        screen = self.screen
        if not self.frozen and isinstance(screen, LiveScreen):
            screen.reload()
        self.notify("live refresh frozen (f resumes)" if self.frozen else "live refresh resumed")

    def action_local_time(self) -> None:
        """Show times in this machine's zone, or back in UTC (the status bar names the zone)."""
        self.local_time = not self.local_time
        screen = self.screen
        if isinstance(screen, LiveScreen):
            screen.reload()
        self.notify("times in " + zone_name(local=self.local_time) + " (z toggles)")

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        for name in VIEWS:
            yield SystemCommand(
                f"View: {name.title()}", f"Switch to the {name} view", _call(self, name)
            )
        yield SystemCommand("Freeze or resume", "Toggle the live refresh (f)", self.action_freeze)
        yield SystemCommand("Help", "Every key (?)", self.action_help)
        if isinstance(screen, LiveScreen):
            for entry in screen.palette_entries():
                yield SystemCommand(entry.title, entry.help, _screen_action(screen, entry.action))
        yield from super().get_system_commands(screen)


def _call(app: DashboardApp, view: str) -> Callable[[], None]:
    return lambda: app.action_view(view)


def _screen_action(screen: LiveScreen, action: str) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await screen.run_action(action)

    return run


def make_dashboard(
    source: DashboardSource,
    *,
    clock: Clock | None = None,
    refresh: float = 5.0,
    read_only: bool = False,
    page_size: int = 100,
) -> DashboardApp:
    """The dashboard over ``source`` (tests: a fake source and a FakeClock); ``refresh`` in
    seconds; ``page_size`` rows per page of the Runs view."""
    return DashboardApp(
        source, clock=clock, refresh=refresh, read_only=read_only, page_size=page_size
    )


def run_dashboard(
    zap: ZapJobs, *, refresh: float | timedelta = 5.0, read_only: bool = False
) -> None:
    """Run the dashboard until the operator quits (blocking; it runs its own event loop).

    Pass ``zap`` unopened: the dashboard opens it on that loop (retrying at every refresh while
    the database is unreachable, shown as "disconnected") and closes it on exit. A database
    that answers but is not migrated is refused before the screen is drawn (NotMigratedError,
    exit 3 like every other command). A ZapJobs opened on another loop would hold connections
    bound to that loop."""
    seconds = refresh.total_seconds() if isinstance(refresh, timedelta) else float(refresh)
    if seconds <= 0:
        from zapjobs.errors import ConfigurationError

        raise ConfigurationError("--refresh must be greater than zero", hint="e.g. --refresh 5")
    source = ZapJobsSource(zap)
    app = make_dashboard(source, refresh=seconds, read_only=read_only)

    async def main() -> None:
        try:
            await source.check_migrated()
            await app.run_async()
        finally:
            await source.close()

    asyncio.run(main())
