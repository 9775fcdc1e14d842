"""Claims runs for the free slots, in one store call, and sleeps until there may be more.

It claims again at once while the last claim came back full and slots are free; otherwise it
sleeps until woken by a notification for one of its queues (only when it has free slots), by a
freed slot after a full claim, or by the poll timer. It never claims more runs than free slots.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from zapjobs.clock import Clock
from zapjobs.core.backoff import ReconnectSchedule
from zapjobs.models import JobRun, Notification
from zapjobs.runtime.backoff import Outages, Retry
from zapjobs.stores.base import Store

logger = logging.getLogger("zapjobs.worker")

#: Poll at least this often when notifications from other processes cannot arrive (SQLite).
LOCAL_ONLY_POLL_SECONDS = 0.1
#: How often a fetcher held back by ``may_claim`` looks again.
HELD_BACK_POLL_SECONDS = 1.0


class Fetcher:
    def __init__(
        self,
        *,
        store: Store,
        worker_id: str,
        queues: Sequence[str],
        job_types: Sequence[str],
        concurrency: int,
        polling_interval: float,
        clock: Clock | None,
        in_flight: Callable[[], int],
        start_run: Callable[[JobRun], None],
        burst: bool = False,
        before_burst_exit: Callable[[], Awaitable[None]] | None = None,
        describe_error: Callable[[BaseException], str] = str,
        may_claim: Callable[[], bool] = lambda: True,
        outages: Outages | None = None,
        on_claim: Callable[[int, list[JobRun]], None] | None = None,
    ) -> None:
        self._store = store
        self._worker_id = worker_id
        self._queues = list(queues)
        self._queue_set = frozenset(queues)
        self._job_types = list(job_types)
        self._concurrency = concurrency
        if not store.cross_process_notify:
            polling_interval = min(polling_interval, LOCAL_ONLY_POLL_SECONDS)
        self._poll = polling_interval
        self._clock = clock
        self._in_flight = in_flight
        self._start_run = start_run
        self._burst = burst
        self._before_burst_exit = before_burst_exit
        self._may_claim = may_claim  # False while this worker cannot write results
        self._on_claim = on_claim  # (runs asked for, runs claimed), e.g. for metrics
        # after a failed claim: 0.5 s, doubling, up to the polling interval (0.5 to 5 s)
        self._retry = Retry(
            "claiming runs",
            outages or Outages(logger, describe_error=describe_error),
            schedule=ReconnectSchedule(first=0.5, cap=min(max(polling_interval, 0.5), 5.0)),
            describe_error=describe_error,
        )
        self._wake = asyncio.Event()
        self._stopping = False
        self._last_claim_full = False

    def free_slots(self) -> int:
        return self._concurrency - self._in_flight()

    # --- wake-ups (called on the event loop) --------------------------------------------------
    def on_notification(self, notification: Notification) -> None:
        if notification.kind != "runs":
            return
        if notification.queue is not None and notification.queue not in self._queue_set:
            return
        if self.free_slots() > 0:
            self._wake.set()

    def on_slot_freed(self) -> None:
        if self._last_claim_full or self._burst:
            self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    # --- the loop -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Claim until stopped; with ``burst``, return once nothing is due and nothing runs."""
        idle_checked = False
        while not self._stopping:
            free = self.free_slots()
            if free <= 0:
                self._last_claim_full = True
                self._wake.clear()  # no await since free_slots(): no wake-up can be lost
                await self._sleep(None)
                continue
            self._wake.clear()
            if not self._may_claim():
                await self._sleep(min(self._poll, HELD_BACK_POLL_SECONDS))
                continue
            try:
                runs = await self._claim(free)
            except Exception as exc:
                await self._sleep(self._retry.failed(exc))
                continue
            self._retry.succeeded()
            for run in runs:
                self._start_run(run)
            if self._on_claim is not None:
                self._on_claim(free, runs)
            self._last_claim_full = len(runs) == free
            if self._last_claim_full:
                idle_checked = False
                continue
            if self._burst:
                if runs or self._in_flight() > 0:
                    idle_checked = False
                elif not idle_checked:
                    # Results still buffered may turn into due runs (an immediate retry):
                    # write them, then look once more before leaving.
                    if self._before_burst_exit is not None:
                        await self._before_burst_exit()
                    idle_checked = True
                    continue
                else:
                    return
            await self._sleep(self._poll)

    async def _claim(self, limit: int) -> list[JobRun]:
        now = self._clock.now() if self._clock is not None else None
        return await self._store.claim(
            self._worker_id, self._queues, self._job_types, limit, now=now
        )

    async def _sleep(self, seconds: float | None) -> None:
        if self._stopping:
            return
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            pass
