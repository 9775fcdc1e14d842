"""Values a job produces that no store can keep as they are (NUL, lone surrogates) and outputs
over the size limit: each fails or marks at most its own run, visibly, and the worker goes on
recording every later result — on memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from zapjobs import JobContext, RetryPolicy, RunStatus, ZapJobs
from zapjobs.models import JobRun

from ..runtime.engine_helpers import running_worker, wait_until

NO_RETRY = RetryPolicy(max_retries=0)
FIFTY_MB = 50 * 1024 * 1024


def make_app(url: str, **settings: Any) -> ZapJobs:
    zap = ZapJobs(url, auto_migrate=True, polling_interval="50ms", **settings)

    @zap.job("log-nul", retry=NO_RETRY)
    async def log_nul(ctx: JobContext[None]) -> str:
        await ctx.log.info("a\x00b")
        return "logged"

    @zap.job("log-field-nul", retry=NO_RETRY)
    def log_field_nul(ctx: JobContext[None]) -> str:  # a sync job: logs from a thread
        ctx.log.warning("fields", note="x\x00y", nested={"k\x00": ["\ud800"]})
        return "logged"

    @zap.job("log-surrogate", retry=NO_RETRY)
    async def log_surrogate(ctx: JobContext[None]) -> str:
        await ctx.log.error("lone \ud800 here", other=object())
        return "logged"

    @zap.job("output-nul", retry=NO_RETRY)
    async def output_nul(ctx: JobContext[None]) -> Any:
        return {"text": "a\x00b", "k\x00": ["\udfff", 1]}

    @zap.job("output-surrogate", retry=NO_RETRY)
    async def output_surrogate(ctx: JobContext[None]) -> str:
        return "\ud800"

    @zap.job("raise-nul", retry=NO_RETRY)
    async def raise_nul(ctx: JobContext[None]) -> None:
        raise ValueError("bad\x00")

    @zap.job("raise-surrogate", retry=NO_RETRY)
    def raise_surrogate(ctx: JobContext[None]) -> None:
        raise ValueError("bad\ud800")

    @zap.job("huge-output", retry=RetryPolicy(max_retries=3))
    async def huge_output(ctx: JobContext[int]) -> str:
        return "x" * ctx.input

    @zap.job("huge-progress", retry=NO_RETRY)
    async def huge_progress(ctx: JobContext[None]) -> str:
        ctx.set_total(2**70)  # beyond a 64-bit column
        return "counted"

    @zap.job("ok")
    async def ok(ctx: JobContext[int]) -> int:
        await ctx.log.info("fine", n=ctx.input)
        return ctx.input

    return zap


@pytest.fixture
async def zap(store_url: str) -> AsyncIterator[ZapJobs]:
    app = make_app(store_url)
    await app.open()
    try:
        yield app
    finally:
        await app.close()


async def _finished(zap: ZapJobs, run_ids: list[int]) -> list[JobRun]:
    async def probe() -> list[JobRun]:
        return [await zap.get_run(i) for i in run_ids]

    return await wait_until(
        probe,
        lambda runs: all(r.status.is_final for r in runs),
        what=f"runs {run_ids} to finish",
    )


async def test_poisoned_values_are_recorded_visibly_and_later_results_still_are(
    zap: ZapJobs,
) -> None:
    names = [
        "log-nul",
        "log-field-nul",
        "log-surrogate",
        "output-nul",
        "output-surrogate",
        "raise-nul",
        "raise-surrogate",
        "huge-progress",
    ]
    ids = {name: await zap.enqueue(name) for name in names}
    async with running_worker(zap, concurrency=4):
        runs = {r.job_type: r for r in await _finished(zap, list(ids.values()))}
        later = await zap.enqueue_many("ok", list(range(50)))
        done = await _finished(zap, later)

    for name in ("log-nul", "log-field-nul", "log-surrogate"):
        assert runs[name].status is RunStatus.SUCCEEDED, runs[name]
    assert (await zap.list_logs(ids["log-nul"]))[0].message == "a\\x00b"
    [fields_entry] = await zap.list_logs(ids["log-field-nul"])
    assert fields_entry.fields == {"note": "x\\x00y", "nested": {"k\\x00": ["\\ud800"]}}
    [surrogate_entry] = await zap.list_logs(ids["log-surrogate"])
    assert surrogate_entry.message == "lone \\ud800 here"
    assert surrogate_entry.fields["other"].startswith("<object object at")

    assert runs["output-nul"].status is RunStatus.SUCCEEDED
    assert runs["output-nul"].output == {"text": "a\\x00b", "k\\x00": ["\\udfff", 1]}
    assert runs["output-surrogate"].status is RunStatus.SUCCEEDED
    assert runs["output-surrogate"].output == "\\ud800"

    for name, text in (("raise-nul", "bad\\x00"), ("raise-surrogate", "bad\\ud800")):
        run = runs[name]
        assert run.status is RunStatus.FAILED and run.error is not None, run
        assert (run.error.type, run.error.message) == ("ValueError", text)
        assert run.error.traceback is not None and f"ValueError: {text}" in run.error.traceback

    assert runs["huge-progress"].status is RunStatus.SUCCEEDED
    assert runs["huge-progress"].output == "counted"

    assert [r.status for r in done] == [RunStatus.SUCCEEDED] * 50
    assert sorted(r.output for r in done) == list(range(50))
    for run in done[:5]:
        assert [e.message for e in await zap.list_logs(run.id)] == ["fine"]


async def test_an_output_of_50_mb_fails_only_its_run_with_a_clear_error(zap: ZapJobs) -> None:
    huge = await zap.enqueue("huge-output", FIFTY_MB)
    async with running_worker(zap, concurrency=2):
        [run] = await _finished(zap, [huge])
        later = await zap.enqueue_many("ok", list(range(5)))
        done = await _finished(zap, later)
    assert run.status is RunStatus.FAILED, "the output limit is final: the same code fails again"
    assert run.attempt == 1
    assert run.output is None
    assert run.error is not None and run.error.type == "OutputTooLargeError"
    assert "52,428,802 bytes" in run.error.message  # the JSON string: quotes included
    assert "1,048,576 bytes" in run.error.message and "max_output_bytes" in run.error.message
    assert [r.status for r in done] == [RunStatus.SUCCEEDED] * 5


async def test_max_output_bytes_is_a_setting(store_url: str) -> None:
    app = make_app(store_url, max_output_bytes=100)
    async with app:
        at_limit = await app.enqueue("huge-output", 98)  # 98 characters + 2 quotes
        over = await app.enqueue("huge-output", 99)
        async with running_worker(app):
            fits, too_big = await _finished(app, [at_limit, over])
    assert fits.status is RunStatus.SUCCEEDED and fits.output == "x" * 98
    assert too_big.status is RunStatus.FAILED and too_big.error is not None
    assert too_big.error.type == "OutputTooLargeError"
    assert "101 bytes" in too_big.error.message and "limit of 100 bytes" in too_big.error.message


def test_max_output_bytes_is_read_like_other_settings() -> None:
    from zapjobs.errors import ConfigurationError
    from zapjobs.settings import Settings, coerce_settings

    assert Settings().max_output_bytes == 1024 * 1024
    assert coerce_settings({"max_output_bytes": "2048"}) == {"max_output_bytes": 2048}
    with pytest.raises(ConfigurationError, match="max_output_bytes"):
        coerce_settings({"max_output_bytes": "lots"})
    with pytest.raises(ConfigurationError, match="max_output_bytes must be at least 1"):
        Settings(max_output_bytes=0)
