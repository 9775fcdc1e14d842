"""The verdicts of ``zapjobs doctor``: facts about an installation in, one check per line out
(ok, warning, problem, not applicable or skipped), each with what to do. Pure: the facts are
gathered by ``ZapJobs.diagnose`` through the store, and "now" is theirs (the database server's
clock for PostgreSQL, which heartbeats and due times use).

Warnings are worth a look but need not be wrong (a long transaction may be someone's report);
problems are wrong (runs wait with no worker, retention has stopped). ``Diagnosis.outcome``
counts warnings as findings only when asked to be strict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from zapjobs.models import (
    ConnectionBudget,
    JobDefinition,
    MigrationStatus,
    NotifyRoundTrip,
    QueueBacklog,
    RetentionFacts,
    RunningJobType,
    ServerFacts,
    TableFacts,
    WorkerInfo,
    WorkerState,
)

#: a host whose clock differs from the database's by more than this gets a warning
CLOCK_SKEW_LIMIT = timedelta(seconds=1)
#: a pending run due for longer than this is overdue
OVERDUE_AFTER = timedelta(minutes=1)
#: a running run past its timeout by more than this is reported (the worker ends it at the
#: timeout; its outcome needs a moment to be written)
TIMEOUT_GRACE = timedelta(minutes=1)
#: workers prune every 10 minutes, in batches: the oldest row may be this much older than
#: the retention before retention counts as not running
RETENTION_MARGIN = timedelta(hours=1)
#: how long the NOTIFY round trip may take
NOTIFY_TIMEOUT = timedelta(seconds=5)
#: another session's transaction open longer than this holds back vacuum (a warning)
LONG_TRANSACTION = timedelta(minutes=5)
#: a table with more dead rows than this share of its rows, and at least DEAD_ROWS_MIN of them
DEAD_ROWS_SHARE = 0.2
DEAD_ROWS_MIN = 10_000
#: live workers that may open more than this share of the available connections: a warning
CONNECTIONS_SHARE = 0.8


class Verdict(StrEnum):
    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"
    NOT_APPLICABLE = "not_applicable"  # this backend has no such thing (SQLite, memory)
    SKIPPED = "skipped"  # could not be checked (the database is not migrated)


class Outcome(StrEnum):
    HEALTHY = "healthy"
    FINDINGS = "findings"  # a problem (or, strict, a warning)
    UNUSABLE = "unusable"  # the database cannot be reached or is not migrated


@dataclass(frozen=True)
class Check:
    """One line of the checklist. ``name`` is stable (for scripts); ``advice`` says what to do
    (empty when nothing); ``details`` are more lines (one per queue, table, ...)."""

    name: str
    title: str
    verdict: Verdict
    summary: str
    advice: str = ""
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class Diagnosis:
    checks: tuple[Check, ...]
    reachable: bool = True
    migrated: bool = True

    def count(self, verdict: Verdict) -> int:
        return sum(1 for c in self.checks if c.verdict is verdict)

    def outcome(self, *, strict: bool = False) -> Outcome:
        if not (self.reachable and self.migrated):
            return Outcome.UNUSABLE
        worst = {Verdict.PROBLEM, Verdict.WARNING} if strict else {Verdict.PROBLEM}
        if any(c.verdict in worst for c in self.checks):
            return Outcome.FINDINGS
        return Outcome.HEALTHY


@dataclass(frozen=True)
class Facts:
    """What ``ZapJobs.diagnose`` gathered. For an unmigrated database the installation's
    facts (``tables`` to ``retention``) are None. ``clock_skew`` is the server's clock minus
    this host's, ``clock_uncertainty`` half the round trip that measured it."""

    backend: str
    now: datetime
    server_version: str
    migrations: MigrationStatus
    stale_after: timedelta
    default_timeout: timedelta
    job_retention: timedelta
    log_retention: timedelta
    server: ServerFacts | None = None
    budget: ConnectionBudget | None = None
    clock_skew: timedelta | None = None
    clock_uncertainty: timedelta = timedelta(0)
    notify: NotifyRoundTrip | None = None
    tables: Sequence[TableFacts] | None = None
    workers: Sequence[WorkerInfo] | None = None
    backlog: Sequence[QueueBacklog] | None = None
    running: Sequence[RunningJobType] | None = None
    definitions: Sequence[JobDefinition] | None = None
    retention: RetentionFacts | None = None


def unreachable(message: str) -> Diagnosis:
    """The checklist when the database cannot be reached: that one line."""
    check = Check(
        "database",
        "database",
        Verdict.PROBLEM,
        f"cannot reach the database: {message}",
        "check the connection string (-c, ZAPJOBS_DATABASE_URL), the server and the network",
    )
    return Diagnosis((check,), reachable=False, migrated=False)


def diagnose(facts: Facts) -> Diagnosis:
    migrated = not facts.migrations.pending
    checks = (
        check_database(facts),
        check_migrations(facts.migrations),
        check_indexes(facts),
        check_autovacuum(facts.server),
        check_bloat(facts),
        check_tables(facts),
        check_connections(facts),
        check_transactions(facts.server),
        check_notify(facts.notify),
        check_clock(facts),
        check_workers(facts),
        check_queues(facts),
        check_overdue(facts),
        check_timeouts(facts),
        check_retention(facts),
    )
    return Diagnosis(checks, reachable=True, migrated=migrated)


# --- server and schema -----------------------------------------------------------------------


def check_database(facts: Facts) -> Check:
    return Check("database", "database", Verdict.OK, f"{facts.server_version}, reachable")


def check_migrations(status: MigrationStatus) -> Check:
    title = "migrations"
    known = {m.version for m in status.available}
    unknown = sorted(set(status.applied) - known)
    if status.pending:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in status.pending)
        return Check(
            "migrations",
            title,
            Verdict.PROBLEM,
            f"{len(status.pending)} of {len(status.available)} pending: {names}",
            "run `zapjobs migrate` (with the role that owns the tables)",
        )
    if unknown:
        return Check(
            "migrations",
            title,
            Verdict.WARNING,
            f"the database has migration(s) {', '.join(map(str, unknown))} that this zapjobs "
            "does not know",
            "upgrade zapjobs here to the version the workers run",
        )
    return Check("migrations", title, Verdict.OK, f"all {len(status.available)} applied")


def _skipped(name: str, title: str) -> Check:
    return Check(name, title, Verdict.SKIPPED, "not checked: migrations are pending")


def _not_applicable(name: str, title: str, why: str) -> Check:
    return Check(name, title, Verdict.NOT_APPLICABLE, why)


_NO_SERVER = "not applicable: an embedded database has no server"


def check_indexes(facts: Facts) -> Check:
    title = "indexes"
    if facts.backend != "postgres":
        return _not_applicable("indexes", title, "not applicable: indexes are built in one step")
    if facts.tables is None:
        return _skipped("indexes", title)
    invalid = [(t.name, i) for t in facts.tables for i in t.invalid_indexes]
    if invalid:
        return Check(
            "indexes",
            title,
            Verdict.PROBLEM,
            f"{len(invalid)} invalid index(es): {', '.join(i for _, i in invalid)}",
            "an interrupted CREATE INDEX CONCURRENTLY leaves an index that is maintained but "
            "never used: REINDEX INDEX CONCURRENTLY <name> (or DROP INDEX it if it is not "
            "zapjobs's)",
            tuple(f"{i} on {t}" for t, i in invalid),
        )
    count = len(facts.tables)
    return Check("indexes", title, Verdict.OK, f"every index of the {count} tables is valid")


def check_autovacuum(server: ServerFacts | None) -> Check:
    title = "autovacuum"
    if server is None:
        return _not_applicable("autovacuum", title, _NO_SERVER)
    if not server.autovacuum:
        return Check(
            "autovacuum",
            title,
            Verdict.PROBLEM,
            "autovacuum is off on the server: dead rows of finished and deleted runs are "
            "never cleaned up, and the tables and their indexes keep growing",
            "set autovacuum = on and track_counts = on in postgresql.conf",
        )
    if not server.runs_autovacuum:
        return Check(
            "autovacuum",
            title,
            Verdict.PROBLEM,
            "autovacuum is disabled on the runs table",
            "ALTER TABLE <prefix>runs RESET (autovacuum_enabled)",
        )
    return Check(
        "autovacuum",
        title,
        Verdict.OK,
        f"on; the runs table is vacuumed after {server.runs_vacuum_threshold} + "
        f"{server.runs_vacuum_scale_factor:.0%} of its rows are dead",
    )


def check_bloat(facts: Facts) -> Check:
    title = "dead rows"
    if facts.backend != "postgres":
        return _not_applicable("bloat", title, "not applicable: no row statistics")
    if facts.tables is None:
        return _skipped("bloat", title)
    bloated = []
    for t in facts.tables:
        total = t.live_rows + t.dead_rows
        if t.dead_rows >= DEAD_ROWS_MIN and t.dead_rows > DEAD_ROWS_SHARE * total:
            last = "never" if t.last_vacuum_at is None else _ago(facts.now, t.last_vacuum_at)
            bloated.append(
                f"{t.name}: {t.dead_rows:,} dead rows, {t.dead_rows / total:.0%} of "
                f"{total:,} (last vacuum {last})"
            )
    if bloated:
        return Check(
            "bloat",
            title,
            Verdict.WARNING,
            f"{len(bloated)} table(s) with more than {DEAD_ROWS_SHARE:.0%} dead rows",
            "autovacuum is not keeping up or a long transaction holds it back: check the "
            "transactions line, lower autovacuum_vacuum_scale_factor on the table, or VACUUM it",
            tuple(bloated),
        )
    return Check(
        "bloat",
        title,
        Verdict.OK,
        f"no table has more than {DEAD_ROWS_SHARE:.0%} dead rows",
    )


def check_tables(facts: Facts) -> Check:
    title = "table sizes"
    if facts.backend != "postgres":
        return _not_applicable("tables", title, "not applicable: no size statistics")
    if facts.tables is None:
        return _skipped("tables", title)
    total = sum(t.table_bytes + t.index_bytes for t in facts.tables)
    details = tuple(
        f"{t.name}: {_bytes(t.table_bytes)} + {_bytes(t.index_bytes)} of indexes, "
        f"~{t.live_rows:,} rows"
        for t in facts.tables
    )
    return Check("tables", title, Verdict.OK, f"{_bytes(total)} in all", details=details)


def check_connections(facts: Facts) -> Check:
    title = "connections"
    server, budget = facts.server, facts.budget
    if server is None or budget is None:
        return _not_applicable("connections", title, _NO_SERVER)
    workers_per_process = Counter(
        (w.host, w.pid)
        for w in facts.workers or ()
        if w.state(facts.now, facts.stale_after.total_seconds()) is WorkerState.ALIVE
    )
    needed = sum(budget.per_process(n) for n in workers_per_process.values())
    available = server.max_connections - server.reserved_connections
    summary = (
        f"{len(workers_per_process)} worker process(es) may open up to {needed} of the "
        f"{available} available connections (max_connections {server.max_connections}, "
        f"{server.connections_in_use} in use now; a process with one worker opens up to "
        f"{budget.per_process(1)})"
    )
    advice = (
        "raise max_connections, run fewer worker processes (more concurrency each), or put "
        "a session-mode pooler in front of the server"
    )
    if needed > available:
        return Check("connections", title, Verdict.PROBLEM, summary, advice)
    if needed > CONNECTIONS_SHARE * available:
        return Check("connections", title, Verdict.WARNING, summary, advice)
    return Check("connections", title, Verdict.OK, summary)


def check_transactions(server: ServerFacts | None) -> Check:
    title = "long transactions"
    if server is None:
        return _not_applicable("transactions", title, _NO_SERVER)
    timeout = server.idle_in_transaction_timeout_seconds
    setting = (
        f"idle_in_transaction_session_timeout {_duration(timedelta(seconds=timeout))}"
        if timeout
        else "no idle_in_transaction_session_timeout"
    )
    started = server.oldest_transaction_started_at
    if started is not None and server.now - started > LONG_TRANSACTION:
        return Check(
            "transactions",
            title,
            Verdict.WARNING,
            f"a transaction has been open for {_duration(server.now - started)}: vacuum "
            f"cannot remove rows that died after it began ({setting})",
            "find it in pg_stat_activity (xact_start, state) and end it; set "
            "idle_in_transaction_session_timeout so forgotten sessions are closed",
        )
    return Check(
        "transactions",
        title,
        Verdict.OK,
        f"none open longer than {_duration(LONG_TRANSACTION)} ({setting})",
    )


def check_notify(trip: NotifyRoundTrip | None) -> Check:
    title = "NOTIFY round trip"
    if trip is None:
        return _not_applicable("notify", title, "not applicable: workers in other processes poll")
    if not trip.delivered:
        return Check(
            "notify",
            title,
            Verdict.PROBLEM,
            f"a NOTIFY did not reach a listening connection within {trip.seconds:.1f}s: "
            "workers wake up only by polling (polling_interval)",
            "connect workers to the server directly or through a session-mode pooler "
            "(transaction pooling drops LISTEN)",
        )
    return Check("notify", title, Verdict.OK, f"delivered in {trip.seconds * 1000:.0f} ms")


def check_clock(facts: Facts) -> Check:
    title = "clock skew"
    if facts.clock_skew is None:
        return _not_applicable("clock", title, "not applicable: the database uses this clock")
    skew = abs(facts.clock_skew)
    side = "ahead of" if facts.clock_skew > timedelta(0) else "behind"
    summary = (
        f"the database's clock is {_duration(skew)} {side} this host's "
        f"(± {_duration(facts.clock_uncertainty)})"
    )
    if skew - facts.clock_uncertainty > CLOCK_SKEW_LIMIT:
        return Check(
            "clock",
            title,
            Verdict.WARNING,
            summary,
            "run NTP (chrony, systemd-timesyncd) on this host and the database server: "
            "due times and heartbeats use the server's clock, delays and log times this one",
        )
    return Check("clock", title, Verdict.OK, summary)


# --- workers and runs ------------------------------------------------------------------------


def _alive(facts: Facts) -> list[WorkerInfo]:
    stale = facts.stale_after.total_seconds()
    return [w for w in facts.workers or () if w.state(facts.now, stale) is WorkerState.ALIVE]


def check_workers(facts: Facts) -> Check:
    title = "workers"
    if facts.workers is None:
        return _skipped("workers", title)
    alive = _alive(facts)
    stale = facts.stale_after.total_seconds()
    stale_count = sum(1 for w in facts.workers if w.state(facts.now, stale) is WorkerState.STALE)
    per_queue = Counter(q for w in alive for q in w.queues)
    details = tuple(f"{queue}: {n} alive" for queue, n in sorted(per_queue.items()))
    stale_note = f", {stale_count} stale (not yet marked dead)" if stale_count else ""
    if not alive:
        return Check(
            "workers",
            title,
            Verdict.WARNING,
            f"no worker alive{stale_note}",
            "start one: `zapjobs worker`",
        )
    return Check("workers", title, Verdict.OK, f"{len(alive)} alive{stale_note}", details=details)


def check_queues(facts: Facts) -> Check:
    title = "queues served"
    if facts.backlog is None or facts.workers is None:
        return _skipped("queues", title)
    served = {q for w in _alive(facts) for q in w.queues}
    waiting = [b for b in facts.backlog if b.queue not in served and b.due]
    later = [b for b in facts.backlog if b.queue not in served and not b.due]
    details = tuple(
        f"{b.queue}: {b.due} due, oldest since {_ago(facts.now, b.oldest_due_at)}"
        for b in waiting
        if b.oldest_due_at is not None
    ) + tuple(f"{b.queue}: {b.pending} scheduled" for b in later)
    if waiting:
        return Check(
            "queues",
            title,
            Verdict.PROBLEM,
            f"{len(waiting)} queue(s) with due runs and no live worker serving them: "
            + ", ".join(b.queue for b in waiting),
            "start a worker for them (`zapjobs worker --queues <queue>,...`), or add them to "
            "the queues setting of the running workers",
            details,
        )
    if later:
        return Check(
            "queues",
            title,
            Verdict.WARNING,
            f"{len(later)} queue(s) with scheduled runs and no live worker serving them: "
            + ", ".join(b.queue for b in later),
            "start a worker for them before their runs are due",
            details,
        )
    return Check("queues", title, Verdict.OK, "every queue with pending runs has a live worker")


def check_overdue(facts: Facts) -> Check:
    title = "overdue runs"
    if facts.backlog is None:
        return _skipped("overdue", title)
    late = [b for b in facts.backlog if b.overdue]
    if late:
        total = sum(b.overdue for b in late)
        details = tuple(
            f"{b.queue}: {b.overdue} overdue, oldest due {_ago(facts.now, b.oldest_due_at)}"
            for b in late
            if b.oldest_due_at is not None
        )
        return Check(
            "overdue",
            title,
            Verdict.PROBLEM,
            f"{total} run(s) due for more than {_duration(OVERDUE_AFTER)} and not started",
            "the workers cannot keep up or do not serve these queues (see the queues line): "
            "add workers or concurrency, or check that their job types are registered",
            details,
        )
    return Check(
        "overdue",
        title,
        Verdict.OK,
        f"no run due for more than {_duration(OVERDUE_AFTER)}",
    )


def effective_timeout(
    job_type: str, definitions: Sequence[JobDefinition], default: timedelta
) -> timedelta:
    """The timeout a worker arms for a job type: the operator's override, else the code's,
    else ``default_timeout``."""
    for d in definitions:
        if d.job_type == job_type:
            return timedelta(seconds=d.timeout_seconds_enforced(default.total_seconds()))
    return default


def check_timeouts(facts: Facts) -> Check:
    title = "runs past their timeout"
    if facts.running is None or facts.definitions is None:
        return _skipped("timeouts", title)
    late = []
    for group in facts.running:
        timeout = effective_timeout(group.job_type, facts.definitions, facts.default_timeout)
        age = facts.now - group.oldest_started_at
        if age > timeout + TIMEOUT_GRACE:
            late.append(
                f"run {group.oldest_run_id} ({group.job_type}) has been running for "
                f"{_duration(age)}, past its {_duration(timeout)} timeout"
                + (f" ({group.running} running of this job type)" if group.running > 1 else "")
            )
    running = sum(g.running for g in facts.running)
    if late:
        return Check(
            "timeouts",
            title,
            Verdict.PROBLEM,
            f"{len(late)} job type(s) with a run still running past its timeout",
            "its worker is stuck or lost it: check `zapjobs workers list`, then "
            "`zapjobs runs cancel <run>` (a dead worker's runs are rescued after "
            "stale_worker_threshold)",
            tuple(late),
        )
    return Check("timeouts", title, Verdict.OK, f"{running} running, none past its timeout")


def check_retention(facts: Facts) -> Check:
    title = "retention"
    if facts.retention is None:
        return _skipped("retention", title)
    behind = []
    kept = (
        ("finished run", facts.retention.oldest_finished_at, facts.job_retention, "job"),
        ("log entry", facts.retention.oldest_log_at, facts.log_retention, "log"),
    )
    for what, oldest, retention, setting in kept:
        if oldest is not None and facts.now - oldest > retention + RETENTION_MARGIN:
            behind.append(
                f"the oldest {what} is {_duration(facts.now - oldest)} old; "
                f"{setting}_retention is {_duration(retention)}"
            )
    if behind:
        return Check(
            "retention",
            title,
            Verdict.PROBLEM,
            "retention is not running: " + "; ".join(behind),
            "workers prune every 10 minutes: keep one running (enable_scheduler), or run "
            "`zapjobs prune` (e.g. from cron)",
        )
    return Check(
        "retention",
        title,
        Verdict.OK,
        f"nothing kept past job_retention {_duration(facts.job_retention)} / "
        f"log_retention {_duration(facts.log_retention)}",
    )


# --- formatting ------------------------------------------------------------------------------


def _duration(value: timedelta) -> str:
    """Two units at most: 45d 3h, 2h 5m, 1m 30s, 1.2s, 350ms."""
    seconds = value.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}".removesuffix(".0") + "s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{int(seconds // size)}{unit}")
            seconds %= size
        if len(parts) == 2:
            break
    return " ".join(p for p in parts if not p.startswith("0"))


def _ago(now: datetime, when: datetime | None) -> str:
    return "never" if when is None else f"{_duration(max(now - when, timedelta(0)))} ago"


def _bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
