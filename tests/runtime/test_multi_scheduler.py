"""Three scheduler processes on one PostgreSQL schema and an every-second schedule: exactly one
run per second, none duplicated, none missing (GitHub issue 4).

ZAPJOBS_TEST_SCHEDULER_SECONDS sets the length of the checked window (default 20) for schedulers
running the Maintenance loop alone; real engine workers (processing disabled) get half of it.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests.apps.sched_node import Node
from zapjobs.core.schedule import make_schedule
from zapjobs.models import Page, RunFilter
from zapjobs.stores import Store, create_store

WINDOW_SECONDS = int(os.environ.get("ZAPJOBS_TEST_SCHEDULER_SECONDS", "20"))
SCHEDULERS = 3

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


async def due_times(store: Store) -> list[datetime]:
    runs = await store.list_runs(RunFilter(job_types=("tick",)), Page(limit=100_000))
    return [r.schedule_due_at for r in runs if r.schedule_due_at is not None]


@pytest.mark.parametrize(
    ("mode", "window_seconds"),
    [("maintain", WINDOW_SECONDS), ("scheduler-worker", max(2, WINDOW_SECONDS // 2))],
)
async def test_three_schedulers_fire_each_second_exactly_once(
    pg_url: str, mode: str, window_seconds: int
) -> None:
    store = create_store(pg_url)
    await store.open()
    nodes: list[Node] = []
    try:
        await store.migrate()
        await store.set_schedule("tick", make_schedule(cron="* * * * * *"), None)
        nodes = [Node(pg_url, mode) for _ in range(SCHEDULERS)]
        for node in nodes:
            await asyncio.to_thread(node.wait_ready)
        started = datetime.now(UTC).replace(microsecond=0)
        first = started + timedelta(seconds=2)  # every node is running its loop by then
        last = first + timedelta(seconds=window_seconds - 1)

        deadline = asyncio.get_running_loop().time() + window_seconds + 60
        while not any(t > last for t in await due_times(store)):  # the window is complete
            assert asyncio.get_running_loop().time() < deadline, "the schedule stopped firing"
            await asyncio.sleep(0.1)
        for node in nodes:
            await asyncio.to_thread(node.stop)
        times = Counter(await due_times(store))
    finally:
        for node in nodes:
            node.stop()
        await store.close()

    window = [first + timedelta(seconds=s) for s in range(window_seconds)]
    duplicates = sum(count - 1 for count in times.values())
    missing = [t for t in window if times[t] == 0]
    per_node = [sum(len(ids) for ids in node.lines("fired")) for node in nodes]
    print(
        f"\n{mode}: {SCHEDULERS} schedulers, {window_seconds} s window: "
        f"{sum(times[t] for t in window)} runs in the window, duplicates={duplicates}, "
        f"missing={len(missing)}; runs inserted per process: {per_node}"
    )
    assert duplicates == 0
    assert missing == []
    assert all(t.microsecond == 0 for t in times)
    for node in nodes:
        assert "Traceback" not in node.output, node.output
