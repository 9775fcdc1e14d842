"""`runs logs` marks where each attempt starts; `runs show` lists every failed attempt's error
(not only the last one, which is all the run itself keeps)."""

from __future__ import annotations

import asyncio
import json

from tests.cli.conftest import Cli
from tests.stores.helpers import at, start_one
from zapjobs.job import attempt_error_entry
from zapjobs.models import LogLevel, NewLogEntry, RunError
from zapjobs.stores import create_store


def seed_two_attempts(cli: Cli) -> int:
    """A run whose attempt 1 failed (its error entry written) and whose attempt 2 is logging."""

    async def main() -> int:
        store = create_store(cli.url)
        await store.open()
        try:
            run_id = await start_one(store, "greet")
            first = RunError("ValueError", "bad row 7", "Traceback ...\nValueError: bad row 7")
            await store.append_logs(
                [
                    NewLogEntry(run_id, LogLevel.INFO, "reading", at(seconds=1), attempt=1),
                    attempt_error_entry(run_id, 1, first, at(seconds=2)),
                    NewLogEntry(run_id, LogLevel.INFO, "reading again", at(seconds=3), attempt=2),
                ]
            )
            return run_id
        finally:
            await store.close()

    return asyncio.run(main())


def test_runs_logs_marks_where_each_attempt_starts(pg_app: Cli) -> None:
    run_id = seed_two_attempts(pg_app)
    result = pg_app("runs", "logs", str(run_id))
    assert result.code == 0, str(result)
    lines = [
        line.split(None, 3)[-1] if line[:1].isdigit() else line
        for line in result.stdout.splitlines()
    ]
    assert lines == [
        "reading",
        "attempt 1 failed: ValueError: bad row 7",  # its traceback: in `runs show`
        "— attempt 2 —",
        "reading again",
    ], result.stdout
    entries = json.loads(pg_app("runs", "logs", str(run_id), "--json").stdout)
    assert [e["attempt"] for e in entries] == [1, 1, 2]


def test_runs_show_lists_every_failed_attempts_error(pg_app: Cli) -> None:
    run_id = seed_two_attempts(pg_app)
    result = pg_app("runs", "show", str(run_id))
    assert result.code == 0, str(result)
    assert "attempt 1 error  ValueError: bad row 7" in result.stdout, result.stdout
    shown = json.loads(pg_app("runs", "show", str(run_id), "--json").stdout)
    assert shown["attempt_errors"] == [
        {
            "attempt": 1,
            "type": "ValueError",
            "message": "bad row 7",
            "traceback": "Traceback ...\nValueError: bad row 7",
        }
    ]
