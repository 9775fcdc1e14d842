"""Every loop that talks to the database retries through here, and the log says one line when
the database becomes unreachable and one when it is reachable again, however many loops (the
fetcher, the completer, maintenance, the heartbeat thread) notice, and whatever the driver's
pool logs underneath (the PostgreSQL store demotes those lines to DEBUG).

Only a lost connection (``ConnectionFailedError``: refused, dropped, no pool connection, no
answer within the store's deadline) is an outage. Any other error is a problem of its own and is
logged at each failure, as before, with the same backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from zapjobs.core.backoff import ReconnectSchedule
from zapjobs.errors import ConnectionFailedError


def is_outage(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionFailedError)


class Outages:
    """The outage state shared by a worker's loops (thread-safe).

    An outage starts at the first loop that fails to reach the database and ends when every loop
    that failed has succeeded again: one WARNING line each, with the outage's length at the end.
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        describe_error: Callable[[BaseException], str] = str,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._describe_error = describe_error
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._failing: set[str] = set()
        self._since: float | None = None

    @property
    def unreachable(self) -> bool:
        with self._lock:
            return bool(self._failing)

    def failed(self, loop: str, exc: BaseException) -> None:
        with self._lock:
            first = not self._failing
            self._failing.add(loop)
            if first:
                self._since = self._monotonic()
        if first:
            self._logger.warning(
                "database unreachable (%s): %s; retrying until it is back",
                loop,
                self._describe_error(exc),
            )

    def succeeded(self, loop: str) -> None:
        with self._lock:
            if loop not in self._failing:
                return
            self._failing.discard(loop)
            if self._failing or self._since is None:
                return
            lasted = self._monotonic() - self._since
            self._since = None
        self._logger.warning("database reachable again after %.1fs", lasted)


class Retry:
    """The backoff of one loop: ``failed`` returns the seconds to wait before the next try."""

    def __init__(
        self,
        loop: str,
        outages: Outages,
        *,
        schedule: ReconnectSchedule | None = None,
        logger: logging.Logger | None = None,
        describe_error: Callable[[BaseException], str] = str,
    ) -> None:
        self.loop = loop
        self._outages = outages
        self._schedule = schedule or ReconnectSchedule()
        self._logger = logger or outages._logger
        self._describe_error = describe_error
        self.failures = 0

    def failed(self, exc: BaseException) -> float:
        self.failures += 1
        delay = self._schedule.delay(self.failures)
        if is_outage(exc):
            self._outages.failed(self.loop, exc)
        else:
            self._logger.warning(
                "%s failed (retrying in %.1fs): %s", self.loop, delay, self._describe_error(exc)
            )
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self._outages.succeeded(self.loop)
