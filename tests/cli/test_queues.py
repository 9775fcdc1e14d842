"""``zapjobs queues list|pause|resume|purge`` through the real entry point."""

from __future__ import annotations

import json

from tests.cli.conftest import Cli, assert_clean_error, migrate
from zapjobs import ZapJobs
from zapjobs.models import NewRun, RunFilter, RunStatus, WorkerInfo

QUEUE_KEYS = {
    "name", "paused", "pending", "scheduled", "running", "waiting", "lag_seconds", "workers",
    "served",
    "finished_last_minute", "max_concurrency", "rate_limit",
}  # fmt: skip


def _seed(cli: Cli) -> None:
    """Three pending runs and one running run in "mail", one pending run in "images", and a
    live worker serving "mail" only."""

    async def work(zap: ZapJobs) -> None:
        from datetime import UTC, datetime

        from zapjobs.app import store_of

        await zap.open()
        store = store_of(zap)
        await store.enqueue([NewRun("greet", queue="mail")])
        await store.claim("w1", ["mail"], ["greet"], 1)
        await store.enqueue([NewRun("greet", queue="mail") for _ in range(3)])
        await store.enqueue([NewRun("greet", queue="images")])
        now = datetime.now(UTC)
        await store.heartbeat(WorkerInfo("w-mail", "h", 1, ("mail",), now, now))

    cli.query(work)


def _queues(cli: Cli) -> dict[str, dict[str, object]]:
    result = cli("queues", "list", "--json")
    assert result.code == 0, str(result)
    found = json.loads(result.stdout)
    assert all(set(q) == QUEUE_KEYS for q in found)
    return {q["name"]: q for q in found}


def test_queues_list_shows_counts_workers_and_flags_an_unserved_queue(sqlite_cli: Cli) -> None:
    migrate(sqlite_cli.url)
    _seed(sqlite_cli)
    queues = _queues(sqlite_cli)
    assert (queues["mail"]["pending"], queues["mail"]["running"]) == (3, 1)
    assert queues["mail"]["workers"] == ["w-mail"] and queues["mail"]["served"] is True
    assert queues["images"]["pending"] == 1 and queues["images"]["served"] is False
    table = sqlite_cli("queues", "list")
    assert table.code == 0, str(table)
    [images_line] = [line for line in table.stdout.splitlines() if line.startswith("images")]
    assert "no live worker" in images_line and "active" in images_line


def test_queues_pause_and_resume_are_stored_and_listed(pg_cli: Cli) -> None:
    migrate(pg_cli.url)
    _seed(pg_cli)
    paused = pg_cli("queues", "pause", "mail")
    assert paused.code == 0, str(paused)
    assert paused.stderr.strip().splitlines() == [
        "paused queue mail: workers stop claiming its runs; running runs finish"
    ]
    assert _queues(pg_cli)["mail"]["paused"] is True
    table = pg_cli("queues", "list")
    assert any(line.startswith("mail") and "paused" in line for line in table.stdout.splitlines())
    resumed = pg_cli("queues", "resume", "mail")
    assert resumed.code == 0, str(resumed)
    assert _queues(pg_cli)["mail"]["paused"] is False


def test_pausing_an_unknown_queue_is_a_usage_error(pg_cli: Cli) -> None:
    migrate(pg_cli.url)
    _seed(pg_cli)
    assert_clean_error(pg_cli("queues", "pause", "mial"), 2, "unknown queue 'mial'")
    assert all(q["paused"] is False for q in _queues(pg_cli).values())


def test_purge_asks_first_and_never_deletes_running_runs(pg_cli: Cli) -> None:
    migrate(pg_cli.url)
    _seed(pg_cli)
    refused = pg_cli("queues", "purge", "mail", input="n\n")
    assert refused.code == 1, str(refused)
    assert "error: not confirmed; nothing changed" in refused.stderr
    assert "Delete 3 pending run(s) of queue mail?" in refused.stderr
    assert _queues(pg_cli)["mail"]["pending"] == 3

    purged = pg_cli("queues", "purge", "mail", "--yes")
    assert purged.code == 0, str(purged)
    assert purged.stderr.strip().splitlines() == ["purged 3 pending run(s) of queue mail"]
    mail = _queues(pg_cli)["mail"]
    assert (mail["pending"], mail["running"]) == (0, 1)
    left = pg_cli.query(lambda zap: zap.count_runs(RunFilter(statuses=(RunStatus.RUNNING,))))
    assert left == 1


def _seed_waiting(cli: Cli) -> None:
    """Two runs of "mail" waiting for its running run (a workflow's next steps)."""

    async def work(zap: ZapJobs) -> None:
        from zapjobs.app import store_of

        await zap.open()
        store = store_of(zap)
        [parent] = await zap.list_runs(RunFilter(statuses=(RunStatus.RUNNING,)))
        await store.enqueue([NewRun("greet", queue="mail", parents=(parent.id,))] * 2)

    cli.query(work)


def test_waiting_runs_are_a_column_of_their_own_and_purge_says_it_left_them(
    pg_cli: Cli,
) -> None:
    migrate(pg_cli.url)
    _seed(pg_cli)
    _seed_waiting(pg_cli)
    mail = _queues(pg_cli)["mail"]
    assert (mail["pending"], mail["waiting"]) == (3, 2)
    table = pg_cli("queues", "list")
    [header] = [line for line in table.stdout.splitlines() if line.startswith("QUEUE")]
    assert header.split()[:6] == ["QUEUE", "STATE", "PENDING", "SCHEDULED", "RUNNING", "WAITING"]
    [mail_line] = [line for line in table.stdout.splitlines() if line.startswith("mail")]
    assert mail_line.split()[2:6] == ["3", "0", "1", "2"]

    purged = pg_cli("queues", "purge", "mail", "--yes")
    assert purged.code == 0, str(purged)
    assert " ".join(purged.stderr.split()) == (
        "purged 3 pending run(s) of queue mail "
        "2 run(s) of queue mail wait for parent runs and were not purged (they become pending "
        "when their parents finish; to drop them: zapjobs runs cancel --queue mail --status "
        "waiting)"
    )
    mail = _queues(pg_cli)["mail"]
    assert (mail["pending"], mail["waiting"]) == (0, 2)


def test_purge_refuses_running_as_a_status(pg_cli: Cli) -> None:
    migrate(pg_cli.url)
    _seed(pg_cli)
    result = pg_cli("queues", "purge", "mail", "--status", "running", "--yes")
    assert result.code == 2, str(result)
    assert "Traceback" not in result.output
    assert _queues(pg_cli)["mail"]["running"] == 1


def test_help_tells_queue_pause_from_schedule_pause(pg_cli: Cli) -> None:
    queues_help = pg_cli("queues", "pause", "--help")
    assert "Not zapjobs jobs pause, which pauses a job type's recurring schedule" in " ".join(
        queues_help.stdout.split()
    )
    jobs_help = pg_cli("jobs", "pause", "--help")
    assert "Not zapjobs queues pause, which stops workers claiming" in " ".join(
        jobs_help.stdout.split()
    )


def test_status_flags_a_queue_with_runs_that_no_live_worker_serves(sqlite_cli: Cli) -> None:
    migrate(sqlite_cli.url)
    _seed(sqlite_cli)
    result = sqlite_cli("status")
    assert result.code == 0, str(result)
    assert "no live worker serves queue(s) with runs: images" in result.stdout
    as_json = sqlite_cli("status", "--json")
    assert json.loads(as_json.stdout)["unserved_queues"] == ["images"]
