"""``zapjobs status``: one overview of runs, throughput, workers, schedules and failures;
``--watch`` redraws it in place until Ctrl-C (exit 130)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.text import Text

from zapjobs import ZapJobs
from zapjobs.errors import StoreError, ValidationError
from zapjobs.models import (
    ErrorGroup,
    JobDefinition,
    JobRun,
    Stats,
    ThroughputPoint,
    WorkerInfo,
    WorkerState,
)
from zapjobs.settings import Settings
from zapjobs_cli.context import CliState, get_state
from zapjobs_cli.display import (
    STATUS_STYLES,
    due_text,
    one_line_text,
    relative,
    untrusted,
)
from zapjobs_cli.options import JsonOption, duration_option
from zapjobs_cli.render import (
    display_dsn,
    error_group_dict,
    iso,
    job_dict,
    new_table,
    print_json,
    print_json_line,
    run_dict,
    schedule_text,
    stats_dict,
    throughput_dict,
    worker_dict,
    worker_state,
)

THROUGHPUT_WINDOW = timedelta(minutes=15)
FAILURES_WINDOW = timedelta(hours=24)
_SPARK = " ▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Snapshot:
    now: datetime
    database: str
    stats: Stats
    throughput: list[ThroughputPoint]
    workers: list[WorkerInfo]
    recurring: list[JobDefinition]
    failures: list[JobRun]
    error_groups: list[ErrorGroup]
    settings: Settings
    #: queues with pending or scheduled runs that no live worker serves
    unserved: list[str] = field(default_factory=list)


def register(root: typer.Typer) -> None:
    root.command("status")(status)


def status(
    ctx: typer.Context,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Redraw in place until Ctrl-C.")
    ] = False,
    interval: Annotated[
        str, typer.Option("--interval", metavar="DURATION", help="Refresh period of --watch.")
    ] = "2s",
    as_json: JsonOption = False,
) -> None:
    """Runs by status and queue, throughput of the last 15 minutes, workers alive and stale,
    the next recurring runs and the latest failures. Every count is exact, and costs the same
    however many finished runs the database holds.

    JSON: {"now", "database", "runs": {counts, "by_queue"}, "throughput": [{"minute",
    "succeeded", "failed"}], "workers": {"alive", "stale", "dead", "stopped", "active":
    [worker]}, "recurring": [job], "latest_failures": [run], "error_groups": [{"error_type",
    "count", "last_run_id", "last_message"}], "unserved_queues": [queues with runs that no
    live worker serves]}; with --watch, one such object per line.

    Example: `zapjobs status --watch --interval 5s`
    """
    state = get_state(ctx)
    period = duration_option(interval, "--interval")
    if period is None or period <= timedelta(0):  # a zero timedelta is falsy: test it
        raise ValidationError(
            f"--interval must be greater than zero, got {interval!r}", hint="e.g. --interval 5s"
        )

    async def work(zap: ZapJobs) -> None:
        first = await snapshot(zap)
        if not watch:
            show(state, first, as_json=as_json, stream=False)
            return
        await watch_loop(state, zap, first, period.total_seconds(), as_json=as_json)

    state.run(work)


async def snapshot(zap: ZapJobs) -> Snapshot:
    now = zap.now()
    stats = await zap.stats()
    throughput = await zap.throughput(THROUGHPUT_WINDOW)
    workers = await zap.list_workers()
    definitions = await zap.list_definitions()
    failures = await zap.latest_failures(5)
    groups = await zap.error_groups(FAILURES_WINDOW, limit=5)
    queues = await zap.list_queues(stats=stats)  # built on the counts above, not read again
    unserved = [q.name for q in queues if not q.served and (q.pending or q.scheduled)]
    recurring = sorted(
        (d for d in definitions if d.schedule is not None),
        key=lambda d: (d.next_due_at is None, d.next_due_at or now),
    )
    return Snapshot(
        now=now,
        database=display_dsn(zap.settings.database_url),
        stats=stats,
        throughput=throughput,
        workers=workers,
        recurring=recurring,
        failures=failures,
        error_groups=groups,
        settings=zap.settings,
        unserved=unserved,
    )


async def watch_loop(
    state: CliState, zap: ZapJobs, first: Snapshot, seconds: float, *, as_json: bool
) -> None:
    """Redraw until interrupted; a database error is shown and retried, not fatal."""
    if as_json or not state.out.is_terminal:
        current: Snapshot | str = first
        while True:
            if isinstance(current, Snapshot):
                show(state, current, as_json=as_json, stream=True)
            else:
                state.note(current)
            await asyncio.sleep(seconds)
            current = await _next(zap)
    from rich.live import Live

    with Live(render(first), console=state.out, auto_refresh=False, screen=False) as live:
        while True:
            await asyncio.sleep(seconds)
            latest = await _next(zap)
            if isinstance(latest, str):
                live.update(Text(latest, style="bold red"), refresh=True)
            else:
                live.update(render(latest), refresh=True)


async def _next(zap: ZapJobs) -> Snapshot | str:
    try:
        return await snapshot(zap)
    except StoreError as exc:
        when = datetime.now(UTC).strftime("%H:%M:%S")
        return f"{when} database error: {zap.describe_error(exc)} (retrying)"


def show(state: CliState, snap: Snapshot, *, as_json: bool, stream: bool) -> None:
    if as_json:
        (print_json_line if stream else print_json)(snapshot_dict(snap))
        return
    state.out.print(render(snap))
    if stream:
        state.out.print()


def snapshot_dict(snap: Snapshot) -> dict[str, Any]:
    counts = {s.value: 0 for s in WorkerState}
    active = []
    for worker in snap.workers:
        current = worker_state(worker, snap.now, snap.settings)
        counts[current.value] += 1
        if current in (WorkerState.ALIVE, WorkerState.STALE):
            active.append(worker_dict(worker, snap.now, snap.settings))
    return {
        "now": iso(snap.now),
        "database": snap.database,
        "runs": stats_dict(snap.stats),
        "throughput": [throughput_dict(p) for p in snap.throughput],
        "workers": {**counts, "active": active},
        "recurring": [
            job_dict(d, snap.settings.default_timeout.total_seconds()) for d in snap.recurring
        ],
        "latest_failures": [run_dict(r, snap.now) for r in snap.failures],
        "error_groups": [error_group_dict(g) for g in snap.error_groups],
        "unserved_queues": snap.unserved,
    }


def render(snap: Snapshot) -> RenderableType:
    parts: list[RenderableType] = [
        Text(f"zapjobs status  {snap.database}  {snap.now:%Y-%m-%d %H:%M:%S} UTC", style="bold"),
        Text(),
        _runs_table(snap.stats),
        Text(),
        _throughput_line(snap),
        _workers_line(snap),
    ]
    if snap.unserved:
        names = ", ".join(snap.unserved)
        parts.append(untrusted(f"no live worker serves queue(s) with runs: {names}", style="red"))
    if snap.recurring:
        table = new_table("RECURRING", "SCHEDULE", "NEXT RUN", title=None)
        for d in snap.recurring[:8]:
            next_run = "paused" if not d.enabled else due_text(d.next_due_at, snap.now)
            table.add_row(untrusted(d.job_type), untrusted(schedule_text(d)), next_run)
        parts += [Text(), table]
    if snap.error_groups:
        groups = ", ".join(f"{g.error_type} x{g.count}" for g in snap.error_groups)
        parts.append(untrusted(f"errors (24 h): {groups}", style="red"))
    if snap.failures:
        table = new_table("FAILED RUN", "JOB TYPE", "FINISHED", "ERROR")
        for run in snap.failures:
            error = f"{run.error.type}: {run.error.message}" if run.error else "-"
            table.add_row(
                str(run.id),
                untrusted(run.job_type),
                relative(run.finished_at, snap.now),
                one_line_text(error, 80),
            )
        parts += [Text(), table]
    return Group(*parts)


def _runs_table(stats: Stats) -> RenderableType:
    names = ("waiting", "pending", "scheduled", "running", "succeeded", "failed", "cancelled")
    table = new_table("QUEUE", *(n.upper() for n in names))
    for queue in stats.by_queue:
        table.add_row(untrusted(queue.queue), *(str(getattr(queue, n)) for n in names))
    total = [Text(str(getattr(stats, n)), style=STATUS_STYLES[n]) for n in names]
    table.add_row(Text("all", style="bold"), *total)
    return table


def _throughput_line(snap: Snapshot) -> Text:
    succeeded = sum(p.succeeded for p in snap.throughput)
    failed = sum(p.failed for p in snap.throughput)
    minutes = THROUGHPUT_WINDOW.total_seconds() / 60
    per_minute: dict[datetime, int] = {p.minute: p.succeeded + p.failed for p in snap.throughput}
    start = snap.now.replace(second=0, microsecond=0) - timedelta(minutes=int(minutes) - 1)
    series = [per_minute.get(start + timedelta(minutes=i), 0) for i in range(int(minutes))]
    peak = max(series) or 1
    spark = "".join(_SPARK[min(8, round(v / peak * 8))] for v in series)
    text = Text("throughput (15 min): ")
    text.append(f"{succeeded} succeeded", style="green")
    text.append(", ")
    text.append(f"{failed} failed", style="red" if failed else "")
    text.append(f", {(succeeded + failed) / minutes:.1f}/min  ")
    text.append(spark, style="cyan")
    return text


def _workers_line(snap: Snapshot) -> Text:
    counts = {s: 0 for s in WorkerState}
    for worker in snap.workers:
        counts[worker_state(worker, snap.now, snap.settings)] += 1
    text = Text("workers: ")
    text.append(f"{counts[WorkerState.ALIVE]} alive", style="green")
    # the runs' own count (the RUNNING column), not the workers' last heartbeat reports
    text.append(f" ({snap.stats.running} runs in flight)")
    if counts[WorkerState.STALE]:
        text.append(f", {counts[WorkerState.STALE]} stale", style="yellow")
    if counts[WorkerState.DEAD]:
        text.append(f", {counts[WorkerState.DEAD]} dead", style="red")
    return text
