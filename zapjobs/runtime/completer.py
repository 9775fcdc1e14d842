"""Batches what running jobs produce (log entries, progress, outcomes) into few store round trips.

Everything is buffered under a thread lock (sync jobs log from worker threads) and flushed every
``flush_interval`` (~50 ms), or at once when a batch reaches ``batch_size``. With nothing
buffered the flushing loop sleeps without a timer (an idle worker is not woken 20 times a
second), and the first entry after that is flushed at once: the loop was idle, so it is no
batch's first of many. One flush writes logs, then progress, then outcomes, from one snapshot:
a run's logs are stored before or with its outcome. Progress of running runs alone is flushed
every ``progress_interval``.

A batch the store refuses because of a value in it (``StoreDataError``: a NUL, a lone surrogate,
a number out of range that slipped past the executor) is split until the refused entry is alone;
only that one is replaced, by a visible placeholder log entry or an ``UnstorableResultError``
outcome, and the rest are written. Results that stay unwritten for ``UNWRITABLE_RESULTS_SECONDS``
(a write failing or hanging) make the worker log one ERROR line and stop claiming new runs
(``results_writable``) until a write succeeds again, which it logs in one line too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from zapjobs.clock import Clock
from zapjobs.core.storable import storable_text
from zapjobs.errors import InvalidStateError, ValidationError
from zapjobs.job import ProgressTracker, run_log_fields
from zapjobs.models import NewLogEntry, ProgressUpdate, RunError, RunOutcome, RunStatus
from zapjobs.runtime.backoff import Outages, Retry
from zapjobs.stores.base import Store

logger = logging.getLogger("zapjobs.worker")

T = TypeVar("T")

#: Results unwritten for this long (writes failing or hanging) stop the worker's claiming: more
#: runs would only pile up more results it cannot write, while its heartbeat keeps it "alive".
UNWRITABLE_RESULTS_SECONDS = 30.0

#: The store refused a value of the batch: the same batch would fail again, so it is split.
_REFUSED = (ValidationError, InvalidStateError)


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
        unwritable_after: float | None = None,
        outages: Outages | None = None,
        on_outcomes_written: Callable[[float, int], None] | None = None,
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
        self._on_outcomes_written = on_outcomes_written  # (seconds, outcomes), e.g. for metrics
        self._lock = threading.Lock()
        self._logs: list[NewLogEntry] = []
        self._progress: dict[int, ProgressTracker] = {}
        self._outcomes: list[RunOutcome] = []
        self._flush_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._idle = False  # the loop sleeps until something is buffered (kicked by the first)
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._last_progress_flush = 0.0
        self._stopping = False
        if unwritable_after is None:
            unwritable_after = UNWRITABLE_RESULTS_SECONDS
        self._unwritable_after = unwritable_after
        self._unwritten_since: float | None = None  # monotonic; the oldest result not written
        self._unwritable = False  # said so, and claiming is held back
        self._last_error = ""

    # --- called by jobs (any thread) and the executor -----------------------------------------
    def add_log(self, entry: NewLogEntry) -> None:
        with self._lock:
            if self._unwritten_since is None:
                self._unwritten_since = time.monotonic()
            self._logs.append(entry)
            full = len(self._logs) + len(self._outcomes) >= self._batch_size
            first, self._idle = self._idle, False
        if full or first:
            self._kick()

    def progress_changed(self, tracker: ProgressTracker) -> None:
        with self._lock:
            self._progress[tracker.run_id] = tracker
            first, self._idle = self._idle, False
        if first:
            self._kick()

    def add_outcome(self, outcome: RunOutcome, progress: ProgressTracker | None = None) -> None:
        with self._lock:
            if self._unwritten_since is None:
                self._unwritten_since = time.monotonic()
            self._outcomes.append(outcome)
            if progress is not None and progress.changed:
                self._progress[progress.run_id] = progress
            full = len(self._logs) + len(self._outcomes) >= self._batch_size
            first, self._idle = self._idle, False
        if full or first or self._stopping:
            self._kick()

    def pending(self) -> int:
        with self._lock:
            return len(self._logs) + len(self._outcomes) + len(self._progress)

    def results_writable(self) -> bool:
        """False while some result has waited ``UNWRITABLE_RESULTS_SECONDS`` or more to be
        written; the change, both ways, is logged once."""
        since = self._unwritten_since
        stuck = since is not None and time.monotonic() - since >= self._unwritable_after
        if stuck and not self._unwritable:
            self._unwritable = True
            assert since is not None
            logger.error(
                "cannot write job results for %.0fs (%s): claiming no new runs until they are "
                "written",
                time.monotonic() - since,
                self._last_error or "the write has not returned",
            )
        elif not stuck and self._unwritable:
            self._unwritable = False
            logger.warning("job results are written again: claiming new runs again")
        return not stuck

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
            with self._lock:
                self._idle = backoff == self._flush_interval and not (
                    self._logs or self._outcomes or self._progress
                )
                idle = self._idle
            if idle:
                await _first_of(self._wake, stop)  # the first entry buffered kicks it
                if stop.is_set():
                    return
            else:
                try:
                    async with asyncio.timeout(backoff):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            self._wake.clear()
            try:
                await self.flush(include_progress=self._progress_due())
            except Exception as exc:
                self._last_error = self._describe_error(exc)
                backoff = self._retry.failed(exc)
            else:
                self._retry.succeeded()
                backoff = self._flush_interval
            self.results_writable()

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
            started = time.monotonic()
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
            with self._lock:
                # What was added during the write is younger than the write itself.
                waiting = self._logs or self._outcomes
                self._unwritten_since = started if waiting else None
                self._last_error = ""
            if include_progress:
                self._last_progress_flush = time.monotonic()

    async def _write(
        self,
        logs: list[NewLogEntry],
        trackers: dict[int, ProgressTracker],
        outcomes: list[RunOutcome],
    ) -> None:
        """Logs, then progress, then outcomes; each list loses its entries as they are written,
        so what is left when this raises is put back for the next flush."""
        if logs:
            await self._write_split(logs, self._store.append_logs, self._log_placeholder)
        if trackers:
            updates = [ProgressUpdate(run_id, t.snapshot()) for run_id, t in trackers.items()]
            await self._write_split(updates, self._store.save_progress, self._drop_progress)
            trackers.clear()
        if outcomes:
            await self._write_split(outcomes, self._complete, self._unstorable_outcome)

    async def _complete(self, outcomes: list[RunOutcome]) -> None:
        now: datetime | None = self._clock.now() if self._clock is not None else None
        started = time.monotonic()
        changed = set(await self._store.complete(outcomes, now=now))
        if self._on_outcomes_written is not None:
            self._on_outcomes_written(time.monotonic() - started, len(outcomes))
        for outcome in outcomes:
            if outcome.run_id not in changed:
                logger.info(
                    "run %d: result not applied (it was cancelled, rescued or deleted meanwhile)",
                    outcome.run_id,
                    extra=run_log_fields(outcome.run_id, outcome.attempt),
                )

    async def _write_split(
        self,
        items: list[T],
        write: Callable[[list[T]], Awaitable[object]],
        substitute: Callable[[T, str], T | None],
    ) -> None:
        """Write ``items`` in chunks, deleting each chunk from the list once written. A chunk
        the store refuses is halved until the refused item is alone; that item is then written
        as its ``substitute`` (or dropped), and the chunk size grows back."""
        whole = len(items)
        size = whole
        while items:
            chunk = items[:size]
            try:
                await write(chunk)
            except _REFUSED as exc:
                if len(chunk) > 1:
                    size = (len(chunk) + 1) // 2
                    continue
                await self._write_substitute(chunk[0], self._describe_error(exc), write, substitute)
            del items[: len(chunk)]
            size = min(size * 2, whole)

    async def _write_substitute(
        self,
        item: T,
        reason: str,
        write: Callable[[list[T]], Awaitable[object]],
        substitute: Callable[[T, str], T | None],
    ) -> None:
        replacement = substitute(item, storable_text(reason))
        if replacement is None:
            return
        try:
            await write([replacement])
        except _REFUSED as exc:
            logger.error(
                "the store refused a result even after replacing it, dropped: %s",
                self._describe_error(exc),
            )

    @staticmethod
    def _log_placeholder(entry: NewLogEntry, reason: str) -> NewLogEntry:
        logger.error(
            "run %d: a log entry could not be stored: %s",
            entry.run_id,
            reason,
            extra=run_log_fields(entry.run_id),
        )
        message = f"(zapjobs: this log entry could not be stored: {reason})"
        return replace(entry, message=message, fields_json="{}")

    @staticmethod
    def _drop_progress(update: ProgressUpdate, reason: str) -> None:
        logger.error(
            "run %d: its progress could not be stored: %s",
            update.run_id,
            reason,
            extra=run_log_fields(update.run_id),
        )
        return None

    @staticmethod
    def _unstorable_outcome(outcome: RunOutcome, reason: str) -> RunOutcome:
        """The attempt fails instead (a retry stays a retry): the store refused its result."""
        logger.error(
            "run %d: its result could not be stored: %s",
            outcome.run_id,
            reason,
            extra=run_log_fields(outcome.run_id, outcome.attempt),
        )
        message = f"the result of this attempt could not be stored: {reason}"
        if outcome.error is not None:
            message += f" (the attempt failed with {storable_text(outcome.error.type)})"
        status = RunStatus.FAILED if outcome.status is RunStatus.SUCCEEDED else outcome.status
        return replace(
            outcome,
            status=status,
            output_json=None,
            error=RunError("UnstorableResultError", message),
        )


async def _first_of(*events: asyncio.Event) -> None:
    """Return once any of ``events`` is set."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
