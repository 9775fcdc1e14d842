"""The refresh loop every live screen shares.

Data is fetched in a worker (``exclusive``: a new fetch replaces one still running) that posts
``Loaded`` or ``LoadFailed``; only then is the next fetch armed, ``refresh_interval`` later, so
fetches never pile up however slow the store is. Actions run in workers too and end with a
notification and an immediate refresh.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget

from zapjobs_cli.display import visible
from zapjobs_cli.tui.widgets.key_bar import KeyBar
from zapjobs_cli.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from zapjobs_cli.tui.app import DashboardApp

#: actions that change data: hidden from the footer and refused when read-only
MUTATING_ACTIONS = frozenset({"retry", "cancel", "delete", "act_on_all", "trigger", "toggle_pause"})


W = TypeVar("W", bound=Widget)


def titled(widget: W, title: str) -> W:
    """``widget`` with its border title set, so compose() can say it in one place."""
    widget.border_title = title
    return widget


@dataclass(frozen=True)
class PaletteEntry:
    title: str
    help: str
    action: str  # an action name of the screen


class LiveScreen(Screen[None]):
    VIEW_NAME: ClassVar[str] = ""
    PALETTE: ClassVar[tuple[PaletteEntry, ...]] = ()
    BINDINGS: ClassVar[list[BindingType]] = []

    @dataclass
    class Loaded(Message):
        data: Any
        serial: int = 0

    @dataclass
    class LoadFailed(Message):
        error: BaseException
        serial: int = 0

    @dataclass
    class ActionDone(Message):
        text: str

    @dataclass
    class ActionFailed(Message):
        error: BaseException

    def __init__(self) -> None:
        super().__init__()
        self._timer: Timer | None = None
        self.loaded_once = False
        self._serial = 0  # of the latest fetch asked for: only its result is applied
        self.fetching = False  # a fetch is in flight

    @property
    def dashboard(self) -> DashboardApp:
        return cast("DashboardApp", self.app)

    def compose(self) -> ComposeResult:
        yield StatusBar(self.VIEW_NAME)
        yield from self.compose_body()
        yield KeyBar()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    async def fetch(self, now: datetime) -> Any:
        """Read this screen's data through the source (runs in a worker)."""
        raise NotImplementedError

    def show(self, data: Any) -> None:
        """Put freshly fetched data on screen."""
        raise NotImplementedError

    def fetch_failed(self, error: BaseException) -> None:
        """An error about this screen's request (not a lost store): say it once."""
        self.notify(visible(self.dashboard.source.explain(error)), severity="error", markup=False)

    # --- the refresh loop ----------------------------------------------------------------------
    def on_screen_resume(self) -> None:
        if not self.loaded_once or not self.dashboard.frozen:
            self.reload()

    def on_screen_suspend(self) -> None:
        self._stop_timer()

    def reload(self) -> None:
        """Fetch now (replacing a fetch in flight and the armed timer)."""
        self._stop_timer()
        self._fetch()

    def _fetch(self) -> None:
        self._serial += 1
        self.fetching = True
        self.loading_changed()
        self._fetch_worker(self._serial)

    @work(exclusive=True, group="refresh")
    async def _fetch_worker(self, serial: int) -> None:
        try:
            data = await self.fetch(self.dashboard.now())
        except Exception as exc:  # shown, never fatal: the operator keeps watching
            self.post_message(self.LoadFailed(exc, serial))
        else:
            self.post_message(self.Loaded(data, serial))

    def loading_changed(self) -> None:
        """A fetch started or ended (``self.fetching``): screens may say so."""

    def on_live_screen_loaded(self, message: Loaded) -> None:
        message.stop()
        if message.serial != self._serial:  # an older request: a newer one is on its way
            return
        self.loaded_once = True
        self.fetching = False
        self.show(message.data)
        self.loading_changed()
        self.dashboard.fetch_succeeded()
        self._arm()

    def on_live_screen_load_failed(self, message: LoadFailed) -> None:
        message.stop()
        if message.serial != self._serial:
            return
        self.fetching = False
        self.loading_changed()
        if not self.dashboard.fetch_failed(message.error):
            self.fetch_failed(message.error)
        self._arm()

    def _arm(self) -> None:
        self._stop_timer()
        if self.is_current and not self.dashboard.frozen:
            self._timer = self.set_timer(self.refresh_seconds(), self._tick)

    def refresh_seconds(self) -> float:
        """How long until the next refresh (a screen may follow something faster)."""
        return self.dashboard.refresh_interval

    def _tick(self) -> None:
        self._timer = None
        if self.is_current and not self.dashboard.frozen:
            self._fetch()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    # --- actions -------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in MUTATING_ACTIONS and self.dashboard.read_only)

    def run_action_call(
        self, call: Callable[[], Awaitable[Any]], describe: Callable[[Any], str]
    ) -> None:
        """Run a data-changing call in a worker; say what happened, then refresh."""
        if self.dashboard.read_only:
            self.notify("read-only: actions are disabled", severity="warning")
            return
        self._action_worker(call, describe)

    @work(group="action")
    async def _action_worker(
        self, call: Callable[[], Awaitable[Any]], describe: Callable[[Any], str]
    ) -> None:
        try:
            result = await call()
        except Exception as exc:
            self.post_message(self.ActionFailed(exc))
        else:
            self.post_message(self.ActionDone(describe(result)))

    def on_live_screen_action_done(self, message: ActionDone) -> None:
        message.stop()
        self.notify(visible(message.text), markup=False)
        self.reload()

    def on_live_screen_action_failed(self, message: ActionFailed) -> None:
        message.stop()
        explained = visible(self.dashboard.source.explain(message.error))
        self.notify(explained, severity="error", markup=False)
        self.reload()

    def palette_entries(self) -> Iterable[PaletteEntry]:
        for entry in self.PALETTE:
            if self.check_action(entry.action, ()):
                yield entry
