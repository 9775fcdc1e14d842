"""Conformance: runs listed in another order than newest first (RunSort), keyset paged by
(sort value, id), every store."""

from __future__ import annotations

import pytest

from tests.stores.helpers import at, enqueue_one, finish_one, start_one
from zapjobs.errors import ValidationError
from zapjobs.models import JobRun, Page, RunFilter, RunSort, RunStatus
from zapjobs.stores import Store


async def _sample(store: Store) -> dict[str, int]:
    """Runs with ties in job type and finish time, some unfinished (one running)."""
    ids = {
        "b_done_1h": await finish_one(
            store, RunStatus.SUCCEEDED, "b", started=at(hours=1), finished=at(hours=1)
        ),
        "a_pending": await enqueue_one(store, "a", now=at(hours=2), queue="held"),
        "c_failed_1h": await finish_one(
            store, RunStatus.FAILED, "c", started=at(hours=1), finished=at(hours=1)
        ),
        "a_done_3h": await finish_one(
            store, RunStatus.SUCCEEDED, "a", started=at(hours=2), finished=at(hours=3)
        ),
        "b_running": await start_one(store, "b", now=at(hours=4)),
        "a_cancelled_2h": await finish_one(
            store, RunStatus.CANCELLED, "a", started=at(hours=2), finished=at(hours=2)
        ),
        "c_pending": await enqueue_one(store, "c", now=at(hours=5)),
    }
    return ids


async def _every_page(store: Store, selection: RunFilter, first: Page) -> list[JobRun]:
    """Every page in turn, each asked for from the previous page's last run."""
    found: list[JobRun] = []
    page = first
    while runs := await store.list_runs(selection, page):
        assert len(runs) <= page.limit
        found.extend(runs)
        page = page.following(runs[-1])
        assert len(found) <= 100, "paging does not end"
    return found


def _named(ids: dict[str, int], runs: list[JobRun]) -> list[str]:
    names = {v: k for k, v in ids.items()}
    return [names[r.id] for r in runs]


@pytest.mark.parametrize("limit", [1, 2, 3, 100])
async def test_by_job_type_ties_by_id_in_the_same_direction(store: Store, limit: int) -> None:
    ids = await _sample(store)
    down = await _every_page(store, RunFilter(), Page(limit=limit, sort=RunSort.JOB_TYPE))
    assert _named(ids, down) == [
        "c_pending",
        "c_failed_1h",
        "b_running",
        "b_done_1h",
        "a_cancelled_2h",
        "a_done_3h",
        "a_pending",
    ]
    up = await _every_page(
        store, RunFilter(), Page(limit=limit, sort=RunSort.JOB_TYPE, ascending=True)
    )
    assert up == down[::-1]


@pytest.mark.parametrize("limit", [1, 2, 3, 100])
async def test_by_finish_time_unfinished_runs_last(store: Store, limit: int) -> None:
    ids = await _sample(store)
    down = await _every_page(store, RunFilter(), Page(limit=limit, sort=RunSort.FINISHED))
    assert _named(ids, down) == [
        "a_done_3h",
        "a_cancelled_2h",
        "c_failed_1h",  # a tie at 1h: the higher id first
        "b_done_1h",
        "c_pending",  # not finished: after the finished runs, by id
        "b_running",
        "a_pending",
    ]
    up = await _every_page(
        store, RunFilter(), Page(limit=limit, sort=RunSort.FINISHED, ascending=True)
    )
    assert _named(ids, up) == [
        "b_done_1h",
        "c_failed_1h",
        "a_cancelled_2h",
        "a_done_3h",
        "a_pending",  # not finished: after the finished runs, by id
        "b_running",
        "c_pending",
    ]


@pytest.mark.parametrize("limit", [1, 3, 100])
async def test_oldest_first(store: Store, limit: int) -> None:
    ids = await _sample(store)
    up = await _every_page(store, RunFilter(), Page(limit=limit, ascending=True))
    assert [r.id for r in up] == sorted(ids.values())


async def test_newest_first_paged_by_cursor_or_before_id_alike(store: Store) -> None:
    await _sample(store)
    by_cursor = await _every_page(store, RunFilter(), Page(limit=2))
    assert [r.id for r in by_cursor] == sorted((r.id for r in by_cursor), reverse=True)
    assert len(by_cursor) == 7
    first = await store.list_runs(RunFilter(), Page(limit=2))
    assert Page(limit=2).following(first[-1]) == Page(limit=2, before_id=first[-1].id)


async def test_a_sort_applies_to_the_filtered_runs(store: Store) -> None:
    ids = await _sample(store)
    selection = RunFilter(statuses=(RunStatus.SUCCEEDED, RunStatus.PENDING, RunStatus.RUNNING))
    runs = await _every_page(store, selection, Page(limit=2, sort=RunSort.FINISHED))
    assert _named(ids, runs) == ["a_done_3h", "b_done_1h", "c_pending", "b_running", "a_pending"]
    by_type = await _every_page(
        store, RunFilter(job_types=("a",)), Page(limit=1, sort=RunSort.JOB_TYPE, ascending=True)
    )
    assert _named(ids, by_type) == ["a_pending", "a_done_3h", "a_cancelled_2h"]


def test_before_id_is_the_cursor_of_newest_first_only() -> None:
    with pytest.raises(ValidationError):
        Page(before_id=5, sort=RunSort.JOB_TYPE)
    with pytest.raises(ValidationError):
        Page(before_id=5, ascending=True)
    assert Page(sort="job").sort is RunSort.JOB_TYPE  # type: ignore[arg-type]
