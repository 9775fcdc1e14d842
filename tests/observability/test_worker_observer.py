"""The worker's metrics in one process (memory store): retries and cancellations get their own
outcome, and a failing metrics hook never fails a run or a claim."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.observability.conftest import scrape, value
from tests.runtime.engine_helpers import running_worker, wait_until
from zapjobs import JobContext, RetryPolicy, Snooze, ZapJobs
from zapjobs.metrics import WorkerMetrics
from zapjobs.models import RunStatus

NO_WAIT = RetryPolicy(max_retries=1, initial_delay=timedelta(0), use_jitter=False)


def app() -> ZapJobs:
    zap = ZapJobs("memory://")
    tries: list[int] = []

    @zap.job("flaky", retry=NO_WAIT)
    async def flaky(ctx: JobContext[None]) -> str:
        tries.append(ctx.attempt)
        if len(tries) == 1:
            raise RuntimeError("first try fails")
        return "ok"

    @zap.job("sleepy", max_retries=0)
    async def sleepy(ctx: JobContext[None]) -> str:
        tries.append(ctx.attempt)
        if len(tries) == 1:
            raise Snooze(timedelta(0))
        return "ok"

    return zap


async def test_a_snooze_is_counted_as_snoozed_not_as_a_failure_or_retry(port: int) -> None:
    zap = app()
    await zap.open()
    run_id = await zap.enqueue("sleepy", queue="default")
    async with running_worker(zap, metrics_port=port):

        async def done() -> RunStatus:
            return (await zap.get_run(run_id)).status

        await wait_until(done, lambda s: s is RunStatus.SUCCEEDED, what="the snoozed run")

        async def counted() -> Any:
            return scrape(port)

        labels = {"job_type": "sleepy", "queue": "default"}
        samples = await wait_until(
            counted,
            lambda s: (
                s is not None
                and value(s, "zapjobs_runs_finished_total", outcome="succeeded", **labels) == 1
            ),
            what="the success counted",
        )
    assert value(samples, "zapjobs_runs_finished_total", outcome="snoozed", **labels) == 1
    assert value(samples, "zapjobs_runs_finished_total", outcome="retried", **labels) == 0
    assert value(samples, "zapjobs_runs_finished_total", outcome="failed", **labels) == 0
    stats = await zap.stats()
    assert (stats.succeeded, stats.failed) == (1, 0)  # the kept counts: one finished run
    await zap.close()


async def test_a_retry_is_counted_as_retried_then_succeeded(port: int) -> None:
    zap = app()
    await zap.open()
    run_id = await zap.enqueue("flaky", queue="default")
    async with running_worker(zap, metrics_port=port):

        async def done() -> RunStatus:
            return (await zap.get_run(run_id)).status

        await wait_until(done, lambda s: s is RunStatus.SUCCEEDED, what="the retried run")

        async def counted() -> Any:
            return scrape(port)

        labels = {"job_type": "flaky", "queue": "default"}
        samples = await wait_until(
            counted,
            lambda s: (
                s is not None
                and value(s, "zapjobs_runs_finished_total", outcome="succeeded", **labels) == 1
            ),
            what="the success counted",
        )
    assert value(samples, "zapjobs_runs_finished_total", outcome="retried", **labels) == 1
    assert value(samples, "zapjobs_runs_finished_total", outcome="failed", **labels) == 0
    assert value(samples, "zapjobs_run_duration_seconds_count", **labels) == 2
    assert value(samples, "zapjobs_run_pickup_delay_seconds_count", **labels) == 2
    assert scrape(port) is None  # closed with the worker
    await zap.close()


async def test_a_failing_metrics_hook_fails_neither_runs_nor_claims(
    port: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: WorkerMetrics, *args: object) -> None:
        raise RuntimeError("metrics broke")

    for hook in ("event", "claimed", "outcomes_written"):
        monkeypatch.setattr(WorkerMetrics, hook, broken)
    zap = ZapJobs("memory://")

    @zap.job("echo")
    async def echo(ctx: JobContext[int]) -> int:
        return ctx.input

    await zap.open()
    ids = [await zap.enqueue("echo", n) for n in range(3)]
    summary = await zap.run_worker(burst=True, metrics_port=port, install_signal_handlers=False)
    assert summary.succeeded == 3
    assert [(await zap.get_run(i)).output for i in ids] == [0, 1, 2]
    assert "the worker's observer failed" in caplog.text
    await zap.close()
