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
from functools import partial
from typing import Any

from zapjobs import tracing
from zapjobs.clock import SYSTEM_CLOCK, Clock
from zapjobs.job import run_log_fields
from zapjobs.models import JobRun, Notification, RunOutcome, RunStatus, WorkerInfo
from zapjobs.registry import Registry
from zapjobs.runtime.backoff import Outages, Retry
from zapjobs.runtime.completer import Completer
from zapjobs.runtime.events import (
    WorkerObserver,
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
from zapjobs.runtime.heartbeat import CancelChecks, Heartbeat
from zapjobs.runtime.maintenance import Maintenance
from zapjobs.runtime.signals import SignalHandlers
from zapjobs.settings import Settings
from zapjobs.stores.base import Listener, ShardedListener, Store

logger = logging.getLogger("zapjobs.worker")

#: How long a stopping worker waits for a claim already sent to the store.
CLAIM_GRACE_SECONDS = 5.0
#: A run's task is named this + its id (the loop watchdog names the job from it).
RUN_TASK_PREFIX = "zapjobs-run-"


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
        observer: WorkerObserver | None = None,
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
        self._fencing: set[asyncio.Task[None]] = set()
        self._counts = dict.fromkeys(
            ("claimed", "succeeded", "failed", "retried", "cancelled", "requeued", "snoozed"), 0
        )
        self._started_at = self._now()
        self._fetcher: Fetcher | None = None
        self._heartbeat: Heartbeat | None = None
        self._cancel_checks: CancelChecks | None = None
        #: one log line per database outage and one per recovery, whichever loop notices
        self._outages = Outages(logger, describe_error=describe_error)
        self._observer = observer
        if observer is not None:
            observer.attach(in_flight=lambda: len(self._running), concurrency=self.concurrency)

    def _now(self) -> datetime:
        return (self.clock or SYSTEM_CLOCK).now()

    def _store_now(self) -> datetime | None:
        """The time to pass to the store: the test's clock, else None (the store's own)."""
        return self.clock.now() if self.clock is not None else None

    def _retry(self, loop: str) -> Retry:
        return Retry(loop, self._outages, describe_error=self._describe_error)

    def _emit(self, event: Any) -> None:
        if self._observer is not None:
            self._observe(self._observer.event, event)
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            logger.exception("the on_event handler failed on %r", event)

    def _observe(self, hook: Callable[..., None], *args: Any) -> None:
        """An observer's failure is logged, never the worker's (nor a claim's) failure."""
        try:
            hook(*args)
        except Exception:
            logger.exception("the worker's observer failed")

    def _count(self, outcome: str) -> None:
        self._counts[outcome] += 1

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
            # 0: runs nothing (no processing), so no targeted wake-up chooses it (peers.py)
            concurrency=self.concurrency if self.settings.enable_processing else 0,
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
            # The settings' queue limits, declared by the workers serving each queue (a queue
            # whose limits left the settings is cleared by its next worker's start).
            await self.store.declare_flow_limits(
                [self.settings.queue_limit(q) for q in self.queues], now=self._store_now()
            )
        definitions = DefinitionCache(self.store)
        await definitions.refresh()
        completer = Completer(
            self.store,
            clock=self.clock,
            describe_error=self._describe_error,
            outages=self._outages,
            on_outcomes_written=self._outcomes_written,
        )
        interval = self.settings.heartbeat_interval.total_seconds()
        cancel_checks = CancelChecks(
            store=self.store,
            worker_id=self.worker_id,
            interval=interval,
            outages=self._outages,
            on_cancel_requested=self._cancel_runs,
            describe_error=self._describe_error,
        )
        self._cancel_checks = cancel_checks
        # The first beat registers the worker, on the worker's own store: an unreachable
        # database fails the start. The liveness thread beats from then on.
        await self.store.heartbeat(self.worker_info(), now=self._store_now())
        heartbeat = Heartbeat(
            store=self.store,
            worker_info=self.worker_info,
            interval=interval,
            clock=self.clock,
            outages=self._outages,
            on_marked_dead=self._on_marked_dead,
            blocker=self._blocker,
            busy=lambda: bool(self._running),
            describe_error=self._describe_error,
        )
        self._heartbeat = heartbeat
        pool = ThreadPoolExecutor(self.concurrency + 4, thread_name_prefix="zapjobs-job")
        executor = Executor(
            registry=self.registry,
            settings=self.settings,
            completer=completer,
            definitions=definitions,
            worker_id=self.worker_id,
            clock=self.clock,
            thread_pool=pool,
            emit=self._emit if self._observer is not None or self._on_event is not None else None,
            count=self._count,
            store=self.store,
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
                outages=self._outages,
                on_claim=partial(self._observe, self._observer.claimed) if self._observer else None,
                peer_stale_after=2 * interval,
            )
        tracing.preload()  # not in the first run's pickup
        heartbeat.start()
        try:
            listener = await self._listen()
        except BaseException:
            await heartbeat.stop()
            raise
        if self._fetcher is not None and isinstance(listener, ShardedListener):
            self._fetcher.shards = listener
        services = [
            asyncio.create_task(completer.run(self._services_stop), name="zapjobs-completer"),
            asyncio.create_task(cancel_checks.run(self._services_stop), name="zapjobs-cancels"),
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
        if self._cancel_checks is not None:
            self._cancel_checks.request()
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
        if self._heartbeat is not None:
            await self._heartbeat.stop()  # no beat may follow the stopped mark
        try:
            await self.store.worker_stopped(self.worker_id, now=self._store_now())
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
    def _outcomes_written(self, seconds: float, outcomes: int) -> None:
        if self._observer is not None:
            self._observe(self._observer.outcomes_written, seconds, outcomes)
        if self._fetcher is not None:
            self._fetcher.on_outcomes_written()

    def _start(self, run: JobRun, executor: Executor) -> None:
        attempt = Attempt(run)
        self._running[run.id] = attempt
        self._counts["claimed"] += 1
        task = asyncio.create_task(executor.execute(attempt), name=f"{RUN_TASK_PREFIX}{run.id}")
        attempt.task = task
        task.add_done_callback(lambda t: self._finished(run.id, t))

    def _finished(self, run_id: int, task: asyncio.Task[RunOutcome]) -> None:
        self._running.pop(run_id, None)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "run %d: the executor failed",
                run_id,
                exc_info=task.exception(),
                extra=run_log_fields(run_id),
            )
        if self._fetcher is not None:
            self._fetcher.on_slot_freed()

    def _blocker(self, task: asyncio.Task[object] | None) -> str:
        """Who holds the event loop, for the watchdog's warning: the job of a run's task."""
        name = task.get_name() if task is not None else ""
        if name.startswith(RUN_TASK_PREFIX):
            attempt = self._running.get(int(name[len(RUN_TASK_PREFIX) :]))
            if attempt is not None:
                return f"job {attempt.run.job_type!r} (run {attempt.run.id})"
        return f"task {name!r}" if name else "a callback"

    def _on_marked_dead(self) -> None:
        """The heartbeat found this worker's row marked dead: it was cut off for longer than
        the stale threshold and rescued. It is alive again under the same id (that beat revived
        it); the runs it no longer owns are stopped (their outcomes would be discarded)."""
        logger.warning(
            "this worker had been marked dead (no heartbeat for longer than %gs) and its "
            "runs rescued; stopping the runs it no longer owns",
            self.settings.stale_worker_threshold.total_seconds(),
        )
        task = asyncio.create_task(self._stop_lost_runs(), name="zapjobs-fence")
        self._fencing.add(task)
        task.add_done_callback(self._fencing.discard)

    async def _stop_lost_runs(self) -> None:
        attempts = dict(self._running)
        if not attempts:
            return
        try:
            stored = {r.id: r for r in await self.store.get_runs(list(attempts))}
        except Exception as exc:  # the next beat would not tell again: stop them all
            logger.warning("could not read back this worker's runs: %s", self._describe_error(exc))
            stored = {}
        for run_id, attempt in attempts.items():
            now = stored.get(run_id)
            owned = (
                now is not None
                and now.status is RunStatus.RUNNING
                and now.worker_id == self.worker_id
                and now.attempt == attempt.run.attempt
            )
            if not owned and attempt.task is not None and not attempt.task.done():
                logger.info(
                    "run %d: rescued by another worker meanwhile; stopped here",
                    run_id,
                    extra=run_log_fields(attempt.run),
                )
                attempt.stop_reason = attempt.stop_reason or STOP_SHUTDOWN
                attempt.task.cancel()

    def _cancel_runs(self, run_ids: list[int]) -> None:
        for run_id in run_ids:
            attempt = self._running.get(run_id)
            if attempt is not None and attempt.task is not None and not attempt.task.done():
                logger.info(
                    "run %d: cancelled by an operator", run_id, extra=run_log_fields(attempt.run)
                )
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
            if mine and self._cancel_checks is not None:
                self._cancel_checks.request()
        elif self._fetcher is not None:  # a stopping fetcher passes targeted wake-ups on
            self._fetcher.on_notification(notification)

    async def _refresh(self, definitions: DefinitionCache) -> None:
        """Reload operator overrides every polling interval."""
        interval = self.settings.polling_interval.total_seconds()
        retry = self._retry("reloading job definitions")
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
                retry.failed(exc)
            else:
                retry.succeeded()

    def _make_maintenance(self, *, fenced: bool = True) -> Maintenance:
        """``fenced``: the long-running loop; a single pass (``--burst`` without processing)
        is an explicit operator action, like ``zapjobs`` rescue, and is not fenced."""
        return Maintenance(
            self.store,
            self.settings,
            clock=self.clock,
            worker_id=self.worker_id,
            scheduler=self.settings.enable_scheduler,
            on_event=self._emit,
            may_rescue=self._may_rescue if fenced else None,
            outages=self._outages,
        )

    def _may_rescue(self) -> bool:
        """Fencing: rescue others only after beating without a gap for the stale threshold
        (see heartbeat.py), so an outage never makes healthy workers rescue each other."""
        threshold = self.settings.stale_worker_threshold.total_seconds()
        return self._heartbeat is not None and self._heartbeat.healthy_for() >= threshold

    def _maintenance(self) -> Coroutine[Any, Any, None] | None:
        if self.burst and not self.settings.enable_processing:
            return None  # one pass instead, see _maintenance_once
        return self._make_maintenance().run(self._services_stop)

    async def _maintenance_once(self) -> None:
        await self._make_maintenance(fenced=False).run_once()

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
