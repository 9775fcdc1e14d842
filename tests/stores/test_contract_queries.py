"""Conformance: listing, paging, counting, stats, throughput and error groups (every store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tests.stores.helpers import T0, at, enqueue_one, finish_one, start_one
from zapjobs.models import (
    ErrorGroup,
    NewRun,
    Page,
    QueueStats,
    RunError,
    RunFilter,
    RunStatus,
    ThroughputPoint,
)
from zapjobs.stores import Store


@dataclass(frozen=True)
class Sample:
    due_email: int
    later_email: int
    running_resize: int
    failed_resize: int
    done_report: int


async def _sample(store: Store) -> Sample:
    """Five runs created an hour apart, each different in status, type, queue or error."""
    due_email = await enqueue_one(store, "send_email", queue="mail", now=T0)
    later_email = await enqueue_one(
        store, "send_email", queue="mail", now=at(hours=1), run_at=at(hours=5)
    )
    running_resize = await start_one(store, "resize_image", now=at(hours=2))
    failed_resize = await finish_one(
        store,
        RunStatus.FAILED,
        "resize_image",
        started=at(hours=3),
        error=RunError("OSError", "disk quota exceeded"),
    )
    done_report = await finish_one(store, RunStatus.SUCCEEDED, "report", started=at(hours=4))
    return Sample(due_email, later_email, running_resize, failed_resize, done_report)


async def _matching(store: Store, selection: RunFilter) -> set[int]:
    runs = await store.list_runs(selection, Page(limit=100))
    ids = {r.id for r in runs}
    assert len(ids) == len(runs)
    assert await store.count_runs(selection) == len(ids)
    return ids


# --- list_runs and count_runs --------------------------------------------------------------------


async def test_list_runs_is_newest_first(store: Store) -> None:
    ids = await store.enqueue([NewRun("a") for _ in range(5)], now=T0)
    listed = await store.list_runs(RunFilter(), Page(limit=100))
    assert [r.id for r in listed] == sorted(ids, reverse=True)


async def test_keyset_paging_visits_every_run_exactly_once(store: Store) -> None:
    ids = await store.enqueue([NewRun("a") for _ in range(25)], now=T0)
    pages: list[list[int]] = []
    before_id = None
    while page := await store.list_runs(RunFilter(), Page(limit=10, before_id=before_id)):
        pages.append([r.id for r in page])
        before_id = page[-1].id
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [run_id for p in pages for run_id in p] == sorted(ids, reverse=True)


async def test_an_empty_filter_matches_every_run(store: Store) -> None:
    s = await _sample(store)
    assert await _matching(store, RunFilter()) == set(vars(s).values())


async def test_filter_by_ids(store: Store) -> None:
    s = await _sample(store)
    assert await _matching(store, RunFilter(ids=(s.due_email, s.done_report))) == {
        s.due_email,
        s.done_report,
    }


async def test_filter_by_statuses(store: Store) -> None:
    s = await _sample(store)
    pending = RunFilter(statuses=(RunStatus.PENDING,))
    final = RunFilter(statuses=(RunStatus.FAILED, RunStatus.SUCCEEDED))
    assert await _matching(store, pending) == {s.due_email, s.later_email}
    assert await _matching(store, final) == {s.failed_resize, s.done_report}
    assert await _matching(store, RunFilter(statuses=(RunStatus.CANCELLED,))) == set()


async def test_filter_by_job_types(store: Store) -> None:
    s = await _sample(store)
    assert await _matching(store, RunFilter(job_types=("resize_image", "report"))) == {
        s.running_resize,
        s.failed_resize,
        s.done_report,
    }


async def test_filter_by_queues(store: Store) -> None:
    s = await _sample(store)
    assert await _matching(store, RunFilter(queues=("mail",))) == {s.due_email, s.later_email}


async def test_filter_by_creation_time(store: Store) -> None:
    s = await _sample(store)
    after = RunFilter(created_after=at(minutes=30))
    before = RunFilter(created_before=at(hours=2, minutes=30))
    between = RunFilter(created_after=at(minutes=30), created_before=at(hours=2, minutes=30))
    assert await _matching(store, after) == set(vars(s).values()) - {s.due_email}
    assert await _matching(store, before) == {s.due_email, s.later_email, s.running_resize}
    assert await _matching(store, between) == {s.later_email, s.running_resize}


async def test_filter_by_worker(store: Store) -> None:
    """From a worker to the runs it holds (and held): the worker that claimed each run."""
    mine = await start_one(store, worker_id="w1")
    theirs = await start_one(store, worker_id="w2")
    done = await finish_one(store, RunStatus.SUCCEEDED)  # claimed by w1, then finished
    await enqueue_one(store)  # never claimed: no worker
    assert await _matching(store, RunFilter(worker_ids=("w1",))) == {done, mine}
    running = RunFilter(worker_ids=("w1",), statuses=(RunStatus.RUNNING,))
    assert await _matching(store, running) == {mine}
    assert await _matching(store, RunFilter(worker_ids=["w1", "w2"])) == {done, theirs, mine}
    assert await _matching(store, RunFilter(worker_ids=("w3",))) == set()


async def test_filter_by_finish_time(store: Store) -> None:
    """Finished from (inclusive) and before (exclusive); unfinished runs have no finish time."""
    early = await finish_one(store, RunStatus.SUCCEEDED, started=T0, finished=at(minutes=10))
    late = await finish_one(store, RunStatus.FAILED, started=T0, finished=at(hours=2))
    await enqueue_one(store)
    assert await _matching(store, RunFilter(finished_after=at(minutes=10))) == {late, early}
    assert await _matching(store, RunFilter(finished_after=at(minutes=11))) == {late}
    assert await _matching(store, RunFilter(finished_before=at(hours=2))) == {early}
    between = RunFilter(finished_after=at(minutes=5), finished_before=at(hours=3))
    assert await _matching(store, between) == {late, early}


async def test_search_matches_the_job_type_or_the_error_message(store: Store) -> None:
    s = await _sample(store)
    assert await _matching(store, RunFilter(search="email")) == {s.due_email, s.later_email}
    assert await _matching(store, RunFilter(search="quota")) == {s.failed_resize}
    assert await _matching(store, RunFilter(search="no such text")) == set()


async def test_search_matches_the_error_type_and_the_input(store: Store) -> None:
    """The Error column shows the error type: searching for it finds the run."""
    s = await _sample(store)
    assert await _matching(store, RunFilter(search="oserror")) == {s.failed_resize}
    tagged = await enqueue_one(store, "x", input_json='{"customer": "ACME-42"}')
    assert await _matching(store, RunFilter(search="acme-42")) == {tagged}


async def test_search_looks_at_the_newest_runs_only(store: Store) -> None:
    """A search is bounded (never a scan of the whole history): only the newest
    ``search_window`` runs by id are looked at; the other filters still see every run."""
    old = await finish_one(store, RunStatus.FAILED, "a", error=RunError("KeyError", "old"))
    newer = [await enqueue_one(store, "b") for _ in range(3)]
    found = await finish_one(store, RunStatus.FAILED, "a", error=RunError("KeyError", "new"))
    window = RunFilter(search="keyerror", search_window=3)
    assert await _matching(store, window) == {found}
    assert await _matching(store, RunFilter(search="keyerror")) == {old, found}
    assert await _matching(store, RunFilter(search="b", search_window=3)) == set(newer[1:])


async def test_scheduled_splits_pending_runs_by_now(store: Store) -> None:
    s = await _sample(store)
    pending = (RunStatus.PENDING,)
    later = RunFilter(statuses=pending, scheduled=True, now=at(hours=4))
    due = RunFilter(statuses=pending, scheduled=False, now=at(hours=4))
    due_after_all = RunFilter(statuses=pending, scheduled=False, now=at(hours=6))
    assert await _matching(store, later) == {s.later_email}
    assert await _matching(store, due) == {s.due_email}
    assert await _matching(store, due_after_all) == {s.due_email, s.later_email}


async def test_filter_fields_combine(store: Store) -> None:
    s = await _sample(store)
    selection = RunFilter(statuses=(RunStatus.RUNNING, RunStatus.FAILED), job_types=("report",))
    assert await _matching(store, selection) == set()
    selection = RunFilter(queues=("default",), statuses=(RunStatus.FAILED, RunStatus.SUCCEEDED))
    assert await _matching(store, selection) == {s.failed_resize, s.done_report}


async def test_paging_applies_to_the_filtered_runs(store: Store) -> None:
    await store.enqueue([NewRun("a"), NewRun("b"), NewRun("a"), NewRun("b"), NewRun("a")], now=T0)
    selection = RunFilter(job_types=("a",))
    first = await store.list_runs(selection, Page(limit=2))
    rest = await store.list_runs(selection, Page(limit=2, before_id=first[-1].id))
    assert [r.job_type for r in first + rest] == ["a", "a", "a"]
    assert [r.id for r in first + rest] == sorted((r.id for r in first + rest), reverse=True)


async def test_latest_runs_gives_the_newest_run_of_each_job_type(store: Store) -> None:
    """The Jobs view's "last run" for every job type at once, running runs included."""
    await finish_one(store, RunStatus.SUCCEEDED, "a")
    newest_a = await finish_one(store, RunStatus.FAILED, "a")
    await finish_one(store, RunStatus.SUCCEEDED, "b")
    running_b = await start_one(store, "b")
    await enqueue_one(store, "c")
    newest_c = await enqueue_one(store, "c", run_at=at(hours=1))
    found = await store.latest_runs(["a", "b", "c", "never-ran", "a"])
    assert {r.job_type: r.id for r in found} == {"a": newest_a, "b": running_b, "c": newest_c}
    assert {r.job_type: r.status for r in found}["b"] is RunStatus.RUNNING
    assert await store.latest_runs([]) == []


async def test_latest_failures_are_the_last_to_finish_first(store: Store) -> None:
    """Overview and ``zapjobs status``: failures by finish time, newest first, however old the
    run (ids are creation order: a run created long ago can fail last); others left out."""
    old = await finish_one(store, RunStatus.FAILED, "a", finished=at(hours=5))
    middle = await finish_one(store, RunStatus.FAILED, "b", finished=at(hours=1))
    await finish_one(store, RunStatus.SUCCEEDED, "a", finished=at(hours=6))
    newest_id = await finish_one(store, RunStatus.FAILED, "c", finished=at(hours=3))
    await start_one(store, "d")
    found = await store.latest_failures(limit=2)
    assert [r.id for r in found] == [old, newest_id]
    assert [r.id for r in await store.latest_failures(limit=10)] == [old, newest_id, middle]
    assert await store.latest_failures(limit=0) == []


# --- stats ---------------------------------------------------------------------------------------


async def test_stats_of_an_empty_store_are_zero(store: Store) -> None:
    stats = await store.stats(now=T0)
    assert stats.total == 0
    assert stats.by_queue == ()


async def test_stats_count_by_status_and_split_pending_by_now(store: Store) -> None:
    await finish_one(store, RunStatus.SUCCEEDED, "s")
    await finish_one(store, RunStatus.FAILED, "f")
    await finish_one(store, RunStatus.CANCELLED, "c")
    await start_one(store, "r")
    await enqueue_one(store, "p", run_at=T0)
    await enqueue_one(store, "p", run_at=at(hours=1))
    await enqueue_one(store, "p", run_at=at(hours=2))
    await enqueue_one(store, "m", queue="mail", run_at=T0)
    stats = await store.stats(now=at(hours=1))
    assert (stats.pending, stats.scheduled) == (3, 1)
    assert (stats.running, stats.succeeded, stats.failed, stats.cancelled) == (1, 1, 1, 1)
    assert stats.total == 8
    assert {q.queue: q for q in stats.by_queue} == {
        "default": QueueStats(
            "default",
            pending=2,
            scheduled=1,
            running=1,
            succeeded=1,
            failed=1,
            cancelled=1,
            oldest_due_at=T0,  # the oldest pending run's due time; a scheduled one's is later
        ),
        "mail": QueueStats("mail", pending=1, oldest_due_at=T0),
    }
    later = await store.stats(now=at(hours=3))
    assert (later.pending, later.scheduled) == (4, 0)
    earlier = await store.stats(now=T0)
    assert (earlier.pending, earlier.scheduled) == (2, 2)


async def test_stats_of_finished_runs_follow_every_write(store: Store) -> None:
    """Finished runs are counted with the writes (not by scanning the history): the counts stay
    exact through completion, cancel, retry, delete and prune, per queue."""
    done = await finish_one(store, RunStatus.SUCCEEDED, "s")
    failed = await finish_one(store, RunStatus.FAILED, "f", queue="mail")
    await finish_one(store, RunStatus.FAILED, "f", queue="mail")
    await enqueue_one(store, "c", run_at=T0)
    assert await store.cancel_runs(RunFilter(job_types=("c",)), now=T0)
    stats = await store.stats(now=T0)
    assert (stats.succeeded, stats.failed, stats.cancelled, stats.pending) == (1, 2, 1, 0)
    assert {q.queue: (q.succeeded, q.failed, q.cancelled) for q in stats.by_queue} == {
        "default": (1, 0, 1),
        "mail": (0, 2, 0),
    }

    assert await store.retry_runs(RunFilter(ids=(failed,)), now=T0) == [failed]
    stats = await store.stats(now=T0)
    assert (stats.failed, stats.pending) == (1, 1)

    assert await store.delete_runs(RunFilter(ids=(done,))) == [done]
    stats = await store.stats(now=T0)
    assert (stats.succeeded, stats.failed, stats.cancelled, stats.pending) == (0, 1, 1, 1)

    pruned = await store.prune(
        run_retention=timedelta(seconds=1),
        log_retention=timedelta(seconds=1),
        worker_retention=timedelta(seconds=1),
        now=at(hours=1),
    )
    assert pruned.runs_deleted == 2
    stats = await store.stats(now=at(hours=1))
    assert (stats.succeeded, stats.failed, stats.cancelled, stats.pending) == (0, 0, 0, 1)
    assert {q.queue: q for q in stats.by_queue} == {
        "mail": QueueStats("mail", pending=1, oldest_due_at=T0)
    }

    # A run whose worker vanished, with no attempt left, is failed by the rescue.
    await start_one(store, "z", worker_id="gone", max_attempts=1)
    rescued = await store.rescue_stale(stale_after=timedelta(minutes=1), now=at(hours=2))
    assert len(rescued.runs_failed) == 1
    stats = await store.stats(now=at(hours=2))
    assert (stats.failed, stats.running, stats.pending) == (1, 0, 1)


# --- throughput and error groups -----------------------------------------------------------------


async def test_throughput_counts_finished_runs_per_minute(store: Store) -> None:
    await finish_one(store, RunStatus.SUCCEEDED, "a", finished=at(minutes=1, seconds=5))
    await finish_one(store, RunStatus.SUCCEEDED, "b", finished=at(minutes=1, seconds=50))
    await finish_one(store, RunStatus.FAILED, "c", finished=at(minutes=1, seconds=30))
    await finish_one(store, RunStatus.CANCELLED, "d", finished=at(minutes=2, seconds=10))
    await finish_one(store, RunStatus.SUCCEEDED, "e", finished=at(minutes=3, seconds=10))
    await start_one(store, "f")
    assert await store.throughput(since=T0, now=at(minutes=5)) == [
        ThroughputPoint(minute=at(minutes=1), succeeded=2, failed=1),
        ThroughputPoint(minute=at(minutes=3), succeeded=1, failed=0),
    ]
    assert await store.throughput(since=at(minutes=2), now=at(minutes=5)) == [
        ThroughputPoint(minute=at(minutes=3), succeeded=1, failed=0),
    ]


async def test_error_groups_count_failed_runs_by_error_type(store: Store) -> None:
    def value_error(n: int) -> RunError:
        return RunError("ValueError", f"bad value {n}")

    await finish_one(store, RunStatus.FAILED, "old", finished=at(minutes=-5), error=value_error(0))
    ids = [
        await finish_one(store, RunStatus.FAILED, "a", finished=at(minutes=1), error=value_error(n))
        for n in (1, 2, 3)
    ]
    key_error = await finish_one(
        store, RunStatus.FAILED, "b", finished=at(minutes=2), error=RunError("KeyError", "'x'")
    )
    await finish_one(store, RunStatus.SUCCEEDED, "c", finished=at(minutes=2))
    assert await store.error_groups(since=T0) == [
        ErrorGroup("ValueError", 3, ids[-1], "bad value 3"),
        ErrorGroup("KeyError", 1, key_error, "'x'"),
    ]
    assert await store.error_groups(since=T0, limit=1) == [
        ErrorGroup("ValueError", 3, ids[-1], "bad value 3"),
    ]
