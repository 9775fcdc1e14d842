"""``zapjobs jobs list|show|limit|trigger|pause|resume``: job types as the store knows them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from zapjobs import FlowLimit, LimitScope, ZapJobs
from zapjobs.errors import UnknownJobTypeError
from zapjobs.models import JobDefinition, JobRun, JobTypeStats, Page, RunFilter
from zapjobs_cli.commands.enqueue import unknown_job_type
from zapjobs_cli.context import CliState, get_state
from zapjobs_cli.display import (
    due_text,
    recent_runs_text,
    schedule_state_text,
    unique_text,
    untrusted,
    when_text,
)
from zapjobs_cli.limits import (
    ClearOption,
    MaxConcurrencyOption,
    RateLimitOption,
    cap_text,
    limits_dict,
    merged,
    rate_text,
    summary,
)
from zapjobs_cli.options import InputOption, JsonOption, read_input
from zapjobs_cli.render import (
    job_dict,
    jobs_table,
    print_json,
    recent_dict,
    runs_table,
    schedule_text,
    timeout_text,
)

app = typer.Typer(help="List job types, run one now, pause and resume them.", no_args_is_help=True)
JobArgument = Annotated[str, typer.Argument(metavar="JOB", help="The job type id.")]


async def known_definition(
    zap: ZapJobs, job_type: str, code: Mapping[str, JobDefinition] | None = None
) -> JobDefinition:
    """The stored definition, else the one the app's ``code`` declares (no worker registered
    it yet), or UnknownJobTypeError listing the stored job types."""
    try:
        return await zap.get_definition(job_type)
    except UnknownJobTypeError:
        if code and job_type in code:
            return code[job_type]
        raise await unknown_job_type(zap, job_type) from None


@app.command("list")
def list_jobs(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the job types registered by workers (or your app), with schedules and state.

    Example: `zapjobs jobs list --json`
    """
    state = get_state(ctx)

    async def work(zap: ZapJobs) -> tuple[list[JobDefinition], list[FlowLimit]]:
        return await zap.list_definitions(), await zap.list_flow_limits()

    stored, flow = state.run(work)
    known = {d.job_type for d in stored}
    code_only = [d for d in state.code_definitions.values() if d.job_type not in known]
    definitions = sorted([*stored, *code_only], key=lambda d: d.job_type)
    limits = {x.name: x for x in flow if x.scope is LimitScope.JOB}
    if as_json:
        print_json(
            [
                {
                    **job_dict(d, _default_timeout(state)),
                    **limits_dict(limits.get(d.job_type, FlowLimit(LimitScope.JOB, d.job_type))),
                }
                for d in definitions
            ]
        )
    elif not definitions:
        state.note("no job types yet: start a worker with --app, or enqueue from your code")
    else:
        state.out.print(jobs_table(definitions, datetime.now(UTC), _default_timeout(state)))


@app.command("show")
def show(ctx: typer.Context, job: JobArgument, as_json: JsonOption = False) -> None:
    """Show a job type: queue, retries, timeout, schedule and its latest runs.

    Example: `zapjobs jobs show email-sender`
    """
    state = get_state(ctx)

    async def work(
        zap: ZapJobs,
    ) -> tuple[JobDefinition, FlowLimit, list[JobRun], JobTypeStats | None]:
        definition = await known_definition(zap, job, state.code_definitions)
        limits = await zap.job_limits(job)
        runs = await zap.list_runs(RunFilter(job_types=(job,)), Page(limit=5))
        recent = (await zap.job_type_stats()).get(job)  # the last hour
        return definition, limits, runs, recent

    definition, limits, runs, recent = state.run(work)
    if as_json:
        print_json(
            {
                **job_dict(definition, _default_timeout(state)),
                **limits_dict(limits),
                "last_hour": recent_dict(recent),
            }
        )
        return
    now = datetime.now(UTC)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("job type", untrusted(definition.job_type))
    grid.add_row(
        "schedule state", schedule_state_text(definition.schedule is not None, definition.enabled)
    )
    for label, value in (
        ("queue", definition.queue),
        ("max retries", _with_override(definition.max_retries, definition.max_retries_override)),
        ("timeout", timeout_text(definition, _default_timeout(state))),
        ("max concurrency", cap_text(limits.max_concurrency, limits.max_concurrency_override)),
        ("rate limit", rate_text(limits.rate_limit, limits.rate_limit_override)),
        ("schedule", schedule_text(definition)),
        ("unique", unique_text(definition.unique)),
        (
            "next run",
            f"{when_text(definition.next_due_at)} ({due_text(definition.next_due_at, now)})",
        ),
        ("last run", str(definition.last_run_id) if definition.last_run_id else "-"),
    ):
        grid.add_row(label, untrusted(value))
    grid.add_row("last hour", recent_runs_text(recent))
    state.out.print(grid)
    if runs:
        state.out.print()
        state.out.print(runs_table(runs, now))


def _with_override(code: int, override: int | None) -> str:
    return str(code) if override is None else f"{override} (operator override; code says {code})"


@app.command("limit")
def limit(
    ctx: typer.Context,
    job: JobArgument,
    max_concurrency: MaxConcurrencyOption = None,
    rate_limit: RateLimitOption = None,
    clear: ClearOption = False,
) -> None:
    """Cap JOB's running runs and limit its starts, across every worker, overriding what its
    code declares (from every worker's next claim on); --clear removes the override. Runs
    already running above a lowered cap finish.

    Example: `zapjobs jobs limit report --max-concurrency 2 --rate-limit 10/s`
    """
    state = get_state(ctx)
    if max_concurrency is None and rate_limit is None and not clear:
        raise typer.BadParameter(
            "give --max-concurrency, --rate-limit or --clear", param_hint="options"
        )

    async def work(zap: ZapJobs) -> FlowLimit:
        await known_definition(zap, job, state.code_definitions)
        cap, rate = merged(await zap.job_limits(job), max_concurrency, rate_limit, clear)
        return await zap.set_job_limits(job, max_concurrency=cap, rate_limit=rate)

    changed = state.run(work, register=True)
    state.note(f"{job}: {summary(changed)}")


@app.command("trigger")
def trigger(ctx: typer.Context, job: JobArgument, input: InputOption = None) -> None:
    """Enqueue a run of JOB now (with the schedule's input when no --input); prints its id.

    Example: `zapjobs jobs trigger nightly-report --input '{"day": "2026-01-31"}'`
    """
    state = get_state(ctx)
    input_json = read_input(input) if input is not None else None

    async def work(zap: ZapJobs) -> int:
        await known_definition(zap, job)
        if input_json is not None:
            return await zap.enqueue_json(job, input_json)
        return await zap.trigger(job)

    state.out.print(str(state.run(work, register=True)), markup=False, highlight=False)


@app.command("pause")
def pause(ctx: typer.Context, job: JobArgument) -> None:
    """Pause JOB's recurring schedule: it enqueues nothing until resumed; runs already
    enqueued still execute, and `zapjobs enqueue JOB` still works. Not `zapjobs queues pause`,
    which stops workers claiming a queue's runs.

    Example: `zapjobs jobs pause nightly-report`
    """
    state = get_state(ctx)

    async def work(zap: ZapJobs) -> None:
        await known_definition(zap, job)
        await zap.pause_schedule(job)

    state.run(work, register=True)
    state.note(f"paused the schedule of {job}")


@app.command("resume")
def resume(ctx: typer.Context, job: JobArgument) -> None:
    """Resume JOB's paused recurring schedule.

    Example: `zapjobs jobs resume nightly-report`
    """
    state = get_state(ctx)

    async def work(zap: ZapJobs) -> None:
        await known_definition(zap, job)
        await zap.resume_schedule(job)

    state.run(work, register=True)
    state.note(f"resumed the schedule of {job}")


def _default_timeout(state: CliState) -> float:
    """The timeout a worker applies to job types that declare none (settings.default_timeout)."""
    return state.settings.default_timeout.total_seconds()
