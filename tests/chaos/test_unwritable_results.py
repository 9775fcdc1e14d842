"""A worker that cannot write its results says so in one ERROR line, stops claiming new runs
(they would only pile up more unwritten results while its heartbeat keeps it "alive"), and
claims again, with one recovery line, once the writes go through.

The fault is real: another connection holds ``LOCK TABLE zapjobs_logs IN ACCESS EXCLUSIVE
MODE`` in the test's own PostgreSQL schema, so the worker's log writes (and the outcomes
written after them) hang; claims still work, so "stops claiming" is the worker's own doing.
The threshold (30 s in production) is lowered for the test; nothing here waits on time.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import psycopg
import pytest

from zapjobs import JobContext, RunStatus, ZapJobs
from zapjobs.runtime import completer as completer_module
from zapjobs.runtime.completer import Completer

from ..runtime.engine_helpers import running_worker, wait_until

ERROR_LINE = "cannot write job results for"
RECOVERY_LINE = "job results are written again"


def lines(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


async def test_unwritable_results_are_reported_stop_claiming_and_recover(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="zapjobs.worker")
    monkeypatch.setattr(completer_module, "UNWRITABLE_RESULTS_SECONDS", 0.5)
    held_back = [0]
    writable = Completer.results_writable

    def counting(self: Completer) -> bool:
        ok = writable(self)
        if not ok:
            held_back[0] += 1
        return ok

    monkeypatch.setattr(Completer, "results_writable", counting)

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
