"""Conformance: workflows, runs that wait for other runs (every store).

A run enqueued ``after`` parents is WAITING until the last parent finishes, then becomes pending
exactly once; a parent that fails for good or is cancelled cancels it (policy CANCEL, the
default, transitively) or lets it run once every parent is final (policy RUN).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.stores.helpers import T0, at, due_in, enqueue_one, finish_one, start_one, wait_until
from zapjobs.errors import ValidationError
from zapjobs.models import (
    MAX_PARENTS,
    InputFrom,
    NewRun,
    Notification,
    Page,
    ParentFailure,
    RunError,
    RunFilter,
    RunLink,
    RunLinkPage,
    RunOutcome,
    RunStatus,
    WorkerInfo,
)
from zapjobs.stores import Store

RUN = ParentFailure.RUN


async def child_of(
    store: Store,
    *parents: int,
    job_type: str = "child",
    policy: ParentFailure = ParentFailure.CANCEL,
) -> int:
    new = NewRun(job_type, parents=tuple(parents), on_parent_failure=policy)
    [run_id] = await store.enqueue([new], now=T0)
    return run_id


async def status_of(store: Store, run_id: int) -> RunStatus:
    run = await store.get_run(run_id)
    assert run is not None
    return run.status


async def statuses(store: Store, *run_ids: int) -> list[RunStatus]:
    return [await status_of(store, i) for i in run_ids]


async def finish(
    store: Store, run_id: int, status: RunStatus, *, job_type: str = "a", minute: int = 1
) -> None:
    """Claim the (first due) run ``run_id`` of ``job_type`` at ``minute`` and end it with
    ``status`` a minute later."""
    claimed = await store.claim("w1", ["default"], [job_type], 1, now=at(minutes=minute))
    assert [r.id for r in claimed] == [run_id]
    error = RunError("ValueError", "boom") if status is RunStatus.FAILED else None
    outcome = RunOutcome(run_id, "w1", claimed[0].attempt, status, output_json="1", error=error)
    assert await store.complete([outcome], now=at(minutes=minute + 1)) == [run_id]


# --- waiting and release ---------------------------------------------------------------------


async def test_a_run_after_unfinished_parents_waits_and_is_not_claimed(store: Store) -> None:
    p1, p2 = await enqueue_one(store), await enqueue_one(store)
    child = await child_of(store, p1, p2)
    run = await store.get_run(child)
    assert run is not None
    assert run.status is RunStatus.WAITING
    assert run.parents_left == 2
    assert run.on_parent_failure is ParentFailure.CANCEL
    assert await store.claim("w1", ["default"], ["child"], 10, now=at(hours=1)) == []
    assert await due_in(store, ["default"], ["child"], now=at(hours=1)) is None


async def test_the_last_parent_to_succeed_releases_the_run_once(store: Store) -> None:
    p1, p2 = await enqueue_one(store), await enqueue_one(store)
    child = await child_of(store, p1, p2)
    await finish(store, p1, RunStatus.SUCCEEDED)
    assert await status_of(store, child) is RunStatus.WAITING
    await finish(store, p2, RunStatus.SUCCEEDED)
    run = await store.get_run(child)
    assert run is not None
    assert (run.status, run.parents_left) == (RunStatus.PENDING, 0)
    claimed = await store.claim("w1", ["default"], ["child"], 10, now=at(minutes=3))
    assert [r.id for r in claimed] == [child]


async def test_one_batch_of_outcomes_finishing_every_parent_releases_once(store: Store) -> None:
    parents = [await enqueue_one(store) for _ in range(3)]
    child = await child_of(store, *parents)
    claimed = await store.claim("w1", ["default"], ["a"], 10, now=at(minutes=1))
    outcomes = [RunOutcome(r.id, "w1", 1, RunStatus.SUCCEEDED, output_json="1") for r in claimed]
    assert sorted(await store.complete(outcomes, now=at(minutes=2))) == parents
    run = await store.get_run(child)
    assert run is not None
    assert (run.status, run.parents_left) == (RunStatus.PENDING, 0)


async def test_a_retried_attempt_of_a_parent_does_not_release(store: Store) -> None:
    parent = await enqueue_one(store)
    child = await child_of(store, parent)
    claimed = await store.claim("w1", ["default"], ["a"], 1, now=at(minutes=1))
    retry = RunOutcome(parent, "w1", 1, RunStatus.PENDING, error=RunError("E", "again"))
    await store.complete([retry], now=at(minutes=2))
    assert claimed
    assert await statuses(store, parent, child) == [RunStatus.PENDING, RunStatus.WAITING]


async def test_parents_that_already_succeeded_give_a_pending_run(store: Store) -> None:
    done = await finish_one(store, RunStatus.SUCCEEDED)
    child = await child_of(store, done)
    run = await store.get_run(child)
    assert run is not None
    assert (run.status, run.parents_left) == (RunStatus.PENDING, 0)


async def test_a_released_run_keeps_a_later_due_time(store: Store) -> None:
    parent = await enqueue_one(store)
    [child] = await store.enqueue([NewRun("child", run_at=at(hours=5), parents=(parent,))], now=T0)
    await finish(store, parent, RunStatus.SUCCEEDED)
    run = await store.get_run(child)
    assert run is not None
    assert (run.status, run.run_at) == (RunStatus.PENDING, at(hours=5))


async def test_a_released_run_is_due_from_its_release(store: Store) -> None:
    parent = await enqueue_one(store)
    child = await child_of(store, parent)
    await finish(store, parent, RunStatus.SUCCEEDED)
    run = await store.get_run(child)
    assert run is not None
    assert run.run_at == at(minutes=2)


async def test_a_release_wakes_the_listeners_of_the_childs_queue(store: Store) -> None:
    parent = await enqueue_one(store)
    [child] = await store.enqueue([NewRun("child", queue="after", parents=(parent,))], now=T0)
    heard: list[Notification] = []
    listener = await store.listen(heard.append)
    try:
        await finish(store, parent, RunStatus.SUCCEEDED)
        await wait_until(lambda: any(n.kind == "runs" and n.queue == "after" for n in heard))
    finally:
        await listener.close()
    assert await status_of(store, child) is RunStatus.PENDING


# --- failure policies ------------------------------------------------------------------------


async def test_a_failed_parent_cancels_its_dependents_transitively(store: Store) -> None:
    parent = await enqueue_one(store)
    child = await child_of(store, parent)
    grandchild = await child_of(store, child, job_type="grandchild")
    await finish(store, parent, RunStatus.FAILED)
    assert await statuses(store, child, grandchild) == [RunStatus.CANCELLED] * 2
    first, second = await store.get_runs([child]), await store.get_runs([grandchild])
    assert (first[0].cancelled_by, second[0].cancelled_by) == (parent, child)
    assert first[0].finished_at == at(minutes=2)
    stats = await store.stats(now=at(minutes=3))
    assert (stats.waiting, stats.cancelled, stats.failed) == (0, 2, 1)


async def test_policy_run_releases_the_dependent_once_every_parent_is_final(store: Store) -> None:
    p1, p2 = await enqueue_one(store), await enqueue_one(store)
    child = await child_of(store, p1, p2, policy=RUN)
    await finish(store, p1, RunStatus.FAILED)
    assert await status_of(store, child) is RunStatus.WAITING
    await finish(store, p2, RunStatus.SUCCEEDED)
    assert await status_of(store, child) is RunStatus.PENDING


async def test_a_cancelled_chain_releases_a_run_policy_dependent_below_it(store: Store) -> None:
    parent = await enqueue_one(store)
    middle = await child_of(store, parent)
    cleanup = await child_of(store, middle, job_type="cleanup", policy=RUN)
    await finish(store, parent, RunStatus.FAILED)
    assert await statuses(store, middle, cleanup) == [RunStatus.CANCELLED, RunStatus.PENDING]


async def test_a_failed_parent_at_enqueue_applies_the_policy_at_once(store: Store) -> None:
    failed = await finish_one(store, RunStatus.FAILED)
    cancelled_child = await child_of(store, failed)
    running_child = await child_of(store, failed, policy=RUN)
    run = await store.get_run(cancelled_child)
    assert run is not None
    assert (run.status, run.cancelled_by, run.finished_at) == (RunStatus.CANCELLED, failed, T0)
    assert await status_of(store, running_child) is RunStatus.PENDING


async def test_a_rescued_parent_that_failed_for_good_cancels_its_dependents(store: Store) -> None:
    parent = await start_one(store, max_attempts=1)
    child = await child_of(store, parent)
    await store.heartbeat(
        WorkerInfo("w1", "h", 1, ("default",), started_at=T0, last_seen_at=T0), now=T0
    )
    result = await store.rescue_stale(stale_after=timedelta(seconds=30), now=at(minutes=5))
    assert result.runs_failed == (parent,)
    assert await status_of(store, child) is RunStatus.CANCELLED


async def test_a_rescued_parent_with_attempts_left_keeps_its_dependents_waiting(
    store: Store,
) -> None:
    parent = await start_one(store)
    child = await child_of(store, parent)
    await store.rescue_stale(stale_after=timedelta(seconds=30), now=at(minutes=5))
    assert await statuses(store, parent, child) == [RunStatus.PENDING, RunStatus.WAITING]


# --- cancel ------------------------------------------------------------------------------------


async def test_cancelling_a_parent_cancels_the_waiting_dependents(store: Store) -> None:
    parent = await enqueue_one(store)
    child = await child_of(store, parent)
    grandchild = await child_of(store, child, job_type="grandchild")
    cancelled = await store.cancel_runs(RunFilter(ids=(parent,)), now=at(minutes=1))
    assert cancelled == [parent]
    assert await statuses(store, child, grandchild) == [RunStatus.CANCELLED] * 2


async def test_a_waiting_run_can_be_cancelled_and_its_dependents_follow(store: Store) -> None:
    parent = await enqueue_one(store)
    child = await child_of(store, parent)
    grandchild = await child_of(store, child, job_type="grandchild")
    assert await store.cancel_runs(RunFilter(ids=(child,)), now=at(minutes=1)) == [child]
    assert await statuses(store, parent, child, grandchild) == [
        RunStatus.PENDING,
        RunStatus.CANCELLED,
        RunStatus.CANCELLED,
    ]
    await finish(store, parent, RunStatus.SUCCEEDED)
    assert await statuses(store, child, grandchild) == [RunStatus.CANCELLED] * 2


async def test_a_running_parent_ended_as_cancelled_cancels_its_dependents(store: Store) -> None:
    parent = await enqueue_one(store)
    child = await child_of(store, parent)
    await finish(store, parent, RunStatus.CANCELLED)
    assert await status_of(store, child) is RunStatus.CANCELLED


# --- retry re-arms ---------------------------------------------------------------------------


async def test_retrying_a_failed_parent_re_arms_the_dependents_it_cancelled(store: Store) -> None:
    p1, p2 = await enqueue_one(store), await enqueue_one(store)
    child = await child_of(store, p1, p2)
    grandchild = await child_of(store, child, job_type="grandchild")
    await finish(store, p1, RunStatus.FAILED)
    assert await statuses(store, child, grandchild) == [RunStatus.CANCELLED] * 2
    assert await store.retry_runs(RunFilter(ids=(p1,)), now=at(minutes=3)) == [p1]
    runs = {r.id: r for r in await store.get_runs([child, grandchild])}
    assert (runs[child].status, runs[child].parents_left) == (RunStatus.WAITING, 2)
    assert (runs[grandchild].status, runs[grandchild].parents_left) == (RunStatus.WAITING, 1)
    assert runs[child].cancelled_by is None and runs[child].finished_at is None
    stats = await store.stats(now=at(minutes=3))
    assert (stats.waiting, stats.cancelled) == (2, 0)
    await finish(store, p2, RunStatus.SUCCEEDED, minute=4)
    await finish(store, p1, RunStatus.SUCCEEDED, minute=6)
    assert await statuses(store, child, grandchild) == [RunStatus.PENDING, RunStatus.WAITING]


async def test_retry_leaves_a_dependent_that_another_parent_failed(store: Store) -> None:
    p1, p2 = await enqueue_one(store), await enqueue_one(store)
    child = await child_of(store, p1, p2)
    await finish(store, p1, RunStatus.FAILED)
    await finish(store, p2, RunStatus.FAILED)
    await store.retry_runs(RunFilter(ids=(p1,)), now=at(minutes=3))
    assert await status_of(store, child) is RunStatus.CANCELLED


# --- retention and deletes -------------------------------------------------------------------


async def test_delete_never_removes_a_parent_a_waiting_run_needs(store: Store) -> None:
    p1 = await finish_one(store, RunStatus.SUCCEEDED)
    p2 = await enqueue_one(store)
    child = await child_of(store, p1, p2)
    assert await store.delete_runs(RunFilter(ids=(p1,))) == []
    assert await store.get_run(p1) is not None
    assert await store.delete_runs(RunFilter(ids=(child,))) == [child]
    assert await store.delete_runs(RunFilter(ids=(p1,))) == [p1]


async def test_prune_keeps_a_parent_until_its_dependents_are_past_retention(
    store: Store,
) -> None:
    parent = await enqueue_one(store)
    child = await child_of(store, parent)
    await finish(store, parent, RunStatus.SUCCEEDED)
    keep = dict(log_retention=timedelta(days=1), worker_retention=timedelta(days=1))
    pruned = await store.prune(run_retention=timedelta(hours=1), now=at(days=2), **keep)
    assert pruned.runs_deleted == 0  # the child is pending: its parent's output is kept
    claimed = await store.claim("w1", ["default"], ["child"], 1, now=at(days=2))
    done = RunOutcome(child, "w1", claimed[0].attempt, RunStatus.SUCCEEDED, output_json="1")
    await store.complete([done], now=at(days=2))
    pruned = await store.prune(run_retention=timedelta(hours=1), now=at(days=2, minutes=30), **keep)
    assert pruned.runs_deleted == 0  # the child is within retention: the workflow stays whole
    pruned = await store.prune(run_retention=timedelta(hours=1), now=at(days=3), **keep)
    assert pruned.runs_deleted == 2
    assert await store.get_runs([parent, child]) == []


# --- links -----------------------------------------------------------------------------------


async def test_run_links_give_parents_and_children(store: Store) -> None:
    p1, p2 = await enqueue_one(store), await enqueue_one(store)
    child = await child_of(store, p1, p2)
    grandchild = await child_of(store, child, job_type="grandchild")
    assert await store.run_links([child]) == [
        RunLink(child, p1),
        RunLink(child, p2),
        RunLink(grandchild, child),
    ]
    assert await store.run_links([p1]) == [RunLink(child, p1)]
    assert await store.run_links([]) == []


async def test_a_page_of_run_links_has_the_lowest_ids_of_each_side_and_both_totals(
    store: Store,
) -> None:
    """A screen's bounded read: however many children a run has (a fan-out of thousands), at
    most ``limit`` parents and ``limit`` children, by id, and how many there are of each."""
    p1, p2, p3 = await enqueue_one(store), await enqueue_one(store), await enqueue_one(store)
    child = await child_of(store, p3, p1, p2)
    kids = [await child_of(store, p1, job_type="kid") for _ in range(3)]
    assert await store.run_link_page(child, limit=2) == RunLinkPage((p1, p2), (), 3, 0)
    assert await store.run_link_page(p1, limit=2) == RunLinkPage((), (child, kids[0]), 0, 4)
    assert await store.run_link_page(p1, limit=0) == RunLinkPage((), (), 0, 4)
    assert await store.run_link_page(kids[2], limit=50) == RunLinkPage((p1,), (), 1, 0)
    assert await store.run_link_page(p2 + 1000, limit=50) == RunLinkPage((), (), 0, 0)


async def test_parent_outputs_are_read_for_many_runs_at_once(store: Store) -> None:
    """What a starting step reads (one read for every run a claim took): each run's parents'
    outputs by parent id, in id order; a parent deleted since is left out; a run without
    parents gets nothing."""
    p1, p2, lone = await enqueue_one(store), await enqueue_one(store), await enqueue_one(store)
    claimed = await store.claim("w1", ["default"], ["a"], 3, now=at(minutes=1))
    outputs = {p1: '{"n": 1}', p2: "[2, 3]", lone: "null"}
    done = [
        RunOutcome(r.id, "w1", r.attempt, RunStatus.SUCCEEDED, output_json=outputs[r.id])
        for r in claimed
    ]
    await store.complete(done, now=at(minutes=2))
    both = await child_of(store, p2, p1)
    one = await child_of(store, p1)
    assert await store.parent_outputs([both, one, lone]) == {
        both: {p1: {"n": 1}, p2: [2, 3]},
        one: {p1: {"n": 1}},
    }
    assert list((await store.parent_outputs([both]))[both]) == [p1, p2]
    assert await store.parent_outputs([]) == {}
    await store.complete(  # the children end, so their parent p2 may be deleted
        [
            RunOutcome(r.id, "w1", r.attempt, RunStatus.SUCCEEDED, output_json="1")
            for r in await store.claim("w1", ["default"], ["child"], 2, now=at(minutes=3))
        ],
        now=at(minutes=4),
    )
    await store.delete_runs(RunFilter(ids=(p2,)))
    assert await store.parent_outputs([both]) == {both: {p1: {"n": 1}}}


async def test_waiting_runs_are_listed_counted_and_filtered(store: Store) -> None:
    parent = await enqueue_one(store)
    child = await child_of(store, parent)
    waiting = RunFilter(statuses=(RunStatus.WAITING,))
    assert [r.id for r in await store.list_runs(waiting, Page())] == [child]
    assert await store.count_runs(waiting) == 1
    stats = await store.stats(now=T0)
    assert (stats.waiting, stats.pending, stats.total) == (1, 1, 2)
    assert [(q.queue, q.waiting) for q in stats.by_queue] == [("default", 1)]


# --- bad input: nothing written --------------------------------------------------------------


async def test_an_unknown_parent_is_refused_and_nothing_is_written(store: Store) -> None:
    parent = await enqueue_one(store)
    with pytest.raises(ValidationError, match="unknown parent run 999999"):
        await store.enqueue([NewRun("x"), NewRun("child", parents=(parent, 999_999))], now=T0)
    assert await store.count_runs(RunFilter()) == 1
    assert await store.run_links([parent]) == []


async def test_too_many_parents_are_refused(store: Store) -> None:
    with pytest.raises(ValidationError, match=f"at most {MAX_PARENTS} parents"):
        await store.enqueue([NewRun("child", parents=tuple(range(1, MAX_PARENTS + 2)))], now=T0)
    assert await store.count_runs(RunFilter()) == 0


async def test_a_parent_named_twice_counts_once(store: Store) -> None:
    parent = await enqueue_one(store)
    child = await child_of(store, parent, parent)
    run = await store.get_run(child)
    assert run is not None
    assert run.parents_left == 1
    assert await store.run_links([child]) == [RunLink(child, parent)]


async def test_a_step_keeps_where_its_input_comes_from(store: Store) -> None:
    parent = await enqueue_one(store)
    step = NewRun("child", parents=(parent,), input_from=InputFrom.PARENTS)
    [child] = await store.enqueue([step], now=T0)
    run = await store.get_run(child)
    assert run is not None
    assert run.input_from is InputFrom.PARENTS
    assert (await store.get_runs([parent]))[0].input_from is None


async def test_an_operators_retry_budget_reaches_waiting_runs(store: Store) -> None:
    parent = await enqueue_one(store)
    child = await child_of(store, parent)
    await store.set_overrides("child", max_retries=7, timeout_seconds=None)
    run = await store.get_run(child)
    assert run is not None
    assert run.max_attempts == 8
