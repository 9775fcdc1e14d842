"""Conformance: same-process notifications and the schema lifecycle (every store)."""

from __future__ import annotations

from tests.stores.helpers import enqueue_one, start_one, wait_until
from zapjobs.models import Notification, RunFilter
from zapjobs.stores import Store

# --- listen --------------------------------------------------------------------------------------


async def test_listen_delivers_new_runs_in_a_queue(store: Store) -> None:
    received: list[Notification] = []
    listener = await store.listen(received.append)
    try:
        await enqueue_one(store, queue="mail")
        await wait_until(lambda: any(n.kind == "runs" and n.queue == "mail" for n in received))
    finally:
        await listener.close()


async def test_listen_delivers_a_cancel_request_for_a_running_run(store: Store) -> None:
    run_id = await start_one(store)
    received: list[Notification] = []
    listener = await store.listen(received.append)
    try:
        assert await store.cancel_runs(RunFilter(ids=(run_id,))) == [run_id]
        await wait_until(lambda: any(n.kind == "cancel" and n.run_id == run_id for n in received))
    finally:
        await listener.close()


async def test_every_listener_hears_the_same_enqueue(store: Store) -> None:
    first: list[Notification] = []
    second: list[Notification] = []
    listeners = [await store.listen(first.append), await store.listen(second.append)]
    try:
        await enqueue_one(store, queue="reports")
        await wait_until(lambda: any(n.queue == "reports" for n in first))
        await wait_until(lambda: any(n.queue == "reports" for n in second))
    finally:
        for listener in listeners:
            await listener.close()


# --- schema --------------------------------------------------------------------------------------


async def test_migrate_again_applies_nothing_and_the_store_is_ready(store: Store) -> None:
    assert await store.migrate() == []
    await store.check_ready()
    status = await store.migration_status()
    assert status.pending == ()
    assert set(status.applied) == {m.version for m in status.available}


async def test_server_version_is_a_readable_text(store: Store) -> None:
    version = await store.server_version()
    assert isinstance(version, str) and version.strip()
