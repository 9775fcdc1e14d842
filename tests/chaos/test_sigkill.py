"""Scenarios 1 and 5: workers SIGKILLed mid-drain (PostgreSQL, then SQLite).

Invariant: every run ends final, none is lost, and a run executes twice only if it was running
under a worker at the moment that worker was killed (frozen with SIGSTOP, then queried, then
SIGKILLed, so the in-flight set cannot move between the query and the kill).
"""

from __future__ import annotations

import os
import signal
import time

from zapjobs import JobContext, ZapJobs

from .apps.chaos_worker import EXECUTIONS_PG, EXECUTIONS_SQLITE
from .harness import Db, WorkerProc, report, scale, wait_until, workers


async def enqueue_marks(url: str, n: int) -> list[int]:
    zap = ZapJobs(url, auto_migrate=True)

    @zap.job("mark", max_retries=50)
    async def mark(ctx: JobContext[int]) -> int:
        return ctx.input

    try:
        await zap.open()
        ids: list[int] = []
        for start in range(0, n, 500):
            ids += await zap.enqueue_many("mark", list(range(start, min(n, start + 500))))
        return ids
    finally:
        await zap.close()


def kill_one(db: Db, victim: WorkerProc) -> set[int]:
    """Freeze the victim, note what runs under it, then SIGKILL it; return that in-flight set."""
    os.kill(victim.pid, signal.SIGSTOP)
    in_flight = db.running_under(victim.worker_id)
    victim.stop(signal.SIGKILL, timeout=10)
    return in_flight


def drain_under_kills(
    url: str, *, n: int, worker_count: int, kills: int, name: str, cli: bool = False
) -> None:
    db = Db(url)
    counter = iter(range(1000))

    def start(*args: str) -> WorkerProc:
        if cli:
            return WorkerProc.cli(url, f"chaos-cli-{next(counter)}")
        return WorkerProc(url, *args)

    ids = asyncio_run(enqueue_marks(url, n))
    db.execute(EXECUTIONS_SQLITE if db.sqlite else EXECUTIONS_PG)
    args = ["--concurrency", "10", "--heartbeat", "0.5s", "--stale", "3s"]
    in_flight: set[int] = set()
    starting: list[WorkerProc] = []  # replacements not yet seen ready: never chosen as victims
    kills_done = 0
    recover_from = time.monotonic()
    with workers() as started:
        for _ in range(worker_count):
            started.append(start(*args))
        for w in started:
            w.wait_ready()
        step = max(1, n // (kills + 2))
        while kills_done < kills:
            target = (kills_done + 1) * step
            wait_until(
                lambda t=target: (
                    sum(db.execution_counts().values()) >= t  # type: ignore[misc]
                    or db.unfinished() == 0
                ),
                120,
                f"{target} executions",
            )
            if db.unfinished() == 0:
                break
            live = [w for w in started if w.alive() and w not in starting]
            if not live:
                for w in starting:
                    w.wait_ready()
                starting.clear()
                live = [w for w in started if w.alive()]
            in_flight |= kill_one(db, live[kills_done % len(live)])
            kills_done += 1
            recover_from = time.monotonic()
            # The replacement starts while the survivors drain on: waiting for it here (seconds
            # under load) let the survivors finish every run before the next kill was due.
            fresh = start(*args)
            started.append(fresh)
            starting.append(fresh)
        for w in starting:
            w.wait_ready()
        wait_until(lambda: db.unfinished() == 0, 180, "every run to finish")
        recovered = time.monotonic() - recover_from
        for w in started:
            if w.alive():
                out = w.stop(signal.SIGTERM)
                assert "Traceback" not in out, out

    executions = db.execution_counts()
    lost = [run_id for run_id in ids if run_id not in executions]
    duplicates = {run_id for run_id, count in executions.items() if count > 1}
    report(
        name,
        enqueued=n,
        faults=kills_done,
        lost=len(lost),
        duplicates=len(duplicates),
        in_flight_at_kills=len(in_flight),
        recover_s=round(recovered, 1),
    )
    assert db.status_counts() == {"succeeded": n}
    assert lost == []
    assert duplicates <= in_flight, sorted(duplicates - in_flight)[:20]
    assert kills_done == kills, "the drain finished before every kill was injected"


def asyncio_run(coro: object) -> list[int]:
    import asyncio

    return asyncio.run(coro)  # type: ignore[arg-type]


def test_sigkill_workers_postgres(pg_url: str) -> None:
    drain_under_kills(
        pg_url, n=scale(2000, 10000), worker_count=3, kills=scale(3, 10), name="sigkill-pg"
    )


def test_sigkill_workers_sqlite(sqlite_url: str) -> None:
    drain_under_kills(
        sqlite_url, n=scale(300, 2000), worker_count=2, kills=scale(2, 6), name="sigkill-sqlite"
    )


def test_sigkill_cli_workers_postgres(pg_url: str) -> None:
    """The same through the real ``zapjobs worker`` command."""
    asyncio_run(enqueue_marks(pg_url, 0))  # migrate first: the CLI worker does not
    drain_under_kills(
        pg_url,
        n=scale(1000, 10000),
        worker_count=3,
        kills=scale(2, 10),
        name="sigkill-cli-pg",
        cli=True,
    )
