"""The job code the CLI tests point ``--app cli_jobs:zap`` at (the folder is on PYTHONPATH).

The database comes from the CLI's settings (ZAPJOBS_DATABASE_URL in the tests' environment):
``ZapJobs()`` here only declares the job types.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from zapjobs import JobContext, RetryPolicy, ZapJobs

zap = ZapJobs()


@dataclass
class Greeting:
    name: str
    punctuation: str = "!"


@zap.job("greet")
async def greet(ctx: JobContext[Greeting]) -> str:
    await ctx.log.info("greeting", name=ctx.input.name)
    return f"hello, {ctx.input.name}{ctx.input.punctuation}"


@zap.job("fail", max_retries=0)
async def fail(ctx: JobContext[None]) -> None:
    await ctx.log.error("about to fail")
    raise RuntimeError("this job always fails")


@zap.job("wait-forever", retry=RetryPolicy(max_retries=0))
async def wait_forever(ctx: JobContext[None]) -> None:
    await ctx.log.info("waiting until cancelled")
    await asyncio.Event().wait()
