"""Worker lifecycle details on the memory store: signals (and restoring the previous handlers),
maintenance-only workers, and runs this worker cannot execute."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta
from typing import Any

import pytest

from zapjobs import JobContext, RunStatus, ZapJobs
from zapjobs.clock import FakeClock
from zapjobs.models import NewRun
from zapjobs.registry import Registry
from zapjobs.runtime.completer import Completer
from zapjobs.runtime.events import WorkerStarted, WorkerStopping
from zapjobs.runtime.executor import Attempt, DefinitionCache, Executor
from zapjobs.testing import store_of

from .engine_helpers import wait_until


def make_app() -> ZapJobs:
    zap = ZapJobs("memory://", polling_interval="50ms")

    @zap.job("forever", max_retries=0)
    async def forever(ctx: JobContext[None]) -> None:
        await asyncio.Event().wait()

    return zap


async def test_sigint_stops_the_worker_and_the_previous_handler_comes_back() -> None:
    zap = make_app()
    calls: list[int] = []

    def previous(signum: int, frame: object) -> None:
        calls.append(signum)

    original = signal.signal(signal.SIGINT, previous)
    try:
        run_id = await zap.enqueue("forever")
        events: list[Any] = []
        task = asyncio.create_task(
            zap.run_worker(shutdown_timeout=timedelta(milliseconds=50), on_event=events.append)
        )
        await wait_until(lambda: zap.get_run(run_id), lambda r: r.status is RunStatus.RUNNING)
        os.kill(os.getpid(), signal.SIGINT)
        async with asyncio.timeout(15):
            summary = await task
        assert WorkerStopping("signal") in events
        assert summary.requeued == 1
        assert (await zap.get_run(run_id)).status is RunStatus.PENDING
        assert signal.getsignal(signal.SIGINT) is previous
        os.kill(os.getpid(), signal.SIGINT)  # the restored handler receives it
        await wait_until(lambda: _value(calls), lambda c: c == [signal.SIGINT])
    finally:
        signal.signal(signal.SIGINT, original)
        await zap.close()


async def test_a_second_signal_cancels_running_jobs_at_once() -> None:
    zap = make_app()
    original = signal.getsignal(signal.SIGTERM)
    try:
        run_id = await zap.enqueue("forever")
        events: list[Any] = []
        task = asyncio.create_task(
            zap.run_worker(shutdown_timeout=timedelta(hours=1), on_event=events.append)
        )
        await wait_until(lambda: zap.get_run(run_id), lambda r: r.status is RunStatus.RUNNING)
        os.kill(os.getpid(), signal.SIGTERM)
        await wait_until(lambda: _value(events), lambda e: WorkerStopping("signal") in e)
        os.kill(os.getpid(), signal.SIGTERM)
        async with asyncio.timeout(15):  # far below the hour of shutdown_timeout
            summary = await task
        assert summary.requeued == 1
        assert (await zap.get_run(run_id)).status is RunStatus.PENDING
    finally:
        assert signal.getsignal(signal.SIGTERM) == original
        await zap.close()


async def test_a_maintenance_only_worker_claims_nothing() -> None:
    zap = ZapJobs("memory://", enable_processing=False)

    @zap.job("work")
    async def work(ctx: JobContext[None]) -> None:
        return None

    run_id = await zap.enqueue(work)
    events: list[Any] = []
    summary = await zap.run_worker(
        burst=True, install_signal_handlers=False, on_event=events.append
    )
    assert summary.claimed == 0
    started = next(e for e in events if isinstance(e, WorkerStarted))
    assert started.job_types == ()
    assert (await zap.get_run(run_id)).status is RunStatus.PENDING


async def test_a_run_of_a_job_type_this_worker_does_not_know_fails_clearly() -> None:
    zap = make_app()
    store = store_of(zap)
    now = FakeClock().now()
    await store.enqueue([NewRun("from-another-service")], now=now)
    [run] = await store.claim("w-1", ["default"], ["from-another-service"], 1, now=now)
    completer = Completer(store)
    executor = Executor(
        registry=Registry(),
        settings=zap.settings,
        completer=completer,
        definitions=DefinitionCache(store),
        worker_id="w-1",
        clock=None,
        thread_pool=None,  # type: ignore[arg-type]  # never reached
        emit=lambda event: None,
    )
    outcome = await executor.execute(Attempt(run))
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None and outcome.error.type == "UnknownJobTypeError"
    assert "'from-another-service' is not registered in this worker" in outcome.error.message
    await completer.flush()
    stored = await zap.get_run(run.id)
    assert stored.status is RunStatus.FAILED


async def test_a_worker_warns_about_job_queues_it_does_not_serve(
    caplog: pytest.LogCaptureFixture,
) -> None:
    zap = ZapJobs("memory://")

    @zap.job("mailer", queue="mail")
    async def mailer(ctx: JobContext[None]) -> None:
        return None

    await zap.run_worker(burst=True, queues=["default"], install_signal_handlers=False)
    assert "job type 'mailer' uses queue 'mail', which this worker does not serve" in caplog.text


async def _value(value: Any) -> Any:
    return list(value)
