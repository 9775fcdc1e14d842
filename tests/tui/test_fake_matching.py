"""The dashboard's fake source selects runs with the memory store's own matching, so what a
filter shows in these tests is what a store would return."""

from __future__ import annotations

from datetime import timedelta

from tests.tui.fakes import NOW, FakeSource
from zapjobs.core.filters import parse_words
from zapjobs.models import Page, RunStatus


async def _ids(fake: FakeSource, words: str) -> list[int]:
    page = await fake.runs(parse_words(words, NOW), Page(limit=100), NOW)
    return [row.id for row in page.rows]


async def test_until_narrows_the_fakes_runs_too() -> None:
    fake = FakeSource()
    ids = await _ids(fake, "until:1h")
    assert ids
    by_id = {run.id: run for run in fake.all_runs}
    assert all(by_id[i].created_at < NOW - timedelta(hours=1) for i in ids)


async def test_pending_and_failed_leave_scheduled_runs_out() -> None:
    fake = FakeSource()
    ids = await _ids(fake, "status:pending,failed")
    by_id = {run.id: run for run in fake.all_runs}
    assert 40 not in ids and by_id[40].is_scheduled(NOW)  # pending, due in two hours
    assert {37, 38, 39} <= set(ids)
    assert all(by_id[i].status in (RunStatus.PENDING, RunStatus.FAILED) for i in ids)
