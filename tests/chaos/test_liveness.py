"""Liveness under faults: a job blocking the event loop, a database outage longer than the
stale threshold, a stalled server connection, and the log lines one outage costs.

Outages and stalls happen on a private PostgreSQL cluster (pgcluster.py), never on the shared
server. Executions are counted by the database (the jobs write them), never from worker output.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import time
from typing import Any

import pytest
from psycopg.conninfo import make_conninfo

from .apps.chaos_worker import EXECUTIONS_PG, Recorder, build
from .harness import Db, WorkerProc, report, scale, wait_until, workers
from .pgcluster import PgCluster
from .test_sigkill import enqueue_marks

STALE = 3.0  # the CLI harness's ZAPJOBS_STALE_WORKER_THRESHOLD, and --stale below
UNREACHABLE = "database unreachable"
REACHABLE = "database reachable again"


async def enqueue(url: str, job_type: str, inputs: list[Any]) -> list[int]:
    """Enqueue with the chaos app's own definitions (the workers' max_retries stay); with no
    inputs, only migrate."""
    args = argparse.Namespace(
        url=url, heartbeat="0.5s", stale="3s", no_scheduler=True, no_processing=True
    )
    zap = build(args, Recorder(url))
    try:
        await zap.open()
        return await zap.enqueue_many(job_type, inputs) if inputs else []
    finally:
        await zap.close()


def running_runs(db: Db) -> set[int]:
    return {int(r[0]) for r in db.query("SELECT id FROM zapjobs_runs WHERE status = 'running'")}


def dead_workers(db: Db) -> list[str]:
    return [r[0] for r in db.query("SELECT id FROM zapjobs_heartbeats WHERE dead_at IS NOT NULL")]


def problem_lines(worker: WorkerProc) -> list[str]:
    """The CLI worker's WARNING and ERROR lines ("<time> warning  <message>")."""
    return [
        line
        for line in worker.stderr_lines
        if re.match(r"^\S+ (warning|error|critical)\b", line) or line.startswith("Traceback")
    ]


# --- a job that blocks the event loop ------------------------------------------------------------


@pytest.mark.slow
def test_a_job_blocking_the_event_loop_keeps_beating_and_runs_once(pg_url: str) -> None:
    """``time.sleep`` longer than the stale threshold inside an ``async def`` job: the worker
    still beats (its row stays fresh), no one rescues the run, it runs exactly once, and the
    worker warns naming the job."""
    db = Db(pg_url)
    with workers() as started:
        for _ in range(2):
            started.append(WorkerProc(pg_url, "--heartbeat", "0.5s", "--stale", f"{STALE:g}s"))
        for w in started:
            w.wait_ready()
            w.follow()
        db.execute(EXECUTIONS_PG)
        # A worker may rescue only after beating for the threshold (fencing): wait until both
        # may, so that a silent heartbeat would get the run rescued.
        wait_until(
            lambda: _beating_for(db) >= STALE + 0.5, 30, "both workers to beat for the threshold"
        )
        [run_id] = asyncio.run(enqueue(pg_url, "block", [3 * STALE]))
        wait_until(lambda: _run(db, run_id)[0] == "running", 30, "the run to start")
        runner_id = _run(db, run_id)[1]
        # While the job still blocks its loop, the runner's row keeps being refreshed.
        wait_until(
            lambda: _beat_after_start(db, run_id) > STALE or _run(db, run_id)[0] != "running",
            30,
            "a heartbeat later than the threshold after the run started",
        )
        assert _run(db, run_id)[0] == "running"
        wait_until(lambda: _run(db, run_id)[0] in ("succeeded", "failed"), 60, "the run to end")
        [runner] = [w for w in started if w.worker_id == runner_id]
        wait_until(lambda: runner.logged("has blocked the event loop") > 0, 30, "the warning")
        outputs = {w.worker_id: w.stop(signal.SIGTERM) for w in started}

    status, _, attempt = _run(db, run_id)
    assert (status, attempt) == ("succeeded", 1)
    assert db.execution_counts() == {run_id: 1}
    assert dead_workers(db) == []
    warnings = [ln for ln in outputs[runner_id].splitlines() if "blocked the event loop" in ln]
    assert len(warnings) == 1, outputs[runner_id]  # one per blocking episode, not a flood
    assert f"job 'block' (run {run_id})" in warnings[0]
    assert warnings[0].startswith("WARNING zapjobs.worker")


def _beating_for(db: Db) -> float:
    rows = db.query(
        "SELECT extract(epoch FROM min(last_seen_at - started_at)), count(*) "
        "FROM zapjobs_heartbeats WHERE stopped_at IS NULL"
    )
    seconds, count = rows[0]
    return float(seconds) if count == 2 and seconds is not None else 0.0


def _run(db: Db, run_id: int) -> tuple[str, str | None, int]:
    [(status, worker_id, attempt)] = db.query(
        "SELECT status, worker_id, attempt FROM zapjobs_runs WHERE id = %s", (run_id,)
    )
    return str(status), worker_id, int(attempt)


def _beat_after_start(db: Db, run_id: int) -> float:
    rows = db.query(
        "SELECT extract(epoch FROM w.last_seen_at - r.started_at) FROM zapjobs_runs r "
        "JOIN zapjobs_heartbeats w ON w.id = r.worker_id WHERE r.id = %s",
        (run_id,),
    )
    return float(rows[0][0]) if rows and rows[0][0] is not None else 0.0


# --- an outage longer than the stale threshold ---------------------------------------------------


@pytest.mark.slow
def test_an_outage_longer_than_the_stale_threshold_rescues_no_live_worker(
    pgcluster: PgCluster,
) -> None:
    """The server stopped for twice the stale threshold under two draining workers: when it is
    back, nobody marks anybody dead, nothing is lost, and a run executes twice only if it was
    in flight at the fault."""
    url = pgcluster.url(pgcluster.create_database())
    n = scale(1500, 6000)
    ids = asyncio.run(enqueue_marks(url, n))
    db = Db(url)
    db.execute(EXECUTIONS_PG)
    with workers() as started:
        for i in range(2):
            started.append(WorkerProc.cli(url, f"outage-{i}"))
        for w in started:
            w.wait_ready()
            w.follow()
        wait_until(lambda: sum(db.execution_counts().values()) >= n // 3, 120, "a third done")
        for w in started:  # frozen, so the in-flight set cannot move before the server stops
            os.kill(w.pid, signal.SIGSTOP)
        in_flight = running_runs(db)
        with pgcluster.down():
            for w in started:
                os.kill(w.pid, signal.SIGCONT)
            time.sleep(2 * STALE)  # the fault: the server is down for twice the threshold
        back_at = time.monotonic()
        wait_until(lambda: db.unfinished() == 0, 180, "every run to finish")
        recovered = time.monotonic() - back_at
        assert all(w.alive() for w in started), [w.stop() for w in started]
        for w in started:
            w.stop(signal.SIGTERM)

    executions = db.execution_counts()
    lost = [run_id for run_id in ids if run_id not in executions]
    duplicates = {run_id for run_id, count in executions.items() if count > 1}
    lines = [problem_lines(w) for w in started]
    report(
        "outage-longer-than-stale",
        enqueued=n,
        fault=f"server stopped {2 * STALE:g}s (stale threshold {STALE:g}s)",
        lost=len(lost),
        duplicates=len(duplicates),
        in_flight_at_fault=len(in_flight),
        recover_s=round(recovered, 1),
        log_lines=[len(x) for x in lines],
    )
    assert dead_workers(db) == []
    assert lost == []
    assert db.status_counts() == {"succeeded": n}
    assert duplicates <= in_flight
    for w, problems in zip(started, lines, strict=True):
        assert "marked dead" not in w.output, w.output[-3000:]
        assert "stopped after" in w.output, w.output[-3000:]
        # one line for the outage, one for the recovery, nothing else
        assert [UNREACHABLE in p for p in problems].count(True) == 1, problems
        assert [REACHABLE in p for p in problems].count(True) == 1, problems
        assert len(problems) == 2, problems


# --- one outage, two log lines -------------------------------------------------------------------


@pytest.mark.slow
def test_one_outage_costs_one_warning_line_and_one_recovery_line(pgcluster: PgCluster) -> None:
    """An idle ``zapjobs worker`` while the server is down for a few seconds: every loop
    (heartbeat, claims, cancel checks, maintenance, definitions, LISTEN) retries several times
    and psycopg's pool warns about each broken connection, yet the worker's stderr says one
    line when the database is lost and one when it is back."""
    url = pgcluster.url(pgcluster.create_database())
    asyncio.run(enqueue(url, "noop", []))
    with workers() as started:
        worker = WorkerProc.cli(url, "outage-log")
        started.append(worker)
        worker.wait_ready()
        worker.follow()
        with pgcluster.down():
            down_at = time.monotonic()
            wait_until(lambda: worker.logged(UNREACHABLE) > 0, 30, "the outage line")
            time.sleep(max(0.0, down_at + 2 * STALE - time.monotonic()))  # the fault's length
        wait_until(lambda: worker.logged(REACHABLE) > 0, 60, "the recovery line")
        [run_id] = asyncio.run(enqueue(url, "noop", [None]))
        db = Db(url)
        wait_until(
            lambda: _run(db, run_id)[0] == "succeeded", 60, "a run to succeed after the outage"
        )
        output = worker.stop(signal.SIGTERM)
    problems = problem_lines(worker)
    report("outage-log-lines", fault=f"server stopped {2 * STALE:g}s", lines=len(problems))
    assert len(problems) == 2, output[-3000:]
    assert UNREACHABLE in problems[0] and REACHABLE in problems[1], problems
    assert "AsyncConnection" not in output and "psycopg" not in output, output[-3000:]


# --- a stalled connection ------------------------------------------------------------------------

STATEMENT_TIMEOUT_MS = 1000  # the client's deadline is 1 + 2 = 3 s; the bound 3 + 5 s


@pytest.mark.slow
def test_a_stalled_connection_is_noticed_logged_and_replaced(pgcluster: PgCluster) -> None:
    """Every server process of one worker SIGSTOPped (the kernel still acknowledges, so TCP
    keepalives never fire): the worker says so and carries on on new connections, within the
    deadline bound (statement_timeout + 2 s, then psycopg's 5 s cancel wait), while the stopped
    processes stay stopped."""
    tag = "zapstall"
    url = pgcluster.url(
        pgcluster.create_database(),
        application_name=tag,
        options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
    )
    admin = Db(make_conninfo(url, application_name="zapstall-admin"))
    asyncio.run(enqueue(admin.url, "noop", []))
    with workers() as started:
        worker = WorkerProc.cli(url, "stalled")
        started.append(worker)
        worker.wait_ready()
        worker.follow()
        try:
            paused = pgcluster.backends(tag)
            assert paused, "the worker has no connection to pause"
            pgcluster.pause(paused)
            paused_at = time.monotonic()

            def stalled() -> bool:
                # Until the worker says it stalled, every connection it has is paused, also
                # those its pools open after the first look (under load a pool may still be
                # filling when the worker reports ready, and a fresh connection would answer).
                if worker.logged("did not answer within 3s") > 0:
                    return True
                late = pgcluster.backends(tag) - paused
                pgcluster.pause(late)
                paused.update(late)
                return False

            ids = asyncio.run(
                enqueue(make_conninfo(url, application_name="zapstall-client"), "noop", [None] * 3)
            )
            wait_until(stalled, 60, "the stall line")
            noticed = time.monotonic() - paused_at
            wait_until(
                lambda: _statuses(admin, ids) == {"succeeded"},
                60,
                "runs enqueued during the stall to succeed on new connections",
            )
            replaced = pgcluster.backends(tag) - paused
            wait_until(lambda: worker.logged(REACHABLE) > 0, 30, "the recovery line")
            recovered = time.monotonic() - paused_at
        finally:
            pgcluster.resume()
        output = worker.stop(signal.SIGTERM)
    report(
        "stalled-connection",
        paused=len(paused),
        new_connections=len(replaced),
        noticed_s=round(noticed, 1),
        recovered_s=round(recovered, 1),
        log_lines=len(problem_lines(worker)),
    )
    assert replaced, "no new connection replaced the stalled ones"
    assert "Traceback" not in output, output[-3000:]


def _statuses(db: Db, ids: list[int]) -> set[str]:
    rows = db.query("SELECT status FROM zapjobs_runs WHERE id = ANY(%s)", (ids,))
    return {str(r[0]) for r in rows}
