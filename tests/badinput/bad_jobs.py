"""The job code the CLI bad-input tests point ``--app bad_jobs:zap`` at."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zapjobs import JobContext, ZapJobs

zap = ZapJobs()


@dataclass
class Order:
    id: int
    note: str = ""


@zap.job("echo")
async def echo(ctx: JobContext[Any]) -> Any:
    return ctx.input


@zap.job("order")
async def order(ctx: JobContext[Order]) -> int:
    return ctx.input.id
