"""A worker that cannot write its results says so in one ERROR line, stops claiming new runs
(they would only pile up more unwritten results while its heartbeat keeps it "alive"), and
claims again, with one recovery line, once the writes go through.

The faults are real: on PostgreSQL another connection holds ``LOCK TABLE zapjobs_logs IN
ACCESS EXCLUSIVE MODE`` in the test's own schema, so the worker's log writes (and the outcomes
written after them) hang while claims still work, so "stops claiming" is the worker's own doing;
on SQLite another connection holds the file's write lock, so every write fails as "locked".
The threshold (30 s in production) is lowered for the test; nothing here waits on time.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta

import psycopg
import pytest

from zapjobs import JobContext, RunStatus, ZapJobs
from zapjobs.runtime import completer as completer_module
from zapjobs.runtime.completer import Completer
from zapjobs.stores.sqlite.store import SQLiteStore

from ..runtime.engine_helpers import running_worker, wait_until

ERROR_LINE = "cannot write job results for"
RECOVERY_LINE = "job results are written again"


def lines(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


@pytest.fixture
def held_back(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> list[int]:
    """A 0.5 s threshold, and a count of the fetcher's checks that held a claim back."""
    caplog.set_level(logging.INFO, logger="zapjobs.worker")
    monkeypatch.setattr(completer_module, "UNWRITABLE_RESULTS_SECONDS", 0.5)
    count = [0]
    writable = Completer.results_writable

    def counting(self: Completer) -> bool:
        ok = writable(self)
        if not ok:
            count[0] += 1
        return ok

    monkeypatch.setattr(Completer, "results_writable", counting)
    return count


async def test_unwritable_results_are_reported_stop_claiming_and_recover(
    pg_url: str, held_back: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    zap = ZapJobs(pg_url, auto_migrate=True, polling_interval="50ms")

    @zap.job("chatty")
    async def chatty(ctx: JobContext[int]) -> int:
        await ctx.log.info("hello", n=ctx.input)
        return ctx.input

    async with zap, running_worker(zap, concurrency=2):
        warm = await zap.wait_for(await zap.enqueue("chatty", 0), timeout=timedelta(seconds=15))
        assert warm.status is RunStatus.SUCCEEDED
        locker = await psycopg.AsyncConnection.connect(pg_url)
        try:
            await locker.execute("LOCK TABLE zapjobs_logs IN ACCESS EXCLUSIVE MODE")
            stuck = await zap.enqueue("chatty", 1)  # claimed and run; its log write hangs

            async def error_lines() -> list[logging.LogRecord]:
                return lines(caplog, ERROR_LINE)

            [error] = await wait_until(error_lines, what="the ERROR line")
            assert error.levelno == logging.ERROR
            assert "claiming no new runs" in error.getMessage()

            waiting = await zap.enqueue("chatty", 2)
            mark = held_back[0]

            async def checks() -> int:
                return held_back[0]

            await wait_until(checks, lambda n: n >= mark + 3, what="three held-back claims")
            assert (await zap.get_run(waiting)).status is RunStatus.PENDING
            assert (await zap.get_run(stuck)).status is RunStatus.RUNNING
        finally:
            await locker.rollback()
            await locker.close()
        done = [await zap.wait_for(i, timeout=timedelta(seconds=15)) for i in (stuck, waiting)]
    assert [r.status for r in done] == [RunStatus.SUCCEEDED] * 2
    assert len(lines(caplog, ERROR_LINE)) == 1, "one line per outage"
    assert len(lines(caplog, RECOVERY_LINE)) == 1, "one line per recovery"


@pytest.fixture
async def sqlite_store(sqlite_url: str) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(sqlite_url, busy_timeout=0.2)  # fail fast while the file is locked
    await store.open()
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


async def test_results_refused_by_a_locked_sqlite_file_are_reported_and_recover(
    sqlite_url: str,
    sqlite_store: SQLiteStore,
    held_back: list[int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    zap = ZapJobs(store=sqlite_store, polling_interval="50ms")
    gate = asyncio.Event()

    @zap.job("gated")
    async def gated(ctx: JobContext[int]) -> int:
        await gate.wait()
        await ctx.log.info("through the gate")
        return ctx.input

    async with running_worker(zap, concurrency=2):
        run_id = await zap.enqueue("gated", 7)
        await wait_until(
            lambda: zap.get_run(run_id), lambda r: r.status is RunStatus.RUNNING, what="running"
        )
        locker = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")  # the write lock: every write of the worker fails
            gate.set()

            async def error_lines() -> list[logging.LogRecord]:
                return lines(caplog, ERROR_LINE)

            [error] = await wait_until(error_lines, what="the ERROR line")
            assert "locked" in error.getMessage(), error.getMessage()
            mark = held_back[0]

            async def checks() -> int:
                return held_back[0]

            await wait_until(checks, lambda n: n >= mark + 3, what="three held-back claims")
            assert (await zap.get_run(run_id)).status is RunStatus.RUNNING
        finally:
            locker.rollback()
            locker.close()
        done = await zap.wait_for(run_id, timeout=timedelta(seconds=15))
        later = await zap.enqueue("gated", 8)  # claimed again after the recovery
        again = await zap.wait_for(later, timeout=timedelta(seconds=15))
    assert (done.status, done.output, again.status) == (RunStatus.SUCCEEDED, 7, RunStatus.SUCCEEDED)
    assert len(lines(caplog, ERROR_LINE)) == 1, "one line per outage"
    assert len(lines(caplog, RECOVERY_LINE)) == 1, "one line per recovery"
