"""Text a job (or an older version, or another writer) left in the database that must be shown
literally: markup-like brackets, terminal escapes (OSC title, OSC 8 hyperlink), a carriage
return. Seeded through the API and the store protocol a worker uses; the job type and the
worker's id are written as an older writer could have (names the API refuses today)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from zapjobs import JobContext, ZapJobs
from zapjobs.models import LogLevel, NewLogEntry, RunError, RunOutcome, RunStatus, WorkerInfo

MARKUP = "config [/etc/app/conf.yml] not found"
CLOSE = "a stray [/] tag"
STYLED = "[reverse blink]FAKE[/reverse blink]"
TITLE = "\x1b]0;PWNED\x07"
LINK = "\x1b]8;;http://evil.example/\x1b\\docs\x1b]8;;\x1b\\"
CR = "done\rFAKE"
#: Oldest first: the newest runs are the ones every listing shows.
EVILS = (CR, LINK, STYLED, CLOSE, TITLE, MARKUP)
#: How each one must appear on a screen: brackets as they are, controls as visible escapes.
SHOWN = {
    MARKUP: MARKUP,
    CLOSE: CLOSE,
    STYLED: STYLED,
    TITLE: "\\x1b]0;PWNED\\x07",
    LINK: "\\x1b]8;;http://evil.example/\\x1b\\docs\\x1b]8;;\\x1b\\",
    CR: "done\\rFAKE",
}
OUTPUT = {"said": f"{MARKUP} {CLOSE}", "title": TITLE}
EVIL_JOB_TYPE = "old[/]\x1b]0;JOB\x07"
EVIL_JOB_TYPE_SHOWN = "old[/]\\x1b]0;JOB\\x07"
EVIL_WORKER = "w[/]\x1b]0;WORKER\x07"
EVIL_WORKER_SHOWN = "w[/]\\x1b]0;WORKER\\x07"


@dataclass(frozen=True)
class Seeded:
    failed: dict[str, int]  # evil text -> the id of the failed run whose error it is
    succeeded: int  # a run whose input and output hold evil texts
    renamed: int  # a run whose stored job type is EVIL_JOB_TYPE


def store_of(zap: ZapJobs) -> Any:
    """The store a worker would use (``zapjobs.testing.store_of`` where the API is sealed)."""
    try:
        from zapjobs.testing import store_of as of  # type: ignore[attr-defined]
    except ImportError:
        return zap.store
    return of(zap)


def make_zap(url: str) -> ZapJobs:
    zap = ZapJobs(url, auto_migrate=True)

    @zap.job("evil-job", max_retries=0)
    async def evil_job(ctx: JobContext[Any]) -> None:
        return None

    return zap


async def seed(url: str) -> Seeded:
    zap = make_zap(url)
    await zap.open()
    try:
        return await _seed(zap, url)
    finally:
        await zap.close()


async def _seed(zap: ZapJobs, url: str) -> Seeded:
    store = store_of(zap)
    failed: dict[str, int] = {}
    now = zap.now()
    for n, text in enumerate(EVILS):
        [run_id] = await zap.enqueue_many("evil-job", [{"note": text}])
        [run] = await store.claim("seed-worker", ["default"], ["evil-job"], 1)
        assert run.id == run_id
        traceback = f"Traceback (most recent call last):\n  File 'job.py'\nOSError: {text}"
        error = RunError("FileNotFoundError", text, traceback)
        await store.append_logs(
            [NewLogEntry(run_id, LogLevel.ERROR, text, now, json.dumps({"detail": text}))]
        )
        await store.complete(
            [RunOutcome(run_id, "seed-worker", run.attempt, RunStatus.FAILED, error=error)]
        )
        failed[text] = run_id
        now += timedelta(milliseconds=n + 1)
    [succeeded] = await zap.enqueue_many("evil-job", [{"note": STYLED}])
    [run] = await store.claim("seed-worker", ["default"], ["evil-job"], 1)
    output = json.dumps(OUTPUT)
    await store.complete(
        [RunOutcome(succeeded, "seed-worker", run.attempt, RunStatus.SUCCEEDED, output_json=output)]
    )
    [renamed] = await zap.enqueue_many("evil-job", [None])
    _rename(url, renamed)
    started = datetime.now(UTC)
    await store.heartbeat(
        WorkerInfo(EVIL_WORKER, STYLED, 1, ("default",), started, started, concurrency=1)
    )
    return Seeded(failed, succeeded, renamed)


def _rename(url: str, run_id: int) -> None:
    """Give one run the job type an older writer could have stored."""
    sql = "UPDATE zapjobs_runs SET job_type = {} WHERE id = {}"
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute(sql.format("?", "?"), (EVIL_JOB_TYPE, run_id))
    else:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.format("%s", "%s"), (EVIL_JOB_TYPE, run_id))  # type: ignore[arg-type]


def assert_shown_safely(output: str, *expected: str) -> None:
    """No raw control character reached the output, and each expected text is there as shown."""
    for raw in ("\x1b", "\x07", "\r", "\x9b"):
        assert raw not in output, f"raw {raw!r} in the output:\n{output!r}"
    for text in expected:
        assert text in output, f"{text!r} not shown:\n{output}"


async def seed_output(url: str, output: object) -> int:
    """One succeeded run with ``output`` (as an older version stored it, without a cap)."""
    zap = make_zap(url)
    await zap.open()
    try:
        [run_id] = await zap.enqueue_many("evil-job", [None])
        [run] = await store_of(zap).claim("w", ["default"], ["evil-job"], 1)
        outcome = RunOutcome(run_id, "w", run.attempt, RunStatus.SUCCEEDED, json.dumps(output))
        await store_of(zap).complete([outcome])
        return run_id
    finally:
        await zap.close()
