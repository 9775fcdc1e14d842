"""The worker's liveness: its heartbeat row, beaten from a thread of its own, and a watchdog on
the worker's event loop; plus the cancel checks, which stay on that loop.

A job that blocks the worker's event loop (``time.sleep`` in an ``async def``) must not make the
worker look dead: the "zapjobs-liveness" thread runs its own event loop with its own store
connection (``Store.sibling``) and beats every ``heartbeat_interval`` whatever the worker's loop
does. The same thread pings the worker's loop and warns, once per episode, when a job keeps it
busy for more than ``BLOCK_WARNING_SECONDS``, naming the job type and the run.

Fencing: ``healthy_for()`` is how long the beats have been succeeding without a gap. Maintenance
rescues other workers only after that reached the stale threshold, so staleness that built up
while the database was unreachable (everyone's rows are old when it comes back) never makes
healthy workers rescue each other: by then each of them has beaten again. A beat that finds the
worker's own row marked dead (it was cut off for longer than the threshold, and rescued) calls
``on_marked_dead`` on the worker's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable

from zapjobs.clock import Clock
from zapjobs.core.backoff import ReconnectSchedule
from zapjobs.models import WorkerInfo
from zapjobs.runtime.backoff import Outages, Retry
from zapjobs.stores.base import Store

logger = logging.getLogger("zapjobs.worker")

#: a job holding the event loop longer than this gets one warning per episode
BLOCK_WARNING_SECONDS = 1.0
#: how often the watchdog pings the worker's loop while runs are in flight, and looks whether
#: any are otherwise (only jobs block it; a ping wakes both threads)
WATCH_INTERVAL = 0.25
#: how long stopping waits for the thread (it is a daemon: the process never waits on it)
STOP_TIMEOUT = 5.0


class Heartbeat:
    def __init__(
        self,
        *,
        store: Store,
        worker_info: Callable[[], WorkerInfo],
        interval: float,
        clock: Clock | None,
        outages: Outages,
        on_marked_dead: Callable[[], None],
        blocker: Callable[[asyncio.Task[object] | None], str],
        busy: Callable[[], bool],
        describe_error: Callable[[BaseException], str] = str,
        block_warning: float = BLOCK_WARNING_SECONDS,
    ) -> None:
        self._store = store
        self._worker_info = worker_info
        self._interval = interval
        self._clock = clock
        self._retry = Retry(
            "heartbeat",
            outages,
            schedule=ReconnectSchedule(first=min(0.5, interval), cap=interval),
            describe_error=describe_error,
        )
        self._on_marked_dead = on_marked_dead
        self._blocker = blocker
        self._block_warning = block_warning
        self._busy = busy  # runs in flight: the watchdog pings only then
        self._worker_loop: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._stopping = False
        self._lock = threading.Lock()
        self._healthy_since: float | None = None
        self._last_ok: float | None = None
        self.beats = 0

    # --- called on the worker's loop ----------------------------------------------------------
    def start(self) -> None:
        self._worker_loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._main, name="zapjobs-liveness", daemon=True)
        self._thread.start()
        self._started.wait(STOP_TIMEOUT)

    async def stop(self) -> None:
        self._stopping = True
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # its loop already ended
                loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, STOP_TIMEOUT)

    def healthy_for(self) -> float:
        """Seconds the beats have been succeeding without a gap (0 when the last failed)."""
        with self._lock:
            if self._healthy_since is None or self._last_ok is None:
                return 0.0
            now = time.monotonic()
            if now - self._last_ok > 2 * self._interval + 1:
                return 0.0  # the current beat is late: not healthy now
            return now - self._healthy_since

    # --- the thread ---------------------------------------------------------------------------
    def _main(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(self._run())

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._started.set()
        if self._stopping:
            return
        store = self._store.sibling()
        own = store is not self._store
        opened = not own
        watchdog = asyncio.create_task(self._watch(), name="zapjobs-loop-watchdog")
        try:
            while not self._stopping:
                try:
                    if not opened:
                        await store.open()
                        opened = True
                    was_dead = await self._beat(store)
                except Exception as exc:
                    with self._lock:
                        self._healthy_since = None
                    delay = self._retry.failed(exc)
                else:
                    self._retry.succeeded()
                    if was_dead:
                        self._call_worker(self._on_marked_dead)
                    delay = self._interval
                await asyncio.sleep(delay)
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            if own and opened:
                with contextlib.suppress(Exception):
                    await store.close()

    async def _beat(self, store: Store) -> bool:
        now = self._clock.now() if self._clock is not None else None
        was_dead = await store.heartbeat(self._worker_info(), now=now)
        at = time.monotonic()
        with self._lock:
            gap = self._last_ok is None or at - self._last_ok > 2 * self._interval + 1
            if self._healthy_since is None or gap:
                self._healthy_since = at
            self._last_ok = at
        self.beats += 1
        return was_dead

    def _call_worker(self, callback: Callable[[], None]) -> bool:
        loop = self._worker_loop
        if loop is None or loop.is_closed():
            return False
        try:
            loop.call_soon_threadsafe(callback)
        except RuntimeError:  # closed meanwhile
            return False
        return True

    async def _watch(self) -> None:
        """While runs are in flight, ping the worker's loop; one warning while it stays busy past
        ``block_warning``."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._busy():
                # Only jobs block the loop: without runs, look again later (this thread alone
                # wakes; a ping would wake the worker's loop too, and signalling the start of a
                # run to this thread put it on the run's pickup path).
                await asyncio.sleep(WATCH_INTERVAL)
                continue
            answered = loop.create_future()

            def answer(fut: asyncio.Future[None] = answered) -> None:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_resolve, fut)

            if not self._call_worker(answer):
                return
            try:
                await asyncio.wait_for(asyncio.shield(answered), self._block_warning)
            except TimeoutError:
                self._warn_blocked()
                await answered
            await asyncio.sleep(WATCH_INTERVAL)

    def _warn_blocked(self) -> None:
        loop = self._worker_loop
        task = asyncio.current_task(loop) if loop is not None else None
        logger.warning(
            "%s has blocked the event loop for more than %gs (heartbeats go on, nothing else of "
            "this worker runs meanwhile): await instead of blocking, or make it a sync job (def)",
            self._blocker(task),
            self._block_warning,
        )


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class CancelChecks:
    """Asks the store which of this worker's runs an operator wants cancelled: every
    ``interval``, and at once when a "cancel" notification arrives. Runs on the worker's loop,
    where the runs' tasks are."""

    def __init__(
        self,
        *,
        store: Store,
        worker_id: str,
        interval: float,
        outages: Outages,
        on_cancel_requested: Callable[[list[int]], None],
        describe_error: Callable[[BaseException], str] = str,
    ) -> None:
        self._store = store
        self._worker_id = worker_id
        self._interval = interval
        self._retry = Retry("checking cancel requests", outages, describe_error=describe_error)
        self._on_cancel_requested = on_cancel_requested
        self._check_now = asyncio.Event()

    def request(self) -> None:
        """A "cancel" notification arrived: ask the store at once instead of at the next tick."""
        self._check_now.set()

    async def check(self) -> None:
        ids = await self._store.cancel_requested(self._worker_id)
        if ids:
            self._on_cancel_requested(ids)

    async def run(self, stop: asyncio.Event) -> None:
        delay = self._interval
        while not stop.is_set():
            try:
                async with asyncio.timeout(delay):
                    await self._check_now.wait()
            except TimeoutError:
                pass
            if stop.is_set():
                return
            self._check_now.clear()
            try:
                await self.check()
            except Exception as exc:
                delay = min(self._retry.failed(exc), self._interval)
            else:
                self._retry.succeeded()
                delay = self._interval
