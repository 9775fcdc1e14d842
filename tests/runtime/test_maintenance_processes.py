"""A worker killed with SIGKILL mid-run: its run is rescued, exactly once, by the Maintenance
loops of two other processes (heartbeat 0.5 s, stale threshold 2 s), on PostgreSQL."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from tests.apps.sched_node import Node
from zapjobs.models import NewRun, RunStatus
from zapjobs.stores import create_store

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
DEADLINE = 30.0


async def test_a_killed_workers_run_is_rescued_once_by_another_process(pg_url: str) -> None:
    store = create_store(pg_url)
    await store.open()
    nodes: list[Node] = []
    try:
        await store.migrate()
        victim = Node(pg_url, "work", "--heartbeat", "0.5s", "--stale", "2s")
        nodes.append(victim)
        victim_id = await asyncio.to_thread(victim.wait_ready)
        rescuers = [Node(pg_url, "maintain", "--heartbeat", "0.5s", "--stale", "2s")]
        rescuers.append(Node(pg_url, "maintain", "--heartbeat", "0.5s", "--stale", "2s"))
        nodes.extend(rescuers)
        for rescuer in rescuers:
            await asyncio.to_thread(rescuer.wait_ready)
        [run_id] = await store.enqueue([NewRun("hang")])

        deadline = time.monotonic() + DEADLINE
        while (run := await store.get_run(run_id)) is None or run.status is not RunStatus.RUNNING:
            assert time.monotonic() < deadline, f"the worker never started the run: {run}"
            await asyncio.sleep(0.05)
        assert run.worker_id == victim_id and run.attempt == 1

        victim.stop(signal.SIGKILL)
        killed_at = time.monotonic()
        deadline = killed_at + DEADLINE
        while (run := await store.get_run(run_id)) is None or run.status is RunStatus.RUNNING:
            assert time.monotonic() < deadline, "the killed worker's run was never rescued"
            await asyncio.sleep(0.05)
        rescued_after = time.monotonic() - killed_at

        assert run.status is RunStatus.PENDING  # attempts remain: retried, due now
        assert run.worker_id is None and run.attempt == 1
        assert run.error is not None and run.error.type == "WorkerLost"
        dead = await store.get_worker(victim_id)
        assert dead is not None and dead.dead_at is not None
        for rescuer in rescuers:
            await asyncio.to_thread(rescuer.stop)
    finally:
        for node in nodes:
            node.stop(signal.SIGKILL)
        await store.close()

    rescues = [ids for rescuer in rescuers for ids in rescuer.lines("rescued")]
    print(f"\nrescued after {rescued_after:.1f} s by {len(rescues)} of 2 maintenance processes")
    assert rescues == [[str(run_id)]]
    for rescuer in rescuers:
        assert "Traceback" not in rescuer.output, rescuer.output
