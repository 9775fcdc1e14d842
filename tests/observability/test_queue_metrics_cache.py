"""``QueueMetrics`` in one process (memory store): a scrape reuses a read younger than
``max_age``, and a failed read is ``zapjobs_exporter_up 0`` with no other series, not an error
page; the next good read is up again."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.observability.conftest import scrape, value
from zapjobs import ZapJobs
from zapjobs.errors import ConnectionFailedError
from zapjobs.metrics import MetricsServer, QueueMetrics
from zapjobs.models import NewRun
from zapjobs.testing import store_of


def pending(samples: object) -> float:
    assert isinstance(samples, dict)
    return value(samples, "zapjobs_queue_runs", queue="default", job_type="a", state="pending")


async def serve(zap: ZapJobs, port: int, max_age: float) -> MetricsServer:
    collector = QueueMetrics(
        zap, asyncio.get_running_loop(), window=timedelta(minutes=5), max_age=max_age
    )
    return MetricsServer(collector.registry, host="127.0.0.1", port=port)


async def test_a_read_is_reused_while_younger_than_max_age(port: int) -> None:
    zap = ZapJobs("memory://")
    await zap.open()
    await store_of(zap).enqueue([NewRun("a")])
    server = await serve(zap, port, max_age=3600)
    try:
        assert pending(await asyncio.to_thread(scrape, port)) == 1
        await store_of(zap).enqueue([NewRun("a")])
        assert pending(await asyncio.to_thread(scrape, port)) == 1  # the cached read
    finally:
        server.close()
    fresh = await serve(zap, port, max_age=0)
    try:
        assert pending(await asyncio.to_thread(scrape, port)) == 2
    finally:
        fresh.close()
        await zap.close()


async def test_a_failed_read_reports_down_and_recovers(
    port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    zap = ZapJobs("memory://")
    await zap.open()
    await store_of(zap).enqueue([NewRun("a")])
    server = await serve(zap, port, max_age=0)
    real = zap.backlog

    async def unreachable() -> None:
        raise ConnectionFailedError("cannot connect to the database")

    try:
        monkeypatch.setattr(zap, "backlog", unreachable)
        down = await asyncio.to_thread(scrape, port)
        assert down is not None
        assert value(down, "zapjobs_exporter_up") == 0
        assert {name for name, _ in down} == {"zapjobs_exporter_up"}
        monkeypatch.setattr(zap, "backlog", real)
        up = await asyncio.to_thread(scrape, port)
        assert up is not None and value(up, "zapjobs_exporter_up") == 1
        assert pending(up) == 1
    finally:
        server.close()
        await zap.close()
