"""Job types declaring uniqueness, for `jobs show` (ZAPJOBS_APP=unique_jobs:zap)."""

from __future__ import annotations

from datetime import timedelta

from zapjobs import JobContext, ZapJobs

zap = ZapJobs()


@zap.job("sync-account", unique_by_input=True)
async def sync_account(ctx: JobContext[int]) -> None:
    pass


@zap.job("nightly-report", unique_for=timedelta(minutes=10))
async def nightly_report(ctx: JobContext[None]) -> None:
    pass


@zap.job("plain")
async def plain(ctx: JobContext[None]) -> None:
    pass
