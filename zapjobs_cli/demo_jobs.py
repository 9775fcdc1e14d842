"""The example jobs of ``zapjobs demo``: one that logs, one that reports progress, one that
fails twice and then succeeds, one that always fails, and one that recurs every two seconds.

Settings are tuned to show a lot in a few seconds (fast polling and retries); they are not
production defaults."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from zapjobs import JobContext, RetryPolicy, ZapJobs

GREET = "demo-greet"
CRUNCH = "demo-crunch"
FLAKY = "demo-flaky"
BROKEN = "demo-broken"
TICK = "demo-tick"
TICK_EVERY = timedelta(seconds=2)
FAST_RETRY = RetryPolicy(
    max_retries=2,
    initial_delay=timedelta(milliseconds=300),
    backoff_multiplier=2,
    max_delay=timedelta(seconds=2),
    use_jitter=False,
)


def build_demo_app(database_url: str) -> ZapJobs:
    zap = ZapJobs(
        database_url,
        polling_interval=timedelta(milliseconds=200),
        heartbeat_interval=timedelta(seconds=2),
        concurrency=4,
    )

    @zap.job(GREET)
    async def greet(ctx: JobContext[str]) -> str:
        await ctx.log.info("looking up the customer", customer=ctx.input)
        await asyncio.sleep(0.05)  # stands in for real work
        await ctx.log.info("composing the greeting")
        return f"hello, {ctx.input}!"

    @zap.job(CRUNCH)
    async def crunch(ctx: JobContext[int]) -> dict[str, Any]:
        await ctx.set_total(ctx.input)
        for _ in range(ctx.input):
            await asyncio.sleep(0.02)  # stands in for one item of real work
            await ctx.increment_processed()
            await ctx.increment_succeeded()
        await ctx.log.info("crunched the batch", items=ctx.input)
        return {"items": ctx.input}

    @zap.job(FLAKY, retry=FAST_RETRY)
    async def flaky(ctx: JobContext[None]) -> str:
        if ctx.attempt <= 2:
            await ctx.log.warning("the service is down", attempt=ctx.attempt)
            # a builtin type, as a real client would raise: the console shows "ConnectionError"
            raise ConnectionError(f"the demo service is down (attempt {ctx.attempt})")
        await ctx.log.info("the service answered", attempt=ctx.attempt)
        return f"succeeded on attempt {ctx.attempt}"

    @zap.job(BROKEN, retry=RetryPolicy(max_retries=1, initial_delay=timedelta(milliseconds=300)))
    async def broken(ctx: JobContext[dict[str, Any]]) -> None:
        await ctx.log.error("this input can never work", input=ctx.input)
        raise ValueError("missing field 'email' in the input")

    @zap.job(TICK, interval=TICK_EVERY)
    async def tick(ctx: JobContext[None]) -> str:
        await ctx.log.info("tick", scheduled_at=str(ctx.scheduled_at))
        return "tock"

    return zap


async def enqueue_batch(zap: ZapJobs) -> list[int]:
    """The runs the demo starts with (the recurring one enqueues itself)."""
    ids = await zap.enqueue_many(GREET, ["Ada", "Grace", "Linus", "Barbara"])
    ids += await zap.enqueue_many(CRUNCH, [40, 25])
    ids.append(await zap.enqueue(FLAKY))
    ids.append(await zap.enqueue(BROKEN, {"name": "no email"}))
    return ids
