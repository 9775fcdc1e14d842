"""Conformance: enqueue, read back, claim and complete runs (every store)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.stores.helpers import T0, assert_complete_run, at, enqueue_one, finish_one, start_one
from zapjobs.models import (
    JobRun,
    NewRun,
    Progress,
    ProgressUpdate,
    RunError,
    RunOutcome,
    RunStatus,
)
from zapjobs.stores import Store

# --- enqueue and read ----------------------------------------------------------------------------


async def test_enqueue_returns_increasing_ids_in_the_order_given(store: Store) -> None:
    ids = await store.enqueue([NewRun("a"), NewRun("b"), NewRun("c")], now=T0)
    assert len(ids) == 3
    assert ids == sorted(set(ids))
    by_id = {r.id: r for r in await store.get_runs(ids)}
    assert [by_id[i].job_type for i in ids] == ["a", "b", "c"]


async def test_get_run_round_trips_every_field_of_a_new_run(store: Store) -> None:
    due = at(minutes=10)
    new = NewRun(
        "email",
        input_json='{"to": "x@example.com", "n": [1, 2.5, null], "ok": true}',
        queue="mail",
        priority=5,
        run_at=due,
    )
    [run_id] = await store.enqueue([new], now=T0)
    assert await store.get_run(run_id) == JobRun(
        id=run_id,
        job_type="email",
        queue="mail",
        priority=5,
        status=RunStatus.PENDING,
        input={"to": "x@example.com", "n": [1, 2.5, None], "ok": True},
        attempt=0,
        run_at=due,
        created_at=T0,
        started_at=None,
        finished_at=None,
        worker_id=None,
        output=None,
        error=None,
        progress=Progress(),
        cancel_requested=False,
        schedule_due_at=None,
    )


async def test_run_at_none_means_due_at_the_enqueue_time(store: Store) -> None:
    run_id = await enqueue_one(store, now=at(minutes=3))
    run = await store.get_run(run_id)
    assert run is not None
    assert run.run_at == at(minutes=3)
    assert run.created_at == at(minutes=3)


async def test_get_run_of_a_missing_id_is_none(store: Store) -> None:
    assert await store.get_run(12345) is None


async def test_get_runs_returns_only_the_existing_runs(store: Store) -> None:
    ids = await store.enqueue([NewRun("a"), NewRun("b")], now=T0)
    found = await store.get_runs([*ids, 99999])
    assert sorted(r.id for r in found) == sorted(ids)


async def test_a_run_due_later_is_claimable_only_once_its_time_comes(store: Store) -> None:
    run_id = await enqueue_one(store, run_at=at(minutes=10))
    assert await store.claim("w1", ["default"], ["a"], 10, now=at(minutes=9, seconds=59)) == []
    claimed = await store.claim("w1", ["default"], ["a"], 10, now=at(minutes=10))
    assert [r.id for r in claimed] == [run_id]


# --- claim ---------------------------------------------------------------------------------------


async def test_claim_takes_earlier_queues_first_even_if_later_queues_hold_older_runs(
    store: Store,
) -> None:
    old_default = await enqueue_one(store, queue="default", now=T0)
    critical = await enqueue_one(store, queue="critical", now=at(minutes=5))
    first = await store.claim("w1", ["critical", "default"], ["a"], 1, now=at(minutes=6))
    second = await store.claim("w1", ["critical", "default"], ["a"], 1, now=at(minutes=6))
    assert [r.id for r in first] == [critical]
    assert [r.id for r in second] == [old_default]


async def test_claim_orders_by_priority_desc_then_run_at_then_id(store: Store) -> None:
    low_a = await enqueue_one(store, priority=0, run_at=at(minutes=-1))
    high_late = await enqueue_one(store, priority=5, run_at=T0)
    high_early = await enqueue_one(store, priority=5, run_at=at(minutes=-2))
    low_b = await enqueue_one(store, priority=0, run_at=at(minutes=-1))
    order = []
    for _ in range(4):
        [run] = await store.claim("w1", ["default"], ["a"], 1, now=at(minutes=1))
        order.append(run.id)
    assert order == [high_early, high_late, low_a, low_b]


async def test_claim_returns_at_most_limit_runs(store: Store) -> None:
    await store.enqueue([NewRun("a") for _ in range(5)], now=T0)
    sizes = [len(await store.claim("w1", ["default"], ["a"], 2, now=T0)) for _ in range(4)]
    assert sizes == [2, 2, 1, 0]


async def test_claim_takes_only_the_given_job_types_and_queues(store: Store) -> None:
    wanted = await enqueue_one(store, "b")
    await enqueue_one(store, "a")
    await enqueue_one(store, "b", queue="other")
    claimed = await store.claim("w1", ["default"], ["b"], 10, now=T0)
    assert [r.id for r in claimed] == [wanted]


async def test_claim_marks_the_run_running_under_the_worker(store: Store) -> None:
    run_id = await enqueue_one(store)
    [claimed] = await store.claim("w7", ["default"], ["a"], 1, now=at(seconds=30))
    stored = await store.get_run(run_id)
    for run in (claimed, stored):
        assert run is not None
        assert run.status is RunStatus.RUNNING
        assert run.attempt == 1
        assert run.started_at == at(seconds=30)
        assert run.worker_id == "w7"


async def test_a_claimed_run_is_not_claimed_again(store: Store) -> None:
    await start_one(store, worker_id="w1")
    assert await store.claim("w2", ["default"], ["a"], 10, now=at(minutes=1)) == []


async def test_concurrent_claimers_never_share_a_run_and_together_take_all(store: Store) -> None:
    ids = await store.enqueue([NewRun("a") for _ in range(200)], now=T0)

    async def claimer(worker_id: str) -> list[int]:
        taken: list[int] = []
        while batch := await store.claim(worker_id, ["default"], ["a"], 7, now=T0):
            taken.extend(r.id for r in batch)
        return taken

    results = await asyncio.gather(*(claimer(f"w{i}") for i in range(10)))
    every = [run_id for taken in results for run_id in taken]
    assert len(every) == len(set(every))
    assert sorted(every) == sorted(ids)


# --- complete ------------------------------------------------------------------------------------


async def test_complete_succeeded_stores_the_output_and_finish_time(store: Store) -> None:
    run_id = await start_one(store)
    outcome = RunOutcome(run_id, "w1", 1, RunStatus.SUCCEEDED, output_json='{"sent": 3}')
    assert await store.complete([outcome], now=at(minutes=1)) == [run_id]
    run = await store.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.SUCCEEDED
    assert run.output == {"sent": 3}
    assert run.finished_at == at(minutes=1)


async def test_complete_failed_stores_the_error(store: Store) -> None:
    run_id = await start_one(store)
    error = RunError("ValueError", "bad input: 'x'", 'Traceback (most recent call last):\n  "x"\n')
    outcome = RunOutcome(run_id, "w1", 1, RunStatus.FAILED, error=error)
    assert await store.complete([outcome], now=at(minutes=1)) == [run_id]
    run = await store.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.FAILED
    assert run.error == error
    assert run.finished_at == at(minutes=1)


async def test_complete_retry_puts_the_run_back_due_after_the_delay(store: Store) -> None:
    run_id = await start_one(store)
    error = RunError("TimeoutError", "slow", None)
    outcome = RunOutcome(
        run_id, "w1", 1, RunStatus.PENDING, error=error, retry_delay=timedelta(seconds=30)
    )
    assert await store.complete([outcome], now=at(minutes=1)) == [run_id]
    run = await store.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.PENDING
    assert run.run_at == at(minutes=1, seconds=30)
    assert run.worker_id is None
    assert run.error == error
    assert run.finished_at is None
    assert await store.claim("w2", ["default"], ["a"], 1, now=at(minutes=1, seconds=29)) == []
    [again] = await store.claim("w2", ["default"], ["a"], 1, now=at(minutes=1, seconds=30))
    assert again.id == run_id
    assert again.attempt == 2
    assert again.worker_id == "w2"


async def test_complete_cancelled_ends_the_run(store: Store) -> None:
    run_id = await start_one(store)
    outcome = RunOutcome(run_id, "w1", 1, RunStatus.CANCELLED)
    assert await store.complete([outcome], now=at(minutes=2)) == [run_id]
    run = await store.get_run(run_id)
    assert run is not None
    assert run.status is RunStatus.CANCELLED
    assert run.finished_at == at(minutes=2)


async def test_an_outcome_from_another_worker_is_not_applied(store: Store) -> None:
    run_id = await start_one(store, worker_id="w1")
    before = await store.get_run(run_id)
    outcome = RunOutcome(run_id, "intruder", 1, RunStatus.SUCCEEDED, output_json="1")
    assert await store.complete([outcome], now=at(minutes=1)) == []
    assert await store.get_run(run_id) == before


@pytest.mark.parametrize(
    ("status", "error", "output"),
    [(RunStatus.FAILED, RunError("E", "m"), None), (RunStatus.SUCCEEDED, None, "1")],
    ids=["failure", "success"],  # a batch of successes may take a shorter path in a store
)
async def test_an_outcome_for_another_attempt_is_not_applied(
    store: Store, status: RunStatus, error: RunError | None, output: str | None
) -> None:
    run_id = await start_one(store, worker_id="w1")
    before = await store.get_run(run_id)
    outcome = RunOutcome(run_id, "w1", 2, status, output_json=output, error=error)
    assert await store.complete([outcome], now=at(minutes=1)) == []
    assert await store.get_run(run_id) == before


async def test_a_success_after_a_failed_attempt_keeps_that_error(store: Store) -> None:
    """A batch of successes only (a store may take a shorter path for it) ends the same way."""
    run_id = await start_one(store)
    error = RunError("TimeoutError", "slow", None)
    retry = RunOutcome(run_id, "w1", 1, RunStatus.PENDING, error=error, retry_delay=timedelta(0))
    assert await store.complete([retry], now=at(minutes=1)) == [run_id]
    assert len(await store.claim("w1", ["default"], ["a"], 1, now=at(minutes=1))) == 1
    done = RunOutcome(run_id, "w1", 2, RunStatus.SUCCEEDED, output_json='"ok"')
    assert await store.complete([done], now=at(minutes=2)) == [run_id]
    run = await store.get_run(run_id)
    assert run is not None
    assert (run.status, run.output, run.attempt) == (RunStatus.SUCCEEDED, "ok", 2)
    assert run.error == error
    assert run.finished_at == at(minutes=2)


async def test_an_outcome_for_a_run_no_longer_running_is_not_applied(store: Store) -> None:
    run_id = await start_one(store)
    done = RunOutcome(run_id, "w1", 1, RunStatus.SUCCEEDED, output_json='"first"')
    assert await store.complete([done], now=at(minutes=1)) == [run_id]
    before = await store.get_run(run_id)
    late = RunOutcome(run_id, "w1", 1, RunStatus.FAILED, error=RunError("E", "late"))
    assert await store.complete([late], now=at(minutes=2)) == []
    assert await store.get_run(run_id) == before


async def test_complete_applies_a_batch_and_reports_only_the_applied(store: Store) -> None:
    good = await start_one(store, "a")
    other = await start_one(store, "b", worker_id="w2")
    missing = 99999
    outcomes = [
        RunOutcome(good, "w1", 1, RunStatus.SUCCEEDED, output_json="1"),
        RunOutcome(other, "w1", 1, RunStatus.SUCCEEDED, output_json="2"),
        RunOutcome(missing, "w1", 1, RunStatus.SUCCEEDED, output_json="3"),
    ]
    assert await store.complete(outcomes, now=at(minutes=1)) == [good]
    still = await store.get_run(other)
    assert still is not None and still.status is RunStatus.RUNNING


# --- the row readers -----------------------------------------------------------------------------


async def test_runs_read_or_claimed_are_complete_job_runs(store: Store) -> None:
    plain = await enqueue_one(store, "p", input_json='{"n": [1, 2.5, null]}')
    failed = await finish_one(store, RunStatus.FAILED)
    running = await start_one(store)
    await store.save_progress(
        [ProgressUpdate(running, Progress(total=10, processed=3, succeeded=2, failed=1))]
    )
    [child] = await store.enqueue([NewRun("child", parents=(failed,))], now=T0)
    claimed = await store.claim("w1", ["default"], ["p"], 5, now=T0)
    read = await store.get_runs([plain, failed, running, child])
    assert len(read) == 4 and [r.id for r in claimed] == [plain]
    for run in [*read, *claimed]:
        assert_complete_run(run)
    by_id = {r.id: r for r in read}
    assert by_id[running].progress == Progress(total=10, processed=3, succeeded=2, failed=1)
    assert by_id[failed].error == RunError("ValueError", "boom")
    assert by_id[child].status is RunStatus.CANCELLED


async def test_inputs_beyond_ascii_and_large_numbers_read_back_unchanged(store: Store) -> None:
    text = '{"s": "é ☃ 😀 \\ud83d\\ude00", "big": 123456789012345678901234567890, "f": 1e-7}'
    run_id = await enqueue_one(store, input_json=text)
    [claimed] = await store.claim("w1", ["default"], ["a"], 1, now=T0)
    expected = {"s": "é ☃ 😀 😀", "big": 123456789012345678901234567890, "f": 1e-7}
    assert claimed.input == expected
    run = await store.get_run(run_id)
    assert run is not None and run.input == expected


async def test_a_claimed_run_is_the_run_read_back(store: Store) -> None:
    """The claim's rows decode to the same values as a read (PostgreSQL sends them in binary,
    the reads in text)."""
    new = NewRun(
        "p",
        input_json='{"s": "é ☃ 😀", "n": [1, 2.5, null, true], "big": 12345678901234567890}',
        queue="mail",
        priority=-3,
        run_at=at(seconds=-30),
        schedule_due_at=at(seconds=-30),
        max_attempts=7,
        trace_context='{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}',
        unique_key="k-1",
        unique_states=3,
    )
    [run_id] = await store.enqueue([new], now=T0)
    [claimed] = await store.claim("w1", ["mail"], ["p"], 1, now=T0)
    assert claimed == await store.get_run(run_id)
    assert (claimed.status, claimed.attempt, claimed.worker_id) == (RunStatus.RUNNING, 1, "w1")
    assert claimed.run_at == at(seconds=-30) and claimed.started_at == T0
    assert claimed.input["big"] == 12345678901234567890
