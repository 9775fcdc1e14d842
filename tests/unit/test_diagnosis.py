"""The pure verdict rules of ``zapjobs doctor`` (zapjobs.core.diagnosis): facts in, checks out."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from zapjobs.core.diagnosis import (
    CLOCK_SKEW_LIMIT,
    DEAD_ROWS_MIN,
    LONG_TRANSACTION,
    RETENTION_MARGIN,
    TIMEOUT_GRACE,
    Check,
    Facts,
    Outcome,
    Verdict,
    diagnose,
    unreachable,
)
from zapjobs.models import (
    ConnectionBudget,
    JobDefinition,
    Migration,
    MigrationStatus,
    NotifyRoundTrip,
    QueueBacklog,
    RetentionFacts,
    RunningJobType,
    ServerFacts,
    TableFacts,
    WorkerInfo,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIGRATIONS = tuple(Migration(v, f"m{v}", "") for v in (1, 2, 3))
MIGRATED = MigrationStatus(applied=(1, 2, 3), pending=(), available=MIGRATIONS)
SERVER = ServerFacts(
    now=NOW,
    max_connections=100,
    reserved_connections=3,
    connections_in_use=5,
    autovacuum=True,
    runs_autovacuum=True,
    runs_vacuum_threshold=50,
    runs_vacuum_scale_factor=0.2,
    idle_in_transaction_timeout_seconds=0,
    oldest_transaction_started_at=None,
)
BUDGET = ConnectionBudget(general=10, hot=5, listen_per_worker=1, heartbeat_per_worker=1)


def worker(
    worker_id: str = "w1", *, queues: tuple[str, ...] = ("default",), **kw: object
) -> WorkerInfo:
    fields: dict[str, object] = {
        "id": worker_id,
        "host": "h",
        "pid": 1,
        "queues": queues,
        "started_at": NOW - timedelta(hours=1),
        "last_seen_at": NOW - timedelta(seconds=10),
    }
    fields.update(kw)
    return WorkerInfo(**fields)  # type: ignore[arg-type]


def healthy(**changes: object) -> Facts:
    facts = Facts(
        backend="postgres",
        now=NOW,
        server_version="PostgreSQL 15.19",
        migrations=MIGRATED,
        stale_after=timedelta(minutes=5),
        default_timeout=timedelta(minutes=60),
        job_retention=timedelta(days=30),
        log_retention=timedelta(days=7),
        server=SERVER,
        budget=BUDGET,
        clock_skew=timedelta(milliseconds=20),
        clock_uncertainty=timedelta(milliseconds=1),
        notify=NotifyRoundTrip(True, 0.003),
        tables=[TableFacts("zapjobs_runs", 1000, 10, 8192, 16384)],
        workers=[worker()],
        backlog=[QueueBacklog("default", 2, 1, 0, NOW - timedelta(seconds=5))],
        running=[RunningJobType("email", 1, 7, NOW - timedelta(minutes=2))],
        definitions=[JobDefinition("email")],
        retention=RetentionFacts(NOW - timedelta(days=29), NOW - timedelta(days=6)),
    )
    return replace(facts, **changes)  # type: ignore[arg-type]


def check(diagnosis_facts: Facts, name: str) -> Check:
    [found] = [c for c in diagnose(diagnosis_facts).checks if c.name == name]
    return found


def test_a_healthy_installation_is_all_ok() -> None:
    diagnosis = diagnose(healthy())
    assert {c.name: c.verdict for c in diagnosis.checks} == {
        c.name: Verdict.OK for c in diagnosis.checks
    }
    assert len(diagnosis.checks) == 15
    assert diagnosis.outcome() is Outcome.HEALTHY


def test_embedded_databases_get_not_applicable_lines() -> None:
    facts = healthy(backend="sqlite", server=None, budget=None, clock_skew=None, notify=None)
    verdicts = {c.name: c.verdict for c in diagnose(facts).checks}
    not_applicable = {n for n, v in verdicts.items() if v is Verdict.NOT_APPLICABLE}
    assert not_applicable == {
        "indexes", "autovacuum", "bloat", "tables", "connections", "transactions", "notify",
        "clock",
    }  # fmt: skip
    assert {v for n, v in verdicts.items() if n not in not_applicable} == {Verdict.OK}


def test_pending_migrations_are_a_problem_and_skip_the_installation_checks() -> None:
    pending = MigrationStatus(applied=(1,), pending=MIGRATIONS[1:], available=MIGRATIONS)
    facts = healthy(
        migrations=pending, tables=None, workers=None, backlog=None, running=None,
        definitions=None, retention=None,
    )  # fmt: skip
    diagnosis = diagnose(facts)
    found = check(facts, "migrations")
    assert found.verdict is Verdict.PROBLEM and "0002_m2, 0003_m3" in found.summary
    assert "zapjobs migrate" in found.advice
    skipped = {c.name for c in diagnosis.checks if c.verdict is Verdict.SKIPPED}
    assert skipped == {
        "indexes", "bloat", "tables", "workers", "queues", "overdue", "timeouts", "retention",
    }  # fmt: skip
    assert diagnosis.outcome() is Outcome.UNUSABLE


def test_unreachable_is_one_problem_line() -> None:
    diagnosis = unreachable("connection refused")
    assert [(c.name, c.verdict) for c in diagnosis.checks] == [("database", Verdict.PROBLEM)]
    assert diagnosis.outcome() is Outcome.UNUSABLE


def test_a_queue_with_due_runs_and_no_live_worker_is_a_problem() -> None:
    facts = healthy(
        backlog=[QueueBacklog("mail", 3, 3, 0, NOW - timedelta(seconds=30))],
        workers=[worker(queues=("default",)), worker("w2", queues=("mail",), dead_at=NOW)],
    )
    found = check(facts, "queues")
    assert found.verdict is Verdict.PROBLEM
    assert found.summary.endswith(": mail") and found.details == (
        "mail: 3 due, oldest since 30s ago",
    )
    assert diagnose(facts).outcome() is Outcome.FINDINGS


def test_a_queue_with_only_scheduled_runs_and_no_worker_is_a_warning() -> None:
    facts = healthy(backlog=[QueueBacklog("later", 2, 0, 0, None)])
    assert check(facts, "queues").verdict is Verdict.WARNING
    assert diagnose(facts).outcome() is Outcome.HEALTHY
    assert diagnose(facts).outcome(strict=True) is Outcome.FINDINGS


def test_a_stale_worker_does_not_serve_its_queues() -> None:
    stale = worker(last_seen_at=NOW - timedelta(minutes=6))
    facts = healthy(workers=[stale])
    assert check(facts, "queues").verdict is Verdict.PROBLEM
    workers = check(facts, "workers")
    assert workers.verdict is Verdict.WARNING and "1 stale" in workers.summary


def test_overdue_runs_are_a_problem_per_queue() -> None:
    backlog = [QueueBacklog("default", 5, 5, 4, NOW - timedelta(minutes=12))]
    found = check(healthy(backlog=backlog), "overdue")
    assert found.verdict is Verdict.PROBLEM
    assert found.summary.startswith("4 run(s) due for more than 1m")
    assert found.details == ("default: 4 overdue, oldest due 12m ago",)


@pytest.mark.parametrize(
    ("definition", "age", "verdict"),
    [
        (JobDefinition("email"), timedelta(minutes=60) + TIMEOUT_GRACE, Verdict.OK),
        (JobDefinition("email"), timedelta(minutes=62), Verdict.PROBLEM),  # default_timeout
        (JobDefinition("email", timeout_seconds=60), timedelta(minutes=3), Verdict.PROBLEM),
        (
            JobDefinition("email", timeout_seconds=60, timeout_seconds_override=3600),
            timedelta(minutes=3),
            Verdict.OK,
        ),
    ],
)
def test_a_run_running_past_its_effective_timeout_is_a_problem(
    definition: JobDefinition, age: timedelta, verdict: Verdict
) -> None:
    running = [RunningJobType("email", 2, 42, NOW - age)]
    found = check(healthy(running=running, definitions=[definition]), "timeouts")
    assert found.verdict is verdict
    if verdict is Verdict.PROBLEM:
        assert found.details[0].startswith("run 42 (email) has been running for")


def test_retention_behind_is_a_problem() -> None:
    old = NOW - timedelta(days=30) - RETENTION_MARGIN - timedelta(seconds=1)
    found = check(healthy(retention=RetentionFacts(old, None)), "retention")
    assert found.verdict is Verdict.PROBLEM
    assert "oldest finished run is 30d 1h old; job_retention is 30d" in found.summary
    just_in = NOW - timedelta(days=30) - RETENTION_MARGIN
    assert (
        check(healthy(retention=RetentionFacts(just_in, None)), "retention").verdict is Verdict.OK
    )
    old_log = RetentionFacts(None, NOW - timedelta(days=8))
    assert check(healthy(retention=old_log), "retention").verdict is Verdict.PROBLEM


def test_clock_skew_above_the_limit_beyond_the_uncertainty_is_a_warning() -> None:
    limit = CLOCK_SKEW_LIMIT
    small = healthy(clock_skew=limit + timedelta(milliseconds=5))  # beyond the ±1 ms
    assert check(small, "clock").verdict is Verdict.WARNING
    unsure = healthy(
        clock_skew=-(limit + timedelta(milliseconds=5)),
        clock_uncertainty=timedelta(milliseconds=10),
    )
    assert check(unsure, "clock").verdict is Verdict.OK
    behind = check(healthy(clock_skew=-timedelta(seconds=3)), "clock")
    assert behind.verdict is Verdict.WARNING and "3s behind" in behind.summary


def test_connections_compare_the_live_workers_pools_with_max_connections() -> None:
    # 6 processes of one worker each: 6 * 17 = 102 > 97 available
    many = [worker(f"w{n}", pid=n) for n in range(6)]
    found = check(healthy(workers=many), "connections")
    assert found.verdict is Verdict.PROBLEM and "up to 102 of the 97" in found.summary
    # 5 processes: 85 > 0.8 * 97
    assert check(healthy(workers=many[:5]), "connections").verdict is Verdict.WARNING
    # two workers in one process share its pools: 10 + 5 + 2 * 2
    same = [worker("a"), worker("b")]
    assert "up to 19 of" in check(healthy(workers=same), "connections").summary


def test_autovacuum_off_on_the_server_or_the_runs_table_is_a_problem() -> None:
    off = replace(SERVER, autovacuum=False)
    assert check(healthy(server=off), "autovacuum").verdict is Verdict.PROBLEM
    table_off = replace(SERVER, runs_autovacuum=False)
    found = check(healthy(server=table_off), "autovacuum")
    assert found.verdict is Verdict.PROBLEM and "RESET (autovacuum_enabled)" in found.advice


def test_a_long_transaction_is_a_warning() -> None:
    long = replace(
        SERVER, oldest_transaction_started_at=NOW - LONG_TRANSACTION - timedelta(minutes=1)
    )
    found = check(healthy(server=long), "transactions")
    assert found.verdict is Verdict.WARNING and "open for 6m" in found.summary


def test_invalid_indexes_are_a_problem_naming_them() -> None:
    tables = [TableFacts("zapjobs_runs", 1, 0, 1, 1, invalid_indexes=("zapjobs_runs_x",))]
    found = check(healthy(tables=tables), "indexes")
    assert found.verdict is Verdict.PROBLEM and found.details == ("zapjobs_runs_x on zapjobs_runs",)


def test_dead_rows_above_the_share_are_a_warning() -> None:
    dead = DEAD_ROWS_MIN * 3
    tables = [TableFacts("zapjobs_runs", dead, dead, 1, 1)]
    found = check(healthy(tables=tables), "bloat")
    assert found.verdict is Verdict.WARNING and found.details[0].startswith("zapjobs_runs: 30,000")
    few = [TableFacts("zapjobs_runs", 10, DEAD_ROWS_MIN - 1, 1, 1)]
    assert check(healthy(tables=few), "bloat").verdict is Verdict.OK


def test_a_lost_notification_is_a_problem() -> None:
    found = check(healthy(notify=NotifyRoundTrip(False, 5.0)), "notify")
    assert found.verdict is Verdict.PROBLEM and "polling" in found.summary


def test_a_database_newer_than_this_zapjobs_is_a_warning() -> None:
    newer = MigrationStatus(applied=(1, 2, 3, 6), pending=(), available=MIGRATIONS)
    found = check(healthy(migrations=newer), "migrations")
    assert found.verdict is Verdict.WARNING and "migration(s) 6" in found.summary
    assert "upgrade zapjobs" in found.advice
