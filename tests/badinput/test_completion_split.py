"""A completion batch holding a value the store refuses: the store says so with StoreDataError
and writes nothing of that batch; the completer splits it so that only the refused entries are
replaced (a visible placeholder log entry, an UnstorableResultError outcome) and the rest are
written. The outcomes and entries here are crafted: they bypass the executor's sanitising, as
a value it did not foresee would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from zapjobs.errors import StoreDataError
from zapjobs.models import (
    LogLevel,
    NewLogEntry,
    NewRun,
    RunError,
    RunOutcome,
    RunStatus,
)
from zapjobs.runtime.completer import Completer
from zapjobs.stores import Store

WORKER = "w-split"
PLACEHOLDER = "(zapjobs: this log entry could not be stored: "


async def claimed_runs(store: Store, n: int) -> list[int]:
    ids = await store.enqueue([NewRun("t", input_json=str(i)) for i in range(n)])
    claimed = await store.claim(WORKER, ["default"], ["t"], n)
    assert sorted(r.id for r in claimed) == sorted(ids)
    return ids


def succeeded(run_id: int, output_json: str = "1") -> RunOutcome:
    return RunOutcome(run_id, WORKER, 1, RunStatus.SUCCEEDED, output_json=output_json)


def failed(run_id: int, message: str, traceback: str | None = None) -> RunOutcome:
    error = RunError("ValueError", message, traceback)
    return RunOutcome(run_id, WORKER, 1, RunStatus.FAILED, error=error)


def entry(run_id: int, message: str, fields_json: str = "{}") -> NewLogEntry:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return NewLogEntry(run_id, LogLevel.WARNING, message, at, fields_json)


def refuses_nul(store_url: str) -> bool:
    """SQLite keeps NUL characters in text; PostgreSQL (and the memory store, its stand-in)
    refuse them. Lone surrogates are refused everywhere."""
    return not store_url.startswith("sqlite")


async def test_a_refused_value_raises_store_data_error_and_writes_none_of_the_batch(
    store: Store, store_url: str
) -> None:
    good, bad = await claimed_runs(store, 2)
    bad_values = ["x\ud800"] + (["x\x00"] if refuses_nul(store_url) else [])
    for value in bad_values:
        with pytest.raises(StoreDataError):
            await store.complete([succeeded(good), failed(bad, value)])
        with pytest.raises(StoreDataError):
            await store.complete([succeeded(good), succeeded(bad, f'"{value}"')])
        with pytest.raises(StoreDataError):
            await store.append_logs([entry(good, "fine"), entry(bad, value)])
        with pytest.raises(StoreDataError):
            await store.append_logs([entry(good, "fine"), entry(bad, "ok", f'{{"k": "{value}"}}')])
    if refuses_nul(store_url):
        with pytest.raises(StoreDataError):  # jsonb refuses the escape too
            await store.complete([succeeded(good), succeeded(bad, '"a\\u0000b"')])
    runs = await store.get_runs([good, bad])
    assert {r.status for r in runs} == {RunStatus.RUNNING}
    assert await store.list_logs(good) == []


async def test_the_completer_splits_a_refused_batch_and_replaces_only_the_refused_entries(
    store: Store, store_url: str
) -> None:
    ids = await claimed_runs(store, 10)
    nul = refuses_nul(store_url)
    outcomes = {run_id: succeeded(run_id, str(i)) for i, run_id in enumerate(ids)}
    outcomes[ids[3]] = succeeded(ids[3], '"\ud800"')
    outcomes[ids[7]] = failed(ids[7], "bad \ud800")
    outcomes[ids[8]] = RunOutcome(
        ids[8],
        WORKER,
        1,
        RunStatus.PENDING,
        error=RunError("ValueError", "retry me", "Traceback \ud800"),
        retry_delay=timedelta(0),
    )
    if nul:
        outcomes[ids[5]] = succeeded(ids[5], '"a\\u0000b"')
        outcomes[ids[6]] = failed(ids[6], "a\x00b")
    refused = {ids[3], ids[7], ids[8]} | ({ids[5], ids[6]} if nul else set())
    logs = [entry(ids[0], f"m{i}") for i in range(6)]
    logs[2] = entry(ids[0], "m2 \ud800")
    logs[4] = entry(ids[0], "m4", '{"k": "\ud800"}')
    if nul:
        logs[5] = entry(ids[0], "m5 \x00")

    completer = Completer(store)
    for log in logs:
        completer.add_log(log)
    for outcome in outcomes.values():
        completer.add_outcome(outcome)
    await completer.flush()
    assert completer.pending() == 0

    runs = {r.id: r for r in await store.get_runs(ids)}
    for i, run_id in enumerate(ids):
        if run_id not in refused:
            assert runs[run_id].status is RunStatus.SUCCEEDED, runs[run_id]
            assert runs[run_id].output == i
    for run_id in refused - {ids[8]}:
        run = runs[run_id]
        assert run.status is RunStatus.FAILED and run.output is None, run
        assert run.error is not None and run.error.type == "UnstorableResultError"
        assert run.error.message.startswith("the result of this attempt could not be stored: ")
    assert runs[ids[7]].error is not None
    assert runs[ids[7]].error.message.endswith("(the attempt failed with ValueError)")
    retried = runs[ids[8]]
    assert retried.status is RunStatus.PENDING, "a retry stays a retry"
    assert retried.error is not None and retried.error.type == "UnstorableResultError"

    stored = await store.list_logs(ids[0])
    assert [e.level for e in stored] == [LogLevel.WARNING] * 6, "nothing lost silently"
    messages = [e.message for e in stored]
    expected_bad = {2, 4} | ({5} if nul else set())
    for i, message in enumerate(messages):
        if i in expected_bad:
            assert message.startswith(PLACEHOLDER), message
        else:
            assert message == f"m{i}"
