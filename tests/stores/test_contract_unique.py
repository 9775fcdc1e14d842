"""Conformance: unique keys. A run with a unique key is inserted only when no run of its job type
holding that key is in one of the run's unique states; otherwise the enqueue returns that run's
id and says it created nothing (every store, every insert path)."""

from __future__ import annotations

import pytest

from tests.stores.helpers import T0, at
from zapjobs.models import (
    DEFAULT_UNIQUE_STATES,
    EnqueueResult,
    JobDefinition,
    NewRun,
    RunFilter,
    RunOutcome,
    RunStatus,
    Schedule,
    ScheduleKind,
    UniqueSettings,
    unique_states_mask,
)
from zapjobs.stores import Store

ALL_STATES = unique_states_mask(RunStatus)


def keyed(key: str | None, job_type: str = "a", **kwargs: object) -> NewRun:
    return NewRun(job_type, unique_key=key, **kwargs)  # type: ignore[arg-type]


async def finish(store: Store, run_id: int, status: RunStatus) -> None:
    claimed = await store.claim("w1", ["default"], ["a"], 1, now=T0)
    assert [r.id for r in claimed] == [run_id]
    outcome = RunOutcome(run_id, "w1", 1, status, output_json="null")
    assert await store.complete([outcome], now=T0) == [run_id]


async def test_a_second_enqueue_of_a_held_key_returns_the_first_run(store: Store) -> None:
    [first] = await store.enqueue_results([keyed("invoice-42")], now=T0)
    [second] = await store.enqueue_results([keyed("invoice-42")], now=T0)
    assert first.created is True
    assert second == EnqueueResult(first.run_id, created=False)
    assert await store.count_runs(RunFilter(job_types=("a",))) == 1
    run = await store.get_run(first.run_id)
    assert run is not None
    assert run.unique_key == "invoice-42"
    assert run.unique_states == DEFAULT_UNIQUE_STATES


async def test_enqueue_returns_the_existing_id_for_a_held_key(store: Store) -> None:
    [first] = await store.enqueue([keyed("k")], now=T0)
    assert await store.enqueue([keyed("k")], now=T0) == [first]


async def test_the_key_is_per_job_type(store: Store) -> None:
    a, b = await store.enqueue_results([keyed("k"), keyed("k", "b")], now=T0)
    assert a.created and b.created
    assert a.run_id != b.run_id


async def test_runs_without_a_key_are_never_deduplicated(store: Store) -> None:
    results = await store.enqueue_results([NewRun("a"), NewRun("a")], now=T0)
    assert [r.created for r in results] == [True, True]
    assert results[0].run_id != results[1].run_id
    run = await store.get_run(results[0].run_id)
    assert run is not None
    assert (run.unique_key, run.unique_states) == (None, frozenset())


async def test_a_scheduled_run_holds_its_key(store: Store) -> None:
    [first] = await store.enqueue([keyed("k", run_at=at(hours=1))], now=T0)
    [second] = await store.enqueue_results([keyed("k")], now=T0)
    assert second == EnqueueResult(first, created=False)


async def test_a_running_run_holds_its_key(store: Store) -> None:
    [first] = await store.enqueue([keyed("k")], now=T0)
    assert [r.id for r in await store.claim("w1", ["default"], ["a"], 1, now=T0)] == [first]
    [second] = await store.enqueue_results([keyed("k")], now=T0)
    assert second == EnqueueResult(first, created=False)


@pytest.mark.parametrize(
    "status", [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED], ids=str
)
async def test_a_finished_run_frees_its_key(store: Store, status: RunStatus) -> None:
    [first] = await store.enqueue([keyed("k")], now=T0)
    await finish(store, first, status)
    [second] = await store.enqueue_results([keyed("k")], now=T0)
    assert second.created is True
    assert second.run_id != first


async def test_a_finished_run_keeps_its_key_when_its_states_say_so(store: Store) -> None:
    """unique_for: no second run within the period, finished or not."""
    [first] = await store.enqueue([keyed("k", unique_states=ALL_STATES)], now=T0)
    await finish(store, first, RunStatus.SUCCEEDED)
    [second] = await store.enqueue_results([keyed("k", unique_states=ALL_STATES)], now=T0)
    assert second == EnqueueResult(first, created=False)
    run = await store.get_run(first)
    assert run is not None
    assert run.unique_states == frozenset(RunStatus)


async def test_a_batch_with_keys_repeated_inside_it(store: Store) -> None:
    [held] = await store.enqueue([keyed("held")], now=T0)
    results = await store.enqueue_results(
        [keyed("x"), keyed("x"), NewRun("a"), keyed("held"), keyed("y")], now=T0
    )
    assert [r.created for r in results] == [True, False, True, False, True]
    assert results[1].run_id == results[0].run_id
    assert results[3].run_id == held
    assert len({r.run_id for r in results}) == 4
    assert await store.count_runs(RunFilter(job_types=("a",))) == 4


async def test_a_big_batch_with_keys(store: Store) -> None:
    """600 runs (PostgreSQL streams key-less batches this big with COPY)."""
    [held] = await store.enqueue([keyed("k0")], now=T0)
    news = [keyed(f"k{i % 300}") for i in range(600)]
    results = await store.enqueue_results(news, now=T0)
    assert [r.created for r in results] == [0 < i < 300 for i in range(600)]
    assert [r.run_id for r in results[300:]] == [r.run_id for r in results[:300]]
    assert results[0].run_id == held
    assert await store.count_runs(RunFilter(job_types=("a",))) == 300


async def test_a_big_batch_without_keys_reports_every_run_created(store: Store) -> None:
    results = await store.enqueue_results([NewRun("a") for _ in range(600)], now=T0)
    assert all(r.created for r in results)
    assert len({r.run_id for r in results}) == 600


async def test_a_schedule_tick_whose_key_is_held_is_skipped(store: Store) -> None:
    """A recurring run with a unique key: its due time is still enqueued once, and a tick whose
    key a pending run holds inserts nothing (no error, the schedule still advances)."""
    hourly = Schedule(ScheduleKind.CRON, "0 * * * *")
    await store.set_schedule("a", hourly, T0)
    tick = NewRun("a", run_at=T0, schedule_due_at=T0, unique_key="k")
    [first] = await store.fire_schedule("a", T0, at(hours=1), [tick])
    again = NewRun("a", run_at=T0, schedule_due_at=T0, unique_key="other")
    assert await store.fire_schedule("a", at(hours=1), at(hours=2), [again]) == []
    held = NewRun("a", run_at=at(hours=2), schedule_due_at=at(hours=2), unique_key="k")
    assert await store.fire_schedule("a", at(hours=2), at(hours=3), [held]) == []
    definition = await store.get_definition("a")
    assert definition is not None
    assert (definition.next_due_at, definition.last_run_id) == (at(hours=3), first)
    assert await store.count_runs(RunFilter(job_types=("a",))) == 1


async def test_a_retry_leaves_a_run_whose_key_another_run_holds(store: Store) -> None:
    """Retrying a failed run would make it a second holder of its key: it stays failed, until
    the holder finishes."""
    [first] = await store.enqueue([keyed("k")], now=T0)
    await finish(store, first, RunStatus.FAILED)
    [holder] = await store.enqueue([keyed("k")], now=T0)
    assert await store.retry_runs(RunFilter(ids=(first,)), now=T0) == []
    run = await store.get_run(first)
    assert run is not None
    assert run.status is RunStatus.FAILED
    await finish(store, holder, RunStatus.SUCCEEDED)
    assert await store.retry_runs(RunFilter(ids=(first,)), now=T0) == [first]


async def _two_failed_holders_of(store: Store, key: str) -> tuple[int, int]:
    [older] = await store.enqueue([keyed(key)], now=T0)
    await finish(store, older, RunStatus.FAILED)
    [newer] = await store.enqueue([keyed(key)], now=T0)
    await finish(store, newer, RunStatus.FAILED)
    return older, newer


async def test_one_retry_of_two_runs_with_one_key_retries_only_the_newest(store: Store) -> None:
    """Both would hold the key once pending: the newest is retried, the older left failed
    (the unique index would otherwise refuse the whole retry)."""
    older, newer = await _two_failed_holders_of(store, "k")
    [other] = await store.enqueue([keyed("other")], now=T0)
    await finish(store, other, RunStatus.FAILED)
    assert await store.retry_runs(RunFilter(ids=(older, newer, other)), now=T0) == sorted(
        [newer, other]
    )
    by_id = {r.id: r.status for r in await store.get_runs([older, newer, other])}
    assert by_id == {older: RunStatus.FAILED, newer: RunStatus.PENDING, other: RunStatus.PENDING}


async def test_a_bulk_retry_by_status_retries_the_newest_of_each_key(store: Store) -> None:
    _older, newer = await _two_failed_holders_of(store, "k")
    assert await store.retry_runs(RunFilter(statuses=(RunStatus.FAILED,)), now=T0) == [newer]
    assert await store.count_runs(RunFilter(statuses=(RunStatus.FAILED,))) == 1


async def test_the_older_run_alone_is_retried_when_the_newer_is_not_selected(
    store: Store,
) -> None:
    older, _newer = await _two_failed_holders_of(store, "k")
    assert await store.retry_runs(RunFilter(ids=(older,)), now=T0) == [older]


# --- the declared settings, stored with the definition ----------------------------------------


async def test_a_definition_keeps_the_unique_settings_its_code_declared(store: Store) -> None:
    every = frozenset(RunStatus)
    await store.register_definitions(
        [
            JobDefinition("by-input", unique=UniqueSettings(by_input=True)),
            JobDefinition("periodic", unique=UniqueSettings(False, 600.0, every)),
            JobDefinition("plain"),
        ]
    )
    found = {d.job_type: d.unique for d in await store.list_definitions()}
    assert found == {
        "by-input": UniqueSettings(True, None, frozenset({RunStatus.PENDING, RunStatus.RUNNING})),
        "periodic": UniqueSettings(False, 600.0, every),
        "plain": None,
    }


async def test_registering_again_replaces_the_unique_settings(store: Store) -> None:
    await store.register_definitions([JobDefinition("a", unique=UniqueSettings(by_input=True))])
    await store.register_definitions([JobDefinition("a")])  # the code dropped them
    definition = await store.get_definition("a")
    assert definition is not None and definition.unique is None
