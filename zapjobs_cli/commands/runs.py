"""``zapjobs runs list|show|logs``: read runs and their logs (actions: run_actions.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.text import Text

from zapjobs import ZapJobs
from zapjobs.errors import ValidationError
from zapjobs.models import (
    ATTEMPT_ERROR_FIELD,
    MAX_PARENTS,
    SEARCH_WINDOW,
    JobRun,
    LogEntry,
    LogLevel,
    Page,
    RunLinks,
    RunSort,
    RunStatus,
)
from zapjobs_cli.commands import run_actions
from zapjobs_cli.context import CliState, get_state
from zapjobs_cli.display import attempt_separator, attempt_text, one_line
from zapjobs_cli.options import (
    LIMITS,
    RUN_IDS,
    JsonOption,
    LocalOption,
    build_filter,
    describe_filter,
    in_range,
)
from zapjobs_cli.render import (
    log_dict,
    log_line,
    print_json,
    print_json_line,
    run_detail,
    run_dict,
    runs_table,
)
from zapjobs_cli.workflow_view import workflow_dict, workflow_view

app = typer.Typer(help="List, inspect, retry, cancel and delete runs.", no_args_is_help=True)
run_actions.register(app)

StatusOption = Annotated[
    list[str] | None,
    typer.Option(
        "--status",
        "-s",
        help="waiting, pending, scheduled, running, succeeded, failed or cancelled (repeatable).",
    ),
]
JobOption = Annotated[list[str] | None, typer.Option("--job", "-j", help="Job type (repeatable).")]
QueueOption = Annotated[list[str] | None, typer.Option("--queue", "-q", help="Queue (repeatable).")]
SinceOption = Annotated[
    str | None,
    typer.Option("--since", metavar="DURATION", help="Created in the last DURATION, e.g. 1h."),
]
RunIdArgument = Annotated[
    int, typer.Argument(metavar="RUN", help="The run id.", callback=in_range("RUN", RUN_IDS))
]
FOLLOW_POLL_SECONDS = 0.5
#: `runs show` lists the errors of this many failed attempts at most (the newest)
SHOWN_ATTEMPT_ERRORS = 50
#: `runs show` lists this many children at most (a run may have thousands); every parent fits
SHOWN_LINKS = MAX_PARENTS


@app.command("list")
def list_runs(
    ctx: typer.Context,
    status: StatusOption = None,
    job: JobOption = None,
    queue: QueueOption = None,
    since: SinceOption = None,
    search: Annotated[
        str | None,
        typer.Option(
            "--search",
            help=f"Substring of the job type, error type, error message or input, among the "
            f"newest {SEARCH_WINDOW:,} runs.",
        ),
    ] = None,
    worker: Annotated[
        list[str] | None,
        typer.Option("--worker", "-w", metavar="ID", help="Claimed by this worker (repeatable)."),
    ] = None,
    finished_since: Annotated[
        str | None,
        typer.Option(
            "--finished-since",
            metavar="WHEN",
            help="Finished in the last WHEN (1h), or after a time.",
        ),
    ] = None,
    finished_until: Annotated[
        str | None,
        typer.Option(
            "--finished-until", metavar="WHEN", help="Finished before WHEN ago (10m) or a time."
        ),
    ] = None,
    sort: Annotated[
        RunSort,
        typer.Option(
            "--sort",
            help="Order by creation (id, newest first), finish time (latest first; unfinished "
            "runs last) or job type (A-Z); ties by id.",
            case_sensitive=False,
        ),
    ] = RunSort.CREATED,
    ascending: Annotated[
        bool | None,
        typer.Option(
            "--ascending/--descending",
            help="Flip or force the order's direction (default: as --sort says).",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            "-n",
            callback=in_range("--limit", LIMITS),
            help=f"At most this many runs ({LIMITS[0]}-{LIMITS[1]:,}).",
        ),
    ] = 50,
    local: LocalOption = False,
    as_json: JsonOption = False,
) -> None:
    """List runs, newest first (or --sort).

    Example: `zapjobs runs list --status failed --job email-sender --since 1h`;
    `zapjobs runs list --worker web-1-4242-ab12 --status running` (what a worker holds);
    `zapjobs runs list --sort finished --status failed` (the latest failures to finish).
    """
    state = get_state(ctx)
    now = datetime.now(UTC)
    selection = build_filter(
        statuses=status,
        job_types=job,
        queues=queue,
        since=since,
        search=search,
        workers=worker,
        finished_since=finished_since,
        finished_until=finished_until,
        now=now,
    )

    async def work(zap: ZapJobs) -> tuple[list[JobRun], int]:
        up = sort.ascending_first if ascending is None else ascending
        runs = await zap.list_runs(selection, Page(limit=limit, sort=sort, ascending=up))
        total = len(runs) if len(runs) < limit else await zap.count_runs(selection)
        return runs, total

    runs, total = state.run(work)
    if as_json:
        print_json([run_dict(run, now) for run in runs])
        return
    searched = f"searched the newest {selection.search_window:,} runs" if search else None
    if not runs:
        state.note(
            f"no runs ({describe_filter(selection)})" + (f"; {searched}" if searched else "")
        )
        return
    state.out.print(runs_table(runs, now, local=local))
    if total > len(runs):
        first = "newest" if sort is RunSort.CREATED and ascending in (None, False) else "first"
        state.note(f"showing the {first} {len(runs)} of {total} runs (use --limit)")
    if searched:
        state.note(searched)


@app.command("show")
def show(
    ctx: typer.Context,
    run_id: RunIdArgument,
    local: LocalOption = False,
    as_json: JsonOption = False,
) -> None:
    """Show one run: status, attempts, input, output, error (every failed attempt's, up to the
    last 50) and progress, and in a workflow its parents and children with their statuses.

    Example: `zapjobs runs show 42 --json`
    """
    state = get_state(ctx)

    async def work(zap: ZapJobs) -> tuple[JobRun, RunLinks, list[LogEntry]]:
        run = await zap.get_run(run_id)
        # The ERROR entries the worker wrote for failed attempts (zapjobs.job), newest first.
        found = await zap.list_logs(
            run_id,
            min_level=LogLevel.ERROR,
            search=ATTEMPT_ERROR_FIELD,
            newest_first=True,
            limit=SHOWN_ATTEMPT_ERRORS,
        )
        return run, await zap.run_links(run_id, limit=SHOWN_LINKS), found

    run, links, found = state.run(work)
    attempt_errors = [
        (entry.attempt, error)
        for entry in reversed(found)
        if (error := entry.attempt_error) is not None
    ]
    now = datetime.now(UTC)
    if as_json:
        data = {**run_dict(run, now), **workflow_dict(run, links, now)}
        data["attempt_errors"] = [
            {"attempt": attempt, "type": e.type, "message": e.message, "traceback": e.traceback}
            for attempt, e in attempt_errors
        ]
        print_json(data)
        return
    shown = run_detail(run, now, local=local, attempt_errors=attempt_errors)
    state.out.print(shown, highlight=False)
    graph = workflow_view(run, links, now)
    if graph is not None:
        state.out.print(graph, highlight=False)


@app.command("logs")
def logs(
    ctx: typer.Context,
    run_id: RunIdArgument,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new entries until the run ends.")
    ] = False,
    level: Annotated[
        str | None,
        typer.Option("--level", "-l", help="Lowest level: debug, info, warning (or warn), error."),
    ] = None,
    local: LocalOption = False,
    as_json: JsonOption = False,
) -> None:
    """Print a run's log entries (with --follow, until the run ends; Ctrl-C to stop early).

    With --follow the exit code is the run's: 0 when it succeeded, 1 when it failed or was
    cancelled.

        --json prints an array; with --follow it prints one JSON object per line.

        Example: `zapjobs runs logs 42 --follow --level warning`
    """
    state = get_state(ctx)
    try:
        min_level = LogLevel.parse(level) if level is not None else None
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    collected: list[LogEntry] = []

    shown_attempt: list[int | None] = []  # the attempt of the last line printed

    def emit(entries: list[LogEntry]) -> None:
        if as_json and not follow:
            collected.extend(entries)
            return
        for entry in entries:
            if as_json:
                print_json_line(log_dict(entry))
                continue
            previous = shown_attempt[-1] if shown_attempt else None
            separator = attempt_separator(previous, entry.attempt, first=not shown_attempt)
            if separator is not None:
                state.out.print(Text(separator, style="bold magenta"), highlight=False)
            shown_attempt[:] = [entry.attempt]
            state.out.print(log_line(entry, local=local), highlight=False)

    async def work(zap: ZapJobs) -> JobRun:
        await zap.get_run(run_id)  # RunNotFoundError for an unknown id
        cursor: int | None = None
        while True:
            run = await zap.get_run(run_id)
            while True:
                batch = await zap.list_logs(run_id, after_id=cursor, min_level=min_level)
                if not batch:
                    break
                emit(batch)
                cursor = batch[-1].id
            if not follow or run.status.is_final:
                return run
            await asyncio.sleep(FOLLOW_POLL_SECONDS)

    run = state.run(work)
    if as_json and not follow:
        print_json([log_dict(entry) for entry in collected])
    if follow:
        follow_ended(state, run)


def follow_ended(state: CliState, run: JobRun) -> None:
    """``--follow`` ends with the run: say how, and exit 1 unless it succeeded (so a script
    can `zapjobs runs logs N --follow && deploy`)."""
    if run.status is RunStatus.SUCCEEDED:
        state.note(f"run {run.id} succeeded (attempt {attempt_text(run)})")
        return
    reason = f": {run.error.type}: {one_line(run.error.message)}" if run.error else ""
    state.note(f"run {run.id} {run.status.value} (attempt {attempt_text(run)}){reason}")
    raise typer.Exit(1)
