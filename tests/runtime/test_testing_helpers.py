"""zapjobs.testing: what users call in their own tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from zapjobs import JobContext, LogLevel, UnknownJobTypeError, ValidationError, ZapJobs
from zapjobs.testing import assert_enqueued, drain, enqueued, run_inline


@dataclass
class Greeting:
    name: str


def make_app() -> ZapJobs:
    zap = ZapJobs("memory://")

    @zap.job("greet")
    async def greet(ctx: JobContext[Greeting]) -> str:
        await ctx.log.info("greeting", name=ctx.input.name)
        ctx.set_total(1)
        ctx.increment_processed()
        return f"hello {ctx.input.name}"

    @zap.job("sync-greet")
    def sync_greet(ctx: JobContext[Greeting]) -> str:
        ctx.log.warning("sync")
        return ctx.input.name.upper()

    return zap


async def test_run_inline_returns_output_logs_and_progress() -> None:
    zap = make_app()
    result = await run_inline(zap, "greet", Greeting("Ada"))
    assert result.output == "hello Ada"
    assert [(e.level, e.message, e.fields_json) for e in result.logs] == [
        (LogLevel.INFO, "greeting", '{"name": "Ada"}')
    ]
    assert (result.progress.total, result.progress.processed) == (1, 1)
    assert (await run_inline(zap, "sync-greet", {"name": "bo"})).output == "BO"


async def test_run_inline_validates_like_enqueue() -> None:
    zap = make_app()
    with pytest.raises(ValidationError, match="field 'name'"):
        await run_inline(zap, "greet", {"name": 1})
    with pytest.raises(UnknownJobTypeError):
        await run_inline(zap, "nope")


async def test_assert_enqueued_and_drain() -> None:
    zap = make_app()
    await zap.enqueue("greet", Greeting("Ada"))
    await zap.enqueue("greet", {"name": "Bo"})
    [ada] = await assert_enqueued(zap, "greet", Greeting("Ada"))
    assert ada.input == {"name": "Ada"}
    await assert_enqueued(zap, "greet", count=2)
    with pytest.raises(AssertionError, match="expected 3 pending runs of 'greet'"):
        await assert_enqueued(zap, "greet", count=3)
    with pytest.raises(AssertionError, match="found none"):
        await assert_enqueued(zap, "sync-greet")
    summary = await drain(zap)
    assert summary.succeeded == 2
    assert await enqueued(zap, "greet") == []
