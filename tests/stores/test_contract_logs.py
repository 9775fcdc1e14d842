"""Conformance: progress of running runs and per-run log entries (every store)."""

from __future__ import annotations

from tests.stores.helpers import at, start_one
from zapjobs.models import LogLevel, NewLogEntry, Progress, ProgressUpdate
from zapjobs.stores import Store


async def test_save_progress_keeps_the_latest_value(store: Store) -> None:
    run_id = await start_one(store)
    await store.save_progress([ProgressUpdate(run_id, Progress(total=10, processed=2))])
    latest = Progress(total=10, processed=7, succeeded=6, failed=1)
    await store.save_progress([ProgressUpdate(run_id, latest)])
    run = await store.get_run(run_id)
    assert run is not None
    assert run.progress == latest


async def test_save_progress_updates_several_runs_in_one_call(store: Store) -> None:
    first = await start_one(store, "a")
    second = await start_one(store, "b")
    await store.save_progress(
        [
            ProgressUpdate(first, Progress(processed=1)),
            ProgressUpdate(second, Progress(total=None, processed=5, failed=2)),
        ]
    )
    runs = {r.id: r for r in await store.get_runs([first, second])}
    assert runs[first].progress == Progress(processed=1)
    assert runs[second].progress == Progress(total=None, processed=5, failed=2)


async def _write_logs(store: Store, run_id: int) -> None:
    await store.append_logs(
        [
            NewLogEntry(run_id, LogLevel.DEBUG, "starting", at(seconds=1)),
            NewLogEntry(
                run_id,
                LogLevel.INFO,
                "sent batch",
                at(seconds=2),
                fields_json='{"batch": 1, "to": ["a", "b"], "ratio": 0.5}',
            ),
            NewLogEntry(run_id, LogLevel.WARNING, "slow server", at(seconds=3)),
            NewLogEntry(run_id, LogLevel.ERROR, "gave up on one", at(seconds=4)),
        ]
    )


async def test_logs_come_back_in_the_order_written_with_their_fields(store: Store) -> None:
    run_id = await start_one(store)
    await _write_logs(store, run_id)
    logs = await store.list_logs(run_id)
    assert [entry.message for entry in logs] == [
        "starting",
        "sent batch",
        "slow server",
        "gave up on one",
    ]
    assert [entry.level for entry in logs] == [
        LogLevel.DEBUG,
        LogLevel.INFO,
        LogLevel.WARNING,
        LogLevel.ERROR,
    ]
    assert [entry.id for entry in logs] == sorted({entry.id for entry in logs})
    assert {entry.run_id for entry in logs} == {run_id}
    assert logs[1].logged_at == at(seconds=2)
    assert logs[1].fields == {"batch": 1, "to": ["a", "b"], "ratio": 0.5}
    assert logs[0].fields == {}


async def test_list_logs_after_id_returns_only_later_entries(store: Store) -> None:
    run_id = await start_one(store)
    await _write_logs(store, run_id)
    everything = await store.list_logs(run_id)
    later = await store.list_logs(run_id, after_id=everything[1].id)
    assert later == everything[2:]
    assert await store.list_logs(run_id, after_id=everything[-1].id) == []


async def test_list_logs_min_level_drops_lower_levels(store: Store) -> None:
    run_id = await start_one(store)
    await _write_logs(store, run_id)
    warnings = await store.list_logs(run_id, min_level=LogLevel.WARNING)
    assert [entry.message for entry in warnings] == ["slow server", "gave up on one"]


async def test_list_logs_limit_returns_the_first_entries(store: Store) -> None:
    run_id = await start_one(store)
    await _write_logs(store, run_id)
    first_two = await store.list_logs(run_id, limit=2)
    assert [entry.message for entry in first_two] == ["starting", "sent batch"]


async def test_list_logs_pages_through_every_entry_with_the_cursor(store: Store) -> None:
    run_id = await start_one(store)
    await store.append_logs(
        [NewLogEntry(run_id, LogLevel.INFO, f"line {i}", at(seconds=i)) for i in range(7)]
    )
    seen: list[str] = []
    cursor = None
    while page := await store.list_logs(run_id, after_id=cursor, limit=3):
        seen.extend(entry.message for entry in page)
        cursor = page[-1].id
    assert seen == [f"line {i}" for i in range(7)]


async def test_list_logs_shows_only_the_given_runs_entries(store: Store) -> None:
    mine = await start_one(store, "a")
    other = await start_one(store, "b")
    await store.append_logs(
        [
            NewLogEntry(mine, LogLevel.INFO, "mine", at(seconds=1)),
            NewLogEntry(other, LogLevel.INFO, "other", at(seconds=1)),
        ]
    )
    assert [entry.message for entry in await store.list_logs(mine)] == ["mine"]
    assert [entry.message for entry in await store.list_logs(other)] == ["other"]


async def _lines(store: Store, run_id: int, count: int) -> list[int]:
    await store.append_logs(
        [NewLogEntry(run_id, LogLevel.INFO, f"line {i}", at(seconds=i)) for i in range(count)]
    )
    return [entry.id for entry in await store.list_logs(run_id, limit=count)]


async def test_list_logs_newest_first_returns_the_last_entries_newest_first(store: Store) -> None:
    run_id = await start_one(store)
    await _lines(store, run_id, 7)
    newest = await store.list_logs(run_id, newest_first=True, limit=3)
    assert [entry.message for entry in newest] == ["line 6", "line 5", "line 4"]


async def test_list_logs_before_id_pages_back_through_every_entry(store: Store) -> None:
    run_id = await start_one(store)
    await _lines(store, run_id, 7)
    seen: list[str] = []
    cursor = None
    while page := await store.list_logs(run_id, before_id=cursor, newest_first=True, limit=3):
        seen.extend(entry.message for entry in page)
        cursor = page[-1].id
    assert seen == [f"line {i}" for i in reversed(range(7))]


async def test_list_logs_before_id_in_written_order_ends_at_the_cursor(store: Store) -> None:
    run_id = await start_one(store)
    ids = await _lines(store, run_id, 5)
    before = await store.list_logs(run_id, before_id=ids[3], limit=10)
    assert [entry.id for entry in before] == ids[:3]


async def test_list_logs_search_matches_message_or_fields_ignoring_case(store: Store) -> None:
    run_id = await start_one(store)
    await store.append_logs(
        [
            NewLogEntry(run_id, LogLevel.INFO, "Sent Batch 1", at(seconds=1)),
            NewLogEntry(run_id, LogLevel.INFO, "idle", at(seconds=2)),
            NewLogEntry(run_id, LogLevel.INFO, "other", at(seconds=3), '{"to": "BATCH desk"}'),
            NewLogEntry(run_id, LogLevel.INFO, "sent batch 2", at(seconds=4)),
        ]
    )
    found = await store.list_logs(run_id, search="batch", newest_first=True, limit=2)
    assert [entry.message for entry in found] == ["sent batch 2", "other"]
    older = await store.list_logs(
        run_id, search="batch", newest_first=True, before_id=found[-1].id, limit=2
    )
    assert [entry.message for entry in older] == ["Sent Batch 1"]


async def test_list_logs_search_treats_like_wildcards_literally(store: Store) -> None:
    run_id = await start_one(store)
    await store.append_logs(
        [
            NewLogEntry(run_id, LogLevel.INFO, "100% done", at(seconds=1)),
            NewLogEntry(run_id, LogLevel.INFO, "1000 done", at(seconds=2)),
            NewLogEntry(run_id, LogLevel.INFO, "a_b", at(seconds=3)),
            NewLogEntry(run_id, LogLevel.INFO, "axb", at(seconds=4)),
        ]
    )
    assert [e.message for e in await store.list_logs(run_id, search="0%")] == ["100% done"]
    assert [e.message for e in await store.list_logs(run_id, search="a_b")] == ["a_b"]


async def test_log_entries_keep_the_attempt_that_wrote_them(store: Store) -> None:
    run_id = await start_one(store)
    await store.append_logs(
        [
            NewLogEntry(run_id, LogLevel.INFO, "first try", at(seconds=1), attempt=1),
            NewLogEntry(run_id, LogLevel.INFO, "second try", at(seconds=2), attempt=2),
            NewLogEntry(run_id, LogLevel.INFO, "unknown", at(seconds=3)),
        ]
    )
    logs = await store.list_logs(run_id)
    assert [entry.attempt for entry in logs] == [1, 2, None]


async def test_count_logs_counts_a_runs_entries_at_or_above_the_level(store: Store) -> None:
    run_id = await start_one(store)
    other = await start_one(store, "b")
    await _write_logs(store, run_id)
    await _write_logs(store, other)
    assert await store.count_logs(run_id) == 4
    assert await store.count_logs(run_id, min_level=LogLevel.WARNING) == 2
    assert await store.count_logs(await start_one(store, "c")) == 0
