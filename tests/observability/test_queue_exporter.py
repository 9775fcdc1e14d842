"""``zapjobs metrics``: the standalone exporter reads queue-level gauges from a seeded
PostgreSQL store at each scrape and serves them over real HTTP, until stopped."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.cli.conftest import Cli, stop
from tests.cli.waiting import wait_until
from tests.observability.conftest import scrape, value
from zapjobs import ZapJobs
from zapjobs.models import NewRun, RunError, RunOutcome, RunStatus, WorkerInfo
from zapjobs.testing import store_of


def seed(url: str) -> None:
    """Mail: 2 due (the oldest 10 minutes late), 1 scheduled, 1 running, 1 waiting for the
    running one (due two hours ago: not in the lag); reports: 1 failed a moment ago, 1 failed
    two hours ago; one worker alive on default and mail, one stopped."""

    async def main() -> None:
        zap = ZapJobs(url)
        await zap.open()
        store = store_of(zap)
        now = datetime.now(UTC)
        try:
            await store.enqueue(
                [
                    NewRun("send", queue="mail", run_at=now - timedelta(minutes=10)),
                    NewRun("send", queue="mail", run_at=now - timedelta(minutes=1)),
                    NewRun("send", queue="mail", run_at=now + timedelta(hours=1)),
                    NewRun("resize", queue="mail", run_at=now - timedelta(minutes=20)),
                    NewRun("report", queue="reports", run_at=now - timedelta(hours=3)),
                    NewRun("report", queue="reports", run_at=now - timedelta(hours=3)),
                ]
            )
            [running] = await store.claim("w-busy", ["mail"], ["resize"], 1)
            assert running.job_type == "resize"
            late = now - timedelta(hours=2)
            await store.enqueue([NewRun("load", queue="mail", run_at=late, parents=(running.id,))])
            reports = await store.claim("w-busy", ["reports"], ["report"], 2, now=None)
            old, recent = reports
            failed = RunError("ValueError", "boom")
            await store.complete(
                [RunOutcome(old.id, "w-busy", old.attempt, RunStatus.FAILED, error=failed)],
                now=now - timedelta(hours=2),
            )
            await store.complete(
                [RunOutcome(recent.id, "w-busy", recent.attempt, RunStatus.FAILED, error=failed)]
            )
            alive = WorkerInfo(
                id="w-alive",
                host="h",
                pid=1,
                queues=("default", "mail"),
                started_at=now,
                last_seen_at=now,
                concurrency=4,
            )
            await store.heartbeat(alive)
            await store.heartbeat(WorkerInfo("w-gone", "h", 2, ("reports",), now, now))
            await store.worker_stopped("w-gone")
        finally:
            await zap.close()

    asyncio.run(main())


def test_exporter_serves_queue_gauges_from_the_database(
    pg_app: Cli, port: int, processes: list
) -> None:
    seed(pg_app.url)
    exporter = pg_app.start("metrics", "--port", str(port), "--window", "1h", "--cache", "0s")
    processes.append(exporter)
    wait_until(lambda: scrape(port) is not None, "the exporter's /metrics endpoint")
    samples = scrape(port)
    assert samples is not None
    assert value(samples, "zapjobs_exporter_up") == 1

    def runs(queue: str, job_type: str, state: str) -> float:
        return value(samples, "zapjobs_queue_runs", queue=queue, job_type=job_type, state=state)

    assert (runs("mail", "send", "pending"), runs("mail", "send", "scheduled")) == (2, 1)
    assert runs("mail", "send", "running") == 0
    assert (runs("mail", "resize", "pending"), runs("mail", "resize", "running")) == (0, 1)
    assert (runs("mail", "load", "waiting"), runs("mail", "load", "pending")) == (1, 0)
    assert not any(
        name == "zapjobs_queue_runs" and ("queue", "reports") in labels for name, labels in samples
    )
    oldest = value(samples, "zapjobs_queue_oldest_pending_age_seconds", queue="mail")
    assert 10 * 60 <= oldest < 60 * 60  # the send due 10 minutes ago, not the resize (running)
    assert value(samples, "zapjobs_queue_oldest_pending_age_seconds", queue="reports") == 0
    assert value(samples, "zapjobs_queue_workers_alive", queue="mail") == 1
    assert value(samples, "zapjobs_queue_workers_alive", queue="default") == 1
    assert value(samples, "zapjobs_queue_workers_alive", queue="reports") == 0
    assert value(samples, "zapjobs_queue_recent_failures", queue="reports", job_type="report") == 1
    assert value(samples, "zapjobs_queue_failure_window_seconds") == 3600

    # Each scrape reads again (--cache 0s): a new run shows up.
    async def more(zap: ZapJobs) -> None:
        await zap.open()
        await store_of(zap).enqueue([NewRun("send", queue="mail")])

    pg_app.query(more)
    again = scrape(port)
    assert again is not None
    assert value(again, "zapjobs_queue_runs", queue="mail", job_type="send", state="pending") == 3

    code, _, err = stop(exporter)
    assert code == 0, err
    assert f"serving queue metrics on http://127.0.0.1:{port}/metrics" in err
