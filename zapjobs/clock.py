"""Time as a dependency: the engine asks a Clock, tests hand it a FakeClock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told.

    Whoever sleeps until a time of this clock (a worker's timer for the next due run) registers
    with ``on_moved`` and is called after each ``set``/``advance``, so a test that moves the
    clock past a due time wakes the worker without waiting in real time.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        self._moved: list[Callable[[], None]] = []

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when
        self._tell()

    def advance(self, by: timedelta | float) -> datetime:
        delta = by if isinstance(by, timedelta) else timedelta(seconds=by)
        self._now = self._now + delta
        self._tell()
        return self._now

    def on_moved(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (thread-safe, must not block) whenever the clock moves; returns
        the function that unregisters it."""
        self._moved.append(callback)
        return lambda: self._moved.remove(callback) if callback in self._moved else None

    def _tell(self) -> None:
        for callback in list(self._moved):
            callback()


SYSTEM_CLOCK = SystemClock()
