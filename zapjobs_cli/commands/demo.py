"""``zapjobs demo``: zapjobs at work in one command, with no server: a SQLite file, example
jobs, a worker, a summary, and the commands to look further. The file stays."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from zapjobs import ZapJobs
from zapjobs.events import RunFinished, WorkerStopping
from zapjobs.models import JobRun, LogEntry, Page, RunFilter, RunStatus
from zapjobs_cli import demo_jobs
from zapjobs_cli.context import CliState, get_state
from zapjobs_cli.display import status_text
from zapjobs_cli.errors import EXIT_INTERRUPTED
from zapjobs_cli.render import display_dsn, log_line, new_table

DEMO_FILE = "zapjobs-demo.db"
TICKS_WANTED = 2
POLL_SECONDS = 0.2


def register(root: typer.Typer) -> None:
    root.command("demo")(demo)


def demo(
    ctx: typer.Context,
    path: Annotated[
        Path | None,
        typer.Argument(help=f"Folder (or .db file) for the demo database; default ./{DEMO_FILE}."),
    ] = None,
    max_seconds: Annotated[
        float, typer.Option("--max-seconds", min=1, help="Stop after this long in any case.")
    ] = 20.0,
) -> None:
    """Run example jobs on an embedded SQLite database and show what happened.

    Enqueues jobs that log, report progress, fail and retry, fail for good, and one that
    recurs; runs a worker until they are done (or Ctrl-C); then prints runs by status and a
    sample of logs. Pass -c DSN to run it on another database instead.

    Example: `zapjobs demo`, then `zapjobs status -c sqlite:///zapjobs-demo.db`
    """
    state = get_state(ctx)
    url = state.flags.get("database_url") or f"sqlite:///{demo_file(path, state.cwd)}"
    zap = demo_jobs.build_demo_app(url)
    quiet_job_logs()
    interrupted = asyncio.run(run_demo(state, zap, max_seconds))
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


def quiet_job_logs() -> None:
    """The jobs' log lines are shown in the summary, not echoed by Python logging as they run."""
    jobs_logger = logging.getLogger("zapjobs.jobs")
    jobs_logger.addHandler(logging.NullHandler())
    jobs_logger.propagate = False


def demo_file(path: Path | None, cwd: Path) -> Path:
    target = (cwd / path) if path is not None else cwd
    if target.is_dir() or (path is not None and target.suffix == "" and not target.exists()):
        target.mkdir(parents=True, exist_ok=True)
        target = target / DEMO_FILE
    return target.resolve()


async def run_demo(state: CliState, zap: ZapJobs, max_seconds: float) -> bool:
    """Returns True when stopped by Ctrl-C / SIGTERM."""
    try:
        await zap.migrate()
        state.note(f"demo database: {display_dsn(zap.settings.database_url)}")
        started = zap.now()
        batch = await demo_jobs.enqueue_batch(zap)
        state.note(f"enqueued {len(batch)} runs; starting a worker (Ctrl-C stops it)\n")
        stop = asyncio.Event()
        reasons: list[str] = []
        worker = asyncio.create_task(
            zap.run_worker(
                concurrency=4,
                stop=stop,
                shutdown_timeout=timedelta(seconds=2),
                on_event=lambda event: on_event(state, event, reasons),
            )
        )
        watcher = asyncio.create_task(watch(zap, batch, started, stop, max_seconds))
        try:
            await worker
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        await summarize(state, zap, started)
        return "signal" in reasons
    finally:
        await zap.close()


RETRYING = "failed, will retry"


def on_event(state: CliState, event: object, reasons: list[str]) -> None:
    if isinstance(event, WorkerStopping):
        reasons.append(event.reason)
        return
    if not isinstance(event, RunFinished):
        return
    outcome = event.status.value
    if event.status is RunStatus.PENDING:
        outcome = RETRYING
    line = Text(f"  run {event.run_id:>3} {event.job_type:<12} ")
    style = "green" if event.status is RunStatus.SUCCEEDED else "yellow"
    line.append(f"{outcome:<{len(RETRYING)}}", style=style)  # the columns after it stay put
    line.append(f"  attempt {event.attempt}, {event.duration_seconds * 1000:.0f}ms")
    if event.error_type and event.status is not RunStatus.SUCCEEDED:
        line.append(f"  {event.error_type}: {event.error_message}", style="dim")
    state.err.print(line, highlight=False)


async def watch(
    zap: ZapJobs, batch: list[int], started: datetime, stop: asyncio.Event, max_seconds: float
) -> None:
    """Stop the worker once the batch is final and the recurring job ran a few times."""
    deadline = time.monotonic() + max_seconds
    ticks = RunFilter(
        job_types=(demo_jobs.TICK,), statuses=(RunStatus.SUCCEEDED,), created_after=started
    )
    while time.monotonic() < deadline:
        runs = await zap.list_runs(RunFilter(ids=tuple(batch)), Page(limit=len(batch)))
        if all(run.status.is_final for run in runs) and await zap.count_runs(ticks) >= TICKS_WANTED:
            break
        await asyncio.sleep(POLL_SECONDS)
    stop.set()


async def summarize(state: CliState, zap: ZapJobs, started: datetime) -> None:
    runs = await zap.list_runs(RunFilter(created_after=started), Page(limit=1000))
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.status.value] = counts.get(run.status.value, 0) + 1
    state.out.print("\nRuns of this demo:", style="bold")
    table = new_table("STATUS", "RUNS")
    for status in RunStatus:
        if counts.get(status.value):
            table.add_row(status_text(status.value), str(counts[status.value]))
    state.out.print(table)
    await print_samples(state, zap, runs)
    url = zap.settings.database_url
    state.out.print(
        "\nLook further (the database stays):\n"
        f"  zapjobs status -c {url}\n"
        f"  zapjobs runs list -c {url} --status failed\n"
        f"  zapjobs dashboard -c {url}",
        markup=False,
        highlight=False,
    )


async def print_samples(state: CliState, zap: ZapJobs, runs: list[JobRun]) -> None:
    """The logs of one run of each interesting kind, oldest first."""
    picked: list[JobRun] = []
    for job_type in (demo_jobs.GREET, demo_jobs.FLAKY, demo_jobs.BROKEN):
        of_type = [run for run in runs if run.job_type == job_type]
        if of_type:
            picked.append(min(of_type, key=lambda run: run.id))
    for run in picked:
        entries: list[LogEntry] = await zap.list_logs(run.id, limit=6)
        state.out.print(
            Text(f"\nrun {run.id} {run.job_type}: ", style="bold").append(
                status_text(run.status.value)
            )
        )
        for entry in entries:
            state.out.print(Text("  ").append(log_line(entry)), highlight=False)
        if run.error is not None and run.status is RunStatus.FAILED:
            state.out.print(f"  error: {run.error.type}: {run.error.message}", markup=False)
        elif run.output is not None:
            state.out.print(f"  output: {run.output!r}", markup=False, highlight=False)
