"""The worker's heartbeat: its row in the store, refreshed every ``heartbeat_interval``, and the
moment it asks whether an operator wants one of its runs cancelled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from zapjobs.clock import Clock
from zapjobs.models import WorkerInfo
from zapjobs.stores.base import Store

logger = logging.getLogger("zapjobs.worker")


class Heartbeat:
    def __init__(
        self,
        *,
        store: Store,
        worker_info: Callable[[], WorkerInfo],
        interval: float,
        clock: Clock | None,
        on_cancel_requested: Callable[[list[int]], None],
        describe_error: Callable[[BaseException], str] = str,
    ) -> None:
        self._store = store
        self._worker_info = worker_info
        self._interval = interval
        self._clock = clock
        self._on_cancel_requested = on_cancel_requested
        self._describe_error = describe_error
        self._check_now = asyncio.Event()

    async def beat(self) -> None:
        now = self._clock.now() if self._clock is not None else None
        await self._store.heartbeat(self._worker_info(), now=now)

    async def check_cancels(self) -> None:
        ids = await self._store.cancel_requested(self._worker_info().id)
        if ids:
            self._on_cancel_requested(ids)

    def request_cancel_check(self) -> None:
        """A "cancel" notification arrived: ask the store at once instead of at the next beat."""
        self._check_now.set()

    async def run(self, stop: asyncio.Event) -> None:
        next_beat = asyncio.get_running_loop().time() + self._interval
        while not stop.is_set():
            remaining = next_beat - asyncio.get_running_loop().time()
            if remaining > 0:
                try:
                    async with asyncio.timeout(remaining):
                        await self._check_now.wait()
                except TimeoutError:
                    pass
            if stop.is_set():
                return
            beat_due = asyncio.get_running_loop().time() >= next_beat
            self._check_now.clear()
            try:
                if beat_due:
                    next_beat = asyncio.get_running_loop().time() + self._interval
                    await self.beat()
                await self.check_cancels()
            except Exception as exc:
                logger.warning("heartbeat failed: %s", self._describe_error(exc))
