"""Conformance: the retry budget (max_attempts) is stored on the run at enqueue, as River and Oban
keep it on the job row; the rescue reads it there, and an operator's override of max_retries
reaches the job type's unfinished runs (every store)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.stores.helpers import T0, at
from zapjobs import JobContext, RetryPolicy, ZapJobs
from zapjobs.errors import ZapJobsError
from zapjobs.models import (
    JobDefinition,
    NewRun,
    RunFilter,
    RunOutcome,
    RunStatus,
    Schedule,
    ScheduleKind,
)
from zapjobs.stores import Store

STALE = timedelta(minutes=5)
HOURLY = Schedule(kind=ScheduleKind.INTERVAL, expression="3600")


async def budgets(store: Store, ids: list[int]) -> list[int]:
    by_id = {r.id: r.max_attempts for r in await store.get_runs(ids)}
    return [by_id[i] for i in ids]


# --- set at enqueue -------------------------------------------------------------------------------


async def test_a_run_carries_the_max_attempts_it_was_enqueued_with(store: Store) -> None:
    [run_id] = await store.enqueue([NewRun("a", max_attempts=7)], now=T0)
    run = await store.get_run(run_id)
    assert run is not None
    assert run.max_attempts == 7


async def test_a_new_run_without_a_budget_gets_the_default_policys_four(store: Store) -> None:
    [run_id] = await store.enqueue([NewRun("a")], now=T0)
    assert await budgets(store, [run_id]) == [4]  # 3 retries + the first attempt


async def test_a_batch_keeps_each_runs_own_max_attempts(store: Store) -> None:
    ids = await store.enqueue(
        [NewRun("a", max_attempts=1), NewRun("b", max_attempts=2), NewRun("a", max_attempts=9)],
        now=T0,
    )
    assert await budgets(store, ids) == [1, 2, 9]


async def test_a_large_batch_keeps_each_runs_own_max_attempts(store: Store) -> None:
    """600 runs: PostgreSQL streams a batch this large with COPY."""
    runs = [NewRun("a", max_attempts=1 + i % 5) for i in range(600)]
    ids = await store.enqueue(runs, now=T0)
    assert await budgets(store, ids) == [r.max_attempts for r in runs]


async def test_a_budget_below_one_attempt_is_refused(store: Store) -> None:
    # PostgreSQL's check violation is a StoreError until its translation names it (the
    # data-error work); the other stores say ValidationError.
    with pytest.raises(ZapJobsError):
        await store.enqueue([NewRun("a", max_attempts=0)], now=T0)
    with pytest.raises(ZapJobsError):
        await store.enqueue([NewRun("a"), NewRun("b", max_attempts=0)], now=T0)
    assert await store.count_runs(RunFilter()) == 0  # a batch is all or nothing


async def test_a_recurring_tick_carries_its_max_attempts(store: Store) -> None:
    await store.set_schedule("job", HOURLY, T0)
    tick = NewRun("job", run_at=T0, schedule_due_at=T0, max_attempts=2)
    ids = await store.fire_schedule("job", T0, at(hours=1), [tick])
    assert await budgets(store, ids) == [2]


async def test_claiming_and_retrying_keep_the_budget(store: Store) -> None:
    [run_id] = await store.enqueue([NewRun("a", max_attempts=3)], now=T0)
    [claimed] = await store.claim("w1", ["default"], ["a"], 1, now=T0)
    assert claimed.max_attempts == 3
    retry = RunOutcome(run_id, "w1", 1, RunStatus.PENDING, retry_delay=timedelta(0))
    assert await store.complete([retry], now=T0) == [run_id]
    assert await budgets(store, [run_id]) == [3]


# --- the rescue reads it --------------------------------------------------------------------------


async def test_the_rescue_retries_while_attempt_is_below_the_runs_max_attempts(
    store: Store,
) -> None:
    # The definition says otherwise: the run's own budget decides.
    await store.register_definitions([JobDefinition("a", max_retries=0)])
    [run_id] = await store.enqueue([NewRun("a", max_attempts=2)], now=T0)
    await store.claim("w1", ["default"], ["a"], 1, now=T0)
    first = await store.rescue_stale(stale_after=STALE, now=at(minutes=10))
    assert first.runs_retried == (run_id,)  # attempt 1 of 2
    [again] = await store.claim("w2", ["default"], ["a"], 1, now=at(minutes=10))
    assert (again.attempt, again.max_attempts) == (2, 2)
    second = await store.rescue_stale(stale_after=STALE, now=at(minutes=20))
    assert (second.runs_retried, second.runs_failed) == ((), (run_id,))  # attempt 2 of 2


async def test_the_rescue_fails_a_run_of_one_attempt_whatever_the_definition(
    store: Store,
) -> None:
    await store.register_definitions([JobDefinition("a", max_retries=5)])
    [run_id] = await store.enqueue([NewRun("a", max_attempts=1)], now=T0)
    await store.claim("w1", ["default"], ["a"], 1, now=T0)
    result = await store.rescue_stale(stale_after=STALE, now=at(minutes=10))
    assert (result.runs_retried, result.runs_failed) == ((), (run_id,))


# --- an operator's override reaches the unfinished runs ------------------------------------------


async def test_an_override_updates_the_budget_of_unfinished_runs_only(store: Store) -> None:
    await store.register_definitions([JobDefinition("a", max_retries=3), JobDefinition("b")])
    first, scheduled, running, waiting = await store.enqueue(
        [
            NewRun("a"),
            NewRun("a", run_at=at(hours=1)),
            NewRun("a"),
            NewRun("a"),
        ],
        now=T0,
    )
    [other] = await store.enqueue([NewRun("b")], now=T0)
    claimed = await store.claim("w1", ["default"], ["a"], 2, now=T0)
    assert sorted(r.id for r in claimed) == sorted([first, running])
    finished = RunOutcome(first, "w1", 1, RunStatus.SUCCEEDED, output_json="null")
    assert await store.complete([finished], now=T0) == [first]
    definition = await store.set_overrides("a", max_retries=0, timeout_seconds=None)
    assert definition.max_attempts == 1
    assert await budgets(store, [first, scheduled, running, waiting, other]) == [4, 1, 1, 1, 4]

    cleared = await store.set_overrides("a", max_retries=None, timeout_seconds=None)
    assert cleared.max_attempts == 4  # back to the code's max_retries
    assert await budgets(store, [first, scheduled, running, waiting, other]) == [4, 4, 4, 4, 4]


async def test_the_rescue_follows_an_override_set_while_the_run_was_running(
    store: Store,
) -> None:
    await store.register_definitions([JobDefinition("a", max_retries=5)])
    [run_id] = await store.enqueue([NewRun("a", max_attempts=6)], now=T0)
    await store.claim("w1", ["default"], ["a"], 1, now=T0)
    await store.set_overrides("a", max_retries=0, timeout_seconds=None)
    result = await store.rescue_stale(stale_after=STALE, now=at(minutes=10))
    assert result.runs_failed == (run_id,)


# --- resolved once, at enqueue, by the application ------------------------------------------------


def make_app(store: Store) -> ZapJobs:
    zap = ZapJobs(
        store=store,
        default_retry_policy=RetryPolicy(max_retries=6),
        auto_migrate=True,
    )

    @zap.job("coded", max_retries=2)
    async def coded(ctx: JobContext[None]) -> None: ...

    @zap.job("by-policy", retry=RetryPolicy(max_retries=1))
    async def by_policy(ctx: JobContext[None]) -> None: ...

    @zap.job("by-default")
    async def by_default(ctx: JobContext[None]) -> None: ...

    @zap.job("ticking", max_retries=4, interval=timedelta(hours=1))
    async def ticking(ctx: JobContext[None]) -> None: ...

    return zap


async def test_enqueue_resolves_the_budget_from_the_code_then_the_default_policy(
    store: Store,
) -> None:
    zap = make_app(store)
    ids = [
        await zap.enqueue("coded"),
        await zap.enqueue("by-policy"),
        await zap.enqueue("by-default"),  # settings.default_retry_policy, not a fixed 3
        *await zap.enqueue_many("coded", [None, None]),
        await zap.trigger("ticking"),
    ]
    assert await budgets(store, ids) == [3, 2, 7, 3, 3, 5]


async def test_an_operators_override_wins_at_enqueue(store: Store) -> None:
    zap = make_app(store)
    await zap.open()
    await zap.set_overrides("coded", max_retries=0, timeout=None)
    ids = [await zap.enqueue("coded"), await zap.trigger("coded")]
    assert await budgets(store, ids) == [1, 1]
    await zap.set_overrides("coded", max_retries=None, timeout=None)
    assert await budgets(store, [await zap.enqueue("coded"), *ids]) == [3, 3, 3]


async def test_a_job_type_registered_elsewhere_takes_its_stored_budget(store: Store) -> None:
    await store.register_definitions([JobDefinition("remote", max_retries=8)])
    zap = ZapJobs(store=store, auto_migrate=True)
    ids = [await zap.enqueue("remote"), await zap.trigger("remote")]
    assert await budgets(store, ids) == [9, 9]
