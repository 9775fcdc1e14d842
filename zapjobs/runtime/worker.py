"""The worker: composes the fetcher, executor, completer, heartbeat and maintenance services,
and stops gracefully.

Stopping (first SIGTERM/SIGINT, burst done, or the ``stop`` event): claim nothing more, let
running jobs finish within ``shutdown_timeout``, then (or at a second signal, at once) cancel
them and put them back to pending, due now, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from zapjobs.clock import SYSTEM_CLOCK, Clock
from zapjobs.models import JobRun, Notification, RunOutcome, RunStatus, WorkerInfo
from zapjobs.registry import Registry
from zapjobs.runtime.completer import Completer
from zapjobs.runtime.events import (
    RunFinished,
    WorkerStarted,
    WorkerStopped,
    WorkerStopping,
    WorkerSummary,
)
from zapjobs.runtime.executor import (
    STOP_CANCEL,
    STOP_SHUTDOWN,
    Attempt,
    DefinitionCache,
    Executor,
)
from zapjobs.runtime.fetcher import Fetcher
from zapjobs.runtime.heartbeat import Heartbeat
from zapjobs.runtime.maintenance import Maintenance
from zapjobs.runtime.signals import SignalHandlers
from zapjobs.settings import Settings
from zapjobs.stores.base import Listener, Store

logger = logging.getLogger("zapjobs.worker")

#: How long a stopping worker waits for a claim already sent to the store.
CLAIM_GRACE_SECONDS = 5.0


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


class Worker:
    def __init__(
        self,
        *,
        store: Store,
        registry: Registry,
        settings: Settings,
        clock: Clock | None = None,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        burst: bool = False,
        worker_id: str | None = None,
        shutdown_timeout: timedelta | None = None,
        install_signal_handlers: bool = True,
        on_event: Callable[[Any], None] | None = None,
        stop: asyncio.Event | None = None,
        describe_error: Callable[[BaseException], str] = str,
    ) -> None:
        self.store = store
        self.registry = registry
        self.settings = settings
        self.clock = clock
        self.queues = tuple(queues or settings.queues)  # validated by ZapJobs.run_worker
        self.concurrency = concurrency or settings.concurrency
        self.burst = burst
        self.worker_id = worker_id or new_worker_id()
        self.shutdown_timeout = (shutdown_timeout or settings.shutdown_timeout).total_seconds()
        self._signals = SignalHandlers(self._on_signal) if install_signal_handlers else None
        self._on_event = on_event
        self._external_stop = stop
        self._describe_error = describe_error
        self._stop = asyncio.Event()  # stop claiming
        self._force = asyncio.Event()  # stop waiting for running jobs
        self._services_stop = asyncio.Event()
        self._stop_reason = "stop"
        self._running: dict[int, Attempt] = {}
        self._counts = dict.fromkeys(
            ("claimed", "succeeded", "failed", "retried", "cancelled", "requeued"), 0
        )
        self._started_at = self._now()
        self._fetcher: Fetcher | None = None
        self._heartbeat: Heartbeat | None = None

    def _now(self) -> datetime:
        return (self.clock or SYSTEM_CLOCK).now()

    def _emit(self, event: Any) -> None:
        if isinstance(event, RunFinished):
            self._count(event)
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            logger.exception("the on_event handler failed on %r", event)

    def _count(self, event: RunFinished) -> None:
        if event.status is RunStatus.SUCCEEDED:
            self._counts["succeeded"] += 1
        elif event.status is RunStatus.FAILED:
            self._counts["failed"] += 1
        elif event.status is RunStatus.CANCELLED:
            self._counts["cancelled"] += 1
        elif event.requeued:
            self._counts["requeued"] += 1
        else:
            self._counts["retried"] += 1

    def request_stop(self, reason: str = "stop") -> None:
        """Stop claiming; running jobs get ``shutdown_timeout`` to finish."""
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()
        if self._fetcher is not None:
            self._fetcher.stop()

    def worker_info(self) -> WorkerInfo:
        return WorkerInfo(
            id=self.worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            queues=self.queues,
            started_at=self._started_at,
            last_seen_at=self._now(),
            running=len(self._running),
            concurrency=self.concurrency,
        )

    # --- run ----------------------------------------------------------------------------------
    async def run(self) -> WorkerSummary:
        if self._signals is not None:
            self._signals.install()
        try:
            return await self._run()
        finally:
            if self._signals is not None:
                self._signals.restore()

    def _warn_unserved_queues(self) -> None:
        served = set(self.queues)
        for job_type in self.registry:
            queue = job_type.queue or self.settings.default_queue
            if queue not in served:
                logger.warning(
                    "job type %r uses queue %r, which this worker does not serve (queues: %s)",
                    job_type.id,
                    queue,
                    ", ".join(self.queues),
                )

    async def _run(self) -> WorkerSummary:
        if self.settings.enable_processing:
            self._warn_unserved_queues()
        definitions = DefinitionCache(self.store)
        await definitions.refresh()
        completer = Completer(self.store, clock=self.clock, describe_error=self._describe_error)
        heartbeat = Heartbeat(
            store=self.store,
            worker_info=self.worker_info,
            interval=self.settings.heartbeat_interval.total_seconds(),
            clock=self.clock,
            on_cancel_requested=self._cancel_runs,
            describe_error=self._describe_error,
        )
        self._heartbeat = heartbeat
        await heartbeat.beat()
        pool = ThreadPoolExecutor(self.concurrency + 4, thread_name_prefix="zapjobs-job")
        executor = Executor(
            registry=self.registry,
            settings=self.settings,
            completer=completer,
            definitions=definitions,
            worker_id=self.worker_id,
            clock=self.clock,
            thread_pool=pool,
            emit=self._emit,
        )
        processing = self.settings.enable_processing
        if processing:
            self._fetcher = Fetcher(
                store=self.store,
                worker_id=self.worker_id,
                queues=self.queues,
                job_types=self.registry.ids,
                concurrency=self.concurrency,
                polling_interval=self.settings.polling_interval.total_seconds(),
                clock=self.clock,
                in_flight=lambda: len(self._running),
                start_run=lambda run: self._start(run, executor),
                burst=self.burst,
                before_burst_exit=completer.flush,
                describe_error=self._describe_error,
                may_claim=completer.results_writable,
            )
        listener = await self._listen()
        services = [
            asyncio.create_task(completer.run(self._services_stop), name="zapjobs-completer"),
            asyncio.create_task(heartbeat.run(self._services_stop), name="zapjobs-heartbeat"),
            asyncio.create_task(self._refresh(definitions), name="zapjobs-definitions"),
        ]
        maintenance = self._maintenance()
        if maintenance is not None:
            services.append(asyncio.create_task(maintenance, name="zapjobs-maintenance"))
        fetching = (
            asyncio.create_task(self._fetcher.run(), name="zapjobs-fetcher")
            if self._fetcher is not None
            else None
        )
        self._emit(
            WorkerStarted(
                self.worker_id,
                self.queues,
                self.concurrency,
                tuple(self.registry.ids) if processing else (),
            )
        )
        try:
            await self._until_stopped(fetching)
            await self._drain()
        finally:
            await self._shutdown(fetching, services, completer, listener, pool)
        summary = self._summary()
        self._emit(WorkerStopped(summary))
        return summary

    async def _until_stopped(self, fetching: asyncio.Task[None] | None) -> None:
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._stop.wait())]
        if self._external_stop is not None:
            waiters.append(asyncio.ensure_future(self._external_stop.wait()))
        if fetching is not None:
            waiters.append(fetching)
        elif self.burst:
            waiters.append(asyncio.ensure_future(self._maintenance_once()))
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                if waiter is not fetching:
                    waiter.cancel()
        if fetching is not None and fetching in done:
            fetching.result()  # a crash of the fetcher is a crash of the worker
            self.request_stop("burst")
        elif self._external_stop is not None and self._external_stop.is_set():
            self.request_stop("stop")
        elif not self._stop.is_set():
            self.request_stop("burst")
        self._emit(WorkerStopping(self._stop_reason))

    async def _drain(self) -> None:
        """Let running jobs finish within the shutdown timeout (a second signal ends it), then
        put the rest back to pending."""
        pending: set[asyncio.Future[Any]] = {
            a.task for a in self._running.values() if a.task is not None
        }
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.shutdown_timeout
        forced = asyncio.ensure_future(self._force.wait())
        try:
            while pending and not self._force.is_set():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                _, still = await asyncio.wait(
                    {*pending, forced}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                pending = {t for t in still if t is not forced}
        finally:
            forced.cancel()
        self._cancel_all(STOP_SHUTDOWN)

    def _cancel_all(self, reason: str) -> None:
        for attempt in self._running.values():
            if attempt.task is not None and not attempt.task.done():
                attempt.stop_reason = attempt.stop_reason or reason
                attempt.task.cancel()

    async def _shutdown(
        self,
        fetching: asyncio.Task[None] | None,
        services: list[asyncio.Task[None]],
        completer: Completer,
        listener: Listener | None,
        pool: ThreadPoolExecutor,
    ) -> None:
        self.request_stop(self._stop_reason)
        if fetching is not None and not fetching.done():
            # Let a claim in flight finish so its runs are put back below: cancelled half-way,
            # a claim the store still commits (SQLite's thread does) would strand its runs
            # until the stale-worker rescue.
            await asyncio.wait({fetching}, timeout=CLAIM_GRACE_SECONDS)
            if not fetching.done():
                fetching.cancel()
        self._cancel_all(STOP_SHUTDOWN)
        tasks = [a.task for a in self._running.values() if a.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if fetching is not None:
            await asyncio.gather(fetching, return_exceptions=True)
        self._services_stop.set()
        if self._heartbeat is not None:
            self._heartbeat.request_cancel_check()
        results = await asyncio.gather(*services, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                logger.error("a worker service failed: %s", self._describe_error(result))
        await completer.close()
        if listener is not None:
            try:
                await listener.close()
            except Exception as exc:
                logger.warning("could not close the listener: %s", self._describe_error(exc))
        try:
            now = self.clock.now() if self.clock is not None else None
            await self.store.worker_stopped(self.worker_id, now=now)
        except Exception as exc:
            logger.warning("could not mark the worker stopped: %s", self._describe_error(exc))
        pool.shutdown(wait=False, cancel_futures=True)

    def _summary(self) -> WorkerSummary:
        return WorkerSummary(
            worker_id=self.worker_id,
            started_at=self._started_at,
            stopped_at=self._now(),
            **self._counts,
        )

    # --- runs ---------------------------------------------------------------------------------
    def _start(self, run: JobRun, executor: Executor) -> None:
        attempt = Attempt(run)
        self._running[run.id] = attempt
        self._counts["claimed"] += 1
        task = asyncio.create_task(executor.execute(attempt), name=f"zapjobs-run-{run.id}")
        attempt.task = task
        task.add_done_callback(lambda t: self._finished(run.id, t))

    def _finished(self, run_id: int, task: asyncio.Task[RunOutcome]) -> None:
        self._running.pop(run_id, None)
        if not task.cancelled() and task.exception() is not None:
            logger.error("run %d: the executor failed", run_id, exc_info=task.exception())
        if self._fetcher is not None:
            self._fetcher.on_slot_freed()

    def _cancel_runs(self, run_ids: list[int]) -> None:
        for run_id in run_ids:
            attempt = self._running.get(run_id)
            if attempt is not None and attempt.task is not None and not attempt.task.done():
                logger.info("run %d: cancelled by an operator", run_id)
                attempt.stop_reason = STOP_CANCEL
                attempt.task.cancel()

    # --- services -----------------------------------------------------------------------------
    async def _listen(self) -> Listener | None:
        try:
            return await self.store.listen(self._on_notification)
        except Exception as exc:
            logger.warning("notifications unavailable, polling only: %s", self._describe_error(exc))
            return None

    def _on_notification(self, notification: Notification) -> None:
        if notification.kind == "cancel":
            mine = notification.run_id is None or notification.run_id in self._running
            if mine and self._heartbeat is not None:
                self._heartbeat.request_cancel_check()
        elif self._fetcher is not None and not self._stop.is_set():
            self._fetcher.on_notification(notification)

    async def _refresh(self, definitions: DefinitionCache) -> None:
        """Reload operator overrides every polling interval."""
        interval = self.settings.polling_interval.total_seconds()
        while not self._services_stop.is_set():
            try:
                async with asyncio.timeout(interval):
                    await self._services_stop.wait()
                return
            except TimeoutError:
                pass
            try:
                await definitions.refresh()
            except Exception as exc:
                logger.warning("could not reload job definitions: %s", self._describe_error(exc))

    def _make_maintenance(self) -> Maintenance:
        return Maintenance(
            self.store,
            self.settings,
            clock=self.clock,
            worker_id=self.worker_id,
            scheduler=self.settings.enable_scheduler,
            on_event=self._emit,
        )

    def _maintenance(self) -> Coroutine[Any, Any, None] | None:
        if self.burst and not self.settings.enable_processing:
            return None  # one pass instead, see _maintenance_once
        return self._make_maintenance().run(self._services_stop)

    async def _maintenance_once(self) -> None:
        await self._make_maintenance().run_once()

    # --- signals ------------------------------------------------------------------------------
    def _on_signal(self, sig: int) -> None:
        if self._stop.is_set():
            logger.warning("second %s: cancelling running jobs now", signal.Signals(sig).name)
            self._force.set()
            self._cancel_all(STOP_SHUTDOWN)
            return
        logger.info(
            "%s: finishing running jobs (up to %gs), claiming no more",
            signal.Signals(sig).name,
            self.shutdown_timeout,
        )
        self.request_stop("signal")
