"""What only the memory store promises (the shared behaviour is in test_contract_*.py)."""

from __future__ import annotations

import pytest

from tests.stores.helpers import T0, wait_until
from zapjobs.errors import ConfigurationError, InvalidStateError
from zapjobs.models import NewRun, Notification, RunFilter
from zapjobs.stores import Store, create_store
from zapjobs.stores.memory import MemoryStore


async def test_create_store_makes_a_memory_store_for_memory_urls() -> None:
    store = create_store("memory://")
    assert isinstance(store, MemoryStore)
    assert isinstance(store, Store)
    assert (store.backend, store.cross_process_notify) == ("memory", False)
    assert await store.server_version() == "memory"


def test_an_invalid_prefix_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="table prefix"):
        MemoryStore(prefix="drop table;")


async def test_migrate_has_nothing_to_apply() -> None:
    store = MemoryStore()
    assert await store.migrate() == []
    status = await store.migration_status()
    assert (status.applied, status.pending, status.available) == ((), (), ())
    await store.check_ready()


async def test_enqueue_inside_a_caller_transaction_is_refused() -> None:
    store = MemoryStore()
    with pytest.raises(ConfigurationError, match="no transactions"):
        await store.enqueue([NewRun("a")], now=T0, connection=object())
    assert await store.count_runs(RunFilter()) == 0


async def test_ids_start_at_one_and_increase() -> None:
    store = MemoryStore()
    assert await store.enqueue([NewRun("a"), NewRun("b")], now=T0) == [1, 2]
    assert await store.enqueue([NewRun("c")], now=T0) == [3]


async def test_changing_a_returned_input_does_not_change_the_store() -> None:
    store = MemoryStore()
    [run_id] = await store.enqueue([NewRun("a", input_json='{"items": [1]}')], now=T0)
    first = await store.get_run(run_id)
    assert first is not None
    first.input["items"].append(2)
    again = await store.get_run(run_id)
    assert again is not None and again.input == {"items": [1]}


async def test_a_duplicate_schedule_due_time_is_refused_on_enqueue() -> None:
    store = MemoryStore()
    await store.enqueue([NewRun("a", schedule_due_at=T0)], now=T0)
    with pytest.raises(InvalidStateError):
        await store.enqueue([NewRun("a", schedule_due_at=T0)], now=T0)


async def test_handlers_run_after_the_store_call_returns() -> None:
    store = MemoryStore()
    received: list[Notification] = []
    listener = await store.listen(received.append)
    try:
        await store.enqueue([NewRun("a")], now=T0)
        assert received == []  # scheduled with call_soon, not called inside the store
        await wait_until(lambda: received == [Notification(kind="runs", queue="default")])
    finally:
        await listener.close()


async def test_a_closed_listener_is_not_called() -> None:
    store = MemoryStore()
    closed: list[Notification] = []
    open_: list[Notification] = []
    listener = await store.listen(closed.append)
    witness = await store.listen(open_.append)
    await listener.close()
    try:
        await store.enqueue([NewRun("a")], now=T0)
        await wait_until(lambda: len(open_) == 1)
        assert closed == []
    finally:
        await witness.close()
