"""A job whose error and log line carry markup-like brackets and terminal escapes, for the
worker console test (``--app tests.badinput.evil_jobs:zap``)."""

from __future__ import annotations

from typing import Any

from tests.badinput.untrusted import CR, LINK, MARKUP, STYLED, TITLE
from zapjobs import JobContext, ZapJobs

zap = ZapJobs()


@zap.job("evil-fail", max_retries=0)
async def evil_fail(ctx: JobContext[Any]) -> None:
    await ctx.log.warning(f"{STYLED} {CR}\n{TITLE}")
    raise FileNotFoundError(f"{MARKUP} {TITLE} {LINK}")
