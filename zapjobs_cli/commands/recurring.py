"""``zapjobs recurring add|remove``: attach a CRON or interval schedule to a job type."""

from __future__ import annotations

from typing import Annotated

import typer

from zapjobs import ZapJobs
from zapjobs.errors import ValidationError
from zapjobs.models import CatchUp, JobDefinition
from zapjobs_cli.commands.jobs import JobArgument, known_definition
from zapjobs_cli.context import get_state
from zapjobs_cli.display import when_text
from zapjobs_cli.options import InputOption, JsonOption, duration_option, read_input
from zapjobs_cli.render import job_dict, print_json, schedule_text

app = typer.Typer(help="Schedule job types to run on a CRON or an interval.", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    job: JobArgument,
    cron: Annotated[
        str | None,
        typer.Option("--cron", metavar="EXPR", help="A CRON expression, e.g. '0 3 * * *'."),
    ] = None,
    tz: Annotated[
        str, typer.Option("--tz", metavar="ZONE", help="Time zone of the CRON expression.")
    ] = "UTC",
    every: Annotated[
        str | None, typer.Option("--every", metavar="DURATION", help="A fixed interval, e.g. 30m.")
    ] = None,
    input: InputOption = None,
    catch_up: Annotated[
        CatchUp,
        typer.Option("--catch-up", help="Missed due times: run the latest once, or skip them."),
    ] = CatchUp.LATEST,
    as_json: JsonOption = False,
) -> None:
    """Attach (or replace) the recurring schedule of JOB; workers enqueue it when due.

    Example: `zapjobs recurring add nightly-report --cron '0 3 * * *' --tz Europe/Paris`
    """
    state = get_state(ctx)
    if (cron is None) == (every is None):
        raise ValidationError("give --cron EXPR or --every DURATION (one of them)")
    if every is not None and tz != "UTC":
        raise ValidationError("--tz applies to --cron only")
    interval = duration_option(every, "--every")
    input_json = read_input(input)  # "null" when not given

    async def work(zap: ZapJobs) -> JobDefinition:
        await known_definition(zap, job)
        return await zap.recurring_json(
            job, input_json, cron=cron, interval=interval, timezone=tz, catch_up=catch_up
        )

    definition = state.run(work, register=True)
    if as_json:
        print_json(job_dict(definition, state.settings.default_timeout.total_seconds()))
    else:
        state.note(
            f"{job}: {schedule_text(definition)}, next run {when_text(definition.next_due_at)} UTC"
        )


@app.command("remove")
def remove(ctx: typer.Context, job: JobArgument) -> None:
    """Remove the recurring schedule of JOB (its runs already enqueued stay).

    Example: `zapjobs recurring remove nightly-report`
    """
    state = get_state(ctx)

    async def work(zap: ZapJobs) -> None:
        await known_definition(zap, job)
        await zap.remove_recurring(job)

    state.run(work, register=True)
    state.note(f"{job}: no longer recurring")
