"""Conformance: per job type, the recent finished runs' counts and p50/p95 durations (the Jobs
view's health columns), by one percentile rule on every store."""

from __future__ import annotations

import pytest

from tests.stores.helpers import T0, at, finish_one, start_one
from zapjobs.models import JobTypeStats, RunStatus
from zapjobs.stores import Store


async def test_job_type_stats_of_an_empty_store_are_empty(store: Store) -> None:
    assert await store.job_type_stats(since=T0, now=at(hours=1)) == []


async def test_job_type_stats_count_and_time_the_window_per_job_type(store: Store) -> None:
    # "report": ten runs taking 1..10 s, the 3rd and 7th failed; "sync": one run of 4 s.
    for n in range(1, 11):
        status = RunStatus.FAILED if n in (3, 7) else RunStatus.SUCCEEDED
        await finish_one(
            store, status, "report", started=at(minutes=n), finished=at(minutes=n, seconds=n)
        )
    await finish_one(
        store,
        RunStatus.SUCCEEDED,
        "sync",
        started=at(minutes=20),
        finished=at(minutes=20, seconds=4),
    )
    found = await store.job_type_stats(since=T0, now=at(hours=1))
    assert [s.job_type for s in found] == ["report", "sync"]
    report, sync = found
    assert (report.succeeded, report.failed) == (8, 2)
    assert report.success_rate == pytest.approx(0.8)
    # percentile_cont: rank 0.5 * 9 = 4.5 between 5 s and 6 s; rank 0.95 * 9 = 8.55 between 9 s
    # and 10 s.
    assert report.p50_seconds == pytest.approx(5.5)
    assert report.p95_seconds == pytest.approx(9.55)
    assert sync == JobTypeStats("sync", succeeded=1, failed=0, p50_seconds=4.0, p95_seconds=4.0)


async def test_job_type_stats_leave_out_runs_outside_the_window_and_unfinished(
    store: Store,
) -> None:
    await finish_one(
        store, RunStatus.SUCCEEDED, "a", started=at(minutes=-10), finished=at(minutes=-5)
    )
    inside = at(minutes=5)
    await finish_one(store, RunStatus.SUCCEEDED, "a", started=at(minutes=4), finished=inside)
    await finish_one(store, RunStatus.CANCELLED, "a", started=at(minutes=6), finished=at(minutes=7))
    await finish_one(store, RunStatus.FAILED, "a", started=at(minutes=8), finished=at(hours=2))
    await start_one(store, "a", now=at(minutes=9))
    assert await store.job_type_stats(since=T0, now=at(hours=1)) == [
        JobTypeStats("a", succeeded=1, failed=0, p50_seconds=60.0, p95_seconds=60.0)
    ]
