"""``zapjobs enqueue --unique-key``: through the real entry point on PostgreSQL. The run id goes
to stdout either way; stderr says when an existing run was returned; the key shows in
``runs show`` and its --json."""

from __future__ import annotations

import json

from tests.cli.conftest import Cli, assert_clean_error, migrate
from zapjobs import RunFilter, ZapJobs
from zapjobs.models import NewRun, RunError, RunOutcome, RunStatus
from zapjobs.testing import store_of


def test_enqueue_with_a_unique_key_returns_the_holder(pg_app: Cli) -> None:
    first = pg_app("enqueue", "greet", "--input", '{"name": "Ada"}', "--unique-key", "ada-1")
    second = pg_app("enqueue", "greet", "--input", '{"name": "Bob"}', "--unique-key", "ada-1")
    assert first.code == 0 and second.code == 0, str(first) + str(second)
    assert int(second.stdout) == int(first.stdout)
    assert "already holds this unique key" not in first.stderr
    assert f"run {int(first.stdout)} already holds this unique key" in second.stderr

    shown = pg_app("runs", "show", first.stdout.strip(), "--json")
    assert json.loads(shown.stdout)["unique_key"] == "ada-1"
    text = pg_app("runs", "show", first.stdout.strip())
    assert "unique key" in text.stdout and "ada-1" in text.stdout

    async def count(zap: ZapJobs) -> int:
        return await zap.count_runs(RunFilter(job_types=("greet",)))

    assert pg_app.query(count) == 1


def test_a_unique_key_over_the_limit_is_refused_and_writes_nothing(pg_app: Cli) -> None:
    result = pg_app("enqueue", "greet", "--input", '{"name": "Ada"}', "--unique-key", "k" * 300)
    assert_clean_error(result, 2, "unique key is at most 255 characters")

    async def count(zap: ZapJobs) -> int:
        return await zap.count_runs(RunFilter(job_types=("greet",)))

    assert pg_app.query(count) == 0


def test_retrying_two_failed_runs_of_one_key_retries_the_newest_and_says_so(
    sqlite_cli: Cli,
) -> None:
    """Both would hold the key once pending: the newest is retried; the older is reported as
    skipped with the reason, and that is not an error."""
    migrate(sqlite_cli.url)

    async def two_failed(zap: ZapJobs) -> tuple[int, int]:
        await zap.open()
        store = store_of(zap)
        ids = []
        for _ in range(2):
            [run_id] = await store.enqueue([NewRun("sync", unique_key="acct-7")])
            [run] = await store.claim("w1", ["default"], ["sync"], 1)
            error = RunError("RuntimeError", "no")
            outcome = RunOutcome(run.id, "w1", run.attempt, RunStatus.FAILED, error=error)
            await store.complete([outcome])
            ids.append(run_id)
        return ids[0], ids[1]

    older, newer = sqlite_cli.query(two_failed)
    result = sqlite_cli("runs", "retry", str(older), str(newer))
    assert result.code == 0, str(result)
    assert f"retried 1 run(s): {newer}" in result.stderr
    assert (
        f"run {older} skipped: run {newer} has the same unique key and was retried instead"
        in result.stderr
    ), result.stderr


def test_a_retry_refused_by_a_holder_of_the_key_says_why(sqlite_cli: Cli) -> None:
    migrate(sqlite_cli.url)

    async def failed_and_holder(zap: ZapJobs) -> int:
        await zap.open()
        store = store_of(zap)
        [failed] = await store.enqueue([NewRun("sync", unique_key="acct-7")])
        [run] = await store.claim("w1", ["default"], ["sync"], 1)
        error = RunError("RuntimeError", "no")
        await store.complete([RunOutcome(run.id, "w1", 1, RunStatus.FAILED, error=error)])
        await store.enqueue([NewRun("sync", unique_key="acct-7")])  # pending: holds the key
        return failed

    failed = sqlite_cli.query(failed_and_holder)
    result = sqlite_cli("runs", "retry", str(failed), "--json")
    assert result.code == 1, str(result)
    assert json.loads(result.stdout)["unchanged"] == [failed]
    assert "another run holds its unique key" in result.stderr, result.stderr
