"""Scenario 2: every zapjobs connection is terminated (pg_terminate_backend) twice mid-drain.

The workers' connections carry an application_name of this test's own, so only they are
terminated (other tests share the server). Workers must reconnect and carry on: no crash, no
lost run, every run final.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid

import psycopg
from psycopg.conninfo import make_conninfo

from .apps.chaos_worker import EXECUTIONS_PG
from .harness import Db, WorkerProc, report, scale, wait_until, workers
from .test_sigkill import enqueue_marks


def terminate_tagged(url: str, tag: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s "
            "AND pid <> pg_backend_pid()",
            (tag,),
        ).fetchall()
    return len(rows)


def running_runs(db: Db) -> set[int]:
    return {int(r[0]) for r in db.query("SELECT id FROM zapjobs_runs WHERE status = 'running'")}


def test_connection_loss_during_drain(pg_url: str) -> None:
    n = scale(1500, 8000)
    tag = "zapchaos_" + uuid.uuid4().hex[:8]
    worker_url = make_conninfo(pg_url, application_name=tag)
    db = Db(pg_url)
    ids = asyncio.run(enqueue_marks(pg_url, n))
    db.execute(EXECUTIONS_PG)
    terminated: list[int] = []
    in_flight: set[int] = set()
    with workers() as started:
        for _ in range(2):
            started.append(WorkerProc(worker_url, "--heartbeat", "0.5s", "--stale", "3s"))
        for w in started:
            w.wait_ready()
        for fraction in (3, 2):
            target = n // fraction
            wait_until(
                lambda t=target: sum(db.execution_counts().values()) >= t,  # type: ignore[misc]
                120,
                f"{target} executions",
            )
            in_flight |= running_runs(db)
            terminated.append(terminate_tagged(pg_url, tag))
            in_flight |= running_runs(db)
        recover_from = time.monotonic()
        wait_until(lambda: db.unfinished() == 0, 180, "every run to finish")
        recovered = time.monotonic() - recover_from
        assert all(w.alive() for w in started), [w.stop() for w in started]
        outputs = [w.stop(signal.SIGTERM) for w in started]

    executions = db.execution_counts()
    lost = [run_id for run_id in ids if run_id not in executions]
    duplicates = {run_id for run_id, count in executions.items() if count > 1}
    report(
        "connection-loss",
        enqueued=n,
        faults=f"2 terminations ({'+'.join(map(str, terminated))} backends)",
        lost=len(lost),
        duplicates=len(duplicates),
        in_flight_at_faults=len(in_flight),
        recover_s=round(recovered, 1),
    )
    assert all(count > 0 for count in terminated), "no worker connection was terminated"
    assert lost == []
    assert db.status_counts() == {"succeeded": n}
    for out in outputs:
        assert "stopped" in out, out[-2000:]
        # no spin: a reconnect loop would flood the log; a few lines per fault are expected
        assert len(out.splitlines()) < 500, out[-2000:]
