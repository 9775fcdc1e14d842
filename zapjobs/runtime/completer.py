"""Batches what running jobs produce (log entries, progress, outcomes) into few store round trips.

Everything is buffered under a thread lock (sync jobs log from worker threads) and flushed every
``flush_interval`` (~50 ms), or at once when a batch reaches ``batch_size``. One flush writes
logs, then progress, then outcomes, from one snapshot: a run's logs are stored before or with
its outcome. Progress of running runs alone is flushed every ``progress_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from zapjobs.clock import Clock
from zapjobs.job import ProgressTracker
from zapjobs.models import NewLogEntry, ProgressUpdate, RunOutcome
from zapjobs.runtime.backoff import Outages, Retry
from zapjobs.stores.base import Store

logger = logging.getLogger("zapjobs.worker")


class Completer:
    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        flush_interval: float = 0.05,
        batch_size: int = 100,
        progress_interval: float = 0.5,
        describe_error: Callable[[BaseException], str] = str,
        outages: Outages | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        self._progress_interval = progress_interval
        self._describe_error = describe_error
        self._retry = Retry(
            "writing job results",
            outages or Outages(logger, describe_error=describe_error),
            describe_error=describe_error,
        )
        self._lock = threading.Lock()
        self._logs: list[NewLogEntry] = []
        self._progress: dict[int, ProgressTracker] = {}
        self._outcomes: list[RunOutcome] = []
        self._flush_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._last_progress_flush = 0.0
        self._stopping = False
        self.outcomes_written = 0

    # --- called by jobs (any thread) and the executor -----------------------------------------
    def add_log(self, entry: NewLogEntry) -> None:
        with self._lock:
            self._logs.append(entry)
            full = len(self._logs) + len(self._outcomes) >= self._batch_size
        if full:
            self._kick()

    def progress_changed(self, tracker: ProgressTracker) -> None:
        with self._lock:
            self._progress[tracker.run_id] = tracker

    def add_outcome(self, outcome: RunOutcome, progress: ProgressTracker | None = None) -> None:
        with self._lock:
            self._outcomes.append(outcome)
            if progress is not None and progress.changed:
                self._progress[progress.run_id] = progress
            full = len(self._logs) + len(self._outcomes) >= self._batch_size
        if full or self._stopping:
            self._kick()

    def pending(self) -> int:
        with self._lock:
            return len(self._logs) + len(self._outcomes) + len(self._progress)

    def _kick(self) -> None:
        if threading.get_ident() == self._loop_thread:
            self._wake.set()
            return
        # A sync job that outlived its worker (timed out, still running) may log after the
        # loop closed: its entries can no longer be written, and that must not raise in it.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._wake.set)

    # --- the flushing loop --------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Flush until ``stop`` is set; a failed flush is retried with a growing pause."""
        backoff = self._flush_interval
        while not stop.is_set():
            try:
                async with asyncio.timeout(backoff):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.flush(include_progress=self._progress_due())
            except Exception as exc:
                backoff = self._retry.failed(exc)
            else:
                self._retry.succeeded()
                backoff = self._flush_interval

    async def close(self, attempts: int = 3) -> None:
        """The final flush at shutdown, tried a few times; what cannot be written is logged
        (the runs stay running and stale-worker rescue puts them back)."""
        self._stopping = True
        delay = 0.2
        for attempt in range(attempts):
            try:
                await self.flush(include_progress=True)
                return
            except Exception as exc:
                logger.warning("could not write job results: %s", self._describe_error(exc))
                if attempt + 1 < attempts:
                    await asyncio.sleep(delay)
                    delay *= 2
        logger.error("%d job results were not written before shutdown", self.pending())

    def _progress_due(self) -> bool:
        return time.monotonic() - self._last_progress_flush >= self._progress_interval

    async def flush(self, *, include_progress: bool = True) -> None:
        async with self._flush_lock:
            with self._lock:
                logs, self._logs = self._logs, []
                outcomes, self._outcomes = self._outcomes, []
                finished = {o.run_id for o in outcomes}
                if include_progress:
                    trackers, self._progress = self._progress, {}
                else:
                    trackers = {k: v for k, v in self._progress.items() if k in finished}
                    for run_id in trackers:
                        del self._progress[run_id]
            try:
                await self._write(logs, trackers, outcomes)
            except BaseException:
                with self._lock:
                    self._logs[:0] = logs
                    self._outcomes[:0] = outcomes
                    for run_id, tracker in trackers.items():
                        self._progress.setdefault(run_id, tracker)
                raise
            if include_progress:
                self._last_progress_flush = time.monotonic()

    async def _write(
        self,
        logs: list[NewLogEntry],
        trackers: dict[int, ProgressTracker],
        outcomes: list[RunOutcome],
    ) -> None:
        if logs:
            await self._store.append_logs(logs)
            logs.clear()  # written: a later failure must not write them twice
        if trackers:
            updates = [ProgressUpdate(run_id, t.snapshot()) for run_id, t in trackers.items()]
            await self._store.save_progress(updates)
            trackers.clear()
        if outcomes:
            now: datetime | None = self._clock.now() if self._clock is not None else None
            changed = set(await self._store.complete(outcomes, now=now))
            self.outcomes_written += len(changed)
            for outcome in outcomes:
                if outcome.run_id not in changed:
                    logger.info(
                        "run %d: result not applied (it was cancelled, rescued or deleted "
                        "meanwhile)",
                        outcome.run_id,
                    )
            outcomes.clear()
